"""`todayfeeling detect`: faces and emotions in images, videos and folders (contract in DESIGN.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from todayfeeling.commands.common import add_config_arguments, load_pipeline
from todayfeeling.inference.pipeline import FacePipeline, FrameResult
from todayfeeling.media import MediaError, expand, read_frames


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `detect` sub-command."""
    parser = subparsers.add_parser("detect", help="detect faces and emotions in images, videos, folders")
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="image, video or folder")
    parser.add_argument("--json", action="store_true", help="one JSON object per line, per image or frame")
    parser.add_argument("--crop", action="store_true", help="each image is already a cropped face")
    add_config_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print one result per image or video frame; exit 1 when any file failed."""
    pipeline = load_pipeline(args)
    if pipeline is None:
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
            failed |= not _detect_file(args, pipeline, path)
    return 1 if failed else 0


def _detect_file(args: argparse.Namespace, pipeline: FacePipeline, path: Path) -> bool:
    try:
        for index, frame in read_frames(path):
            result = pipeline.classify_crop(frame) if args.crop else pipeline.process(frame)
            _emit(args, _record(path, index, result, pipeline.backend.actual))
    except MediaError as err:
        _emit(args, {"path": str(path), "error": str(err)})
        return False
    return True


def _record(path: Path, frame: int | None, result: FrameResult, backend: str) -> dict[str, Any]:
    record: dict[str, Any] = {"path": str(path)}
    if frame is not None:
        record["frame"] = frame
    record.update({"faces": [f.as_dict() for f in result.faces], "backend": backend, "ms": result.ms})
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
        f"{f['emotion']} {f['probabilities'][f['emotion']]:.0%} at {f['box']}" for f in faces
    ) or "no face"
    print(f"{where}: {len(faces)} face{'s' if len(faces) != 1 else ''}: {summary}", flush=True)
