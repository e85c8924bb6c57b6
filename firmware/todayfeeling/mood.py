"""The room's mood: per-frame, per-face emotion probabilities turned into one stable mood and events.

Pure logic (no pixels, music or MQTT); time comes from the caller, in monotonic seconds, so tests and the
replay script drive it deterministically.

How one frame counts
    Each face gets a weight ``score × frontal × size``, ``size = min(1, sqrt(w·h) / full_weight_face_px)``
    (a far, small or side-on face is a worse witness). The multi-face policy makes one distribution of the
    frame: ``average`` (the room's weighted average, so the nearest faces count most) or ``nearest`` (only
    the largest face). The frame's quality is the weight of its best face. A face whose probabilities are
    not all finite numbers weighs nothing.

Smoothing
    An exponential moving average with time constant ``time_constant_s``, frame-rate independent: a frame
    that covers ``dt`` seconds moves the average by ``1 - exp(-quality·dt/τ)``, so a poor frame moves it less.
    ``dt`` is capped at ``max_frame_gap_s`` so a stalled camera does not make one frame decide everything.
    The average's start-up bias is corrected, so the first frames after an absence are averaged rather
    than the very first one trusted.

Decision
    From ``none`` the mood is the smoothed argmax as soon as someone is present (ties go to ``neutral``,
    then to the earlier emotion in EMOTIONS order). After that the current mood must have lasted
    ``min_dwell_s``, and the leading emotion must be ahead of it by ``switch_margin`` for ``confirm_s``
    without a break (hysteresis; the confirmation also skips a third emotion that tops the average only
    while one mood fades into another), or have led by any amount for ``lead_time_s`` (so a narrow but
    lasting lead is never trapped by the margin). The mood becomes ``none`` after ``absence_timeout_s``
    without a face counted present (below), and at once when privacy turns the camera off.

Presence
    The face count is debounced. A *run* of k faces is the frames with at least k faces, none of them more
    than ``leave_after_s`` apart. The count rises to k once such a run spans ``arrive_after_s`` (a single
    false detection never counts) and falls when the run ends (no k faces for ``leave_after_s``), so one
    missed detection never makes a ``face_left``/``face_arrived`` pair.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from todayfeeling.config.settings import MoodConfig
from todayfeeling.vocabulary import EMOTIONS, NO_MOOD, EventType


@dataclass(frozen=True)
class FaceObservation:
    """One face in one frame, as the classifier saw it."""

    probabilities: dict[str, float]
    box: tuple[float, float, float, float]  # x, y, w, h in pixels
    score: float = 1.0  # detector confidence
    frontal: float = 1.0  # 1 = facing the camera, 0 = profile

    @classmethod
    def from_detection(cls, face: dict[str, Any]) -> FaceObservation:
        """A face from a `todayfeeling detect --json` line."""
        return cls(probabilities=face["probabilities"], box=tuple(face["box"]),
                   score=float(face.get("score", 1.0)), frontal=float(face.get("frontal", 1.0)))


@dataclass(frozen=True)
class MoodEvent:
    """Something an automation may react to: ``mood_changed``, ``face_arrived`` or ``face_left``."""

    event_type: EventType
    at: float  # the caller's clock
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The MQTT event payload without seq/ts: ``{"event_type": ..., **details}``."""
        return {"event_type": self.event_type, **self.details}


@dataclass(frozen=True)
class MoodState:
    """The room's mood now; ``since`` is on the caller's clock."""

    mood: str
    confidence: float
    since: float
    faces: int
    privacy: bool


