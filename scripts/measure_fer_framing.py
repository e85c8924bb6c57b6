#!/usr/bin/env python3
"""Measure where FER-2013 crops put the eyes, as our face detector sees them.

Each 48x48 training face is enlarged and padded (the detector needs context around a face), the detector
finds its eye keypoints, and the medians over the sample give the framing that
``todayfeeling.inference.align`` reproduces on camera frames (FER_EYE_CENTRE, FER_EYE_DISTANCE).

    python scripts/measure_fer_framing.py [--datasets ../shared/datasets] [--count 1500]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import cv2
import numpy as np

from todayfeeling.inference.faces import FaceDetector
from todayfeeling.inference.manifest import Manifest
from todayfeeling.inference.runtime import TFLiteModel

ENLARGE, PAD = 3, 72  # 48 px → 144 px, with 72 px of mid-grey around it


def main() -> None:
    """Print the median eye positions and eye distance, as fractions of the crop."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=Path(__file__).resolve().parents[2] / "shared/datasets")
    parser.add_argument("--count", type=int, default=1500)
    parser.add_argument("--detector", default="face_short_range")
    args = parser.parse_args()
    files = sorted((args.datasets / "fer2013/train").glob("*/*.png"))
    random.Random(0).shuffle(files)
    spec = Manifest().spec(args.detector, "face_detector")
    detector = FaceDetector(spec, TFLiteModel(spec.path, threads=1))
    side = 48 * ENLARGE
    eyes = []
    for path in files[: args.count]:
        face = cv2.resize(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), (side, side), interpolation=cv2.INTER_CUBIC)
        padded = cv2.copyMakeBorder(face, PAD, PAD, PAD, PAD, cv2.BORDER_CONSTANT, value=128)
        found = detector.detect(cv2.cvtColor(padded, cv2.COLOR_GRAY2BGR))
        if found:
            eyes.append((found[0].keypoints[:2] - PAD) / side)
    points = np.array(eyes)
    centre = np.median(points.mean(axis=1), axis=0)
    distance = np.median(np.linalg.norm(points[:, 1] - points[:, 0], axis=1))
    print(f"faces found: {len(points)} of {min(args.count, len(files))}")
    print(f"eye centre (x, y): ({centre[0]:.3f}, {centre[1]:.3f}); eye distance: {distance:.3f} of the crop width")


if __name__ == "__main__":
    main()
