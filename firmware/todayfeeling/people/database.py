"""The people database: enrolled names and their face templates, in one JSON file only its owner can read.

What is stored per person: the name, face templates (embeddings, never pictures) and the personal calibration
of the emotion model (``calibration.py``: the model's outputs on their labelled shots, never pictures). The
file records which embedding model made the templates (manifest name and sha256) and is refused by any other
model, since templates of two models cannot be compared, and every template must be of that model's size and
of unit length (a damaged template would match the wrong people); a calibration records its emotion model and is
left unused under another one. Only listing, removing and renaming people may load a database of another model
(``any_model``): whoever is enrolled can always be seen and forgotten. Every change is written whole to a
temporary file and renamed over the old one, so a failed write never damages the database. Names are kept in
Unicode's composed form (NFC) and matched in any case (:func:`todayfeeling.text.name_key`); two people cannot
have names that give the same MQTT topic key (they would share one topic and one Home Assistant sensor).

    {"schema": 2, "model": "face_embedding:9e29…", "people": [{"name": "Mina", "templates": [[…128…], …],
      "calibration": {"emotion_model": "emotion:3f1c…", "shots": {"neutral": {"count": 2, "mean": […6…]}}}}]}

Schema 1 files (before calibration) are read as people without a calibration, and written back as schema 2.
"""

from __future__ import annotations

import json
import logging
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from todayfeeling.mqtt.topics import person_key
from todayfeeling.people.calibration import Calibration
from todayfeeling.private_file import write_private
from todayfeeling.text import name_key

log = logging.getLogger(__name__)

SCHEMA = 2
READABLE_SCHEMAS = (1, 2)
FILE_NAME = "people.json"
MAX_NAME_LENGTH = 40
UNIT_LENGTH_TOLERANCE = 1e-3  # stored templates are rounded to 6 decimals: their length is 1 within 1e-5


class PeopleError(ValueError):
    """A people database or a name that cannot be used; the message names the file or name and why."""


def default_path(state_dir: Path) -> Path:
    """Where the people database lives by default: the appliance's state directory."""
    return Path(state_dir) / FILE_NAME


def check_name(name: str) -> str:
    """The name with surrounding blanks removed, in composed form (NFC); PeopleError when it is empty, a path,
    too long or unprintable."""
    cleaned = unicodedata.normalize("NFC", name.strip())
    if not cleaned:
        raise PeopleError("the name is empty")
    if "/" in cleaned or "\\" in cleaned or cleaned in (".", ".."):
        raise PeopleError(f"name {cleaned!r}: a name cannot be a path (no '/', '\\', '.' or '..')")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise PeopleError(f"name {cleaned[:MAX_NAME_LENGTH]}…: too long ({len(cleaned)} characters, at most "
                          f"{MAX_NAME_LENGTH})")
    if any(unicodedata.category(c).startswith("C") for c in cleaned):
        raise PeopleError(f"name {cleaned!r}: has control characters")
    return cleaned


@dataclass
class Person:
    """One enrolled person: the name as given, the unit-length face templates and the personal calibration."""

    name: str
    templates: list[np.ndarray] = field(default_factory=list)
    calibration: Calibration | None = None

    def calibrate(self, shots: list[tuple[str, np.ndarray]], emotion_model: str) -> Calibration:
        """Add labelled shots (emotion, the generic model's probabilities) to the calibration of
        ``emotion_model``; a calibration of another emotion model is replaced, since it cannot be mixed."""
        if self.calibration is None or self.calibration.model != emotion_model:
            if self.calibration is not None:
                log.warning("%s: calibration of emotion model %s replaced by one of %s", self.name,
                            self.calibration.model, emotion_model)
            self.calibration = Calibration(emotion_model)
        self.calibration.add(shots)
        return self.calibration

    def merge(self, other: Person) -> None:
        """Take in the templates and calibration of another entry of the same name (a file written before names
        were kept composed could hold "José" typed both ways); of two calibrations of different emotion models
        the one of more shots is kept."""
        self.templates += other.templates
        mine, theirs = self.calibration, other.calibration
        if theirs is None:
            return
        if mine is not None and mine.model == theirs.model:
            mine.merge(theirs)
        elif mine is None or theirs.shots > mine.shots:
            self.calibration = theirs


