"""Shared test fixtures: where the research data and the models are, and headless audio."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

import todayfeeling  # noqa: F401  (first: it sets the environment numpy reads, as in the appliance)

os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

# A suite started as a background job of a script inherits SIGINT ignored, and so would every process it starts:
# Ctrl-C (the music player's stop, the daemon's) could not be tested. Catching it here gives the children the
# default disposition again (exec resets caught signals, not ignored ones).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("TODAYFEELING_DATASETS", REPO.parent / "shared" / "datasets"))
CAMERA_FRAME = (640, 480)  # width, height: what the appliance's camera gives
MODELS = REPO / "models"

# the shorter variants under emulation, a real mosquitto, the real daemon process (see each module)
pytest_plugins = ["tests.emulation", "tests.broker", "tests.daemon_process"]


@pytest.fixture(scope="session")
def datasets() -> Path:
    """The research data folder beside the checkout (CI has it; a user's clone may not)."""
    if not (DATASETS / "face_smoke").is_dir():
        pytest.skip(f"research datasets not found at {DATASETS} (set TODAYFEELING_DATASETS)")
    return DATASETS


@pytest.fixture(scope="session")
def face_smoke(datasets: Path) -> Path:
    """Real photos and a short video for face-detector checks."""
    return datasets / "face_smoke"


@pytest.fixture(scope="session")
def camera_sized(face_smoke: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``camera_sized(name)``: face_smoke's photo ``name`` scaled down to fit a camera frame, written once per
    session. The daemon reads camera-sized frames; a folder of multi-megapixel photos would mostly time
    JPEG decoding (seconds a photo under emulation)."""
    import cv2

    folder = tmp_path_factory.mktemp("camera_sized")
    made: dict[str, Path] = {}

    def scaled(name: str) -> Path:
        if name not in made:
            photo = cv2.imread(str(face_smoke / name))
            scale = min(1.0, CAMERA_FRAME[0] / photo.shape[1], CAMERA_FRAME[1] / photo.shape[0])
            size = (round(photo.shape[1] * scale), round(photo.shape[0] * scale))
            made[name] = folder / f"{len(made):02d}_{Path(name).stem}.jpg"
            cv2.imwrite(str(made[name]), cv2.resize(photo, size, interpolation=cv2.INTER_AREA),
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
        return made[name]

    return scaled


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The checkout's models/ folder, with the third-party models fetched by models/fetch_models.py."""
    return MODELS
