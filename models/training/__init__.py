"""Training, export and evaluation of Today Feeling's own emotion model.

Run ``python -m models.training.train`` from the repository root; see ``models/README.md``.
"""

LABELS: tuple[str, ...] = ("anger", "fear", "happiness", "sadness", "surprise", "neutral")
"""Output order of the emotion model (fixed: the runtime and the manifest rely on it)."""

IMAGE_SIZE = 48
