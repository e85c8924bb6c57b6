"""How a model's PublicTest predictions split between the FER+ majority and the original FER-2013 label.

    python -m models.training.label_agreement models/emotion_int8.tflite

Counts, on PublicTest without the leaked images, where the two label sets agree and disagree and which of
them the model follows: the numbers behind "85 % on FER+ and 68 % on the original labels" in models/README.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from . import LABELS
from .datasets import DEFAULT_DATA, FERPLUS_MAJORITY, check_data_dir, ferplus_rows, leaked_publictest, read_gray
from .evaluate import fold_matrix, predict  # fold_matrix: todayfeeling.scoring's
from .tflite_io import EmotionRunner


def _index(label: str) -> int:
    """Class index of a FER+/FER-2013 label word; -1 for disgust, contempt, unknown and NF."""
    return LABELS.index(FERPLUS_MAJORITY[label]) if label in FERPLUS_MAJORITY else -1


def main(argv: list[str] | None = None) -> None:
    """CLI entry point: prints the counts."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path, help="a six-class emotion .tflite with the project's labels")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = ap.parse_args(argv)
    data = check_data_dir(args.data)
    leaked = leaked_publictest(data)
    rows = [r for r in ferplus_rows(data, "valid") if r["fer2013_file"] not in leaked]
    images = np.stack([read_gray(data / "fer2013" / r["fer2013_file"]) for r in rows])
    pred = predict(EmotionRunner(args.model, (1 / 255, 0.0), 1), images, fold_matrix(list(LABELS))).argmax(1)
    ferplus = np.array([_index(r["majority_label"]) for r in rows])
    original = np.array([_index(r["fer2013_label"]) for r in rows])

    both = (ferplus >= 0) & (original >= 0)
    agree, disagree = both & (ferplus == original), both & (ferplus != original)
    original_only = (original >= 0) & (ferplus < 0)
    for name, labels in (("FER+ majority", ferplus), ("original label", original)):
        known = labels >= 0
        print(f"{name} among the six: {known.sum()}, accuracy {np.mean(pred[known] == labels[known]):.4f}")
    print(f"both labels: {both.sum()}; they agree on {agree.sum()}, disagree on {disagree.sum()}")
    print(f"  agreeing images right: {np.mean(pred[agree] == ferplus[agree]):.4f}")
    print(f"  disagreeing images: follows FER+ {np.mean(pred[disagree] == ferplus[disagree]):.4f}, "
          f"follows the original label {np.mean(pred[disagree] == original[disagree]):.4f}")
    print(f"original label but no FER+ majority: {original_only.sum()}, "
          f"right {np.mean(pred[original_only] == original[original_only]):.4f}")


if __name__ == "__main__":
    main()
