"""`todayfeeling detect`: faces and emotions in images, videos and folders (contract in DESIGN.md)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from todayfeeling.camera import CameraError, make_source
from todayfeeling.camera.files import VideoFileSource
from todayfeeling.commands.common import add_model_arguments, command_config, inference_overrides, load_pipeline
from todayfeeling.commands.people import add_people_db_argument, command_recogniser
from todayfeeling.config import CameraConfig
from todayfeeling.inference.pipeline import FacePipeline, FrameResult
from todayfeeling.media import MediaError, expand
from todayfeeling.people.recognition import Recogniser


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `detect` sub-command."""
    parser = subparsers.add_parser("detect", help="detect faces and emotions in images, videos, folders")
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="image, video or folder")
    parser.add_argument("--json", action="store_true", help="one JSON object per line, per image or frame")
    parser.add_argument("--crop", action="store_true", help="each image is already a cropped face")
    add_people_db_argument(parser, "recognise enrolled people: each face gets its \"person\" (or null)")
    add_model_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print one result per image or video frame; exit 1 when any file failed."""
    pipeline = load_pipeline(args)
    if pipeline is None:
        return 2
    config = command_config(args, inference_overrides(args))
    usable, recogniser = command_recogniser(args, config)
    if not usable:
        return 2
    failed = False
    for root in args.paths:
        try:
            files = expand(root)
        except MediaError as err:
            _emit(args, {"path": str(root), "error": str(err)})
            failed = True
            continue
        for path in files:
            failed |= not _detect_file(args, pipeline, recogniser, path)
    return 1 if failed else 0


def _detect_file(args: argparse.Namespace, pipeline: FacePipeline, recogniser: Recogniser | None,
                 path: Path) -> bool:
    """One line per image, or per frame of a video; an error line (False) when the file cannot be read."""
    frames = 0
    try:
        # a file's full path: a photo called `demo` or `auto` is a photo, not the demo camera or a camera search
        source = make_source(str(path.absolute()) if path.is_file() else str(path), CameraConfig())
        video = isinstance(source, VideoFileSource)  # any file OpenCV reads as a video, whatever its suffix
        source.open()
        while (frame := source.read()) is not None:
            result = pipeline.classify_crop(frame.image) if args.crop else pipeline.process(frame.image)
            record = _record(path, frame.index if video else None, result, pipeline.backend.actual)
            if recogniser is not None:
                start = time.perf_counter()
                for entry, face in zip(record["faces"], result.faces, strict=True):
                    person = recogniser.identify(frame.image, face.face).name
                    entry.update(recogniser.personal(face, person, pipeline.classifier.spec).as_dict())
                    entry["person"] = person
                record["ms"]["recognise"] = round((time.perf_counter() - start) * 1000.0, 3)
            _emit(args, record)
            frames += 1
    except CameraError as err:
        _emit(args, {"path": str(path), "error": _reason(err, path)})
        return False
    source.close()
    if not frames:
        _emit(args, {"path": str(path), "error": "video has no readable frames"})
    return frames > 0


def _reason(err: CameraError, path: Path) -> str:
    """The error without the path the line already names."""
    return str(err).removeprefix(f"{path}: ")


def _record(path: Path, frame: int | None, result: FrameResult, backend: str) -> dict[str, Any]:
    record: dict[str, Any] = {"path": str(path)}
    if frame is not None:
        record["frame"] = frame
    record.update({"faces": [f.as_dict() for f in result.faces], "backend": backend, "ms": dict(result.ms)})
    return record


def _emit(args: argparse.Namespace, record: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(record), flush=True)
        return
    where = record["path"] + (f" #{record['frame']}" if "frame" in record else "")
    if "error" in record:
        print(f"{where}: error: {record['error']}", file=sys.stderr, flush=True)
        return
    faces = record["faces"]
    summary = ", ".join(
        f"{f['emotion']} {f['probabilities'][f['emotion']]:.0%} at {f['box']}"
        + (f" ({f['person'] or 'guest'})" if "person" in f else "") for f in faces
    ) or "no face"
    print(f"{where}: {len(faces)} face{'s' if len(faces) != 1 else ''}: {summary}", flush=True)
