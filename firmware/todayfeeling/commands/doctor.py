"""`todayfeeling doctor`: check the installation, and how well the camera sees the room."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from todayfeeling import doctor
from todayfeeling.app_config import AppConfig
from todayfeeling.camera import CameraError, find_camera, make_source
from todayfeeling.camera.demo import DemoSource
from todayfeeling.commands.run import config_path
from todayfeeling.config import ConfigError, load_config
from todayfeeling.inference.manifest import Manifest, ModelError
from todayfeeling.inference.pipeline import FacePipeline

log = logging.getLogger(__name__)
MARKS = {"ok": "ok  ", "warning": "warn", "failed": "FAIL"}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `doctor` sub-command."""
    parser = subparsers.add_parser("doctor", help="check camera, models, Edge TPU, audio, broker and config")
    parser.add_argument("--config", type=Path, help="config file (default: the device's, if present)")
    parser.add_argument("--source", help="frames for the placement check (default: the configured camera)")
    parser.add_argument("--frames", type=int, default=10, help="frames for the placement check")
    parser.add_argument("--json", action="store_true", help="one JSON object per check")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print every check; exit 1 when one failed."""
    path = config_path(args)
    try:
        config: AppConfig = load_config(path)
        checks = [doctor.Check("config", "ok", str(path or "defaults (no config file)"))]
    except ConfigError as err:
        checks = [doctor.Check("config", "failed", str(err))]
        config = load_config(None)
    checks += doctor.check_models(config)
    checks += [doctor.check_runtime(), doctor.check_edgetpu(config), doctor.check_camera(config),
               doctor.check_audio(), doctor.check_music(config), doctor.check_broker(config)]
    checks += _placement(config, args.source, args.frames)
    for check in checks:
        if args.json:
            print(json.dumps(check.as_dict()))
        else:
            print(f"[{MARKS[check.outcome]}] {check.name}: {check.detail}")
            if check.advice and check.outcome != "ok":
                print(f"       → {check.advice}")
    return 1 if any(c.outcome == "failed" for c in checks) else 0


def _placement(config: AppConfig, source_spec: str | None, count: int) -> list[doctor.Check]:
    """Run the detector on a few frames of the camera (or --source) and advise on placement."""
    try:
        manifest = Manifest(config.inference.models_dir)
        pipeline = FacePipeline.from_config(config.inference, manifest)
        spec = source_spec or config.camera.source
        if spec == "auto":
            spec = find_camera(config.camera)
        source = DemoSource(manifest) if spec is None else make_source(spec, config.camera)
        source.open()
    except (ModelError, CameraError) as err:
        return [doctor.Check("placement", "failed", f"cannot look through the camera: {err}")]
    frames = []
    try:
        for _ in range(count * 3):
            frame = source.read() if source.is_finite else source.read(timeout=2.0)
            if frame is not None:
                frames.append(frame.image)
            elif source.is_finite:
                break
            if len(frames) == count:
                break
    finally:
        source.close()
    faces = [pipeline.detector.detect(frame) for frame in frames]
    name = "demo source (no camera)" if spec is None else spec
    log.info("placement check on %d frames of %s", len(frames), name)
    return doctor.placement_advice(doctor.measure_placement(frames, faces))
