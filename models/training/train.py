"""Train the Today Feeling emotion model on FER+ votes, export TFLite, evaluate and publish it.

Run from the repository root (the one command):

    python -m models.training.train                      # defaults: --data ../shared/datasets --out models

Progress (epoch, loss, validation accuracy) goes to stdout. Checkpoints live in --run-dir; rerunning
the same command after a kill resumes from the last finished epoch. With --epochs 0 nothing is
trained: the best checkpoint in --run-dir is exported and published.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
import logging
import os
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import AUGMENTATIONS, IMAGE_SIZE, LABELS
from .datasets import DEFAULT_DATA, REPO_ROOT, check_data_dir
from .model import ARCHITECTURES

if TYPE_CHECKING:
    import keras
    import numpy as np

log = logging.getLogger("models.training.train")

LICENSE = "MIT (Today Feeling); trained on FER-2013 images with FER+ labels (research data)"
DATA_DESC = ("FER-2013 Training split: soft targets (1 - w) * FER+ vote distribution over the six classes "
             "+ w * one-hot original FER-2013 label (w = --original-weight); disgust folded into anger, "
             "contempt/unknown/NF votes dropped; images with a NF majority or < 4 six-class votes dropped, "
             "unknown/contempt majorities kept when w > 0")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options (all have defaults: the bare command reproduces the shipped model)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared datasets folder")
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "models", help="where model files + manifest go")
    ap.add_argument("--run-dir", type=Path, default=REPO_ROOT / "models" / "training" / "runs" / "emotion",
                    help="checkpoints, backup for resuming, CSV log (git-ignored)")
    ap.add_argument("--arch", choices=sorted(ARCHITECTURES), default="sep",
                    help="network layout (see models/training/model.py)")
    ap.add_argument("--width", type=int, default=32, help="base width of the CNN (stages: width, 2x, 4x, 8x)")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.05, help="peak learning rate (SGD Nesterov)")
    ap.add_argument("--warmup", type=int, default=2, help="warm-up epochs")
    ap.add_argument("--weight-decay", type=float, default=2e-4, help="decoupled weight decay (times lr per step)")
    ap.add_argument("--label-smoothing", type=float, default=0.05)
    ap.add_argument("--original-weight", type=float, default=0.0,
                    help="weight of the original FER-2013 label in the soft target (0 = FER+ votes only; "
                         "0.2 measured: -1 point on FER+ valid, +1.7 on PublicTest original labels)")
    ap.add_argument("--augmentation", choices=AUGMENTATIONS, default=AUGMENTATIONS[0],
                    help="aligner: the aligner's small errors (shipped); camera: also wider framing, gamma, "
                         "blur, noise, low resolution (models/training/augment.py)")
    ap.add_argument("--logit-adjust", type=float, default=0.0, metavar="TAU",
                    help="train on logits + TAU * log(class prior of the targets), predict without it "
                         "(logit-adjusted loss, Menon et al. 2021: fewer rare faces handed to common "
                         "classes); 0 = plain cross-entropy (shipped)")
    ap.add_argument("--prior-correction", type=float, default=0.2, metavar="TAU",
                    help="at export, lower the output layer's bias by TAU * log(class prior of the targets): "
                         "the probabilities divided by prior**TAU, so fewer doubtful faces go to the common "
                         "classes (post-hoc logit adjustment; 0 = the trained model as it is)")
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-determinism", action="store_true", help="skip tf op determinism (faster)")
    ap.add_argument("--jit", action="store_true", help="train with XLA (no faster on a 2-core CPU)")
    ap.add_argument("--limit", type=int, default=0, help="use only N training images (smoke tests)")
    ap.add_argument("--baseline", default="emotion_baseline",
                    help="manifest key of the model to beat before becoming the default")
    ap.add_argument("--no-publish", action="store_true", help="do not write into --out / the manifest")
    args = ap.parse_args(argv)
    # mistakes found now, not after an hour of training
    if args.batch < 1 or args.epochs < 0 or args.limit < 0:
        ap.error("--batch must be at least 1, --epochs and --limit at least 0")
    if not 0.0 <= args.original_weight <= 1.0:
        ap.error(f"--original-weight must be between 0 and 1, got {args.original_weight}")
    if not args.no_publish and not _writable_folder(args.out):
        ap.error(f"--out {args.out}: not a folder this user can write into")
    return args


def _writable_folder(path: Path) -> bool:
    """Whether ``path`` is, or can be made as, a folder this user writes into."""
    existing = next(p for p in (path, *path.parents) if p.exists())
    return existing.is_dir() and os.access(existing, os.W_OK)


def _best_so_far(csv_log: Path) -> float | None:
    if not csv_log.is_file():
        return None
    with open(csv_log, newline="") as f:
        vals = [float(r["val_accuracy"]) for r in csv.DictReader(f) if r.get("val_accuracy")]
    return max(vals) if vals else None


def class_prior(targets: np.ndarray) -> np.ndarray:
    """The training targets' class prior (mean soft target), in LABELS order."""
    return targets.mean(axis=0)


