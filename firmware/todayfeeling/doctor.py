"""Health checks of an installed appliance, and advice on where to put the camera.

Each check returns a :class:`Check` (ok, warning or failed, with a one-line detail and advice); the
`todayfeeling doctor` command prints them. Checks never raise: a broken part is a failed check.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from todayfeeling.config import AppConfig
from todayfeeling.config.settings import default_device_id
from todayfeeling.inference.faces import Face
from todayfeeling.inference.manifest import Manifest, ModelError
from todayfeeling.inference.runtime import EDGETPU_LIBRARY, RUNTIME_NAME, load_delegate
from todayfeeling.vocabulary import EMOTIONS, BackendChoice

Outcome = Literal["ok", "warning", "failed"]
CORAL_USB_IDS = {("1a6e", "089a"), ("18d1", "9302")}  # before and after its firmware is loaded
SMALL_FACE_PX = 40  # below this the emotion model sees little (its input is 48 px)
AS_SERVICE_USER = ("run the doctor as the service user, who may read it: "
                    "`sudo -u todayfeeling /opt/todayfeeling/venv/bin/todayfeeling doctor`")


@dataclass(frozen=True)
class Check:
    """The result of one check."""

    name: str
    outcome: Outcome
    detail: str
    advice: str = ""

    def as_dict(self) -> dict[str, str]:
        """For `doctor --json`."""
        return asdict(self)


def check_models(config: AppConfig) -> list[Check]:
    """The configured models are in place with the manifest's checksums."""
    try:
        manifest = Manifest(config.inference.models_dir)
        specs = [manifest.spec(config.inference.face_model, "face_detector", verify=False),
                 manifest.spec(config.inference.emotion_model, "emotion", verify=False)]
        if config.tracking.enabled:  # each file's checksum is checked below, one check each
            specs.append(manifest.spec(config.tracking.region_model, "face_detector", verify=False))
    except ModelError as err:
        return [Check("models", "failed", str(err))]
    checks = []
    for spec in specs:
        problem = manifest.problem(spec.name)
        if problem is not None:
            checks.append(Check("models", "failed", problem, "on the appliance: `sudo provisioning/install.sh` again "
                                "from the checkout; in a checkout: `.venv/bin/python models/fetch_models.py`"))
        else:
            checks.append(Check("models", "ok", f"{spec.name}: {spec.path.name} (sha256 verified)"))
    return checks


def check_runtime() -> Check:
    """Which TFLite runtime is installed."""
    package = {"tflite_runtime": "tflite-runtime", "ai_edge_litert": "ai-edge-litert"}[RUNTIME_NAME]
    return Check("runtime", "ok", f"{package} {importlib.metadata.version(package)}")


def check_edgetpu(config: AppConfig, usb_root: Path = Path("/sys/bus/usb/devices"),
                  pcie_device: Path = Path("/dev/apex_0")) -> Check:
    """Whether an Edge TPU is attached and its runtime library loads."""
    attached = pcie_device.exists() or _coral_on_usb(usb_root)
    device = config.inference.edgetpu_device
    try:
        ctypes.CDLL(EDGETPU_LIBRARY)  # first, so a missing library is not reported by load_delegate's noisy __del__
        load_delegate(EDGETPU_LIBRARY, {"device": device} if device else {})
        loads = ""
    except (OSError, ValueError, RuntimeError) as err:
        loads = f"{type(err).__name__}: {err}"
    if attached and not loads:
        return Check("edge tpu", "ok", "attached, and libedgetpu loads")
    wanted = config.inference.backend == BackendChoice.EDGETPU
    if wanted or attached:
        detail = "attached, but " + loads if attached else "configured but not attached"
        return Check("edge tpu", "failed" if wanted else "warning", detail,
                     "install libedgetpu1-std (provisioning/install.sh --with-edgetpu) and plug the Coral in")
    return Check("edge tpu", "ok", "none attached: the models run on the CPU")


def _coral_on_usb(usb_root: Path) -> bool:
    for device in usb_root.glob("*"):
        try:
            ids = ((device / "idVendor").read_text().strip(), (device / "idProduct").read_text().strip())
        except OSError:
            continue
        if ids in CORAL_USB_IDS:
            return True
    return False


