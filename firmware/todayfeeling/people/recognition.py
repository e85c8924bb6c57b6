"""Who each detected face is (its embedding against the people database's templates), and that person's
reading of its emotion (their personal calibration)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from todayfeeling.inference.faces import Face
from todayfeeling.inference.manifest import Manifest, ModelSpec
from todayfeeling.inference.pipeline import FaceEmotion
from todayfeeling.people.database import Match, PeopleDatabase
from todayfeeling.people.embedding import MATCH_THRESHOLD, FaceEmbedder, model_id


class Recogniser:
    """Matches faces with enrolled people; a face below ``threshold`` for everyone is a guest (None)."""

    def __init__(self, embedder: FaceEmbedder, database: PeopleDatabase, threshold: float = MATCH_THRESHOLD) -> None:
        self.embedder = embedder
        self.database = database
        self.threshold = threshold

    @classmethod
    def open(cls, path: Path, manifest: Manifest, threads: int = 1) -> Recogniser:
        """The manifest's embedding model and the database at ``path`` (PeopleError when it cannot be used)."""
        embedder = FaceEmbedder.from_manifest(manifest, threads=threads)
        return cls(embedder, PeopleDatabase.load(path, embedder.model_id, embedder.embedding_size))

    def identify(self, frame_bgr: np.ndarray, face: Face) -> Match:
        """The enrolled person this face is, or a Match with name None."""
        return self.database.match(self.embedder.embed(frame_bgr, face), self.threshold)

    def personal(self, face: FaceEmotion, person: str | None, emotion_model: ModelSpec) -> FaceEmotion:
        """The face with ``person``'s calibrated probabilities; unchanged for a guest (None) or a person without
        a calibration of ``emotion_model``."""
        calibration = self.database.calibration(person, model_id(emotion_model)) if person else None
        if calibration is None:
            return face
        return FaceEmotion(face.face, calibration.apply(face.probabilities), face.track)
