"""Whose mood and whose taste the music follows when several people are in the room (pure logic).

The people in view who are enrolled are the *listeners*; guests count in the room's mood only.

- ``household``: the room's mood (everyone in view, guests too), played to the taste of every listener
  present mixed: each listener's folders for that mood count as much in all as anyone else's.
- ``longest``: the listener who has been in the room longest, with their own mood and taste.
- ``priority``: the first listener of ``[music] priority`` who is there (else as ``longest``).

With no listener present (or recognition off) the music follows the household: the room's mood and
``[music] preferences``. So that people coming and going never make the music jump, a new choice of *whose*
music must stay the choice for ``audience_hold_s`` seconds before it takes over; meanwhile the current
listener's mood is followed (their last one, while they are out of view). The music itself then changes as
the ``switch`` setting says (by default at the end of the track).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from todayfeeling.config.settings import MusicConfig, PersonTaste, PlaylistChoice
from todayfeeling.text import name_key
from todayfeeling.vocabulary import EMOTIONS, MusicMode

HOUSEHOLD = "household"


@dataclass(frozen=True)
class Taste:
    """What to play for whom: the folders per mood, and a personal mode (None: the household's)."""

    who: str  # "household" or a listener's name
    preferences: dict[str, list[PlaylistChoice]] = field(default_factory=dict)
    mode: MusicMode | None = None


@dataclass(frozen=True)
class Listener:
    """An enrolled person in view: their own mood (after their own smoothing) and since when they are here."""

    name: str
    mood: str
    confidence: float
    arrived: float  # monotonic seconds


@dataclass(frozen=True)
class Choice:
    """The mood the music follows, how sure it is, and whose taste plays it."""

    mood: str
    confidence: float
    taste: Taste


class Audience:
    """Decides whose music plays (see the module docstring); not thread-safe (the daemon's loop calls it)."""

    def __init__(self, config: MusicConfig) -> None:
        self._config = config
        self._current: str = HOUSEHOLD
        self._candidate: str = HOUSEHOLD
        self._candidate_since = 0.0
        self._last_mood: dict[str, tuple[str, float]] = {}  # by name_key: each listener's last mood, when out of view

    def reconfigure(self, config: MusicConfig) -> None:
        """New tastes, policy or priority (SIGHUP); the current choice stays until the rules move it."""
        self._config = config

    def choose(self, now: float, room_mood: str, room_confidence: float, listeners: Sequence[Listener]) -> Choice:
        """Whose music plays now, given the room's mood and the listeners in view."""
        for listener in listeners:
            self._last_mood[name_key(listener.name)] = (listener.mood, listener.confidence)
        # names compare by name_key: a rename that only changes case or accents is the same listener
        wanted = self._wanted(listeners)
        if name_key(wanted) != name_key(self._candidate):
            self._candidate_since = now
        self._candidate = wanted
        if name_key(wanted) == name_key(self._current) or now - self._candidate_since >= self._config.audience_hold_s:
            self._current = wanted
        if self._current == HOUSEHOLD:
            return Choice(room_mood, room_confidence, self._household_taste(listeners))
        mood, confidence = self._last_mood.get(name_key(self._current), (room_mood, room_confidence))
        return Choice(mood, confidence, self.taste_of(self._current))

    def taste_of(self, name: str) -> Taste:
        """A listener's own taste (the household's folders where they have none)."""
        person = _lookup(self._config.people, name) or PersonTaste()
        return Taste(name, {**self._config.preferences, **person.preferences}, person.mode)

    def _wanted(self, listeners: Sequence[Listener]) -> str:
        policy = self._config.audience
        if not listeners or policy == HOUSEHOLD:
            return HOUSEHOLD
        if policy == "priority":
            present = {name_key(listener.name): listener.name for listener in listeners}
            for name in self._config.priority:
                if name_key(name) in present:
                    return present[name_key(name)]
        return min(listeners, key=lambda listener: (listener.arrived, listener.name)).name

    def _household_taste(self, listeners: Sequence[Listener]) -> Taste:
        if not listeners:
            return Taste(HOUSEHOLD, dict(self._config.preferences))
        mixed: dict[str, list[PlaylistChoice]] = {}
        for mood in EMOTIONS:
            shares: dict[str, float] = {}
            for listener in listeners:
                choices = self.taste_of(listener.name).preferences.get(mood) or [PlaylistChoice(mood)]
                total = sum(choice.weight for choice in choices)
                for choice in choices:  # each listener's folders add up to one share
                    shares[choice.folder] = shares.get(choice.folder, 0.0) + choice.weight / total
            mixed[mood] = [PlaylistChoice(folder, weight) for folder, weight in shares.items()]
        return Taste(HOUSEHOLD, mixed)


def _lookup(people: dict[str, PersonTaste], name: str) -> PersonTaste | None:
    """A person's taste by name, in any case (names are unique in any case)."""
    return next((taste for key, taste in people.items() if name_key(key) == name_key(name)), None)


def unknown_names(config: MusicConfig, enrolled: Sequence[str]) -> list[str]:
    """The config keys that name someone not enrolled: ``music.people.NAME`` and ``music.priority[i]``."""
    known = {name_key(name) for name in enrolled}
    return ([f"music.people.{name}" for name in config.people if name_key(name) not in known]
            + [f"music.priority[{i}] ({name!r})" for i, name in enumerate(config.priority)
               if name_key(name) not in known])
