"""Every setting of the appliance: one frozen dataclass per section of ``config.toml``, and their root.

This module is the single place where a setting, its type, its default and its check live. It imports
only the standard library and the vocabularies, so reading the config never loads numpy, OpenCV, paho or
pygame. A section's ``__post_init__`` raises :class:`SettingError` for a bad value of one key and
``ValueError`` for a bad combination of values; the loader turns them into a
:class:`~todayfeeling.config.loader.ConfigError` naming the file and the key, or the section.
``config/config.example.toml`` documents every key with its default (a test keeps the two in step).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from todayfeeling.machine import machine_tag
from todayfeeling.text import name_key
from todayfeeling.vocabulary import EMOTIONS, BackendChoice, MusicMode

STATE_DIR = Path("/var/lib/todayfeeling")
"""The appliance's state directory on the device (history, music; the systemd unit's StateDirectory)."""

DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""A device id: it becomes an MQTT topic level, part of the client id and of Home Assistant's ids."""


class SettingError(ValueError):
    """A bad value of one key of a section (the loader names the key with its section)."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"{key}: {reason}")


def default_device_id() -> str:
    """``todayfeeling-`` and six hex digits derived from this machine: unique per device, stable across restarts."""
    return f"todayfeeling-{machine_tag()}"


@dataclass(frozen=True)
class DeviceConfig:
    """The ``[device]`` section: who the appliance is on the network.

    An empty ``id`` (the default) becomes :func:`default_device_id`, so two appliances on one broker never
    share topics, a client id or Home Assistant entities unless someone gives them the same id; an empty
    ``name`` is made from the id.
    """

    id: str = ""
    name: str = ""  # empty: "Today Feeling" and the id's own part, so two rooms never share one name
    area: str = ""  # the room, suggested to Home Assistant (e.g. "Living room"); empty: none

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", default_device_id())
        if not self.name:
            object.__setattr__(self, "name", f"Today Feeling {self.id.removeprefix('todayfeeling-')}")
        if not DEVICE_ID.fullmatch(self.id):
            raise SettingError("id", f"{self.id!r} must be 1-64 letters, digits, '_', '-' or '.', starting with a "
                                     "letter or digit (it is an MQTT topic level)")
        if not self.name.strip():
            raise SettingError("name", "must not be empty")


@dataclass(frozen=True)
class CameraConfig:
    """The ``[camera]`` section: which camera and how it delivers frames."""

    source: str = "auto"  # auto, picamera, /dev/videoN, a camera index, a video file, a folder of images, demo
    width: int = 640  # inference frame size: the Pi camera's lores stream, or the USB camera's capture size
    height: int = 480
    fps: float = 15.0  # frames per second asked of a live camera; the daemon samples from them
    rotate: Literal[0, 90, 180, 270] = 0  # degrees clockwise, for a camera mounted sideways or upside down
    read_timeout: float = 5.0  # seconds without a frame before a live camera counts as stalled
    retry_initial: float = 1.0  # first reconnect delay in seconds; doubles per failed attempt
    retry_max: float = 30.0  # cap of the reconnect delay
    picamera_main_width: int = 1280  # the Pi camera's main stream (not used for inference, only configured);
    picamera_main_height: int = 960  # never smaller than width x height, which the Pi camera cannot give

    def __post_init__(self) -> None:
        if not self.source.strip():
            raise SettingError("source", "must not be empty (auto picks the camera)")
        for name in ("width", "height"):
            if getattr(self, name) < 16:
                raise SettingError(name, f"must be at least 16 pixels, got {getattr(self, name)}")
        for name in ("fps", "read_timeout"):
            if getattr(self, name) <= 0:
                raise SettingError(name, f"must be positive, got {getattr(self, name)!r}")
        if not 0 < self.retry_initial <= self.retry_max:
            raise ValueError("retry_initial must be positive and not above retry_max")


MAX_THREADS = 64  # TFLite threads per model; a Pi has 4 cores


@dataclass(frozen=True)
class InferenceConfig:
    """The ``[inference]`` section: which models run where, and how eagerly faces are accepted."""

    models_dir: Path | None = None  # None: $TODAYFEELING_MODELS, else the checkout's or the install's models/
    face_model: str = "face_full_range"  # a key of models/manifest.json
    emotion_model: str = ""  # a key of models/manifest.json; empty: the manifest's default
    backend: BackendChoice = BackendChoice.AUTO  # auto: Edge TPU when a compiled twin and the device exist
    edgetpu_device: str = ""  # "", "usb", "usb:0", "pci", "pci:0"
    threads: int = 1  # per model; 1 costs the least CPU per frame (an always-on appliance), more cut latency
    min_face_score: float = 0.5  # MediaPipe's default
    min_face_size: int = 20  # pixels of the original frame
    max_faces: int = 10
    flip_average: bool = True  # also classify the mirrored crop and average: a second invoke per face

    def __post_init__(self) -> None:
        if not 1 <= self.threads <= MAX_THREADS:  # each a real thread: 100000 exhausted the machine's processes
            raise SettingError("threads", f"must be between 1 and {MAX_THREADS}, got {self.threads}")
        if not 0.0 < self.min_face_score < 1.0:
            raise SettingError("min_face_score", f"must be between 0 and 1, got {self.min_face_score!r}")
        if self.max_faces < 1:
            raise SettingError("max_faces", f"must be at least 1, got {self.max_faces}")
        if self.min_face_size < 0:
            raise SettingError("min_face_size", f"must not be negative, got {self.min_face_size}")


@dataclass(frozen=True)
class TrackingConfig:
    """The ``[tracking]`` section: following each face from frame to frame (``inference/tracks.py``).

    Camera and video frames (the daemon) are tracked; a single image (``detect``) never is.
    """

    enabled: bool = True
    max_missed: int = 2  # frames a track lives on without its face (a blink of the detector) before it ends
    smoothing: float = 0.5  # weight of a track's past in its probabilities (0: this frame's only)
    full_detect_every: int = 5  # the full-frame detector at least every N frames; regions between (1: always full)
    region_model: str = "face_short_range"  # a face detector of models/manifest.json, run on the regions
    region_scale: float = 2.0  # a region's side, in the tracked box's longer side
    max_regions: int = 2  # more faces tracked than this: the full-frame detector (cheaper than the regions)

    def __post_init__(self) -> None:
        if self.max_missed < 0:
            raise SettingError("max_missed", "must not be negative")
        if self.full_detect_every < 1:
            raise SettingError("full_detect_every", f"must be at least 1, got {self.full_detect_every}")
        if not self.region_model.strip():
            raise SettingError("region_model", "must name a face detector of the models' manifest")
        if self.region_scale < 1.0:
            raise SettingError("region_scale", f"must be at least 1 (the face itself), got {self.region_scale!r}")
        if self.max_regions < 1:
            raise SettingError("max_regions", f"must be at least 1, got {self.max_regions}")
        if not 0.0 <= self.smoothing < 1.0:
            raise SettingError("smoothing", f"must be at least 0 and below 1, got {self.smoothing!r}")


@dataclass(frozen=True)
class DaemonConfig:
    """The ``[daemon]`` section: how often frames are taken and health is reported."""

    idle_fps: float = 1.0  # frames per second while nobody is in view
    active_fps: float = 5.0  # frames per second while faces are present
    status_interval_s: float = 5.0  # systemd STATUS (MQTT stats: [mqtt] stats_interval)
    edgetpu_retry_s: float = 30.0  # how often a lost Edge TPU is tried again
    privacy: bool = False  # start with the camera off
    privacy_lock: bool = False  # camera off for good: nothing over MQTT or a signal turns it on
    state_dir: Path = STATE_DIR  # what the appliance keeps between runs (the privacy lock file, …)

    def __post_init__(self) -> None:
        for name in ("idle_fps", "active_fps", "status_interval_s", "edgetpu_retry_s"):
            if getattr(self, name) <= 0:
                raise SettingError(name, f"must be positive, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class MoodConfig:
    """The ``[mood]`` section: thresholds of the mood tracker (how they act: ``mood.py``'s docstring).

    The defaults were checked by replaying real detections (``scripts/replay_mood.py``, with ``--sweep``):
    on the face_smoke trailer clip the per-frame argmax changes ~390 times a minute, the tracker not once
    after its first mood; without the dwell it follows the clip's scenes (neutral, then anger).
    """

    time_constant_s: float = 2.0  # smoothing of the probabilities
    switch_margin: float = 0.15  # a new mood must lead the current one by this much...
    confirm_s: float = 1.5  # ...for this long without a break
    lead_time_s: float = 12.0  # or lead it, by any amount, this long (a narrow but lasting lead)
    min_dwell_s: float = 6.0  # a mood lasts at least this long before it can change to another emotion
    absence_timeout_s: float = 15.0  # no face for this long: mood `none`
    arrive_after_s: float = 0.5  # k faces seen over this long: face_arrived
    leave_after_s: float = 2.0  # k faces not seen for this long: face_left
    multi_face: Literal["average", "nearest"] = "average"
    full_weight_face_px: float = 64.0  # faces at least this big (sqrt of the box area) count fully
    max_frame_gap_s: float = 1.0  # longest time one frame may stand for

    def __post_init__(self) -> None:
        for name in ("time_constant_s", "full_weight_face_px", "max_frame_gap_s"):
            if getattr(self, name) <= 0:
                raise SettingError(name, f"must be positive, got {getattr(self, name)!r}")
        for name in ("confirm_s", "lead_time_s", "min_dwell_s", "absence_timeout_s", "arrive_after_s",
                     "leave_after_s"):
            if getattr(self, name) < 0:
                raise SettingError(name, f"must not be negative, got {getattr(self, name)!r}")
        if not 0.0 <= self.switch_margin < 1.0:
            raise SettingError("switch_margin", f"must be at least 0 and below 1, got {self.switch_margin!r}")


def library_folder_problem(folder: str) -> str | None:
    """Why ``folder`` cannot name a folder of the music library (it must stay inside it), or None."""
    if not folder.strip():
        return "must not be empty"
    if folder.startswith(("/", "~")) or ".." in PurePosixPath(folder).parts:
        return f"{folder!r} must be a folder inside the music library (relative, without '..')"
    return None


@dataclass(frozen=True)
class PlaylistChoice:
    """One folder of the music library (relative to it) that a mood may play, with its share."""

    folder: str
    weight: float = 1.0

    def __post_init__(self) -> None:
        problem = library_folder_problem(self.folder)
        if problem:
            raise SettingError("folder", problem)
        if self.weight <= 0:
            raise SettingError("weight", f"must be positive, got {self.weight!r}")


@dataclass(frozen=True)
class PersonTaste:
    """One enrolled person's music: their own mode (empty: the household's) and their folders per mood."""

    mode: MusicMode | None = None
    preferences: dict[str, list[PlaylistChoice]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_preferences(self.preferences)


def _check_preferences(preferences: dict[str, list[PlaylistChoice]]) -> None:
    unknown = [mood for mood in preferences if mood not in EMOTIONS]
    if unknown:
        raise SettingError("preferences", f"unknown mood {unknown[0]!r} (moods: {', '.join(EMOTIONS)})")
    empty = [mood for mood, choices in preferences.items() if not choices]
    if empty:
        raise SettingError(f"preferences.{empty[0]}", "must list at least one folder")


@dataclass(frozen=True)
class MusicConfig:
    """The ``[music]`` section: what plays when, and how changes sound.

    ``preferences`` maps a mood to the folders it plays, e.g.
    ``sadness = [{folder = "calm_piano", weight = 2}, {folder = "sadness", weight = 1}]``; a mood without
    an entry plays its own folder. ``fixed_playlist`` is a mood or any folder of the library.
    """

    dir: Path = STATE_DIR / "music"
    mode: MusicMode = MusicMode.FOLLOW
    switch: Literal["end_of_track", "immediate"] = "end_of_track"
    on_privacy: Literal["pause", "keep"] = "pause"  # when the camera goes off: pause (and resume after) or play on
    strong_confidence: float = 0.8  # a new mood at least this sure switches at once even with end_of_track
    volume: int = 60  # 0-100
    fade_ms: int = 1500
    fixed_playlist: str = "neutral"
    low_moods: list[str] = field(default_factory=lambda: ["sadness", "anger", "fear"])
    uplift_steps: list[str] = field(default_factory=lambda: ["neutral", "happiness"])
    uplift_tracks_per_step: int = 2
    preferences: dict[str, list[PlaylistChoice]] = field(default_factory=dict)
    audience: Literal["household", "longest", "priority"] = "household"  # whose mood and taste, with several
    priority: list[str] = field(default_factory=list)  # for audience = "priority": enrolled names, first wins
    audience_hold_s: float = 20.0  # a new choice of whose music must hold this long before it takes over
    people: dict[str, PersonTaste] = field(default_factory=dict)  # per enrolled name (checked at start)

    def __post_init__(self) -> None:
        if not 0 <= self.volume <= 100:
            raise SettingError("volume", f"must be between 0 and 100, got {self.volume}")
        if self.fade_ms < 0:
            raise SettingError("fade_ms", f"must not be negative, got {self.fade_ms}")
        if not 0.0 <= self.strong_confidence <= 1.0:
            raise SettingError("strong_confidence", f"must be between 0 and 1, got {self.strong_confidence!r}")
        if self.uplift_tracks_per_step < 1:
            raise SettingError("uplift_tracks_per_step", f"must be at least 1, got {self.uplift_tracks_per_step}")
        if not self.uplift_steps:
            raise SettingError("uplift_steps", "must name at least one mood")
        problem = library_folder_problem(self.fixed_playlist)
        if problem:
            raise SettingError("fixed_playlist", problem)
        for name, moods in (("low_moods", self.low_moods), ("uplift_steps", self.uplift_steps)):
            unknown = [m for m in moods if m not in EMOTIONS]
            if unknown:
                raise SettingError(name, f"unknown mood {unknown[0]!r} (moods: {', '.join(EMOTIONS)})")
        _check_preferences(self.preferences)
        if self.audience_hold_s < 0:
            raise SettingError("audience_hold_s", "must not be negative")
        folded = [name_key(name) for name in self.people]
        twins = [name for name in self.people if folded.count(name_key(name)) > 1]
        if twins:
            raise SettingError(f"people.{twins[0]}", "is given twice (names are the same in any case)")


@dataclass(frozen=True)
class MqttConfig:
    """The ``[mqtt]`` section: where the broker is, how to authenticate, how the device shows up on it.

    The device's topics live under ``<topic_prefix>/<device id>``; Home Assistant discovery goes under
    ``<discovery_prefix>/…``. Intervals are in seconds; ``state_interval = 0`` turns the periodic
    republication of the state off.
    """

    enabled: bool = True
    host: str = "localhost"
    port: int = 1883
    client_id: str = ""  # empty: "todayfeeling-<device id>"
    username: str = ""  # empty: anonymous
    password: str = ""
    tls: bool = False
    ca_file: Path | None = None  # None with tls: the system's trusted CAs
    cert_file: Path | None = None  # client certificate, for brokers that require one
    key_file: Path | None = None
    tls_insecure: bool = False  # accept any broker certificate (self-signed setups): encrypted, not authenticated
    publish_track: bool = False  # the playing file's name in player/state (names can be personal)
    keepalive: int = 10  # seconds; the broker declares a dead device offline after 1.5 times this
    reconnect_min_delay: float = 1.0
    reconnect_max_delay: float = 60.0
    topic_prefix: str = "todayfeeling"
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    discovery_delay: float = 5.0  # after Home Assistant announces itself online, before republishing
    state_interval: float = 300.0
    stats_interval: float = 30.0
    event_queue_size: int = 256  # events kept while the broker is unreachable; older ones are dropped and counted

    def __post_init__(self) -> None:
        if not self.host:
            raise SettingError("host", "must not be empty")
        if not 1 <= self.port <= 65535:
            raise SettingError("port", f"must be between 1 and 65535, got {self.port}")
        if self.username and not self.password:
            raise ValueError("password is required when username is set")
        if self.password and not self.username:
            raise ValueError("password is set but username is empty")
        if not self.tls and any((self.ca_file, self.cert_file, self.key_file, self.tls_insecure)):
            raise ValueError("ca_file, cert_file, key_file and tls_insecure need tls = true")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be given together")
        if not 1 <= self.keepalive <= 65535:
            raise SettingError("keepalive", f"must be between 1 and 65535 seconds, got {self.keepalive}")
        if not 0 < self.reconnect_min_delay <= self.reconnect_max_delay:
            raise ValueError("reconnect delays must satisfy 0 < reconnect_min_delay <= reconnect_max_delay")
        for name in ("topic_prefix", "discovery_prefix"):
            value = getattr(self, name)
            if not value or any(c in value for c in "+#\0") or value.startswith("/") or value.endswith("/"):
                raise SettingError(name, f"{value!r} must be a non-empty topic without wildcards or outer slashes")
        if self.discovery_delay < 0:
            raise SettingError("discovery_delay", f"must not be negative, got {self.discovery_delay!r}")
        if self.state_interval < 0:
            raise SettingError("state_interval", f"must not be negative (0 turns it off), got {self.state_interval!r}")
        if self.stats_interval <= 0:
            raise SettingError("stats_interval", f"must be positive, got {self.stats_interval!r}")
        if self.event_queue_size < 1:
            raise SettingError("event_queue_size", f"must be at least 1, got {self.event_queue_size}")


@dataclass(frozen=True)
class HistoryConfig:
    """The ``[history]`` section: the mood history on the device."""

    enabled: bool = True
    db: Path = STATE_DIR / "history.sqlite3"
    retention_days: int = 365
    checkpoint_s: float = 60.0  # how often the ongoing mood's duration is saved

    def __post_init__(self) -> None:
        if self.retention_days < 1:
            raise SettingError("retention_days", f"must be at least 1, got {self.retention_days}")
        if self.checkpoint_s <= 0:
            raise SettingError("checkpoint_s", f"must be positive, got {self.checkpoint_s!r}")


@dataclass(frozen=True)
class PeopleConfig:
    """The ``[people]`` section: recognising enrolled household members (DESIGN.md, "Household members")."""

    enabled: bool = True  # false: nothing is recognised, whatever the command line says
    db: Path | None = None  # the people database; None: people.json in [daemon] state_dir
    recheck_s: float = 5.0  # the daemon recognises a face track when it starts and again this often
    publish: bool = False  # per-person moods, sensors and events on MQTT (names leave the device)

    def __post_init__(self) -> None:
        if self.recheck_s <= 0:
            raise SettingError("recheck_s", "must be positive")


@dataclass(frozen=True)
class AppConfig:
    """Every section of ``config.toml``; a missing section takes its defaults."""

    device: DeviceConfig = field(default_factory=DeviceConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    history: HistoryConfig = field(default_factory=HistoryConfig)
    mood: MoodConfig = field(default_factory=MoodConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    music: MusicConfig = field(default_factory=MusicConfig)
    people: PeopleConfig = field(default_factory=PeopleConfig)