def check_camera(config: AppConfig) -> Check:
    """Which camera `auto` would use."""
    from todayfeeling.camera import find_camera

    if config.camera.source != "auto":
        return Check("camera", "ok", f"configured: {config.camera.source}")
    found = find_camera(config.camera)
    if found is None:
        return Check("camera", "failed", "no Pi camera and no V4L2 camera that delivers frames",
                     "connect the camera (and enable it), or set [camera] source")
    return Check("camera", "ok", f"auto uses {found}")


def check_audio() -> Check:
    """Whether the audio output opens."""
    import pygame

    try:
        pygame.mixer.init()
    except NotImplementedError as err:  # pygame.mixer failed to import: a system library is missing
        return Check("audio", "failed", f"pygame has no mixer: {err}",
                     "install the system library its import names: libglib2.0-0 on Debian "
                     "(provisioning/install.sh installs it)")
    except pygame.error as err:
        return Check("audio", "failed", f"cannot open the audio output: {err}",
                     "check the speakers, `aplay -l`, and that the service user is in the audio group")
    driver = os.environ.get("SDL_AUDIODRIVER") or "default"
    frequency, _, channels = pygame.mixer.get_init()
    pygame.mixer.quit()
    return Check("audio", "ok", f"output opens ({driver} driver, {frequency} Hz, {channels} channels)")


def check_music(config: AppConfig) -> Check:
    """How much music each mood has."""
    from todayfeeling.music.library import Library

    try:
        found = config.music.dir.is_dir()
    except OSError as err:
        return _unreadable("music", config.music.dir, err)
    if not found:
        return Check("music", "warning", f"no music library at {config.music.dir}",
                     "create a folder per mood there (anger, fear, happiness, …) and put music in them")
    library = Library(config.music.dir)
    counts = {mood: len(library.tracks(mood)) for mood in EMOTIONS}
    empty = [mood for mood, count in counts.items() if not count]
    detail = ", ".join(f"{mood} {count}" for mood, count in counts.items())
    if empty:
        return Check("music", "warning", detail, f"no music for {', '.join(empty)}: those moods play neutral")
    return Check("music", "ok", detail)


def check_device(config: AppConfig) -> Check:
    """The device id the appliance uses on MQTT and in Home Assistant, and where it comes from."""
    from todayfeeling.mqtt.client import client_id_for

    device = config.device
    origin = "derived from this machine" if device.id == default_device_id() else "set in [device] id"
    client_id = config.mqtt.client_id or client_id_for(device.id)
    return Check("device", "ok", f"id {device.id} ({origin}), MQTT client id {client_id}, name {device.name!r}")


def check_broker(config: AppConfig, timeout: float = 3.0) -> list[Check]:
    """Whether the broker accepts the appliance: a real connection with its TLS settings and credentials."""
    from todayfeeling.mqtt.client import check_broker as log_in
    from todayfeeling.mqtt.client import client_id_for, is_loopback

    cfg = config.mqtt
    if not cfg.enabled:
        return [Check("mqtt", "ok", "disabled")]
    where = f"{cfg.host}:{cfg.port}"
    problem = log_in(cfg, cfg.client_id or client_id_for(config.device.id), timeout)
    secure = "TLS" if cfg.tls else "plain MQTT"
    login = f"as {cfg.username!r}" if cfg.username else "anonymously"
    checks = [Check("mqtt", "failed", f"broker {where}: {problem}", _BROKER_ADVICE) if problem else
              Check("mqtt", "ok", f"broker {where} accepts the appliance ({secure}, {login})")]
    if cfg.username and not cfg.tls and not is_loopback(cfg.host):
        checks.append(Check("mqtt", "warning", f"the username and password go to {where} unencrypted",
                            "set [mqtt] tls = true (and the broker's TLS port)"))
    return checks


_BROKER_ADVICE = ("start the broker (provisioning/install.sh --with-mosquitto), or fix [mqtt] host, port, tls "
                  "and username/password")


def check_runtime_settings(config: AppConfig) -> Check:
    """What was set while the appliance ran (privacy, volume, music mode) against the config file."""
    from todayfeeling.runtime_settings import SETTINGS, RuntimeSettings

    store = RuntimeSettings(config.daemon.state_dir)
    try:  # read() takes an unreadable file as empty, which here would say "nothing set" about a privacy set on
        store.path.open("rb").close()
    except FileNotFoundError:
        pass
    except OSError as err:
        return _unreadable("settings", store.path, err)
    stored = store.read()
    if not stored:
        return Check("settings", "ok", "nothing set at run time: the config file's values apply")
    parts = []
    for setting in SETTINGS:
        if setting.key not in stored:
            continue
        entry, in_file = stored[setting.key], setting.get(config)
        applies = entry.config_value == in_file
        parts.append(f"{setting.key} {entry.value!r} ({'applies' if applies else 'replaced by the edited file'}; "
                     f"the file says {in_file!r})")
    return Check("settings", "ok", f"{store.path}: " + ", ".join(parts))