class MoodTracker:
    """Turns frames of face observations into a stable mood and events (see the module docstring)."""

    def __init__(self, config: MoodConfig | None = None, now: float = 0.0) -> None:
        self._config = config or MoodConfig()
        self._mood = NO_MOOD
        self._since = now
        self._weighted: dict[str, float] = {}
        self._coverage = 0.0
        self._smoothed: dict[str, float] | None = None
        self._forget_smoothing()
        self._last_frame: float | None = None
        self._last_face: float | None = None
        self._leader = NO_MOOD
        self._leader_since = now
        self._ahead_since: float | None = None  # the leader is ahead of the mood by the margin, since
        self._faces = 0
        self._runs: dict[int, tuple[float, float]] = {}  # k faces seen: first and last time of the run
        self._privacy = False

    def reconfigure(self, config: MoodConfig) -> None:
        """Use new thresholds from now on, keeping the mood, the smoothing and the faces."""
        self._config = config

    @property
    def state(self) -> MoodState:
        """The current mood, its confidence, since when, the debounced face count and privacy."""
        confidence = 0.0 if self._mood == NO_MOOD or self._smoothed is None else self._smoothed[self._mood]
        return MoodState(self._mood, round(confidence, 3), self._since, self._faces, self._privacy)

    def set_privacy(self, on: bool, now: float) -> list[MoodEvent]:
        """Camera off (``on``): mood ``none`` and no faces at once; camera on: start afresh."""
        if on == self._privacy:
            return []
        self._privacy = on
        events: list[MoodEvent] = []
        if on:
            if self._faces:
                events.append(self._face_event(EventType.FACE_LEFT, 0, now))
            self._forget_faces()
            events.extend(self._change_mood(NO_MOOD, now))
        self._last_frame = None
        return events

    def update(self, now: float, faces: list[FaceObservation]) -> list[MoodEvent]:
        """Take one frame's faces (none is a frame with nobody) and return the events it caused."""
        if self._privacy:
            return []
        events = self._update_presence(now, len(faces))
        gap = 0.0 if self._last_frame is None else min(now - self._last_frame, self._config.max_frame_gap_s)
        self._last_frame = now
        if faces:
            if self._faces:  # a face not (yet) counted present, such as a lone false detection, keeps no mood
                self._last_face = now
            self._smooth(gap, *self._frame_distribution(faces))
        absent = (not faces or not self._faces) and (self._last_face is None or
                                                     now - self._last_face >= self._config.absence_timeout_s)
        if absent and (not faces or self._mood != NO_MOOD):
            if self._mood != NO_MOOD:
                self._forget_smoothing()
                events.extend(self._change_mood(NO_MOOD, now))
            return events
        events.extend(self._decide(now))
        return events

    # -- presence -------------------------------------------------------------------------------------------

    def _update_presence(self, now: float, seen: int) -> list[MoodEvent]:
        cfg = self._config
        for level in [k for k, (_, last) in self._runs.items() if k > seen and now - last >= cfg.leave_after_s]:
            del self._runs[level]
        for level in range(1, seen + 1):
            self._runs[level] = (self._runs.get(level, (now, now))[0], now)
        counted = max((k for k, (first, last) in self._runs.items()
                       if k <= self._faces or last - first >= cfg.arrive_after_s), default=0)
        if counted == self._faces:
            return []
        kind = EventType.FACE_ARRIVED if counted > self._faces else EventType.FACE_LEFT
        event = self._face_event(kind, counted, now)
        self._faces = counted
        return [event]

    def _face_event(self, event_type: EventType, count: int, now: float) -> MoodEvent:
        return MoodEvent(event_type, now, {"faces": count, "previous_faces": self._faces})

    def _forget_faces(self) -> None:
        self._faces = 0
        self._runs.clear()
        self._last_face = None
        self._forget_smoothing()

    # -- smoothing and decision ---------------------------------------------------------------------------

    def _face_weight(self, face: FaceObservation) -> float:
        if not all(math.isfinite(float(p)) for p in face.probabilities.values()):
            return 0.0  # a broken face counts for nothing: a NaN in the smoothing would stick forever
        size = math.sqrt(_positive(face.box[2]) * _positive(face.box[3]))
        size_weight = min(1.0, size / self._config.full_weight_face_px)
        return _positive(face.score) * _positive(face.frontal) * size_weight

    def _frame_distribution(self, faces: list[FaceObservation]) -> tuple[dict[str, float], float]:
        if self._config.multi_face == "nearest":
            faces = [max(faces, key=lambda f: f.box[2] * f.box[3])]
        weighted = [(self._face_weight(face), _normalised(face.probabilities)) for face in faces]
        total = sum(weight for weight, _ in weighted)
        if total <= 0:
            return {}, 0.0
        mixed = {e: sum(weight * probs[e] for weight, probs in weighted) / total for e in EMOTIONS}
        return mixed, max(weight for weight, _ in weighted)

    def _smooth(self, gap: float, frame: dict[str, float], quality: float) -> None:
        if not frame:
            return
        # A bias-corrected EMA: the first frames after an absence are averaged, not the first one trusted.
        keep = math.exp(-quality * max(gap, _FIRST_FRAME_S) / self._config.time_constant_s)
        for emotion in EMOTIONS:
            self._weighted[emotion] = keep * self._weighted[emotion] + (1.0 - keep) * frame[emotion]
        self._coverage = keep * self._coverage + (1.0 - keep)
        if self._coverage > 0:  # 0 while every frame so far weighed too little to move the average (1e-14)
            self._smoothed = {e: value / self._coverage for e, value in self._weighted.items()}

    def _forget_smoothing(self) -> None:
        self._weighted = dict.fromkeys(EMOTIONS, 0.0)
        self._coverage = 0.0
        self._smoothed = None

    def _decide(self, now: float) -> list[MoodEvent]:
        if self._smoothed is None:
            return []
        smoothed = self._smoothed
        leader = max(EMOTIONS, key=lambda e: (smoothed[e], e == "neutral"))
        if smoothed[leader] == smoothed.get(self._mood, -1.0):
            leader = self._mood  # a tie keeps the current mood
        if leader != self._leader:
            self._leader, self._leader_since, self._ahead_since = leader, now, None
        if self._mood == NO_MOOD:
            return self._change_mood(leader, now) if self._faces else []
        if leader == self._mood:
            return []
        cfg = self._config
        if smoothed[leader] - smoothed[self._mood] < cfg.switch_margin:
            self._ahead_since = None
        elif self._ahead_since is None:
            self._ahead_since = now
        confirmed = self._ahead_since is not None and now - self._ahead_since >= cfg.confirm_s
        if now - self._since >= cfg.min_dwell_s and (confirmed or now - self._leader_since >= cfg.lead_time_s):
            return self._change_mood(leader, now)
        return []

    def _change_mood(self, mood: str, now: float) -> list[MoodEvent]:
        if mood == self._mood:
            return []
        confidence = self._smoothed[mood] if self._smoothed is not None and mood != NO_MOOD else 0.0
        stable_for = now - self._leader_since if mood != NO_MOOD else 0.0
        event = MoodEvent(EventType.MOOD_CHANGED, now, {
            "mood": mood, "previous": self._mood, "confidence": round(confidence, 3),
            "stable_for": round(stable_for, 2), "previous_for": round(now - self._since, 2),
        })
        self._mood, self._since = mood, now
        if mood == NO_MOOD:
            self._leader, self._leader_since = NO_MOOD, now
        return [event]


_FIRST_FRAME_S = 1e-3  # the weight of a frame with no previous one (the first after a start or privacy)


def _positive(value: float) -> float:
    """``value`` if it is a finite positive number, else 0."""
    value = float(value)
    return value if math.isfinite(value) and value > 0 else 0.0


def _normalised(probabilities: dict[str, float]) -> dict[str, float]:
    values = {e: _positive(probabilities.get(e, 0.0)) for e in EMOTIONS}
    total = sum(values.values())
    if total <= 0:
        return {e: 1.0 / len(EMOTIONS) for e in EMOTIONS}
    return {e: v / total for e, v in values.items()}
