"""The player: ``pygame.mixer.music`` driven by one thread, asking a track source what to play next.

Every public method only queues a command, so all of them are thread-safe and return at once; the
thread runs the commands in order. It sleeps on that queue: with no timeout while paused or stopped, while
a fade runs until it should be over, and while playing until the current track should end (its length read
from the file's header, minus what has played by the clock) but at most ``PLAY_CHECK_S`` at a time and
waking once more ``2 * EARLY_END_S`` before that end. So a partly copied file, whose header claims more
than it holds, is noticed soon after it falls silent. When a track's length cannot be read it checks every
``UNKNOWN_LENGTH_CHECK_S``. No busy wait.

A change (``skip``, ``stop``) fades the current track out and the next one in. A track that fails to load,
or stops well before the length its header claims (``EARLY_END_S``, ``EARLY_END_SHARE``), is reported to
``on_unplayable`` and the next one is tried at once; playback never stops for a bad file. A source returns
None when no music is wanted and raises :class:`NoPlayableTrack` when music is wanted but nothing can be
played: then the player stops and its state's error says "no playable track". The mixer is opened on the first play
and closed when stopped, so a stopped player costs nothing; if no audio device can be opened the player
says so in its state and stays stopped until the next play.

State reported to listeners (on every change, from the player's thread), as a dict::

    {"state": "playing"|"paused"|"stopped", "playlist": "happiness", "track": "song.ogg", "volume": 60,
     "fallback_from": None | "sadness", "error": None | "...", "for": "household" | "Mina" | None}
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import soundfile

    _SOUNDFILE_ERROR = ""
except OSError as _err:  # soundfile's aarch64 wheel needs the system's libsndfile1
    soundfile = None
    _SOUNDFILE_ERROR = str(_err)

import pygame  # quiet: todayfeeling/__init__.py sets PYGAME_HIDE_SUPPORT_PROMPT before this import

from todayfeeling.text import one_line, printable
from todayfeeling.vocabulary import PlayerState

log = logging.getLogger(__name__)

UNKNOWN_LENGTH_CHECK_S = 1.0  # how often to look whether a track of unknown length has ended
PLAY_CHECK_S = 2.0  # while playing, look at least this often whether the mixer still plays (early ends)
EARLY_END_S = 0.25  # a track ending this much before its header's length is cut short (the mixer runs ~93 ms ahead)
EARLY_END_SHARE = 0.1  # ... and this share of it: a VBR MP3 without a length header only has an estimate
END_MARGIN_S = 0.12  # wake this long after the expected end: the mixer runs a buffer (~93 ms) ahead
END_RECHECK_S = 0.05  # then look again this often until the mixer has finished the track
MIXER_BUFFER = 4096  # samples per mixer callback: ~93 ms at 44.1 kHz, few wake-ups, latency is no issue
LOAD_FAILURES_S = 10.0  # bad tracks tried in a row for this long give up until the next command (a hang guard)
NO_AUDIO_DEVICE = "no audio device"  # how the state's error begins when the mixer cannot open
NO_PLAYABLE_TRACK = "no playable track"  # the state's error when music is wanted but nothing can play
# What opening the mixer raises: pygame.error when the audio device does not open; NotImplementedError when
# pygame.mixer itself is missing, because its import failed (pygame's bundled fluidsynth links libglib-2.0,
# which a minimal Debian lacks until libglib2.0-0 is installed).
MIXER_ERRORS = (pygame.error, NotImplementedError)


@dataclass(frozen=True)
class Selection:
    """A track to play and where it comes from."""

    track: Path
    playlist: str
    fallback_from: str | None = None  # the playlist that was wanted but had nothing playable
    listener: str = "household"  # whose taste chose it: "household" or an enrolled person's name


class NoPlayableTrack(Exception):
    """Raised by a track source when music is wanted but nothing in the library can be played."""


TrackSource = Callable[[], "Selection | None"]  # None: no music is wanted (may raise NoPlayableTrack)
Listener = Callable[[dict[str, Any]], None]


class Player:
    """Plays tracks from ``source`` one after the other; see the module docstring."""

    def __init__(self, source: TrackSource, on_unplayable: Callable[[Path, str], None],
                 volume: int = 60, fade_ms: int = 1500) -> None:
        self._source = source
        self._on_unplayable = on_unplayable
        self._fade_ms = fade_ms
        self._volume = _clamp_volume(volume)
        self._status = PlayerState.STOPPED
        self._current: Selection | None = None
        self._length: float | None = None
        self._started = 0.0  # when the current track would have started had it never paused (monotonic)
        self._paused_at = 0.0
        self._error: str | None = None
        self._after_fade: str | None = None  # "next" or "stop" once the fade-out ends
        self._fade_ends = 0.0
        self._mixer_open = False
        self._listeners: list[Listener] = []
        self._state_lock = threading.Lock()
        self._state: dict[str, Any] = self._snapshot()
        self._closing = False
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="music-player", daemon=True)
        self._thread.start()

    # -- public, thread-safe -----------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(state)`` on every state change (from the player's thread)."""
        with self._state_lock:
            self._listeners.append(listener)

    def state(self) -> dict[str, Any]:
        """The latest state (a copy)."""
        with self._state_lock:
            return dict(self._state)

    def play(self) -> None:
        """Resume when paused, start the source's next track when stopped; nothing when playing."""
        self._commands.put(self._do_play)

    def pause(self) -> None:
        """Pause the current track."""
        self._commands.put(self._do_pause)

    def skip(self) -> None:
        """Fade out the current track and fade in the source's next one."""
        self._commands.put(self._do_skip)

    def stop(self) -> None:
        """Fade out and stop."""
        self._commands.put(self._do_stop)

    def set_volume(self, volume: int) -> int:
        """Set the volume, 0-100; returns it clamped, as it will be in effect."""
        clamped = _clamp_volume(volume)
        self._commands.put(lambda: self._do_volume(clamped))
        return clamped

    def set_fade(self, fade_ms: int) -> None:
        """Fade length of later changes, in milliseconds."""
        self._commands.put(lambda: setattr(self, "_fade_ms", max(0, int(fade_ms))))

    def announce(self) -> None:
        """Send the state to the listeners again even if it did not change (in order with every change)."""
        self._commands.put(lambda: self._publish(force=True))

    def sync(self, timeout: float = 10.0) -> bool:
        """Wait until every command queued before this call has run; False on timeout."""
        done = threading.Event()
        self._commands.put(done.set)
        return done.wait(timeout)

    def close(self, fade_ms: int | None = None, timeout: float = 10.0) -> None:
        """Fade out (``fade_ms``, default the player's), stop, close the mixer and end the thread."""
        self._commands.put(lambda: self._do_close(self._fade_ms if fade_ms is None else fade_ms))
        self._thread.join(timeout)

    # -- the player's thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        while not (self._closing and self._after_fade is None):
            try:
                self._next_command()()
            except Exception as err:  # an audio device gone, a library error: stop, but never end the thread
                log.exception("music player: stopping after an error")
                self._halt(error=one_line(str(err) or type(err).__name__))
            self._publish()

    def _next_command(self) -> Callable[[], None]:
        try:
            return self._commands.get(timeout=self._sleep_for())  # asks the mixer: may fail too
        except queue.Empty:
            return self._wake

    def _sleep_for(self) -> float | None:
        if self._after_fade is not None:
            return max(self._fade_ends - time.monotonic(), 0.0) + END_MARGIN_S
        if self._status != PlayerState.PLAYING:
            return None
        if not pygame.mixer.music.get_busy():
            return 0.0  # ended while a command ran: move on now
        if self._length is None:
            return UNKNOWN_LENGTH_CHECK_S
        remaining = self._length - self._played()
        if remaining > 2 * EARLY_END_S:  # look before the end too: a partly copied file falls silent early
            return min(remaining - 2 * EARLY_END_S, PLAY_CHECK_S)
        return remaining + END_MARGIN_S if remaining > 0 else END_RECHECK_S

    def _played(self) -> float:
        """Seconds of the current track played so far, by the clock (pauses left out)."""
        return time.monotonic() - self._started

    def _wake(self) -> None:
        if self._after_fade is not None:
            if pygame.mixer.music.get_busy() and time.monotonic() < self._fade_ends + 1.0:
                return  # the mixer is a little behind the clock
            self._finish_fade()
        elif self._status == PlayerState.PLAYING and not pygame.mixer.music.get_busy():
            self._track_ended()

    def _track_ended(self) -> None:
        """The mixer finished the current track: report it if it stopped well before the length its header
        claims (a partly copied or damaged file), then play the next one."""
        played = self._played()
        if self._current is not None and self._length is not None \
                and self._length - played > max(EARLY_END_S, EARLY_END_SHARE * self._length):
            self._on_unplayable(self._current.track, f"ended within {played:.1f} s of the {self._length:.1f} s "
                                                     "its header claims (partly copied or damaged)")
        self._start_next(fade_in=False)

    def _finish_fade(self) -> None:
        action, self._after_fade = self._after_fade, None
        if self._mixer_open:
            pygame.mixer.music.stop()
        if action == "next" and not self._closing:
            self._start_next(fade_in=True)
        else:
            self._halt()

    def _do_play(self) -> None:
        if self._after_fade is not None:
            self._finish_fade()
        if self._status == PlayerState.PAUSED:
            pygame.mixer.music.unpause()
            self._status, self._started = PlayerState.PLAYING, self._started + time.monotonic() - self._paused_at
        elif self._status == PlayerState.STOPPED:
            self._start_next(fade_in=True)

    def _do_pause(self) -> None:
        if self._after_fade is not None:
            self._finish_fade()
        if self._status == PlayerState.PLAYING:
            pygame.mixer.music.pause()
            self._status, self._paused_at = PlayerState.PAUSED, time.monotonic()

    def _do_skip(self) -> None:
        self._fade_then("next")

    def _do_stop(self) -> None:
        self._fade_then("stop")

    def _fade_then(self, action: str) -> None:
        if self._after_fade is not None:
            self._after_fade = action  # the fade under way ends in the latest wish
            return
        if self._status == PlayerState.PLAYING and self._fade_ms > 0:
            pygame.mixer.music.fadeout(self._fade_ms)
            self._after_fade, self._fade_ends = action, time.monotonic() + self._fade_ms / 1000.0
        else:
            self._after_fade = action
            self._finish_fade()

    def _do_volume(self, volume: int) -> None:
        self._volume = volume
        if self._mixer_open:
            pygame.mixer.music.set_volume(self._volume / 100.0)

    def _do_close(self, fade_ms: int) -> None:
        self._closing = True
        if self._after_fade is None and self._status == PlayerState.PLAYING and fade_ms > 0:
            pygame.mixer.music.fadeout(fade_ms)
            self._fade_ends = time.monotonic() + fade_ms / 1000.0
        elif self._after_fade is None:
            self._halt()
            return
        self._after_fade = "stop"

    def _start_next(self, fade_in: bool) -> None:
        if not self._open_mixer():
            return
        # Each bad track leaves the library, so trying on reaches the fallback playlists or NoPlayableTrack;
        # a track offered twice (its bad mark did not hold) or a very long run of bad ones ends it here.
        tried: set[Path] = set()
        give_up_at = time.monotonic() + LOAD_FAILURES_S
        while True:
            try:
                selection = self._source()
            except NoPlayableTrack as err:
                log.error("music player: %s; stopping", err)
                self._halt(error=NO_PLAYABLE_TRACK)
                return
            if selection is None:
                log.info("music player: nothing to play")
                self._halt()
                return
            if selection.track in tried or time.monotonic() > give_up_at:
                log.error("music player: %d tracks in a row failed to load; stopping", len(tried))
                self._halt(error=NO_PLAYABLE_TRACK)
                return
            tried.add(selection.track)
            problem = load(selection.track)
            if problem is None:
                try:
                    pygame.mixer.music.play(fade_ms=self._fade_ms if fade_in else 0)
                except pygame.error as err:
                    problem = str(err)
            if problem is not None:
                self._on_unplayable(selection.track, problem)
                continue
            self._current, self._status, self._started = selection, PlayerState.PLAYING, time.monotonic()
            self._length = _track_length(selection.track)
            log.info("playing %s from %s for %s%s", printable(selection.track.name), printable(selection.playlist),
                     printable(selection.listener),
                     f" (fallback from {selection.fallback_from})" if selection.fallback_from else "")
            return

    def _open_mixer(self) -> bool:
        if self._mixer_open:
            return True
        try:
            pygame.mixer.init(buffer=MIXER_BUFFER)
        except MIXER_ERRORS as err:
            log.error("music player: cannot open the audio device: %s", err)
            self._halt(error=f"{NO_AUDIO_DEVICE}: {err}")
            return False
        pygame.mixer.music.set_volume(self._volume / 100.0)
        self._mixer_open, self._error = True, None
        return True

    def _halt(self, error: str | None = None) -> None:
        """Stop and close the mixer, so a stopped player uses no CPU."""
        if self._mixer_open:
            pygame.mixer.music.stop()
            pygame.mixer.music.unload()
            pygame.mixer.quit()
            self._mixer_open = False
        self._status, self._current, self._length, self._after_fade = PlayerState.STOPPED, None, None, None
        self._error = error

    def _snapshot(self) -> dict[str, Any]:
        current = self._current
        return {"state": self._status, "playlist": current.playlist if current else None,
                "track": printable(current.track.name) if current else None, "volume": self._volume,
                "fallback_from": current.fallback_from if current else None, "error": self._error,
                "for": current.listener if current else None}

    def _publish(self, force: bool = False) -> None:
        state = self._snapshot()
        with self._state_lock:
            if state == self._state and not force:
                return
            self._state = state
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(dict(state))
            except Exception:  # a listener's bug must not stop the music
                log.exception("music player: a state listener failed")


