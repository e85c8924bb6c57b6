"""Emotion classification of aligned face crops, reported over the product's six emotions."""

from __future__ import annotations

import cv2
import numpy as np

from todayfeeling.inference.manifest import ModelError, ModelSpec
from todayfeeling.inference.runtime import TFLiteModel
from todayfeeling.scoring import fold_matrix, unmapped_emotions
from todayfeeling.vocabulary import EMOTIONS


def checked_fold(labels: tuple[str, ...], fold: dict[str, str]) -> np.ndarray:
    """:func:`~todayfeeling.scoring.fold_matrix` of a model's labels; ModelError when an emotion has no output."""
    matrix = fold_matrix(labels, fold)
    missing = unmapped_emotions(matrix)
    if missing:
        raise ModelError(f"model labels {labels} give no output for {', '.join(missing)}")
    return matrix


class EmotionClassifier:
    """Probabilities over ``EMOTIONS`` for one aligned face crop.

    With ``flip_average`` the mirrored crop is classified too and the two averaged: faces are
    left-right symmetric in meaning, and the second opinion is one more small invoke.
    """

    def __init__(self, spec: ModelSpec, model: TFLiteModel, flip_average: bool = False) -> None:
        self.spec = spec
        self.model = model
        self.flip_average = flip_average
        self.size = spec.input_shape[1]
        self.gray = spec.color == "gray"
        self._fold = checked_fold(spec.labels, spec.fold)

    def classify(self, crop: np.ndarray) -> np.ndarray:
        """Six probabilities (order of ``EMOTIONS``) for a crop of the model's size and colour."""
        probabilities = self._probabilities(crop)
        if self.flip_average:
            probabilities = (probabilities + self._probabilities(crop[:, ::-1])) / 2
        return probabilities

    def _probabilities(self, crop: np.ndarray) -> np.ndarray:
        pixels = crop.astype(np.float32)
        if not self.gray:
            pixels = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32)
        real = (pixels * self.spec.norm_scale + self.spec.norm_offset).reshape(self.spec.input_shape)
        scores = np.clip(self.model.run(real)[0][0], 0.0, None) @ self._fold
        total = float(scores.sum())
        return scores / total if total > 0 else np.full(len(EMOTIONS), 1.0 / len(EMOTIONS), np.float32)

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """An already-cropped face image (any size, BGR or gray) resized to the model's input."""
        if self.gray and image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        if not self.gray and image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        interpolation = cv2.INTER_AREA if image.shape[0] > self.size else cv2.INTER_LINEAR
        return cv2.resize(image, (self.size, self.size), interpolation=interpolation)
