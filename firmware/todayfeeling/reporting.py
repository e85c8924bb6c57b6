"""What the appliance tells the outside world, and when: MQTT state, events, player and stats, and systemd's
status line; the stage timings behind them; and the one helper for periodic tasks.

:class:`Reporter` is the daemon's only way out: it turns the tracker's state, the player's state and the
pipeline's health into payloads, and publishes them where there is somewhere to publish (no MQTT link: the
MQTT side is skipped; no systemd: the notifier does nothing).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from todayfeeling import __version__
from todayfeeling.camera.base import SourceStatus
from todayfeeling.inference.runtime import BackendStatus
from todayfeeling.memory import current_rss_mb, peak_rss_mb
from todayfeeling.mood import MoodState
from todayfeeling.service import ServiceNotifier
from todayfeeling.text import one_line
from todayfeeling.vocabulary import NO_MOOD, EventType, PlayerState

log = logging.getLogger(__name__)

CPU_TEMPERATURE = Path("/sys/class/thermal/thermal_zone0/temp")


class Link(Protocol):
    """The publishing side of the MQTT link (:class:`~todayfeeling.mqtt.client.MqttPublisher`)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def publish_state(self, state: dict[str, Any]) -> None: ...

    def publish_event(self, event_type: str, **fields: Any) -> None: ...

    def publish_player_state(self, player: dict[str, Any]) -> None: ...

    def publish_privacy(self, on: bool) -> None: ...

    def publish_music_mode(self, mode: str) -> None: ...

    def publish_stats(self, stats: dict[str, Any]) -> None: ...

    def publish_person_state(self, name: str, state: Mapping[str, Any]) -> None: ...

    def set_people(self, people: Sequence[str]) -> None: ...

    @property
    def problem(self) -> str | None: ...


FPS_WINDOW_S = 10.0  # the frame rate is counted over this many seconds


class StageTimes:
    """Per-stage milliseconds as moving averages, and frames per second."""

    def __init__(self, weight: float = 0.1) -> None:
        self._weight = weight
        self.ms: dict[str, float] = {}
        self._frames: list[float] = []

    def add(self, ms: dict[str, float], at: float) -> None:
        """Fold one frame's timings in."""
        for stage, value in ms.items():
            old = self.ms.get(stage)
            self.ms[stage] = value if old is None else old + self._weight * (value - old)
        self._frames = [t for t in self._frames if at - t < FPS_WINDOW_S] + [at]

    def fps(self, now: float) -> float:
        """Frames per second over the ten seconds before ``now`` (monotonic): 0 once frames stopped (privacy,
        a camera gone), not the last rate for ever."""
        recent = [t for t in self._frames if now - t < FPS_WINDOW_S]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6)


@dataclass
class _Task:
    interval: Callable[[], float]
    action: Callable[[float], None]
    due: float = 0.0
    first_when: Callable[[], bool] | None = None  # the first run also waits for this, until ``first_by``
    first_by: float = 0.0


@dataclass
class Periodic:
    """Tasks that run every so many seconds, checked by the main loop between frames.

    An interval is read anew each time (a reloaded config changes it); a task first runs on the first check.
    """

    _tasks: list[_Task] = field(default_factory=list)

    def every(self, interval: Callable[[], float], action: Callable[[float], None], first_after: float = 0.0,
              first_when: Callable[[], bool] | None = None, first_within: float = 0.0) -> None:
        """Run ``action(now)`` every ``interval()`` seconds, the first time ``first_after`` seconds from now.

        With ``first_when``, the first run also waits until it is true, but no longer than ``first_within``
        seconds from now.
        """
        start = time.monotonic()
        self._tasks.append(_Task(interval, action, start + first_after if first_after else 0.0,
                                 first_when, start + first_within))

    def run_due(self, now: float) -> None:
        """Run every task that is due at monotonic time ``now``."""
        for task in self._tasks:
            if task.first_when is not None:
                if now < task.first_by and not task.first_when():
                    continue
                task.first_when = None  # waited for once, never again
            if now >= task.due:
                # on its own beat, not a whole loop late each time (a 1 s check ran every 1.6 s at 1 fps) ...
                task.due += task.interval()
                if task.due <= now:  # ... but after a stall once, not in a burst
                    task.due = now + task.interval()
                task.action(now)


@dataclass(frozen=True)
class Health:
    """What the stats and the status line report about the running appliance."""

    backend: BackendStatus
    camera: SourceStatus
    fps: float
    ms: dict[str, float]
    frames: int
    uptime_s: float
    started: float  # Unix time of the start
    problems: tuple[str, ...] = ()  # what a user must act on: "mqtt: …", "camera: …", "audio: …", "history: …"