@dataclass(frozen=True)
class Match:
    """Who a face is: the enrolled name whose templates it resembles most, or None (a guest), and how much."""

    name: str | None
    similarity: float


class PeopleDatabase:
    """The database file of one embedding model, whose templates have ``template_size`` numbers (None: any one
    size); ``save()`` writes every change made in memory."""

    def __init__(self, path: Path, model_id: str, people: list[Person] | None = None,
                 template_size: int | None = None) -> None:
        self.path = Path(path)
        self.model_id = model_id
        self.template_size = template_size
        self._people: dict[str, Person] = {name_key(p.name): p for p in people or []}
        self._told_stale: set[str] = set()

    @classmethod
    def load(cls, path: Path, model_id: str, template_size: int | None = None,
             any_model: bool = False) -> PeopleDatabase:
        """The database at ``path`` (empty when there is no file); PeopleError for a corrupt or foreign one.

        With ``any_model`` a database made by another embedding model is loaded as it is (its own model id,
        templates of its own one size), for listing, removing and renaming its people: not for recognising or
        enrolling them. ``save()`` keeps its model id."""
        path = Path(path)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return cls(path, model_id, template_size=template_size)
        except (OSError, UnicodeDecodeError) as err:
            reason = getattr(err, "strerror", None) or err
            raise PeopleError(f"{path}: cannot read the people database: {reason}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise PeopleError(f"{path}: not a people database (bad JSON: {err})") from None
        made_by = data.get("model") if isinstance(data, dict) else None
        if any_model and isinstance(made_by, str) and made_by != model_id:
            model_id, template_size = made_by, None
        people = _parse(path, data, model_id, template_size)
        return cls(path, model_id, people, template_size)

    @property
    def people(self) -> list[Person]:
        """The enrolled people, by name."""
        return sorted(self._people.values(), key=lambda p: name_key(p.name))

    def get(self, name: str) -> Person | None:
        """The person of that name (in any case), if enrolled."""
        return self._people.get(name_key(name))

    def calibration(self, name: str, emotion_model: str) -> Calibration | None:
        """The calibration of the person called ``name`` for ``emotion_model``; None when they have none for it
        (the generic model then reads their face)."""
        person = self.get(name)
        if person is None or person.calibration is None:
            return None
        if person.calibration.model != emotion_model:
            if person.name not in self._told_stale:  # once, not on every frame
                self._told_stale.add(person.name)
                log.warning("%s: calibration made for emotion model %s, not %s: not used (enrol them again with "
                            "labelled shots to calibrate)", person.name, person.calibration.model, emotion_model)
            return None
        return person.calibration

    def add(self, name: str, templates: list[np.ndarray]) -> Person:
        """Enrol ``name`` with these templates, or add them to the person already of that name; PeopleError
        when a new name would share its MQTT key with someone enrolled."""
        name = check_name(name)
        person = self._people.get(name_key(name))
        if person is None:
            self._check_topic_key(name)
            person = self._people[name_key(name)] = Person(name)
        person.templates.extend(np.asarray(t, np.float32) for t in templates)
        return person

    def remove(self, name: str) -> Person:
        """Forget the person of that name entirely; PeopleError when nobody has it."""
        return self._people.pop(self._key_of_enrolled(name))

    def rename(self, old: str, new: str) -> Person:
        """Give an enrolled person another name; PeopleError when ``old`` is unknown or ``new`` is taken (or
        its MQTT key is)."""
        key = self._key_of_enrolled(old)
        new = check_name(new)
        taken = self._people.get(name_key(new))
        if taken is not None and name_key(new) != key:
            raise PeopleError(f"{self.path}: {taken.name!r} is already enrolled")
        self._check_topic_key(new, besides=key)
        person = self._people.pop(key)
        person.name = new
        self._people[name_key(new)] = person
        return person

    def match(self, embedding: np.ndarray, threshold: float) -> Match:
        """The person whose closest template is most similar to ``embedding``, if at least ``threshold``."""
        best_name, best = None, -1.0
        for person in self._people.values():
            if person.templates:
                similarity = float(np.max(np.stack(person.templates) @ embedding))
                if similarity > best:
                    best_name, best = person.name, similarity
        return Match(best_name if best >= threshold else None, best)

    def save(self) -> None:
        """Write the database (0600, atomically); PeopleError naming the file when it cannot be written."""
        data = {"schema": SCHEMA, "model": self.model_id, "people": [_entry(p) for p in self.people]}
        try:
            write_private(self.path, json.dumps(data, separators=(",", ":")) + "\n")
        except OSError as err:
            raise PeopleError(f"{self.path}: cannot write the people database: {err.strerror or err}") from None

    def _check_topic_key(self, name: str, besides: str | None = None) -> None:
        """PeopleError when someone enrolled (other than the person of key ``besides``) has a name of the same
        MQTT key as ``name`` ("Anne-Marie" and "Anne Marie"): they would share one topic and one sensor."""
        wanted = person_key(name)
        for key, person in self._people.items():
            if key != besides and person_key(person.name) == wanted:
                raise PeopleError(f"{self.path}: {name!r} would share its MQTT topic and Home Assistant sensor "
                                  f"({wanted!r}) with {person.name!r}, who is already enrolled: choose a name "
                                  "that differs in its letters or digits")

    def _key_of_enrolled(self, name: str) -> str:
        key = name_key(name)
        if key not in self._people:
            known = ", ".join(p.name for p in self.people) or "nobody is enrolled"
            raise PeopleError(f"{self.path}: nobody called {name.strip()!r} is enrolled ({known})")
        return key


def _entry(person: Person) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": person.name,
                             "templates": [[round(float(v), 6) for v in t] for t in person.templates]}
    if person.calibration is not None:
        entry["calibration"] = person.calibration.as_json()
    return entry


