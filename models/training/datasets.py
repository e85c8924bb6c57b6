"""FER+ / FER-2013 data sets as numpy arrays (no TensorFlow needed).

Label policy (documented in models/README.md):

* Training targets are the FER+ crowd-vote distribution over the six output classes, mixed with
  the image's original FER-2013 label: ``(1 - w) * votes / n_votes + w * one_hot(original)``
  (``w`` = ``original_weight``). Disgust (votes and original label) is folded into anger, as the
  runtime folds the baseline's disgust output; contempt, unknown and NF votes are dropped.
  With ``w > 0`` the original label breaks the tie where the crowd is split, and images whose FER+
  majority is ``unknown`` or ``contempt`` (the crowd could not agree) are kept; with ``w = 0`` they
  are dropped and the targets are the pure vote distribution.
* A training image needs at least ``MIN_VOTES`` votes among the six classes; ``NF`` (not a face)
  majorities are always dropped.
* Validation uses majority labels only: FER+ valid (= FER-2013 PublicTest) images whose FER+
  majority label is one of the six, and FER-2013 PublicTest with its original labels without
  disgust; both without the PublicTest images that have an exact duplicate in train.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import IMAGE_SIZE, LABELS

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "datasets"
MIN_VOTES = 4

# FER+ vote columns -> output class index (None = vote dropped).
_VOTE_MAP: dict[str, int | None] = {
    "votes_angry": LABELS.index("anger"),
    "votes_disgust": LABELS.index("anger"),
    "votes_fear": LABELS.index("fear"),
    "votes_happy": LABELS.index("happiness"),
    "votes_sad": LABELS.index("sadness"),
    "votes_surprise": LABELS.index("surprise"),
    "votes_neutral": LABELS.index("neutral"),
    "votes_contempt": None,
    "votes_unknown": None,
    "votes_NF": None,
}
FERPLUS_MAJORITY = {
    "angry": "anger", "fear": "fear", "happy": "happiness",
    "sad": "sadness", "surprise": "surprise", "neutral": "neutral",
}
_FER2013_LABEL = dict(FERPLUS_MAJORITY)  # FER-2013 folder names use the same words
_ORIGINAL_LABEL = {**_FER2013_LABEL, "disgust": "anger"}  # training: disgust folded like its votes


@dataclass
class Split:
    """Images (N,48,48) uint8, soft targets (N,6) float32, hard labels (N,) int and file names."""

    name: str
    images: np.ndarray
    targets: np.ndarray
    labels: np.ndarray
    files: list[str]

    def __len__(self) -> int:
        return len(self.files)


def read_gray(path: Path) -> np.ndarray:
    """Read a grayscale 48x48 image as uint8 (OpenCV if present, else Pillow)."""
    try:
        import cv2

        img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    except ImportError:
        from PIL import Image

        with Image.open(path) as im:
            img = np.asarray(im.convert("L"))
    if img is None:
        raise FileNotFoundError(path)
    if img.shape != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"{path}: expected {IMAGE_SIZE}x{IMAGE_SIZE}, got {img.shape}")
    return img


def check_data_dir(data: Path) -> Path:
    """Return ``data`` or raise a clear error when the shared data sets are missing."""
    if not (data / "ferplus" / "labels.csv").is_file() or not (data / "fer2013").is_dir():
        raise SystemExit(
            f"data sets not found under {data}: expected ferplus/labels.csv and fer2013/ "
            "(pass --data PATH; default is ../shared/datasets beside the repository)"
        )
    return data


def leaked_publictest(data: Path) -> set[str]:
    """PublicTest files (relative to fer2013/) that have a pixel-identical twin in train."""
    path = data / "fer2013" / "publictest_images_with_exact_duplicate_in_train.txt"
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def ferplus_rows(data: Path, split: str) -> list[dict[str, str]]:
    """The rows of the FER+ labels file for one split ("train" or "valid")."""
    with open(data / "ferplus" / "labels.csv", newline="") as f:
        return [r for r in csv.DictReader(f) if r["split"] == split]


def _votes(row: dict[str, str]) -> np.ndarray:
    v = np.zeros(len(LABELS), np.float32)
    for col, idx in _VOTE_MAP.items():
        if idx is not None:
            v[idx] += float(row[col])
    return v


def _load(name: str, data: Path, files: list[str], targets: list[np.ndarray]) -> Split:
    images = np.stack([read_gray(data / "fer2013" / f) for f in files])
    t = np.stack(targets).astype(np.float32)
    split = Split(name, images, t, t.argmax(axis=1), files)
    counts = np.bincount(split.labels, minlength=len(LABELS))
    log.info("%s: %d images, per class %s", name, len(split), dict(zip(LABELS, counts.tolist(), strict=True)))
    return split


def ferplus_train(data: Path, original_weight: float = 0.0) -> Split:
    """FER+ train split with soft targets: vote distribution mixed with the original label (see above)."""
    if not 0.0 <= original_weight <= 1.0:
        raise ValueError(f"original_weight must be in [0, 1], got {original_weight}")
    agreed = {*FERPLUS_MAJORITY, "disgust"}
    kept = agreed | {"unknown", "contempt"} if original_weight > 0 else agreed
    files, targets = [], []
    for row in ferplus_rows(data, "train"):
        v = _votes(row)
        if row["majority_label"] not in kept or v.sum() < MIN_VOTES:
            continue
        original = np.eye(len(LABELS), dtype=np.float32)[LABELS.index(_ORIGINAL_LABEL[row["fer2013_label"]])]
        files.append(row["fer2013_file"])
        targets.append((1 - original_weight) * v / v.sum() + original_weight * original)
    return _load("ferplus_train", data, files, targets)


def ferplus_valid(data: Path) -> Split:
    """FER+ valid (PublicTest) with majority labels among the six classes, leaked images dropped."""
    leaked = leaked_publictest(data)
    files, targets = [], []
    for row in ferplus_rows(data, "valid"):
        label = FERPLUS_MAJORITY.get(row["majority_label"])
        if label is None or row["fer2013_file"] in leaked:
            continue
        files.append(row["fer2013_file"])
        targets.append(np.eye(len(LABELS), dtype=np.float32)[LABELS.index(label)])
    return _load("ferplus_valid", data, files, targets)


def fer2013_publictest(data: Path) -> Split:
    """FER-2013 PublicTest with its original labels, disgust and leaked images dropped."""
    leaked = leaked_publictest(data)
    root = data / "fer2013" / "publictest"
    files, targets = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        label = _FER2013_LABEL.get(folder.name)
        if label is None:
            continue
        for img in sorted(folder.glob("*.png")):
            rel = f"publictest/{folder.name}/{img.name}"
            if rel in leaked:
                continue
            files.append(rel)
            targets.append(np.eye(len(LABELS), dtype=np.float32)[LABELS.index(label)])
    return _load("fer2013_publictest", data, files, targets)


VALIDATION_SETS = {"ferplus_valid": ferplus_valid, "fer2013_publictest": fer2013_publictest}
