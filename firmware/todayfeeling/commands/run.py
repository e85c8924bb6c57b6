"""`todayfeeling run`: the appliance in the foreground (the systemd unit runs the same command)."""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from todayfeeling.camera import CameraError, make_source
from todayfeeling.commands.common import Overrides, add_config_argument, handle_signal
from todayfeeling.commands.people import add_people_db_argument
from todayfeeling.config import AppConfig, config_file, load_config
from todayfeeling.config.settings import default_device_id
from todayfeeling.daemon import Appliance
from todayfeeling.history import MoodHistory
from todayfeeling.inference.manifest import Manifest, ModelError
from todayfeeling.inference.pipeline import FacePipeline
from todayfeeling.music.audience import unknown_names
from todayfeeling.people.database import PeopleError, default_path
from todayfeeling.people.recognition import Recogniser
from todayfeeling.people.tracked import TrackRecognition
from todayfeeling.reporting import Link
from todayfeeling.runtime_settings import RuntimeSettings
from todayfeeling.service import ServiceNotifier

if TYPE_CHECKING:
    from todayfeeling.music.service import MusicService

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `run` sub-command."""
    parser = subparsers.add_parser("run", help="run the appliance in the foreground")
    add_config_argument(parser)
    parser.add_argument("--source", help="auto, picamera, /dev/videoN, a video file, a folder of images, demo or "
                                         "demo:empty")
    parser.add_argument("--fps", type=frame_rate, help="pace a video file or folder at this many frames per second")
    parser.add_argument("--mqtt", metavar="HOST:PORT", help="MQTT broker")
    parser.add_argument("--no-mqtt", action="store_true", help="run without MQTT")
    parser.add_argument("--music", type=Path, metavar="DIR", help="music library (a folder per mood)")
    parser.add_argument("--device-id", help="the device's id in MQTT topics and Home Assistant")
    parser.add_argument("--privacy", action="store_true", help="start with the camera off")
    add_people_db_argument(parser, "recognise the people enrolled in this database (default: [people] db, "
                                   "else people.json in the state directory when it exists)")
    parser.set_defaults(handler=run)


MAX_PACE_FPS = 1000.0


def frame_rate(text: str) -> float:
    """``--fps``: a finite number of frames per second above 0 and at most 1000."""
    try:
        fps = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of frames per second, got {text!r}") from None
    if not (math.isfinite(fps) and 0 < fps <= MAX_PACE_FPS):
        raise argparse.ArgumentTypeError(f"must be above 0 and at most {MAX_PACE_FPS:g}, got {text!r}")
    return fps


def overrides(args: argparse.Namespace) -> Overrides:
    """Config values given as flags (they win over the file); ``--privacy`` is applied by :func:`run` after
    the runtime settings, which must compare what they stored with the file's own value."""
    values: Overrides = {}

    def put(section: str, key: str, value: Any) -> None:
        if value is not None:
            values.setdefault(section, {})[key] = value

    put("camera", "source", args.source)
    put("music", "dir", args.music and str(args.music))
    put("device", "id", args.device_id)
    put("people", "db", args.people_db and str(args.people_db))
    if args.no_mqtt:
        put("mqtt", "enabled", False)
    if args.mqtt:
        host, _, port = args.mqtt.rpartition(":")
        if not host or not port.isdigit():
            raise SystemExit(f"todayfeeling run: --mqtt wants HOST:PORT, got {args.mqtt!r}")
        put("mqtt", "host", host)
        put("mqtt", "port", int(port))
    return values


