"""Evaluate any emotion .tflite on the two validation sets (accuracy, macro recall, per-class recall).

    python -m models.training.evaluate models/emotion_int8.tflite
    python -m models.training.evaluate --entry emotion_baseline      # reads labels/fold/normalisation
                                                                     # from models/manifest.json

The model's outputs are mapped onto the six project classes: labels named in ``fold`` are added to
their target (the baseline's disgust goes to anger), labels outside the six are dropped, and the
result is renormalised. ``--flip`` also reports the average of the face and its mirror image.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from todayfeeling.scoring import Metrics, fold_matrix

from . import LABELS
from .datasets import DEFAULT_DATA, REPO_ROOT, VALIDATION_SETS, Split, check_data_dir
from .tflite_io import EmotionRunner

log = logging.getLogger(__name__)
MANIFEST = REPO_ROOT / "models" / "manifest.json"


def predict(runner: EmotionRunner, images: np.ndarray, fold: np.ndarray, flip: bool = False) -> np.ndarray:
    """Six-class probabilities (N, 6) for uint8 faces (N, 48, 48), optionally flip-averaged."""
    out = np.empty((len(images), len(LABELS)), np.float32)
    for i, face in enumerate(images):
        p = runner(face)
        if flip:
            p = (p + runner(np.ascontiguousarray(face[:, ::-1]))) / 2
        q = p @ fold
        out[i] = q / max(q.sum(), 1e-9)
    return out


def metrics(labels: np.ndarray, probs: np.ndarray) -> dict:
    """Accuracy, macro recall, count and per-class recall of argmax predictions (the manifest's form)."""
    return Metrics.from_indices(labels, probs.argmax(axis=1)).summary()


def evaluate(model: Path, sets: dict[str, Split], model_labels: list[str] | None = None,
             fold: dict[str, str] | None = None, norm: tuple[float, float] = (1 / 255, 0.0),
             threads: int = 1) -> dict:
    """Metrics per validation set, plain and flip-averaged.

    Returns ``{set: metrics, ..., "flip_averaged": {set: metrics, ...}}``.
    """
    runner = EmotionRunner(model, norm, threads)
    fm = fold_matrix(list(model_labels or LABELS), fold)
    result: dict = {"flip_averaged": {}}
    for name, split in sets.items():
        for flip in (False, True):
            m = metrics(split.labels, predict(runner, split.images, fm, flip))
            (result["flip_averaged"] if flip else result)[name] = m
            log.info("%s %s%s: accuracy %.4f, macro recall %.4f, n %d", model.name, name,
                     " (flip-averaged)" if flip else "", m["accuracy"], m["macro_recall"], m["n"])
    return result


def load_sets(data: Path) -> dict[str, Split]:
    """Both validation sets (FER+ valid majority labels; FER-2013 PublicTest original labels)."""
    check_data_dir(data)
    return {name: fn(data) for name, fn in VALIDATION_SETS.items()}


def format_table(result: dict) -> str:
    """Human-readable lines of a result from :func:`evaluate`."""
    lines = []
    for flip in (False, True):
        block = result["flip_averaged"] if flip else result
        for name, m in block.items():
            if name == "flip_averaged":
                continue
            per = " ".join(f"{k} {v:.3f}" for k, v in m["recall"].items())
            lines.append(f"{name:19s} {'flip-avg' if flip else 'single  '} acc {m['accuracy']:.4f} "
                         f"macro-recall {m['macro_recall']:.4f} n {m['n']} | recall: {per}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?", type=Path, help=".tflite file (default: the --entry's file)")
    ap.add_argument("--entry", help="manifest key: take file, labels, fold and normalisation from it")
    ap.add_argument("--labels", help="comma-separated output labels (default: the six project labels)")
    ap.add_argument("--fold", default="", help="e.g. disgust=anger")
    ap.add_argument("--scale", type=float, default=1 / 255, help="float input = pixel*scale + offset")
    ap.add_argument("--offset", type=float, default=0.0)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--json", type=Path, help="also write the metrics as JSON here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    labels = args.labels.split(",") if args.labels else list(LABELS)
    fold = dict(kv.split("=") for kv in args.fold.split(",") if kv)
    norm = (args.scale, args.offset)
    model = args.model
    if args.entry:
        entry = json.loads(MANIFEST.read_text())["models"][args.entry]
        labels, fold = entry["labels"], entry.get("fold", {})
        n = entry["input"]["normalisation"]
        norm = (n["scale"], n["offset"])
        model = model or MANIFEST.parent / entry["file"]
    if model is None:
        ap.error("give a model file or --entry")
    result = evaluate(model, load_sets(args.data), labels, fold, norm)
    print(f"# {model}")
    print(format_table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
