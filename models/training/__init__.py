"""Training, export and evaluation of Today Feeling's own emotion model.

Run ``python -m models.training.train`` from the repository root; see ``models/README.md``.

The labels, the output folding, quantisation and the metrics are the device's own
(``todayfeeling.vocabulary`` and ``todayfeeling.scoring``, numpy only), imported from the checkout's
``firmware/`` when the training venv does not have the package installed.
"""

import sys
from pathlib import Path

try:
    import todayfeeling.scoring  # noqa: F401  (the device's arithmetic, shared)
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "firmware"))

from todayfeeling.vocabulary import EMOTIONS

LABELS: tuple[str, ...] = EMOTIONS
"""Output order of the emotion model (fixed: the runtime and the manifest rely on it)."""

IMAGE_SIZE = 48

AUGMENTATIONS: tuple[str, ...] = ("aligner", "camera")
"""Strengths of the training augmentation (``models/training/augment.py``); the first is the default."""

EDGETPU_OPS: frozenset[str] = frozenset({
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D", "AVERAGE_POOL_2D", "ADD",
    "MUL", "CONCATENATION", "RESHAPE", "SOFTMAX", "RELU", "RELU6", "MEAN", "PAD",
})
"""TFLite builtin ops the Edge TPU compiler maps to the TPU; the int8 export may use no other."""
