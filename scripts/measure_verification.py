#!/usr/bin/env python3
"""Measure face verification (same person or not) with our detector, alignment and SFace embedding.

Identities come either from folders (``--folders ROOT``: one subfolder per person, e.g. the AT&T/ORL faces'
``s1/ … s40/``) or from labelled pairs (``--pairs``: CSV files with ``file_x,file_y`` and a ``Decision`` or
``decision`` column of ``Yes``/``No``, the format of deepface's ``tests/unit/dataset/master.csv``; files
named by base name inside ``--images``; the "Yes" pairs link photos into identities). The identities are
split in two by a fixed rule (alternating, in sorted order): the threshold is chosen on the development half
and the numbers are reported on the other. Within each half every pair of photos counts: same identity =
genuine, different identities = impostor (pairs across the halves are left out). A photo where the detector
finds no face makes its pairs "different" (a miss, never an accept).

    python scripts/measure_verification.py --folders ORL --glob '*.pgm' --pad 0.5
    python scripts/measure_verification.py --images DIR --pairs DIR/master.csv DIR/face-recognition-pivot.csv
    python scripts/measure_verification.py ... --yunet yunet.onnx   # align with OpenCV's 5 points instead

``--pad`` puts a mid-grey border (that fraction of the photo's size on each side) around close-cropped
photos: the detector needs some context around a face. The threshold rule: the lowest multiple of 0.05
above every impostor pair's similarity on the development half (no false accept there), because a stranger
taken for a household member is worse than a miss.
"""

from __future__ import annotations

import argparse
import csv
import math
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from todayfeeling.inference.align import warp
from todayfeeling.inference.faces import FaceDetector
from todayfeeling.inference.manifest import Manifest
from todayfeeling.inference.runtime import TFLiteModel
from todayfeeling.people.embedding import FaceEmbedder, similarity_transform

Pair = tuple[str, str, bool]
STEP = 0.05
YUNET_SIDE = 640


def read_pairs(paths: list[Path]) -> list[Pair]:
    """Every labelled pair of the CSV files, once."""
    pairs: dict[tuple[str, str], bool] = {}
    for path in paths:
        with path.open() as handle:
            for row in csv.DictReader(handle):
                decision = row.get("Decision", row.get("decision"))
                if decision not in ("Yes", "No"):
                    raise SystemExit(f"{path}: row {row} has no Yes/No decision")
                key = tuple(sorted((Path(row["file_x"]).name, Path(row["file_y"]).name)))
                pairs[(key[0], key[1])] = decision == "Yes"
    return [(a, b, same) for (a, b), same in sorted(pairs.items())]


def folder_identities(root: Path, pattern: str) -> dict[str, int]:
    """Each photo (path relative to ``root``) and its identity: the number of its subfolder, in sorted order."""
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    identity = {str(photo.relative_to(root)): index for index, folder in enumerate(folders)
                for photo in sorted(folder.glob(pattern))}
    if not identity:
        raise SystemExit(f"{root}: no {pattern} photos in its subfolders")
    return identity


def pair_identities(pairs: list[Pair]) -> dict[str, int]:
    """Each photo's identity: the photos linked by "Yes" pairs, numbered in order of their first file name."""
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        parent.setdefault(name, name)
        while parent[name] != name:
            name = parent[name]
        return name

    for a, b, same in pairs:
        root(a), root(b)
        if same:
            parent[root(a)] = root(b)
    groups: dict[str, list[str]] = {}
    for name in parent:
        groups.setdefault(root(name), []).append(name)
    ordered = sorted(sorted(members) for members in groups.values())
    return {name: index for index, members in enumerate(ordered) for name in members}


def blazeface_embeddings(images: Path, names: set[str], embedder: FaceEmbedder,
                         pad: float) -> dict[str, np.ndarray | None]:
    """The largest face of each photo as our pipeline embeds it (None: no face found)."""
    spec = Manifest().spec("face_full_range", "face_detector")
    detector = FaceDetector(spec, TFLiteModel(spec.path, threads=2))
    vectors: dict[str, np.ndarray | None] = {}
    for name in sorted(names):
        frame = read_photo(images / name, pad)
        faces = detector.detect(frame)
        vectors[name] = embedder.embed(frame, faces[0]) if faces else None
    return vectors


