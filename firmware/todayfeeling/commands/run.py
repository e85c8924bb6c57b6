"""`todayfeeling run`: the appliance in the foreground (the systemd unit runs the same command)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from todayfeeling.app_config import AppConfig
from todayfeeling.camera import CameraError, find_camera, make_source
from todayfeeling.camera.demo import DemoSource
from todayfeeling.config import DEFAULT_CONFIG_PATH, load_config
from todayfeeling.daemon import Appliance
from todayfeeling.history import HistoryError, MoodHistory
from todayfeeling.inference.manifest import Manifest, ModelError
from todayfeeling.inference.pipeline import FacePipeline
from todayfeeling.service import ServiceNotifier

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `run` sub-command."""
    parser = subparsers.add_parser("run", help="run the appliance in the foreground")
    parser.add_argument("--config", type=Path, help=f"config file (default: {DEFAULT_CONFIG_PATH} if present)")
    parser.add_argument("--source", help="auto, picamera, /dev/videoN, a video file or a folder of images")
    parser.add_argument("--fps", type=float, help="pace a video file or folder at this many frames per second")
    parser.add_argument("--mqtt", metavar="HOST:PORT", help="MQTT broker")
    parser.add_argument("--no-mqtt", action="store_true", help="run without MQTT")
    parser.add_argument("--music", type=Path, metavar="DIR", help="music library (a folder per mood)")
    parser.add_argument("--device-id", help="the device's id in MQTT topics and Home Assistant")
    parser.add_argument("--privacy", action="store_true", help="start with the camera off")
    parser.set_defaults(handler=run)


def overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Config values given as flags (they win over the file)."""
    values: dict[str, dict[str, Any]] = {}

    def put(section: str, key: str, value: Any) -> None:
        if value is not None:
            values.setdefault(section, {})[key] = value

    put("camera", "source", args.source)
    put("music", "dir", args.music and str(args.music))
    put("device", "id", args.device_id)
    put("daemon", "privacy", True if args.privacy else None)
    if args.no_mqtt:
        put("mqtt", "enabled", False)
    if args.mqtt:
        host, _, port = args.mqtt.rpartition(":")
        if not host or not port.isdigit():
            raise SystemExit(f"todayfeeling run: --mqtt wants HOST:PORT, got {args.mqtt!r}")
        put("mqtt", "host", host)
        put("mqtt", "port", int(port))
    return values


def config_path(args: argparse.Namespace) -> Path | None:
    """--config, else the device's config file when it exists, else None (defaults)."""
    if args.config is not None:
        return args.config
    return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.is_file() else None


def run(args: argparse.Namespace) -> int:
    """Build every stage from the config and run until SIGTERM (or the end of a finite source)."""
    path, flags = config_path(args), overrides(args)
    config: AppConfig = load_config(path, flags)
    log.info("config: %s", path or "defaults")
    try:
        manifest = Manifest(config.inference.models_dir)
        pipeline = FacePipeline.from_config(config.inference, manifest)
        source = open_source(config, args.fps, manifest)
    except (ModelError, CameraError) as err:
        print(f"todayfeeling: {err}", file=sys.stderr)
        return 2
    try:
        appliance = Appliance(config, source, pipeline, music=start_music(config),
                              mqtt_factory=mqtt_factory(config), history=open_history(config),
                              notifier=ServiceNotifier(), reload_config=lambda: load_config(path, flags))
    except ValueError as err:  # MQTT TLS files that cannot be used
        print(f"todayfeeling: {err}", file=sys.stderr)
        return 2
    install_signal_handlers(appliance)
    try:
        return appliance.run()
    except CameraError as err:  # a video file or folder that cannot be played
        print(f"todayfeeling: {err}", file=sys.stderr)
        return 2


def open_source(config: AppConfig, fps: float | None, manifest: Manifest) -> Any:
    """The configured frame source; ``auto`` without a camera runs the demo source (and says so).

    ``demo`` is the demo camera (a face drifting in view), ``demo:empty`` an empty room.
    """
    spec = config.camera.source
    if spec == "auto":
        spec = find_camera(config.camera)
        if spec is None:
            log.warning("no camera on this machine: running on the demo source (a picture drifting in view)")
            spec = "demo"
    if spec in ("demo", "demo:empty"):
        return DemoSource(manifest, config.camera.width, config.camera.height, empty=spec == "demo:empty")
    return make_source(spec, config.camera, fps=fps)


def start_music(config: AppConfig) -> Any:
    """The music side, or None when the library folder does not exist (the mood is still tracked)."""
    from todayfeeling.music.service import MusicService

    if not config.music.dir.is_dir():
        log.warning("no music library at %s: running without music (see README: Music)", config.music.dir)
        return None
    return MusicService(config.music)


def mqtt_factory(config: AppConfig) -> Any:
    """Builds the MQTT link for the appliance (which handles its commands), or None when disabled."""
    if not config.mqtt.enabled:
        return None
    from todayfeeling.mqtt.client import MqttPublisher

    return lambda appliance: MqttPublisher(config.mqtt, config.device.id, config.device.name, appliance)


def open_history(config: AppConfig) -> MoodHistory | None:
    """The mood history store, or None (logged) when it is disabled or cannot be opened."""
    if not config.history.enabled:
        return None
    try:
        return MoodHistory.from_config(config.history)
    except HistoryError as err:
        log.warning("running without mood history: %s", err)
        return None


def install_signal_handlers(appliance: Appliance) -> None:
    """SIGTERM/SIGINT stop, SIGHUP reloads the config, SIGUSR1/SIGUSR2 turn privacy on/off.

    A handler runs in the main thread between two bytecodes, maybe while the main loop holds a lock the
    request needs: taking it there would deadlock. So a handler only starts a thread that makes the request.
    """
    requests: dict[signal.Signals, Callable[[], None]] = {
        signal.SIGTERM: appliance.request_stop,
        signal.SIGINT: appliance.request_stop,
        signal.SIGHUP: appliance.request_reload,
        signal.SIGUSR1: lambda: appliance.request_privacy(True),
        signal.SIGUSR2: lambda: appliance.request_privacy(False),
    }
    for signum, request in requests.items():
        signal.signal(signum, lambda *_, request=request: threading.Thread(
            target=request, name="signal-request", daemon=True).start())