def check_tracks(tracks: list[Path], on_unplayable: Callable[[Path, str], None]) -> None:
    """Load every track once (nothing is played) and report those the mixer cannot open.

    Opens the mixer on SDL's silent driver when it is not open, so it works without speakers. Raises one
    of ``MIXER_ERRORS`` when the mixer cannot be opened at all.
    """
    opened = pygame.mixer.get_init() is None
    if opened:
        os.environ["SDL_AUDIODRIVER"] = "dummy"
        pygame.mixer.init()
    try:
        for track in tracks:
            problem = load(track)
            if problem is not None:
                on_unplayable(track, problem)
        pygame.mixer.music.unload()
    finally:
        if opened:
            pygame.mixer.quit()


def load(track: Path) -> str | None:
    """Load ``track`` into the mixer; why it cannot be played, or None.

    The path goes to SDL as bytes, so a file name that is not UTF-8 plays too. When the mixer refuses a
    file, the reason is the operating system's if the file cannot even be opened (SDL would say "No such
    file or directory" for a file it may not read), else SDL's own (a corrupt or unsupported file).
    """
    try:
        pygame.mixer.music.load(os.fsencode(track))
    except pygame.error as err:
        try:
            with open(track, "rb"):
                pass
        except OSError as os_error:
            return os_error.strerror or str(os_error)
        return str(err)
    return None


def _track_length(track: Path) -> float | None:
    """The track's length in seconds from its header, None when unknown."""
    if soundfile is None:
        _warn_lengths_unknown()
        return None
    try:
        info = soundfile.info(os.fsencode(track))
    except (RuntimeError, OSError, ValueError) as err:  # soundfile raises LibsndfileError (a RuntimeError)
        log.debug("length of %s unknown: %s", track, err)
        return None
    return info.duration if info.duration > 0 else None


@functools.cache
def _warn_lengths_unknown() -> None:
    log.warning("track lengths unknown (soundfile: %s): checking for a track's end every %.1f s",
                _SOUNDFILE_ERROR or "not available", UNKNOWN_LENGTH_CHECK_S)


def _clamp_volume(volume: int) -> int:
    return max(0, min(100, int(volume)))