class Reporter:
    """Publishes the appliance's state to MQTT (``link``, may be None) and systemd (``notifier``).

    Thread-safe where it must be: the player's listener runs on the player's thread.
    """

    def __init__(self, link: Link | None, notifier: ServiceNotifier, publish_track: bool = False,
                 publish_people: bool = False, clock: Callable[[], float] = time.monotonic) -> None:
        self._link = link
        self.notifier = notifier
        self._clock = clock  # the mood clock, which a MoodState's ``since`` is on (a video's own time, say)
        self._publish_track = publish_track  # file names can be personal: published only when allowed
        self._publish_people = publish_people  # whose music plays ("for") only with per-person publishing
        self._lock = threading.Lock()
        self._playing: tuple[str, str] | None = None  # (playlist, track) while playing

    @property
    def link_problem(self) -> str | None:
        """What is wrong with the MQTT link, if there is one and something is."""
        link = self._link
        return link.problem if link is not None else None

    def start(self) -> None:
        """Connect to the broker (in the background)."""
        if self._link is not None:
            self._link.start()

    def stop(self, final_state: tuple[MoodState, bool] | None = None) -> None:
        """Publish ``final_state`` (mood state, privacy) one last time and close the MQTT link; idempotent."""
        link, self._link = self._link, None
        if link is None:
            return
        if final_state is not None:
            link.publish_state(state_payload(*final_state, now=self._clock()))
        link.stop()

    def state(self, state: MoodState, privacy: bool) -> None:
        """The room's mood (retained ``…/state``)."""
        if self._link is not None:
            self._link.publish_state(state_payload(state, privacy, now=self._clock()))

    def event(self, event_type: EventType, **fields: Any) -> None:
        """A momentary event (``…/event``)."""
        if self._link is not None:
            self._link.publish_event(event_type, **fields)

    def person_event(self, event_type: EventType, **fields: Any) -> None:
        """A person's event (``person`` among the fields): on ``…/event`` only with per-person publishing."""
        if self._link is not None and self._publish_people:
            self._link.publish_event(event_type, **fields)

    def person(self, name: str, state: MoodState) -> None:
        """A person's mood (retained ``…/people/<key>/state``), only with per-person publishing."""
        if self._link is not None and self._publish_people:
            self._link.publish_person_state(name, person_payload(state, now=self._clock()))

    def people(self, names: Sequence[str]) -> None:
        """The enrolled people changed: their sensors follow, only with per-person publishing."""
        if self._link is not None and self._publish_people:
            self._link.set_people(names)

    def privacy(self, on: bool) -> None:
        """Whether the camera is off (``…/privacy/state``)."""
        if self._link is not None:
            self._link.publish_privacy(on)

    def player(self, player: dict[str, Any]) -> None:
        """The player's state and mode, and ``playback_started`` for each new track (any thread)."""
        playing = (player["playlist"], player["track"]) if player["state"] == PlayerState.PLAYING else None
        with self._lock:
            started, self._playing = playing is not None and playing != self._playing, playing
        link = self._link  # the main thread sets it to None when it stops MQTT
        if link is None:
            return
        track = player["track"] if self._publish_track else None
        shown = {key: value for key, value in player.items() if key != "for" or self._publish_people}
        link.publish_player_state({**shown, "track": track})
        link.publish_music_mode(player["mode"])
        if started:
            link.publish_event(EventType.PLAYBACK_STARTED, playlist=player["playlist"], track=track)

    def stats(self, health: Health) -> None:
        """Health figures (retained ``…/stats``)."""
        if self._link is not None:
            self._link.publish_stats(stats_payload(health))

    def status(self, health: Health, mood: MoodState, privacy: bool) -> None:
        """systemd's one-line status (sent only when it changed)."""
        self.notifier.status(status_line(health, mood, privacy))


def state_payload(state: MoodState, privacy: bool, now: float) -> dict[str, Any]:
    """The ``…/state`` payload (seq and ts are added by the link); ``since`` in wall-clock time, from ``now`` on
    the clock of ``state.since``."""
    since = time.time() - (now - state.since)
    return {"mood": state.mood, "confidence": state.confidence if state.mood != NO_MOOD else 0.0,
            "since": datetime.fromtimestamp(since, UTC).isoformat(timespec="seconds"),
            "faces": state.faces, "privacy": privacy}


def person_payload(state: MoodState, now: float) -> dict[str, Any]:
    """A person's ``…/people/<key>/state`` payload but the name (the link adds it, with ts)."""
    room = state_payload(state, privacy=False, now=now)
    return {"mood": room["mood"], "confidence": room["confidence"], "since": room["since"],
            "present": state.faces > 0}


def stats_payload(health: Health) -> dict[str, Any]:
    """The ``…/stats`` payload (the link adds reconnects, events dropped and ts)."""
    return {
        "uptime_s": round(health.uptime_s),
        "started": datetime.fromtimestamp(health.started, UTC).isoformat(timespec="seconds"),
        "version": __version__,
        "backend": health.backend.as_dict(),
        "ms": {stage: round(ms, 2) for stage, ms in health.ms.items()},
        "fps": round(health.fps, 2),
        "cpu_temp_c": cpu_temperature(),
        "camera": health.camera.text,
        "frames_processed": health.frames,
        "problems": [one_line(problem) for problem in health.problems],  # a library's error can be long
        "rss_mb": current_rss_mb(),  # now
        "peak_rss_mb": peak_rss_mb(),  # the most since start
    }


def status_line(health: Health, mood: MoodState, privacy: bool) -> str:
    """``cpu | 5.0 fps | mood happiness | 1 face(s)``, then any problem, for ``systemctl status``."""
    line = (f"{health.backend.actual} | {health.fps:.1f} fps | mood {'privacy' if privacy else mood.mood} | "
            f"{mood.faces} face(s)")
    return line + "".join(f" | {problem}" for problem in health.problems)


def cpu_temperature() -> float | None:
    """The SoC temperature in °C (Raspberry Pi and most Linux boards), None where unknown."""
    try:
        return round(int(CPU_TEMPERATURE.read_text().strip()) / 1000.0, 1)
    except (OSError, ValueError):
        return None
