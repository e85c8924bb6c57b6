"""The music side as one object for the daemon: library, policy and player wired together.

::

    music = MusicService(config.music)            # scans config.music.dir (or music_dir=...)
    music.add_listener(publish_player_state)      # dicts for …/player/state, see below
    music.on_mood("sadness", 0.82)                # on every mood_changed event of the tracker
    music.command("pause")                        # play | pause | next | stop (…/player/cmd)
    music.set_volume(40)                          # 0-100 (…/volume/set)
    music.set_mode("uplift")                      # follow | uplift | fixed | off (…/music_mode/set)
    music.rescan()                                # after the library changed on disk (starts wanted music)
    music.reconfigure(new_config.music)           # SIGHUP: a reloaded [music] section
    music.close(fade_ms=1000)                     # on shutdown

Every method is thread-safe and returns at once (the player runs on its own thread). ``command`` and
``set_mode`` raise ValueError for unknown names. Listener dicts (from the player's thread)::

    {"state": "playing"|"paused"|"stopped", "playlist": "neutral", "track": "song.ogg", "volume": 60,
     "mode": "follow", "fallback_from": "sadness" | None, "error": None | "no audio device: ..."}

Behaviour: music starts with the first mood (or at once in ``fixed`` mode). A new mood takes over at the
end of the current track, or at once (with a fade) when ``switch = "immediate"`` or its confidence is at
least ``strong_confidence``. ``pause`` and ``stop`` are the listener's word: moods do not restart the music
until ``play`` or ``next``; a mode change (other than ``off``) also counts as asking for music. The mood
``none`` changes nothing. An empty playlist falls back to ``neutral``, then to any mood with music, and
the state says ``fallback_from``; with nothing playable at all the player stops with the error "no playable
track", and a ``rescan`` that finds music starts it (unless the listener paused or stopped it or the mode is
``off``; with the camera off and ``on_privacy = "pause"``, once the camera is back).
"""

from __future__ import annotations

import logging
import random
import threading
from pathlib import Path
from typing import Any

from todayfeeling.config.settings import MusicConfig
from todayfeeling.music.audience import HOUSEHOLD, Taste
from todayfeeling.music.library import Library
from todayfeeling.music.player import Listener, NoPlayableTrack, Player, Selection
from todayfeeling.music.policy import MusicPolicy
from todayfeeling.music.shuffle import Shuffler
from todayfeeling.vocabulary import EMOTIONS, MusicMode, PlayerCommand, PlayerState, names

log = logging.getLogger(__name__)