def _describe(prior: np.ndarray) -> str:
    return " ".join(f"{name} {p:.3f}" for name, p in zip(LABELS, prior, strict=True))


def _loss(targets: np.ndarray, args: argparse.Namespace) -> Callable[..., Any]:
    """Soft-label cross-entropy; with --logit-adjust, on probabilities shifted by the class prior."""
    import keras
    import numpy as np
    from keras import ops

    cross_entropy = keras.losses.CategoricalCrossentropy(label_smoothing=args.label_smoothing,
                                                         from_logits=bool(args.logit_adjust))
    if not args.logit_adjust:
        return cross_entropy
    prior = class_prior(targets)
    log.info("logit adjustment tau %.2f, class prior %s", args.logit_adjust, _describe(prior))
    shift = ops.convert_to_tensor(args.logit_adjust * np.log(prior), dtype="float32")

    def logit_adjusted_cross_entropy(y_true, y_pred):  # type: ignore[no-untyped-def]
        return cross_entropy(y_true, ops.log(ops.clip(y_pred, 1e-7, 1.0)) + shift)

    return logit_adjusted_cross_entropy


def train(args: argparse.Namespace) -> Path:
    """Train (or resume) and return the path of the best checkpoint (by FER+ valid accuracy)."""
    import keras
    import tensorflow as tf

    from .augment import augment, to_input
    from .datasets import ferplus_train, ferplus_valid
    from .model import build_model

    keras.utils.set_random_seed(args.seed)
    if not args.no_determinism:
        tf.config.experimental.enable_op_determinism()
    train_set, valid_set = ferplus_train(args.data, args.original_weight), ferplus_valid(args.data)
    images, targets = train_set.images, train_set.targets
    if args.limit:
        images, targets = images[: args.limit], targets[: args.limit]

    steps = len(images) // args.batch
    ds = (tf.data.Dataset.from_tensor_slices((images, targets))
          .shuffle(len(images), seed=args.seed, reshuffle_each_iteration=True)
          .batch(args.batch, drop_remainder=True)
          .map(lambda x, y: (augment(x, args.augmentation), y), num_parallel_calls=tf.data.AUTOTUNE)
          .prefetch(tf.data.AUTOTUNE))
    val = (tf.data.Dataset.from_tensor_slices((valid_set.images, valid_set.targets))
           .batch(256).map(lambda x, y: (to_input(x), y)).cache())

    model = build_model(args.width, args.dropout, args.arch)
    model.summary(print_fn=log.info)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0, decay_steps=max(1, (args.epochs - args.warmup) * steps),
        warmup_target=args.lr, warmup_steps=args.warmup * steps)
    model.compile(
        optimizer=keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True,
                                       weight_decay=args.weight_decay),
        loss=_loss(targets, args),
        metrics=["accuracy"], jit_compile=args.jit)

    args.run_dir.mkdir(parents=True, exist_ok=True)
    best, csv_log = args.run_dir / "best.keras", args.run_dir / "log.csv"
    callbacks = [
        keras.callbacks.BackupAndRestore(str(args.run_dir / "backup")),
        keras.callbacks.ModelCheckpoint(str(best), monitor="val_accuracy", mode="max", save_best_only=True,
                                        initial_value_threshold=_best_so_far(csv_log)),
        keras.callbacks.CSVLogger(str(csv_log), append=True),
    ]
    t0 = time.time()
    model.fit(ds, epochs=args.epochs, validation_data=val, callbacks=callbacks, verbose=2)
    log.info("training done in %.1f min; best FER+ valid accuracy %s", (time.time() - t0) / 60,
             _best_so_far(csv_log))
    return best


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def correct_for_prior(model: keras.Model, prior: np.ndarray, tau: float) -> None:
    """Lower the output layer's bias by ``tau * log(prior)``: softmax(z - tau log prior) is the model's
    probabilities divided by ``prior ** tau`` and renormalised, at no cost on the device."""
    import numpy as np

    if not tau:
        return
    layer = model.get_layer("emotion")
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel, (bias - tau * np.log(prior)).astype(bias.dtype)])
    log.info("prior correction tau %.2f, class prior %s", tau, _describe(prior))


