#!/usr/bin/env python3
"""Time one face's embedding (alignment + SFace) on this machine: median and 90th percentile of N runs.

    python scripts/bench_embedding.py [--photo PHOTO] [--runs 50] [--threads 1]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from todayfeeling.inference.faces import FaceDetector
from todayfeeling.inference.manifest import Manifest
from todayfeeling.inference.runtime import TFLiteModel
from todayfeeling.people.embedding import FaceEmbedder

PHOTO = Path(__file__).resolve().parents[2] / "shared/datasets/face_smoke/face_recognition_examples/obama.jpg"


def main() -> None:
    """Print the milliseconds per face, the model's share and its backend."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", type=Path, default=PHOTO)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    manifest = Manifest()
    spec = manifest.spec("", "face_detector")
    frame = cv2.imread(str(args.photo))
    if frame is None:
        raise SystemExit(f"{args.photo}: not a readable image")
    faces = FaceDetector(spec, TFLiteModel(spec.path, threads=1)).detect(frame)
    if not faces:
        raise SystemExit(f"{args.photo}: no face found")
    embedder = FaceEmbedder.from_manifest(manifest, threads=args.threads)
    embedder.embed(frame, faces[0])  # warm-up
    embedder.model.invoke_times = []
    total = []
    for _ in range(args.runs):
        start = time.perf_counter()
        embedder.embed(frame, faces[0])
        total.append((time.perf_counter() - start) * 1000.0)
    model = np.array(embedder.model.invoke_times)
    path = embedder.spec.path
    print(f"{path.name} ({path.stat().st_size} bytes) on {embedder.model.backend.actual.value}, "
          f"{args.threads} thread(s), {args.runs} runs: per face median {np.median(total):.1f} ms "
          f"(p90 {np.percentile(total, 90):.1f} ms), of which the model {np.median(model):.1f} ms")


if __name__ == "__main__":
    main()