class MusicService:
    """The facade the daemon drives; see the module docstring."""

    def __init__(self, config: MusicConfig, music_dir: Path | None = None,
                 rng: random.Random | None = None) -> None:
        self._config = config
        self._rng = rng or random.Random()
        self.library = Library(music_dir or config.dir)
        self._policy = MusicPolicy(config)
        self._shuffler = Shuffler(self.library, config.preferences, self._rng)
        self._taste = Taste(HOUSEHOLD, config.preferences)  # whose folders the next track comes from
        self._lock = threading.Lock()
        self._held = False  # paused or stopped by the listener: moods do not restart the music
        self._privacy = False  # the camera is off
        self._privacy_paused = False  # paused because the camera went off
        self._listeners: list[Listener] = []
        self._forwarded: dict[str, Any] | None = None  # the state with the mode the listeners heard last
        self._player = Player(self._next_selection, self._mark_bad, config.volume, config.fade_ms)
        self._player.add_listener(self._forward)
        if config.mode == MusicMode.FIXED:
            self._player.play()

    @property
    def player(self) -> Player:
        """The player (for ``sync`` in tests and tools)."""
        return self._player

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(state)`` on every change of the player's state or mode."""
        with self._lock:
            self._listeners.append(listener)

    @property
    def problem(self) -> str | None:
        """Why the music cannot play (no audio device, nothing playable), or None."""
        error: str | None = self._player.state()["error"]
        return error

    def state(self) -> dict[str, Any]:
        """The player's state with the mode."""
        with self._lock:
            return {**self._player.state(), "mode": self._policy.mode}

    def on_mood(self, mood: str, confidence: float, taste: Taste | None = None) -> None:
        """The mood the music follows changed (after smoothing), or whose taste plays it (``taste``; None: the
        household's); ``none`` changes nothing."""
        taste = taste or Taste(HOUSEHOLD, self._config.preferences)
        with self._lock:
            new_listener = taste.who != self._taste.who
            self._taste = taste
            changed = self._policy.on_mood(mood, taste.mode)
            wanted, held = self._policy.upcoming(), self._held
        state = self._player.state()
        same = (state["fallback_from"] or state["playlist"]) == wanted and not new_listener
        if not (changed or new_listener) or wanted is None or held or same:
            return
        if state["state"] == PlayerState.STOPPED:
            self._player.play()
        elif self._config.switch == "immediate" or confidence >= self._config.strong_confidence:
            log.info("mood %s (%.2f): switching to %s now", mood, confidence, wanted)
            self._player.skip()
        else:
            log.info("mood %s (%.2f): %s after this track", mood, confidence, wanted)

    def command(self, name: str) -> None:
        """``play``, ``pause``, ``next`` or ``stop``; raises ValueError for anything else."""
        if name not in names(PlayerCommand):
            raise ValueError(f"unknown player command {name!r} (commands: {', '.join(names(PlayerCommand))})")
        with self._lock:
            self._held = name in (PlayerCommand.PAUSE, PlayerCommand.STOP)
        actions = {PlayerCommand.PLAY: self._player.play, PlayerCommand.PAUSE: self._player.pause,
                   PlayerCommand.NEXT: self._player.skip, PlayerCommand.STOP: self._player.stop}
        actions[PlayerCommand(name)]()

    def set_privacy(self, on: bool) -> None:
        """The camera went off (``on``) or came back: with ``on_privacy = "pause"`` the music pauses, and
        resumes when the camera is back unless the listener paused or stopped it meanwhile."""
        with self._lock:
            self._privacy = on
            pause = on and self._config.on_privacy == "pause" and self._player.state()["state"] == PlayerState.PLAYING
            resume = not on and self._privacy_paused and not self._held
            self._privacy_paused = pause or (on and self._privacy_paused)
        if pause:
            log.info("privacy on: pausing the music until the camera is back")
            self._player.pause()
        elif resume:
            self._player.play()
        elif not on:  # music that became playable meanwhile (a rescan) waited for the camera
            self._start_if_wanted("camera back")

    def set_volume(self, volume: int) -> int:
        """Volume 0-100 (clamped); returns the volume in effect once the player has run the change."""
        return self._player.set_volume(volume)

    def set_mode(self, mode: str) -> None:
        """Switch the music mode at run time; raises ValueError for an unknown mode. The mode already in
        effect changes nothing (an automation or Home Assistant's select may send it again): the track plays
        on, and music the listener paused stays paused."""
        with self._lock:
            if mode == self._policy.mode:
                return
            self._policy.set_mode(mode)
            self._held = False
            wanted = self._policy.upcoming()
        if mode == MusicMode.OFF:
            self._player.stop()
        elif wanted is not None:
            self._player.skip()
        self._player.announce()  # the mode is part of the state; the player's thread tells the listeners

    def reconfigure(self, config: MusicConfig) -> None:
        """Apply a reloaded ``[music]`` section: later tracks follow it; the mode and volume change at once
        when the file changed them."""
        with self._lock:
            old, self._config = self._config, config
            if config.dir != old.dir:
                self.library = Library(config.dir)
            self._shuffler = Shuffler(self.library, config.preferences, self._rng)
            if self._taste.who == HOUSEHOLD:
                self._taste = Taste(HOUSEHOLD, config.preferences)
            self._policy.reconfigure(config)
        self._player.set_fade(config.fade_ms)
        if config.volume != old.volume:
            self.set_volume(config.volume)
        if config.mode != old.mode:
            self.set_mode(config.mode)

    def rescan(self) -> None:
        """Scan the library again (new files, and another chance for tracks that failed); start the music if
        it is wanted, stopped, and now has something to play."""
        self.library.rescan()
        self._start_if_wanted("music library rescanned")

    def _start_if_wanted(self, why: str) -> None:
        """Start the music if it is stopped and wanted (not paused or stopped by the listener, a mode other
        than off, the camera not off with ``on_privacy = "pause"``) and something can play."""
        with self._lock:
            wanted = self._policy.upcoming()
            quiet = self._held or (self._privacy and self._config.on_privacy == "pause")
            start = wanted is not None and not quiet and self._playable(wanted) is not None
        if start and self._player.state()["state"] == PlayerState.STOPPED:
            log.info("%s: something to play now; starting the music", why)
            self._player.play()

    def close(self, fade_ms: int | None = None) -> None:
        """Fade out and release the audio device."""
        self._player.close(fade_ms)

    def _next_selection(self) -> Selection | None:
        """The player's track source: None when no music is wanted; raises NoPlayableTrack when nothing
        can be played."""
        with self._lock:
            wanted = self._policy.next_playlist()
            if wanted is None:
                return None
            taste = self._taste
            playlist = self._playable(wanted)
            track = self._shuffler.draw(playlist, taste.preferences) if playlist is not None else None
        if playlist is None or track is None:
            raise NoPlayableTrack(f"the music library {self.library.root} has no playable track")
        if playlist != wanted:
            log.warning("no playable track for %s: playing %s instead", wanted, playlist)
        return Selection(track, playlist, None if playlist == wanted else wanted, taste.who)

    def _playable(self, wanted: str) -> str | None:
        """The playlist to play for ``wanted`` with the current taste: it, else ``neutral``, else any mood
        with a playable track; None when the library has none. Call with the lock held."""
        return next((candidate for candidate in dict.fromkeys((wanted, "neutral", *EMOTIONS))
                     if self._shuffler.playable(candidate, self._taste.preferences)), None)

    def _mark_bad(self, track: Path, reason: str) -> None:
        self.library.mark_bad(track, reason)

    def _forward(self, state: dict[str, Any]) -> None:
        """From the player's thread: the state with the mode, to the listeners when it changed."""
        with self._lock:
            state = {**state, "mode": self._policy.mode}
            if state == self._forwarded:
                return
            self._forwarded = state
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(state)
            except Exception:  # a listener's bug must not stop the music
                log.exception("music: a state listener failed")