def _entry(path: Path, args: argparse.Namespace, metrics: dict, epochs: int, description: str,
           prior: np.ndarray) -> dict:
    flip = metrics.pop("flip_averaged")
    return {
        "kind": "emotion", "file": path.name, "sha256": _sha256(path), "license": LICENSE,
        "input": {"shape": [1, IMAGE_SIZE, IMAGE_SIZE, 1], "color": "gray",
                  "normalisation": {"scale": 1 / 255, "offset": 0.0}},
        "labels": list(LABELS),
        "training": {"command": " ".join(["python -m models.training.train", *map(shlex.quote, sys.argv[1:])]),
                     "seed": args.seed, "epochs": epochs, "arch": args.arch, "width": args.width,
                     "original_weight": args.original_weight, "augmentation": args.augmentation,
                     "logit_adjust": args.logit_adjust,
                     "prior_correction": {"tau": args.prior_correction,
                                          "prior": {k: round(float(v), 4) for k, v in zip(LABELS, prior, strict=True)}},
                     "data": DATA_DESC,
                     "date": dt.date.today().isoformat()},
        "metrics": {**metrics, "flip_averaged": flip},
        "description": description,
    }


def publish(args: argparse.Namespace, best: Path) -> None:
    """Export int8 (+ float if >1 point better), evaluate both sets, write files and manifest entries."""
    import keras
    import numpy as np

    from .datasets import ferplus_train
    from .evaluate import MANIFEST, evaluate, format_table, load_sets
    from .export import to_tflite, write

    if not best.is_file():
        raise SystemExit(f"no checkpoint at {best}: train first (rerun without --epochs 0)")
    model = keras.models.load_model(best, compile=False)
    train_set = ferplus_train(args.data, args.original_weight)
    prior = class_prior(train_set.targets)
    correct_for_prior(model, prior, args.prior_correction)
    train_images = train_set.images
    calib = train_images[np.random.default_rng(args.seed).choice(len(train_images), 500, replace=False)]
    args.out.mkdir(parents=True, exist_ok=True)
    int8_path, float_path = args.out / "emotion_int8.tflite", args.out / "emotion_float.tflite"
    write(int8_path, to_tflite(model, calib))
    float_tmp = args.run_dir / "emotion_float.tflite"
    write(float_tmp, to_tflite(model))

    sets = load_sets(args.data)
    res_int8, res_float = evaluate(int8_path, sets), evaluate(float_tmp, sets)
    for name, res in (("int8", res_int8), ("float", res_float)):
        print(f"# {name}\n{format_table(res)}")
    (args.run_dir / "metrics.json").write_text(json.dumps({"int8": res_int8, "float": res_float}, indent=2))

    with open(args.run_dir / "log.csv", newline="") as f:
        epochs = len(list(csv.DictReader(f)))
    manifest_path = args.out / "manifest.json" if args.out.resolve() != MANIFEST.parent else MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else \
        {"schema": 1, "defaults": {}, "models": {}}
    models = manifest["models"]
    acc = res_int8["ferplus_valid"]["accuracy"]
    models["emotion"] = _entry(int8_path, args, res_int8, epochs,
                               f"Today Feeling 6-class CNN (layout {args.arch}, width {args.width}), full-integer "
                               "int8, Edge-TPU-compatible ops; trained on FER+ vote distributions"
                               + (f" mixed with the original labels (weight {args.original_weight})"
                                  if args.original_weight else "")
                               + (f", output prior-corrected (tau {args.prior_correction})" if args.prior_correction
                                  else ""), prior)
    float_gain = res_float["ferplus_valid"]["accuracy"] - acc
    if float_gain > 0.01:
        float_path.write_bytes(float_tmp.read_bytes())
        models["emotion_float"] = _entry(
            float_path, args, res_float, epochs,
            "Float32 twin of the emotion model (more than 1 point better than int8)", prior)
    else:
        log.info("float model only %.2f points better than int8: not shipped", 100 * float_gain)
        models.pop("emotion_float", None)
        float_path.unlink(missing_ok=True)

    base = models.get(args.baseline)
    if base is not None and (args.out / base["file"]).is_file():
        nb = base["input"]["normalisation"]
        res_base = evaluate(args.out / base["file"], sets, base["labels"], base.get("fold"),
                            (nb["scale"], nb["offset"]))
        print(f"# baseline {args.baseline}\n{format_table(res_base)}")
        beats = all(res_int8[s]["accuracy"] > res_base[s]["accuracy"] for s in sets)
        if beats:
            manifest["defaults"]["emotion"] = "emotion"
        log.info("int8 model %s the baseline on both sets", "beats" if beats else "does NOT beat")
    else:
        log.warning("baseline %s not found: defaults left unchanged", args.baseline)
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    log.info("updated %s", manifest_path)


def main(argv: list[str] | None = None) -> None:
    """CLI entry point."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    check_data_dir(args.data)
    best = train(args) if args.epochs > 0 else args.run_dir / "best.keras"
    if not args.no_publish:
        publish(args, best)


if __name__ == "__main__":
    main()
