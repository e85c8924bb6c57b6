"""Each recognised person's own mood, beside the room's: one :class:`~todayfeeling.mood.MoodTracker` per
enrolled person, fed only that person's faces (pure logic, like the room's tracker).

The same smoothing and hysteresis as the room's mood; a person's debounced presence gives
``person_arrived`` and ``person_left``, and their mood changes ``mood_changed``, each with ``person`` in its
details. Guests are not here: they count in the room's mood only. Names are matched in any case.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from todayfeeling.config.settings import MoodConfig
from todayfeeling.mood import FaceObservation, MoodEvent, MoodState, MoodTracker
from todayfeeling.music.audience import Listener
from todayfeeling.text import name_key
from todayfeeling.vocabulary import NO_MOOD, EventType


@dataclass
class _Person:
    name: str
    tracker: MoodTracker
    arrived: float | None = None  # while present: since when


class PeopleMoods:
    """The moods of the enrolled people in view; not thread-safe (the daemon's loop owns it)."""

    def __init__(self, config: MoodConfig, names: Iterable[str] = (), now: float = 0.0) -> None:
        self._config = config
        self._people: dict[str, _Person] = {}
        self.set_people(names, now)

    def set_people(self, names: Iterable[str], now: float) -> None:
        """The enrolled people (the people database changed): new ones start with no mood, removed ones go."""
        wanted = {name_key(name): name for name in names}
        self._people = {key: person for key, person in self._people.items() if key in wanted}
        for key, name in wanted.items():
            if key in self._people:
                self._people[key].name = name  # renamed in another case: the mood goes on, under the new name
            else:
                self._people[key] = _Person(name, MoodTracker(self._config, now))

    def reconfigure(self, config: MoodConfig) -> None:
        """New thresholds (SIGHUP), keeping every mood."""
        self._config = config
        for person in self._people.values():
            person.tracker.reconfigure(config)

    def update(self, now: float, faces: Sequence[tuple[str | None, FaceObservation]]) -> list[MoodEvent]:
        """One frame's faces with the person each one is (None: a guest); the events of every person."""
        seen: dict[str, list[FaceObservation]] = {key: [] for key in self._people}
        for name, face in faces:
            if name is not None and name_key(name) in seen:
                seen[name_key(name)].append(face)
        events: list[MoodEvent] = []
        for key, person in self._people.items():
            events += self._personal(person, person.tracker.update(now, seen[key]))
        return events

    def set_privacy(self, on: bool, now: float) -> list[MoodEvent]:
        """Privacy: nobody is seen, every person's mood is ``none`` (and they leave)."""
        events: list[MoodEvent] = []
        for person in self._people.values():
            events += self._personal(person, person.tracker.set_privacy(on, now))
        return events

    def state(self, name: str) -> MoodState | None:
        """A person's mood now, or None for a name that is not enrolled."""
        person = self._people.get(name_key(name))
        return person.tracker.state if person else None

    def states(self) -> dict[str, MoodState]:
        """Every enrolled person's mood, by name."""
        return {person.name: person.tracker.state for person in self._people.values()}

    def listeners(self) -> list[Listener]:
        """The people in view now, for the music (their mood, since when they are here)."""
        listeners = []
        for person in self._people.values():
            state = person.tracker.state
            if person.arrived is not None and state.mood != NO_MOOD:
                listeners.append(Listener(person.name, state.mood, state.confidence, person.arrived))
        return listeners

    def _personal(self, person: _Person, events: list[MoodEvent]) -> list[MoodEvent]:
        """A person's tracker's events, as theirs: their presence as arrival and leaving."""
        personal = []
        for event in events:
            details = {"person": person.name}
            if event.event_type == EventType.FACE_ARRIVED and event.details["previous_faces"] == 0:
                person.arrived = event.at
                personal.append(MoodEvent(EventType.PERSON_ARRIVED, event.at, details))
            elif event.event_type == EventType.FACE_LEFT and event.details["faces"] == 0:
                person.arrived = None
                personal.append(MoodEvent(EventType.PERSON_LEFT, event.at, details))
            elif event.event_type == EventType.MOOD_CHANGED:
                personal.append(MoodEvent(event.event_type, event.at, {**event.details, **details}))
        return personal
