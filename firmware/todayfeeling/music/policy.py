"""What to play when: the music modes, as pure decisions (no pygame, no files).

- ``follow``: the playlist of the room's mood.
- ``uplift``: music therapy's iso principle. A low mood (``low_moods``: sadness, anger, fear) first gets its
  own playlist for ``uplift_tracks_per_step`` tracks, then each of ``uplift_steps`` (calmer, then happier:
  neutral, happiness) for as many tracks, and stays on the last step. Other moods are followed.
- ``fixed``: always ``fixed_playlist``, whatever the mood.
- ``off``: no music; the mood is still tracked, so switching back picks up the room at once.

The mood ``none`` (nobody there, or privacy) changes nothing: what plays goes on. A listener's own mode
(``[music.people.NAME] mode``) applies while their taste is followed, unless the household's mode is
``off`` or ``fixed`` (those are the household's explicit choices).
"""

from __future__ import annotations

from todayfeeling.config.settings import MusicConfig
from todayfeeling.vocabulary import EMOTIONS, MusicMode, names


class MusicPolicy:
    """The playlist to play next, given the mode and the room's mood; not thread-safe (the service locks)."""

    def __init__(self, config: MusicConfig) -> None:
        self._config = config
        self._mode = config.mode
        self._mood: str | None = None  # the last real mood (never `none`)
        self._personal: MusicMode | None = None  # the followed listener's own mode
        self._plan: list[str] = []  # the coming playlists; the last one repeats

    @property
    def mode(self) -> MusicMode:
        """``follow``, ``uplift``, ``fixed`` or ``off``."""
        return self._mode

    def set_mode(self, mode: str) -> None:
        """Switch mode; raises ValueError for an unknown one."""
        if mode not in names(MusicMode):
            raise ValueError(f"unknown music mode {mode!r} (modes: {', '.join(names(MusicMode))})")
        self._mode = MusicMode(mode)
        self._replan()

    def reconfigure(self, config: MusicConfig) -> None:
        """New settings (the mode stays: switching it is :meth:`set_mode`'s job); the plan starts over."""
        self._config = config
        self._replan()

    def on_mood(self, mood: str, personal_mode: MusicMode | None = None) -> bool:
        """Take the new mood (and the mode of the listener whose taste plays); True when it changes what
        should play."""
        if mood not in EMOTIONS or (mood == self._mood and personal_mode == self._personal):
            return False
        before = self.upcoming()
        self._mood, self._personal = mood, personal_mode
        self._replan()
        return self.upcoming() != before

    @property
    def _effective(self) -> MusicMode:
        if self._mode in (MusicMode.OFF, MusicMode.FIXED) or self._personal is None:
            return self._mode
        return self._personal

    def upcoming(self) -> str | None:
        """The playlist the next track comes from, without moving on (None: nothing to play)."""
        if self._effective == MusicMode.OFF:
            return None
        if self._effective == MusicMode.FIXED:
            return self._config.fixed_playlist
        return self._plan[0] if self._plan else None

    def next_playlist(self) -> str | None:
        """The playlist of the next track, moving the uplift plan one track on."""
        playlist = self.upcoming()
        if self._effective in (MusicMode.FOLLOW, MusicMode.UPLIFT) and len(self._plan) > 1:
            self._plan.pop(0)
        return playlist

    def _replan(self) -> None:
        cfg = self._config
        if self._mood is None:
            self._plan = []
        elif self._effective == MusicMode.UPLIFT and self._mood in cfg.low_moods:
            steps = [self._mood] + [s for s in cfg.uplift_steps if s != self._mood]
            self._plan = [step for step in steps[:-1] for _ in range(cfg.uplift_tracks_per_step)] + steps[-1:]
        else:
            self._plan = [self._mood]
