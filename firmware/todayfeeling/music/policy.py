"""What to play when: the music modes, as pure decisions (no pygame, no files).

- ``follow``: the playlist of the room's mood.
- ``uplift``: music therapy's iso principle. A low mood (``low_moods``: sadness, anger, fear) first gets its
  own playlist for ``uplift_tracks_per_step`` tracks, then each of ``uplift_steps`` (calmer, then happier:
  neutral, happiness) for as many tracks, and stays on the last step. Other moods are followed.
- ``fixed``: always ``fixed_playlist``, whatever the mood.
- ``off``: no music; the mood is still tracked, so switching back picks up the room at once.

The mood ``none`` (nobody there, or privacy) changes nothing: what plays goes on.
"""

from __future__ import annotations

from todayfeeling.emotions import EMOTIONS
from todayfeeling.music.config import MODES, MusicConfig


class MusicPolicy:
    """The playlist to play next, given the mode and the room's mood; not thread-safe (the service locks)."""

    def __init__(self, config: MusicConfig) -> None:
        self._config = config
        self._mode = config.mode
        self._mood: str | None = None  # the last real mood (never `none`)
        self._plan: list[str] = []  # the coming playlists; the last one repeats

    @property
    def mode(self) -> str:
        """``follow``, ``uplift``, ``fixed`` or ``off``."""
        return self._mode

    def set_mode(self, mode: str) -> None:
        """Switch mode; raises ValueError for an unknown one."""
        if mode not in MODES:
            raise ValueError(f"unknown music mode {mode!r} (modes: {', '.join(MODES)})")
        self._mode = mode
        self._replan()

    def reconfigure(self, config: MusicConfig) -> None:
        """New settings (the mode stays: switching it is :meth:`set_mode`'s job); the plan starts over."""
        self._config = config
        self._replan()

    def on_mood(self, mood: str) -> bool:
        """Take the room's new mood; True when it changes what should play."""
        if mood not in EMOTIONS or mood == self._mood:
            return False
        before = self.upcoming()
        self._mood = mood
        self._replan()
        return self.upcoming() != before

    def upcoming(self) -> str | None:
        """The playlist the next track comes from, without moving on (None: nothing to play)."""
        if self._mode == "off":
            return None
        if self._mode == "fixed":
            return self._config.fixed_playlist
        return self._plan[0] if self._plan else None

    def next_playlist(self) -> str | None:
        """The playlist of the next track, moving the uplift plan one track on."""
        playlist = self.upcoming()
        if self._mode in ("follow", "uplift") and len(self._plan) > 1:
            self._plan.pop(0)
        return playlist

    def _replan(self) -> None:
        cfg = self._config
        if self._mood is None:
            self._plan = []
        elif self._mode == "uplift" and self._mood in cfg.low_moods:
            steps = [self._mood] + [s for s in cfg.uplift_steps if s != self._mood]
            self._plan = [step for step in steps[:-1] for _ in range(cfg.uplift_tracks_per_step)] + steps[-1:]
        else:
            self._plan = [self._mood]
