"""Personal calibration: the generic emotion model's six probabilities read the way one person's face means them.

What a person's labelled shots tell is how the generic model sees *their* faces. A calibration keeps, per
emotion, how many shots of it the person gave and the mean of the model's centred log-probabilities on them
(the model's output only: no picture, no feature of the face). Applying it to a new face of that person:

1. **Neutral baseline.** The neutral shots' mean, minus a generic "confident neutral" vector, is how this
   person's resting face is misread (a resting face that reads half sad, say). That offset ``b`` is taken off
   every face of theirs, shrunk by ``n / (n + baseline_prior_shots)`` for ``n`` neutral shots.
2. **Prototypes.** Each emotion has a prototype in the same log-probability space: the generic one (the
   model ``target_confidence`` sure of that emotion) moved towards the mean of the person's shots of it
   (after step 1), by ``n / (n + prototype_prior_shots)``. The face gets the emotion whose prototype is
   nearest: ``softmax(-distance² / 2a)``, ``a`` being the generic prototypes' margin.

With no shots at all every prototype is the generic one, and the nearest-prototype rule with that
temperature gives back exactly the model's own probabilities: few shots move a person's reading a little,
many move it to their own. Guests (no person) are never calibrated. The constants were chosen on
development people only (``scripts/measure_calibration.py``, models/README.md "Personal calibration"): they
are the defaults of :class:`Method`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from todayfeeling.vocabulary import EMOTIONS

PROBABILITY_FLOOR = 1.0 / 512  # below the int8 output's step (1/256): a zero output is "very unlikely"
MAX_CENTRED_LOG = float(np.log(1.0 / PROBABILITY_FLOOR))  # no centred log-probability is further from 0
NEUTRAL = EMOTIONS.index("neutral")
MAX_SHOTS = 1_000_000  # labelled shots of one emotion: far more than any enrolment gives; more is a damaged file


def centred_log(probabilities: np.ndarray) -> np.ndarray:
    """log of the probabilities (floored), minus their mean: the space calibration works in (any shape […, 6])."""
    logs = np.log(np.maximum(np.asarray(probabilities, np.float64), PROBABILITY_FLOOR))
    return np.asarray(logs - logs.mean(axis=-1, keepdims=True))


@dataclass(frozen=True)
class Method:
    """The constants of calibration (see the module's docstring)."""

    target_confidence: float = 0.3  # a generic prototype: the model this sure of one emotion, the rest even
    baseline_prior_shots: float = 0.05  # neutral shots worth as much as the generic "confident neutral"
    prototype_prior_shots: float = 8.0  # labelled shots of an emotion worth as much as its generic prototype

    @cached_property
    def generic(self) -> np.ndarray:
        """(6, 6): row c is emotion c's generic prototype."""
        rest = (1.0 - self.target_confidence) / (len(EMOTIONS) - 1)
        return centred_log(np.where(np.eye(len(EMOTIONS), dtype=bool), self.target_confidence, rest))

    @property
    def margin(self) -> float:
        """How far a generic prototype's own emotion stands above the others (log-probability)."""
        return math.log(self.target_confidence) - math.log((1.0 - self.target_confidence) / (len(EMOTIONS) - 1))


DEFAULT_METHOD = Method()


@dataclass
class Calibration:
    """One person's calibration of one emotion model (``model``: manifest name and sha256)."""

    model: str
    counts: np.ndarray = field(default_factory=lambda: np.zeros(len(EMOTIONS), np.int64))  # shots per emotion
    means: np.ndarray = field(default_factory=lambda: np.zeros((len(EMOTIONS), len(EMOTIONS))))  # centred logs

    def add(self, shots: Iterable[tuple[str, np.ndarray]]) -> None:
        """Take in labelled shots: (emotion, the generic model's six probabilities on that face)."""
        for emotion, probabilities in shots:
            row = EMOTIONS.index(emotion)
            self.counts[row] += 1
            self.means[row] += (centred_log(probabilities) - self.means[row]) / self.counts[row]

    def merge(self, other: Calibration) -> None:
        """Take in another calibration of the same emotion model (of the same person, stored twice)."""
        total = self.counts + other.counts
        weight = np.divide(other.counts, total, out=np.zeros(len(EMOTIONS)), where=total > 0)[:, None]
        self.means += weight * (other.means - self.means)
        self.counts = total

    @property
    def shots(self) -> int:
        """How many labelled shots the calibration was made from."""
        return int(self.counts.sum())

    def apply(self, probabilities: np.ndarray, method: Method = DEFAULT_METHOD) -> np.ndarray:
        """The six probabilities (order of ``EMOTIONS``) of the generic model, as this person's calibrated ones."""
        probabilities = np.asarray(probabilities, np.float32)
        if not self.shots:
            return probabilities
        counts, generic = self.counts.astype(np.float64), method.generic
        shift = np.zeros(len(EMOTIONS))
        if counts[NEUTRAL]:
            baseline = counts[NEUTRAL] / (counts[NEUTRAL] + method.baseline_prior_shots)
            shift = baseline * (self.means[NEUTRAL] - generic[NEUTRAL])
        weight = (counts / (counts + method.prototype_prior_shots))[:, None]
        prototypes = weight * (self.means - shift) + (1.0 - weight) * generic
        face = centred_log(probabilities) - shift
        scores = -((face - prototypes) ** 2).sum(axis=1) / (2.0 * method.margin)
        exp = np.exp(scores - scores.max())
        return (exp / exp.sum()).astype(np.float32)

    def as_json(self) -> dict[str, Any]:
        """The calibration as the people database stores it: per emotion with shots, their count and mean."""
        return {"emotion_model": self.model,
                "shots": {e: {"count": int(n), "mean": [round(float(v), 5) for v in self.means[i]]}
                          for i, (e, n) in enumerate(zip(EMOTIONS, self.counts, strict=True)) if n}}

    @classmethod
    def from_json(cls, data: Any) -> Calibration:
        """The calibration of a decoded database entry; ValueError saying what is wrong with it."""
        if not isinstance(data, dict) or not isinstance(data.get("emotion_model"), str) \
                or not isinstance(data.get("shots"), dict):
            raise ValueError("expected an object with 'emotion_model' and 'shots'")
        calibration = cls(data["emotion_model"])
        for emotion, entry in data["shots"].items():
            if emotion not in EMOTIONS:
                raise ValueError(f"shots: {emotion!r} is not one of {', '.join(EMOTIONS)}")
            count = entry.get("count") if isinstance(entry, dict) else None
            try:
                mean = np.asarray(entry["mean"], np.float64)
            except (KeyError, TypeError, ValueError, OverflowError):
                mean = np.zeros(0)
            if not isinstance(count, int) or not 1 <= count <= MAX_SHOTS or mean.shape != (len(EMOTIONS),) \
                    or not np.all(np.abs(mean) <= MAX_CENTRED_LOG):
                raise ValueError(f"shots.{emotion}: expected a 'count' from 1 to {MAX_SHOTS} and a 'mean' of "
                                 f"{len(EMOTIONS)} numbers from -{MAX_CENTRED_LOG:.2f} to {MAX_CENTRED_LOG:.2f}")
            row = EMOTIONS.index(emotion)
            calibration.counts[row], calibration.means[row] = count, mean
        return calibration
