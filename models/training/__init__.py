"""Training, export and evaluation of Today Feeling's own emotion model.

Run ``python -m models.training.train`` from the repository root; see ``models/README.md``.
"""

LABELS: tuple[str, ...] = ("anger", "fear", "happiness", "sadness", "surprise", "neutral")
"""Output order of the emotion model (fixed: the runtime and the manifest rely on it)."""

IMAGE_SIZE = 48

EDGETPU_OPS: frozenset[str] = frozenset({
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D", "AVERAGE_POOL_2D", "ADD",
    "MUL", "CONCATENATION", "RESHAPE", "SOFTMAX", "RELU", "RELU6", "MEAN", "PAD",
})
"""TFLite builtin ops the Edge TPU compiler maps to the TPU; the int8 export may use no other."""