def _parse(path: Path, data: Any, model_id: str, template_size: int | None) -> list[Person]:
    """The people of a decoded database file, every key checked (templates of ``template_size`` numbers, or of
    the first template's size when None)."""
    if not isinstance(data, dict) or "people" not in data or "model" not in data:
        raise PeopleError(f"{path}: not a people database (no 'model' and 'people' keys)")
    if data.get("schema") not in READABLE_SCHEMAS:
        raise PeopleError(f"{path}: schema {data.get('schema')!r} is not one this version reads "
                          f"({', '.join(map(str, READABLE_SCHEMAS))})")
    if data["model"] != model_id:
        raise PeopleError(f"{path}: its templates were made by embedding model {data['model']!r}, not by the "
                          f"one in use ({model_id!r}); enrol everyone again into a new database")
    if not isinstance(data["people"], list):
        raise PeopleError(f"{path}: people: expected a list")
    people: dict[str, Person] = {}
    for index, entry in enumerate(data["people"]):
        where = f"{path}: people[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise PeopleError(f"{where}: expected an object with a 'name'")
        try:
            name = check_name(entry["name"])
        except PeopleError as err:
            raise PeopleError(f"{where}: {err}") from None
        templates = entry.get("templates")
        try:
            array = np.asarray(templates, np.float32)
        except (TypeError, ValueError, OverflowError):
            raise PeopleError(f"{where}.templates: expected a list of equal-length number lists") from None
        if array.ndim != 2 or not np.all(np.isfinite(array)):
            raise PeopleError(f"{where}.templates: expected a list of equal-length number lists")
        template_size = template_size or array.shape[1]
        if array.shape[1] != template_size:
            raise PeopleError(f"{where}.templates: {array.shape[1]} numbers each, but the embedding model's "
                              f"templates have {template_size}")
        lengths = np.linalg.norm(array, axis=1)
        if np.any(np.abs(lengths - 1.0) > UNIT_LENGTH_TOLERANCE):
            bad = int(np.argmax(np.abs(lengths - 1.0)))
            raise PeopleError(f"{where}.templates[{bad}]: not of unit length ({lengths[bad]:.4f}): damaged")
        calibration = None
        if entry.get("calibration") is not None:
            try:
                calibration = Calibration.from_json(entry["calibration"])
            except ValueError as err:
                raise PeopleError(f"{where}.calibration: {err}") from None
        person = Person(name, list(array), calibration)
        twin = people.setdefault(name_key(name), person)
        if twin is not person:
            log.warning("%s: %r is enrolled twice (the name typed in two ways): taken as one person", where, name)
            twin.merge(person)
    return list(people.values())
