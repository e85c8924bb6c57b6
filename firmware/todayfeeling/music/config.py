"""Settings of the music side (the ``[music]`` section of config.toml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from todayfeeling.emotions import EMOTIONS

Mode = Literal["follow", "uplift", "fixed", "off"]
MODES: tuple[str, ...] = get_args(Mode)


@dataclass(frozen=True)
class PlaylistChoice:
    """One folder of the music library (relative to it) that a mood may play, with its share."""

    folder: str
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not self.folder.strip():
            raise ValueError("folder must not be empty")
        if self.weight <= 0:
            raise ValueError("weight must be positive")


@dataclass(frozen=True)
class MusicConfig:
    """What plays when, and how changes sound.

    ``preferences`` maps a mood to the folders it plays, e.g.
    ``sadness = [{folder = "calm_piano", weight = 2}, {folder = "sadness", weight = 1}]``; a mood without
    an entry plays its own folder. ``fixed_playlist`` is a mood or any folder of the library.
    """

    dir: Path = Path("/var/lib/todayfeeling/music")
    mode: Mode = "follow"
    switch: Literal["end_of_track", "immediate"] = "end_of_track"
    strong_confidence: float = 0.8  # a new mood at least this sure switches at once even with end_of_track
    volume: int = 60  # 0-100
    fade_ms: int = 1500
    fixed_playlist: str = "neutral"
    low_moods: list[str] = field(default_factory=lambda: ["sadness", "anger", "fear"])
    uplift_steps: list[str] = field(default_factory=lambda: ["neutral", "happiness"])
    uplift_tracks_per_step: int = 2
    preferences: dict[str, list[PlaylistChoice]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 <= self.volume <= 100:
            raise ValueError("volume must be between 0 and 100")
        if self.fade_ms < 0:
            raise ValueError("fade_ms must not be negative")
        if not 0.0 <= self.strong_confidence <= 1.0:
            raise ValueError("strong_confidence must be between 0 and 1")
        if self.uplift_tracks_per_step < 1:
            raise ValueError("uplift_tracks_per_step must be at least 1")
        if not self.uplift_steps:
            raise ValueError("uplift_steps must name at least one mood")
        if not self.fixed_playlist.strip():
            raise ValueError("fixed_playlist must not be empty")
        for name, moods in (("low_moods", self.low_moods), ("uplift_steps", self.uplift_steps),
                            ("preferences", list(self.preferences))):
            unknown = [m for m in moods if m not in EMOTIONS]
            if unknown:
                raise ValueError(f"{name}: unknown mood {unknown[0]!r} (moods: {', '.join(EMOTIONS)})")
        empty = [mood for mood, choices in self.preferences.items() if not choices]
        if empty:
            raise ValueError(f"preferences.{empty[0]} must list at least one folder")
