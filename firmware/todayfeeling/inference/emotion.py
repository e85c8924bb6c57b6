"""Emotion classification of aligned face crops, reported over the product's six emotions."""

from __future__ import annotations

import cv2
import numpy as np

from todayfeeling.emotions import EMOTIONS
from todayfeeling.inference.manifest import ModelError, ModelSpec
from todayfeeling.inference.runtime import TFLiteModel


def fold_matrix(labels: tuple[str, ...], fold: dict[str, str]) -> np.ndarray:
    """A (model labels x six emotions) matrix that maps a model's outputs onto ``EMOTIONS``.

    A label that is one of the six maps to itself; ``fold`` maps others (e.g. disgust → anger); a label
    mapped to neither is dropped and the rest renormalised.
    """
    matrix = np.zeros((len(labels), len(EMOTIONS)), np.float32)
    for row, label in enumerate(labels):
        target = fold.get(label, label)
        if target in EMOTIONS:
            matrix[row, EMOTIONS.index(target)] = 1.0
    missing = [e for e in EMOTIONS if not matrix[:, EMOTIONS.index(e)].any()]
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
        self._fold = fold_matrix(spec.labels, spec.fold)

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