def check_history(config: AppConfig) -> Check:
    """Whether the mood history can be read (it is written by the service)."""
    from todayfeeling.history import HistoryError, read_spans

    if not config.history.enabled:
        return Check("history", "ok", "disabled")
    path = config.history.db
    try:
        found = path.exists()
    except OSError as err:
        return _unreadable("history", path, err)
    if not found:
        return Check("history", "ok", f"{path}: none yet (the service creates it)")
    try:
        spans = read_spans(path)
    except HistoryError as err:
        return Check("history", "failed", str(err), "see `journalctl -u todayfeeling` for what the service did")
    return Check("history", "ok", f"{path}: {len(spans)} mood changes")


def _unreadable(name: str, path: Path, err: OSError) -> Check:
    """A failed check for a path the doctor may not look at (a user other than the service's)."""
    return Check(name, "failed", f"{path}: cannot read: {err.strerror or err}", AS_SERVICE_USER)


@dataclass(frozen=True)
class Placement:
    """What the camera sees over a few frames."""

    frames: int
    frames_with_faces: int
    median_face_px: float
    median_frontal: float
    brightness: float  # mean luminance, 0-255
    clipped: float  # share of pixels at 0 or 255


def frontalness(face: Face) -> float:
    """1 for a face looking at the camera, towards 0 in profile: how centred the nose is between the eyes."""
    right, left, nose = face.keypoints[0], face.keypoints[1], face.keypoints[2]
    eye_distance = float(np.linalg.norm(left - right))
    if eye_distance < 1e-3:
        return 0.0
    offset = abs(float(nose[0]) - float(right[0] + left[0]) / 2) / eye_distance
    return max(0.0, 1.0 - 2.0 * offset)


def measure_placement(frames: list[np.ndarray], faces_per_frame: list[list[Face]]) -> Placement:
    """Face sizes, frontalness and lighting over the frames."""
    faces = [face for found in faces_per_frame for face in found]
    gray = [cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) for frame in frames]
    return Placement(
        frames=len(frames),
        frames_with_faces=sum(1 for found in faces_per_frame if found),
        median_face_px=float(np.median([min(f.box[2], f.box[3]) for f in faces])) if faces else 0.0,
        median_frontal=float(np.median([frontalness(f) for f in faces])) if faces else 0.0,
        brightness=float(np.mean([g.mean() for g in gray])) if gray else 0.0,
        clipped=float(np.mean([np.mean((g == 0) | (g == 255)) for g in gray])) if gray else 0.0,
    )


def placement_advice(placement: Placement) -> list[Check]:
    """Turn what the camera sees into advice."""
    checks = []
    if placement.brightness < 50:
        checks.append(Check("lighting", "warning", f"dark picture (mean brightness {placement.brightness:.0f}/255)",
                            "add light facing the people, or avoid a window behind them"))
    elif placement.clipped > 0.2:
        checks.append(Check("lighting", "warning", f"{placement.clipped:.0%} of the picture is over- or "
                            "under-exposed", "turn the camera away from windows and lamps"))
    else:
        checks.append(Check("lighting", "ok", f"mean brightness {placement.brightness:.0f}/255"))
    if not placement.frames_with_faces:
        checks.append(Check("placement", "warning", f"no face in {placement.frames} frames",
                            "point the camera where people sit or stand, at head height"))
        return checks
    size, frontal = placement.median_face_px, placement.median_frontal
    if size < SMALL_FACE_PX:
        checks.append(Check("placement", "warning", f"faces are small (median {size:.0f} px)",
                            "move the camera closer to where people are, or raise [camera] width/height"))
    elif frontal < 0.5:
        checks.append(Check("placement", "warning", f"faces are seen from the side (frontal {frontal:.2f})",
                            "face the camera towards where people look, e.g. beside the TV or the speaker"))
    else:
        checks.append(Check("placement", "ok", f"faces in {placement.frames_with_faces}/{placement.frames} "
                            f"frames, median {size:.0f} px, frontal {frontal:.2f}"))
    return checks