def yunet_embeddings(images: Path, names: set[str], embedder: FaceEmbedder, pad: float,
                     yunet: Path) -> dict[str, np.ndarray | None]:
    """The same embedding model, aligned on OpenCV YuNet's five points (OpenCV's own SFace recipe)."""
    detector = cv2.FaceDetectorYN.create(str(yunet), "", (320, 320))
    template = np.asarray(embedder.spec.extra["embedding"]["template"], np.float64)
    vectors: dict[str, np.ndarray | None] = {}
    for name in sorted(names):
        frame = read_photo(images / name, pad)
        shrink = min(1.0, YUNET_SIDE / max(frame.shape[:2]))  # YuNet misses faces much larger than its anchors
        small = cv2.resize(frame, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
        detector.setInputSize((small.shape[1], small.shape[0]))
        _, faces = detector.detect(small)
        if faces is None:
            vectors[name] = None
            continue
        largest = max(faces, key=lambda f: f[2] * f[3])
        matrix = similarity_transform(largest[4:14].reshape(5, 2) / shrink, template)
        vectors[name] = embedder.embed_crop(warp(frame, matrix, embedder.size))
    return vectors


def read_photo(path: Path, pad: float) -> np.ndarray:
    """The photo as a BGR frame, with a mid-grey border of ``pad`` times its size on each side."""
    frame = cv2.imread(str(path))
    if frame is None:
        raise SystemExit(f"{path}: not a readable image")
    if pad > 0:
        y, x = round(frame.shape[0] * pad), round(frame.shape[1] * pad)
        frame = cv2.copyMakeBorder(frame, y, y, x, x, cv2.BORDER_CONSTANT, value=(128, 128, 128))
    return frame


def similarity(vectors: dict[str, np.ndarray | None], a: str, b: str) -> float:
    """Cosine similarity of two photos' embeddings; -1 when either has no face."""
    x, y = vectors[a], vectors[b]
    return -1.0 if x is None or y is None else float(x @ y)


def choose_threshold(scores: list[tuple[float, bool]]) -> float:
    """The lowest multiple of STEP above every impostor score."""
    worst = max((s for s, same in scores if not same), default=0.0)
    return round(math.floor(worst / STEP + 1) * STEP, 2)


def report(name: str, scores: list[tuple[float, bool]], threshold: float) -> str:
    """TPR, FPR and accuracy at ``threshold``, and the best accuracy at any threshold."""
    genuine = [s for s, same in scores if same]
    impostor = [s for s, same in scores if not same]
    accepted = sum(s >= threshold for s in genuine)
    false = sum(s >= threshold for s in impostor)
    correct = sum((s >= threshold) == same for s, same in scores)
    best = max(sum((s >= t) == same for s, same in scores) for t, _ in scores) / len(scores)
    return (f"{name}: {len(genuine)} same / {len(impostor)} different pairs; at {threshold:.2f}: "
            f"TPR {accepted / max(len(genuine), 1):.4f} ({accepted}/{len(genuine)}), "
            f"FPR {false / max(len(impostor), 1):.4f} ({false}/{len(impostor)}), "
            f"accuracy {correct / len(scores):.4f}; best accuracy at any threshold {best:.4f}; "
            f"same-person min {min(genuine, default=float('nan')):.3f}, "
            f"stranger max {max(impostor, default=float('nan')):.3f}")


def main() -> None:
    """Print the development threshold and the numbers on both halves."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--folders", type=Path, help="one subfolder of photos per person")
    source.add_argument("--pairs", type=Path, nargs="+", help="labelled pairs (CSV), photos in --images")
    parser.add_argument("--images", type=Path, help="the folder the --pairs files name photos in")
    parser.add_argument("--glob", default="*", help="which files of each --folders subfolder (default: all)")
    parser.add_argument("--pad", type=float, default=0.0, help="mid-grey border, fraction of the photo's size")
    parser.add_argument("--yunet", type=Path, help="align on OpenCV YuNet's 5 points (the ONNX file) instead")
    parser.add_argument("--threshold", type=float, help="report at this threshold instead of choosing one")
    args = parser.parse_args()
    if args.folders:
        images, identity = args.folders, folder_identities(args.folders, args.glob)
    elif args.images:
        images, identity = args.images, pair_identities(read_pairs(args.pairs))
    else:
        parser.error("--pairs needs --images")
    names = set(identity)
    embedder = FaceEmbedder.from_manifest(Manifest())
    embed: Callable[[], dict[str, np.ndarray | None]] = (
        (lambda: yunet_embeddings(images, names, embedder, args.pad, args.yunet)) if args.yunet
        else (lambda: blazeface_embeddings(images, names, embedder, args.pad)))
    vectors = embed()
    missing = sorted(name for name, vector in vectors.items() if vector is None)
    halves: dict[int, list[tuple[float, bool]]] = {0: [], 1: []}
    ordered = sorted(names)
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            if identity[a] % 2 == identity[b] % 2:
                halves[identity[a] % 2].append((similarity(vectors, a, b), identity[a] == identity[b]))
    threshold = args.threshold if args.threshold is not None else choose_threshold(halves[0])
    print(f"{len(names)} photos, {len(set(identity.values()))} identities, no face found in: {missing or 'none'}")
    print(f"threshold {threshold:.2f}" + (" (given)" if args.threshold is not None else
                                          " (lowest multiple of 0.05 above every development impostor)"))
    print(report("development", halves[0], threshold))
    print(report("test", halves[1], threshold))


if __name__ == "__main__":
    main()
