"""`todayfeeling doctor`: check the installation, and how well the camera sees the room."""

from __future__ import annotations

import argparse
import json
import logging

from todayfeeling import doctor
from todayfeeling.camera import CameraError, make_source
from todayfeeling.commands.common import add_config_argument
from todayfeeling.config import AppConfig, ConfigError, config_file, load_config
from todayfeeling.inference.manifest import Manifest, ModelError
from todayfeeling.inference.pipeline import FacePipeline

log = logging.getLogger(__name__)
MARKS = {"ok": "ok  ", "warning": "warn", "failed": "FAIL"}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `doctor` sub-command."""
    parser = subparsers.add_parser("doctor", help="check camera, models, Edge TPU, audio, broker and config")
    add_config_argument(parser)
    parser.add_argument("--source", help="frames for the placement check (default: the configured camera)")
    parser.add_argument("--frames", type=_frame_count, default=10, help="frames for the placement check")
    parser.add_argument("--json", action="store_true", help="one JSON object per check")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print every check; exit 1 when one failed."""
    path = config_file(args.config)
    try:
        config = load_config(path)
    except ConfigError as err:
        checks = _without_config(err)
    else:
        checks = [doctor.Check("config", "ok", str(path or "defaults (no config file)")), *_checks(config, args)]
    for check in checks:
        if args.json:
            print(json.dumps(check.as_dict()))
        else:
            print(f"[{MARKS[check.outcome]}] {check.name}: {check.detail}")
            if check.advice and check.outcome != "ok":
                print(f"       → {check.advice}")
    return 1 if any(c.outcome == "failed" for c in checks) else 0


def _checks(config: AppConfig, args: argparse.Namespace) -> list[doctor.Check]:
    camera = doctor.check_camera(config)
    checks = [doctor.check_device(config), *doctor.check_models(config), doctor.check_runtime(),
              doctor.check_edgetpu(config), camera, doctor.check_audio(), doctor.check_music(config),
              *doctor.check_broker(config), doctor.check_history(config), doctor.check_runtime_settings(config)]
    if args.source is None and camera.outcome == "failed":  # never judge placement on the demo picture
        return checks + [doctor.Check(name, "warning", "not checked: no camera", "connect the camera, then run "
                                      "`todayfeeling doctor` again") for name in ("lighting", "placement")]
    return checks + _placement(config, args.source, args.frames)


def _without_config(err: ConfigError) -> list[doctor.Check]:
    """A config that cannot be used: what does not depend on it, and no check of the built-in defaults (they
    would judge a camera, a broker and folders that the config may not name)."""
    unreadable = err.key == "<file>" and err.reason.startswith("cannot read")
    return [doctor.Check("config", "failed", str(err), doctor.AS_SERVICE_USER if unreadable else
                         "correct the key it names; the appliance does not start with this file"),
            doctor.check_runtime(), doctor.check_audio(),
            doctor.Check("the rest", "warning", "not checked: models, camera, music, MQTT, history and settings "
                         "are what the config says", "run `todayfeeling doctor` again once the config loads")]


def _placement(config: AppConfig, source_spec: str | None, count: int) -> list[doctor.Check]:
    """Run the detector on a few frames of the camera (or --source) and advise on placement."""
    try:
        manifest = Manifest(config.inference.models_dir)
        pipeline = FacePipeline.from_config(config.inference, manifest)
        source = make_source(source_spec or config.camera.source, config.camera, manifest=manifest)
        source.open()
    except (ModelError, CameraError) as err:
        return [doctor.Check("placement", "failed", f"cannot look through the camera: {err}")]
    frames = []
    try:
        for _ in range(count * 3):
            frame = source.read(timeout=2.0)
            if frame is not None:
                frames.append(frame.image)
            elif source.is_finite:
                break
            if len(frames) == count:
                break
        status = source.status.text  # before closing: why no frame came
    finally:
        source.close()
    if not frames:  # not a dark room: no picture at all
        return [doctor.Check("placement", "failed", f"no frame from {source.name} in {count * 3} tries "
                             f"({status})", "is it unplugged, or held by another program? Stop the "
                             "appliance first: sudo systemctl stop todayfeeling")]
    faces = [pipeline.detector.detect(frame) for frame in frames]
    log.info("placement check on %d frames of %s", len(frames), source.name)
    return doctor.placement_advice(doctor.measure_placement(frames, faces))


def _frame_count(text: str) -> int:
    count = int(text)
    if count < 1:
        raise argparse.ArgumentTypeError(f"{text}: the placement check needs at least 1 frame")
    return count
