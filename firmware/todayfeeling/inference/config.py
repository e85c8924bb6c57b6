"""Settings of the vision stages (the ``[inference]`` section of config.toml)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class InferenceConfig:
    """Which models run where, and how eagerly faces are accepted."""

    models_dir: Path | None = None  # None: $TODAYFEELING_MODELS, else the checkout's or the install's models/
    face_model: str = "face_full_range"  # a key of models/manifest.json
    emotion_model: str = ""  # a key of models/manifest.json; empty: the manifest's default
    backend: Literal["auto", "cpu", "edgetpu"] = "auto"  # auto: Edge TPU when a compiled twin and the device exist
    edgetpu_device: str = ""  # "", "usb", "usb:0", "pci", "pci:0"
    threads: int = 1  # per model; 1 costs the least CPU per frame (an always-on appliance), more cut latency
    min_face_score: float = 0.5  # MediaPipe's default
    min_face_size: int = 20  # pixels of the original frame
    max_faces: int = 10
    flip_average: bool = False  # also classify the mirrored crop and average: a second invoke, +0.8 points

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise ValueError("threads must be at least 1")
        if not 0.0 < self.min_face_score < 1.0:
            raise ValueError("min_face_score must be between 0 and 1")
        if self.max_faces < 1:
            raise ValueError("max_faces must be at least 1")