def run(args: argparse.Namespace) -> int:
    """Build every stage from the config and run until SIGTERM (or the end of a finite source)."""
    os.umask(0o077)  # what the appliance writes (history, state) is personal: owner-only, as under systemd
    path, flags = config_file(args.config), overrides(args)
    config = load_config(path, flags)
    log.info("config: %s", path or "defaults")
    log.info("device id %s (%s)", config.device.id, "derived from this machine"
             if config.device.id == default_device_id() else "from [device] id")
    settings = RuntimeSettings(config.daemon.state_dir)
    config = settings.restore(config)  # before anything opens the camera: privacy set over MQTT holds
    if args.privacy:  # the flag wins over a privacy turned off over MQTT before this start
        config = replace(config, daemon=replace(config.daemon, privacy=True))
    notifier = ServiceNotifier()
    try:
        manifest = Manifest(config.inference.models_dir)
        pipeline = FacePipeline.from_config(config.inference, manifest, tracking=config.tracking)
        recognition = open_recognition(config, manifest)
        source = make_source(config.camera.source, config.camera, manifest=manifest, folder_fps=args.fps,
                             demo_fallback=not notifier.enabled)  # the service waits for its camera
    except (ModelError, CameraError, PeopleError) as err:
        print(f"todayfeeling: {err}", file=sys.stderr)
        return 2
    people = recognition.names if recognition is not None and config.people.publish else None
    try:
        appliance = Appliance(config, source, pipeline, music=start_music(config),
                              mqtt_factory=mqtt_factory(config, people), history=open_history(config),
                              notifier=notifier, reload_config=lambda: load_config(path, flags),
                              pace_fps=args.fps, settings=settings, recognition=recognition)
    except ValueError as err:  # MQTT TLS files that cannot be used
        print(f"todayfeeling: {err}", file=sys.stderr)
        return 2
    install_signal_handlers(appliance)
    try:
        return appliance.run()
    except CameraError as err:  # a video file or folder that cannot be played, or has no readable frame
        print(f"todayfeeling: {err}", file=sys.stderr)
        return 2


def open_recognition(config: AppConfig, manifest: Manifest) -> TrackRecognition | None:
    """Recognition of the enrolled people: on when ``[people] enabled`` and the database is given (``--people-db``,
    ``[people] db``) or its default file exists; None when off. PeopleError for a database that cannot be
    used. A config naming someone it does not hold (``[music.people.NAME]``, ``[music] priority``) is warned
    about and that key ignored until they are enrolled, as the running daemon does after a remove or rename."""
    path = config.people.db or default_path(config.daemon.state_dir)
    if not config.people.enabled or (config.people.db is None and not path.exists()):
        log.info("recognition of household members off (%s)", "[people] enabled = false" if not config.people.enabled
                 else f"no people database at {path}")
        return None
    recogniser = Recogniser.open(path, manifest, threads=1)
    for key in unknown_names(config.music, [person.name for person in recogniser.database.people]):
        log.warning("config: %s names someone not enrolled in %s; it is ignored until they are (see `todayfeeling "
                    "people list`)", key, path)
    log.info("recognising %d enrolled people from %s (each face track when it starts, again every %g s)",
             len(recogniser.database.people), path, config.people.recheck_s)
    return TrackRecognition(recogniser, config.people.recheck_s)


def start_music(config: AppConfig) -> MusicService | None:
    """The music side, or None when the library folder does not exist (the mood is still tracked)."""
    from todayfeeling.music.service import MusicService  # pygame: only for the commands that play

    if not config.music.dir.is_dir():
        log.warning("no music library at %s: running without music (see README: Music)", config.music.dir)
        return None
    return MusicService(config.music)


def mqtt_factory(config: AppConfig, people: list[str] | None = None) -> Callable[[Appliance], Link] | None:
    """Builds the MQTT link for the appliance (which handles its commands), or None when disabled; ``people``:
    the enrolled names with per-person publishing on (None: off)."""
    if not config.mqtt.enabled:
        return None
    from todayfeeling.mqtt.client import MqttPublisher

    return lambda appliance: MqttPublisher(config.mqtt, config.device.id, config.device.name, appliance,
                                           area=config.device.area, people=people)


def open_history(config: AppConfig) -> MoodHistory | None:
    """The mood history store, or None when it is disabled (one that cannot be written yet says so and keeps
    trying, see MoodHistory)."""
    return MoodHistory.from_config(config.history) if config.history.enabled else None


def install_signal_handlers(appliance: Appliance) -> None:
    """SIGTERM/SIGINT stop, SIGHUP reloads the config, SIGUSR1/SIGUSR2 turn privacy on/off (each request made
    from a thread of its own: :func:`~todayfeeling.commands.common.handle_signal`)."""
    requests: dict[signal.Signals, Callable[[], None]] = {
        signal.SIGTERM: appliance.request_stop,
        signal.SIGINT: appliance.request_stop,
        signal.SIGHUP: appliance.request_reload,
        signal.SIGUSR1: lambda: appliance.request_privacy(True),
        signal.SIGUSR2: lambda: appliance.request_privacy(False),
    }
    for signum, request in requests.items():
        handle_signal(signum, request)
