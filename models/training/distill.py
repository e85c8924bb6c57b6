"""Knowledge distillation: a trained teacher model's predictions mixed into the training targets."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .tflite_io import EmotionRunner

log = logging.getLogger(__name__)


def distilled_targets(teacher: Path, images: np.ndarray, targets: np.ndarray, weight: float) -> np.ndarray:
    """``(1 - weight) * targets + weight * p_teacher`` with the teacher's probabilities for each image.

    The teacher (a .tflite emotion model with the six labels in training order) sees the plain,
    un-augmented 48x48 face, once per image, before training starts.
    """
    runner = EmotionRunner(teacher)
    probs = np.stack([runner(face) for face in images])
    probs = np.clip(probs, 0.0, None)
    probs /= probs.sum(axis=1, keepdims=True)
    agree = float(np.mean(probs.argmax(1) == targets.argmax(1)))
    log.info("teacher %s: argmax agrees with the targets on %.1f %% of %d training images",
             teacher.name, 100 * agree, len(images))
    return ((1 - weight) * targets + weight * probs).astype(np.float32)
