"""Enrolment from a folder of photos of one person: which photos count, and their face templates.

``DIR/*`` photos are used for recognition only; ``DIR/<label>/*`` with an emotion folder name that ``eval``
understands (``neutral/``, ``happy/``, …) are labelled shots of that emotion. Each photo must show exactly one
face; any other photo is skipped with the reason. A face that looks like another enrolled person, or like
none of this person's other faces (once there are at least two to compare with), is skipped too: a wrong
template would let a stranger in. The photos are read, embedded and dropped: nothing of them but the
templates and, for labelled shots, the emotion model's probabilities (the personal calibration's input,
``calibration.py``) is kept.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from todayfeeling.evaluation import emotion_for_label
from todayfeeling.inference.pipeline import FacePipeline
from todayfeeling.media import IMAGE_SUFFIXES, MediaError, read_image
from todayfeeling.people.database import PeopleDatabase, PeopleError
from todayfeeling.people.embedding import FaceEmbedder

_PHOTO_KINDS = ", ".join(sorted(suffix.lstrip(".") for suffix in IMAGE_SUFFIXES))  # for a file skipped


@dataclass(frozen=True)
class Shot:
    """One usable photo: where it was, its emotion label ("" for none), its face's embedding and the generic
    emotion model's probabilities on that face."""

    path: Path
    label: str
    embedding: np.ndarray
    probabilities: np.ndarray


@dataclass
class Enrolment:
    """The usable shots of a folder and what was skipped, with the reason."""

    shots: list[Shot] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def templates(self) -> list[np.ndarray]:
        """The shots' embeddings."""
        return [shot.embedding for shot in self.shots]

    @property
    def labelled(self) -> list[tuple[str, np.ndarray]]:
        """(emotion, the emotion model's probabilities) of every labelled shot: what calibration learns from."""
        return [(shot.label, shot.probabilities) for shot in self.shots if shot.label]

    @property
    def labels(self) -> Counter[str]:
        """How many shots of each label ("" for unlabelled photos)."""
        return Counter(shot.label for shot in self.shots)

    def add_image(self, path: Path, label: str, image: np.ndarray, pipeline: FacePipeline,
                  embedder: FaceEmbedder) -> None:
        """Add one picture held in memory (a photo read from ``path``, or a camera shot that ``path`` names)
        as a shot labelled ``label`` ("" for none); skipped with the reason unless it shows exactly one face."""
        faces = pipeline.process(image).faces
        if len(faces) != 1:
            self.skipped.append((path, "no face found" if not faces else
                                 f"{len(faces)} faces: an enrolment photo must show this person alone"))
            return
        face = faces[0]
        self.shots.append(Shot(path, label, embedder.embed(image, face.face), face.probabilities))

    def screen(self, database: PeopleDatabase, name: str, threshold: float) -> None:
        """Skip the shots that look like another enrolled person, or like none of this person's other faces."""
        own = database.get(name)
        others = PeopleDatabase(database.path, database.model_id,
                                [p for p in database.people if p is not own])
        known = list(own.templates) if own else []
        kept: list[Shot] = []
        for index, shot in enumerate(self.shots):
            match = others.match(shot.embedding, threshold)
            if match.name is not None:
                self.skipped.append((shot.path, f"looks like {match.name}, who is already enrolled "
                                                f"(similarity {match.similarity:.2f})"))
                continue
            rest = known + [s.embedding for i, s in enumerate(self.shots) if i != index]
            best = max((float(shot.embedding @ r) for r in rest), default=1.0)
            if len(rest) >= 2 and best < threshold:
                self.skipped.append((shot.path, f"does not look like {name}'s other photos (best similarity "
                                                f"{best:.2f})"))
                continue
            kept.append(shot)
        self.shots = kept


def enrolment_photos(folder: Path) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """(photo, emotion or "") for every photo of ``folder`` and its emotion subfolders, and what is skipped
    (an emotion subfolder that cannot be read, with the reason); PeopleError when ``folder`` cannot be read."""
    if not folder.is_dir():
        raise PeopleError(f"{folder}: not a folder of photos")
    try:
        entries = [(path, path.is_dir()) for path in sorted(folder.iterdir())]
    except OSError as err:
        raise PeopleError(f"{folder}: cannot read the folder: {err.strerror or err}") from None
    photos: list[tuple[Path, str]] = []
    skipped: list[tuple[Path, str]] = []
    for path, is_folder in entries:
        if is_folder:
            emotion = emotion_for_label(path.name)
            if emotion is None:
                skipped.append((path, "not an emotion folder name (e.g. neutral, happy, sad)"))
                continue
            try:
                inside = sorted(path.iterdir())
            except OSError as err:
                skipped.append((path, f"cannot read the folder: {err.strerror or err}"))
                continue
            for photo in inside:
                _sort_photo(photo, emotion, photos, skipped)
        else:
            _sort_photo(path, "", photos, skipped)
    return photos, skipped


def _sort_photo(path: Path, label: str, photos: list[tuple[Path, str]], skipped: list[tuple[Path, str]]) -> None:
    """A photo to read, or a file skipped with the reason (hidden files, such as .DS_Store, silently)."""
    if path.suffix.lower() in IMAGE_SUFFIXES:
        photos.append((path, label))
    elif not path.name.startswith("."):
        skipped.append((path, f"not a photo of a kind this appliance reads ({_PHOTO_KINDS})"))


def enrol_folder(folder: Path, pipeline: FacePipeline, embedder: FaceEmbedder) -> Enrolment:
    """The templates of every usable photo of ``folder`` (see the module's docstring)."""
    photos, skipped = enrolment_photos(folder)
    result = Enrolment(skipped=skipped)
    for path, label in photos:
        try:
            frame = read_image(path)
        except MediaError as err:
            result.skipped.append((path, str(err)))
            continue
        result.add_image(path, label, frame, pipeline, embedder)
    return result
