"""Shared test fixtures: where the research data and the models are, and headless audio."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

REPO = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("TODAYFEELING_DATASETS", REPO.parent / "shared" / "datasets"))
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
def models_dir() -> Path:
    """The checkout's models/ folder, with the third-party models fetched by models/fetch_models.py."""
    return MODELS
