"""Emotion labels, folding, quantisation and metrics: the arithmetic the device and the training code share.

It needs numpy and nothing else, so ``models/training`` (a TensorFlow venv without the device's packages)
imports it as well as the firmware does. One definition each of: how a model's outputs map onto the six
emotions (:func:`fold_matrix`), how real values become a quantised tensor and back (:func:`quantise`,
:func:`dequantise`), and how predictions are scored (:class:`Metrics`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from todayfeeling.vocabulary import EMOTIONS


def fold_matrix(labels: Sequence[str], fold: Mapping[str, str] | None = None) -> np.ndarray:
    """A (model labels x six emotions) 0/1 matrix that maps a model's outputs onto ``EMOTIONS``.

    A label that is one of the six maps to itself; ``fold`` maps others (e.g. disgust → anger); a label
    mapped to neither is dropped (the caller renormalises).
    """
    fold = fold or {}
    matrix = np.zeros((len(labels), len(EMOTIONS)), np.float32)
    for row, label in enumerate(labels):
        target = fold.get(label, label)
        if target in EMOTIONS:
            matrix[row, EMOTIONS.index(target)] = 1.0
    return matrix


def unmapped_emotions(matrix: np.ndarray) -> list[str]:
    """The emotions no model output maps to under a :func:`fold_matrix` (a model that cannot be used)."""
    return [emotion for column, emotion in enumerate(EMOTIONS) if not matrix[:, column].any()]


def quantise(values: np.ndarray, scale: float, zero_point: int, dtype: np.dtype[Any] | type) -> np.ndarray:
    """Real values as the integer tensor of a quantised model input: ``round(v / scale) + zero_point``,
    clipped to the dtype (float dtypes: the values as they are)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return values.astype(dtype, copy=False)
    info = np.iinfo(dtype)
    return np.clip(np.round(values / scale) + zero_point, info.min, info.max).astype(dtype)


def dequantise(raw: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """A quantised output tensor as float32 real values (float tensors as they are)."""
    if raw.dtype.kind == "f":
        return raw
    return (raw.astype(np.float32) - zero_point) * np.float32(scale)


@dataclass(frozen=True)
class Metrics:
    """Counts of true emotion (rows) against predicted emotion (columns), and images with no face found.

    An image where no face was found counts as wrong: it is in the denominator of accuracy and recall.
    """

    confusion: np.ndarray  # (6, 6) int, rows: truth, columns: prediction, in EMOTIONS order
    missed: np.ndarray  # (6,) int, per true emotion: no face found

    @classmethod
    def from_indices(cls, truth: np.ndarray, predicted: np.ndarray) -> Metrics:
        """Metrics of predicted class indices (every image has a prediction) against true indices."""
        confusion = np.zeros((len(EMOTIONS), len(EMOTIONS)), np.int64)
        np.add.at(confusion, (np.asarray(truth, np.int64), np.asarray(predicted, np.int64)), 1)
        return cls(confusion, np.zeros(len(EMOTIONS), np.int64))

    @property
    def support(self) -> np.ndarray:
        """Images per true emotion."""
        return np.asarray(self.confusion.sum(axis=1) + self.missed)

    @property
    def total(self) -> int:
        """Images evaluated."""
        return int(self.support.sum())

    @property
    def accuracy(self) -> float:
        """Correct predictions over all images."""
        return float(np.trace(self.confusion)) / self.total if self.total else 0.0

    @property
    def recall(self) -> dict[str, float | None]:
        """Per emotion: correct over its images (None for an emotion with no image)."""
        return {e: (float(self.confusion[i, i]) / int(n) if n else None)
                for i, (e, n) in enumerate(zip(EMOTIONS, self.support, strict=True))}

    @property
    def macro_recall(self) -> float:
        """The mean recall over the emotions that have images (balanced accuracy)."""
        values = [r for r in self.recall.values() if r is not None]
        return sum(values) / len(values) if values else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Accuracy, macro recall, per-emotion recall and the confusion matrix, for JSON."""
        return {
            "accuracy": round(self.accuracy, 4), "macro_recall": round(self.macro_recall, 4),
            "recall": {e: None if r is None else round(r, 4) for e, r in self.recall.items()},
            "confusion": {"labels": list(EMOTIONS), "matrix": self.confusion.tolist(),
                          "no_face": self.missed.tolist()},
        }

    def summary(self) -> dict[str, Any]:
        """Accuracy, macro recall, image count and the recall of each emotion that has images (the form the
        model manifest records)."""
        return {"accuracy": round(self.accuracy, 4), "macro_recall": round(self.macro_recall, 4),
                "n": self.total, "recall": {e: round(r, 4) for e, r in self.recall.items() if r is not None}}


def compute_metrics(truth: Sequence[str], predicted: Sequence[str | None]) -> Metrics:
    """Metrics of predictions (an emotion, or None where no face was found) against the true emotions."""
    if len(truth) != len(predicted):
        raise ValueError("truth and predictions differ in length")
    confusion = np.zeros((len(EMOTIONS), len(EMOTIONS)), np.int64)
    missed = np.zeros(len(EMOTIONS), np.int64)
    for true, guess in zip(truth, predicted, strict=True):
        row = EMOTIONS.index(true)
        if guess is None:
            missed[row] += 1
        else:
            confusion[row, EMOTIONS.index(guess)] += 1
    return Metrics(confusion, missed)
