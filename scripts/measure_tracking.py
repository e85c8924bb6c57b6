#!/usr/bin/env python3
"""How close tracked detection stays to the full-frame detector, frame by frame, on a video.

    python scripts/measure_tracking.py [VIDEO] [--every N] [--config FILE] [--json]

Every frame is read twice: by the full-frame detector alone (``FacePipeline.process``, what `detect` does)
and by the tracked pipeline (``follow``, what the appliance does). On the frames where the tracked pipeline
looked only at regions around its tracks, it reports how many of the full detector's faces it found (the
same face: box IoU at least 0.5), their mean box IoU, the eye keypoints' distance in eye distances, how many
faces it gave that the full detector did not, and the emotion (argmax of the unsmoothed reading) they agree
on. ``--every N`` takes every Nth frame only (6: a 30 fps video at the daemon's 5 fps, where faces move
farther between frames). Default VIDEO: face_smoke's short_hamilton_clip.mp4 beside the checkout. Accuracy
only; speed is `todayfeeling bench`'s job.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from todayfeeling.config import load_config
from todayfeeling.inference.align import align_face
from todayfeeling.inference.pipeline import FacePipeline
from todayfeeling.inference.tracks import box_iou

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO.parent / "shared/datasets/face_smoke/face_recognition_examples/short_hamilton_clip.mp4"
SAME_FACE_IOU = 0.5


def measure(video: Path, config_path: Path | None, every: int = 1) -> dict[str, Any]:
    """The agreement figures of one video (see the module docstring)."""
    config = load_config(config_path)
    reference = FacePipeline.from_config(config.inference)
    tracked = FacePipeline.from_config(config.inference, tracking=config.tracking)
    full_invokes: list[float] = []
    tracked.detector.model.invoke_times = full_invokes
    capture = cv2.VideoCapture(str(video))
    frames = region_frames = reference_faces = found = extra = same_emotion = index = 0
    ious: list[float] = []
    eye_errors: list[float] = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        index += 1
        if (index - 1) % every:
            continue
        frames += 1
        invokes_before = len(full_invokes)
        followed = tracked.follow(frame).faces
        if len(full_invokes) > invokes_before:
            continue  # the full detector read this frame: the same faces by construction
        region_frames += 1
        truth = reference.process(frame).faces
        reference_faces += len(truth)
        matched: set[int] = set()
        for face in followed:
            overlaps = [box_iou(face.face.box, t.face.box) for t in truth]
            best = int(np.argmax(overlaps)) if overlaps else -1
            if best < 0 or overlaps[best] < SAME_FACE_IOU or best in matched:
                extra += 1
                continue
            matched.add(best)
            found += 1
            ious.append(overlaps[best])
            true_face = truth[best].face
            eye_distance = float(np.linalg.norm(true_face.left_eye - true_face.right_eye))
            eye_errors.append(float(np.linalg.norm(face.face.keypoints[:2] - true_face.keypoints[:2], axis=1).mean())
                              / max(eye_distance, 1e-6))
            classifier = tracked.classifier
            crop = align_face(frame, face.face.right_eye, face.face.left_eye, classifier.size, classifier.gray)
            same_emotion += int(np.argmax(classifier.classify(crop)) == np.argmax(truth[best].probabilities))
    capture.release()
    return {
        "video": str(video), "every": every, "frames": frames, "full_detector_frames": frames - region_frames,
        "region_frames": region_frames, "full_detector_faces_on_region_frames": reference_faces,
        "found": found, "found_fraction": round(found / max(reference_faces, 1), 3),
        "mean_iou": round(statistics.fmean(ious), 3) if ious else None,
        "median_eye_error_in_eye_distances": round(statistics.median(eye_errors), 3) if eye_errors else None,
        "extra_faces": extra, "same_emotion_fraction": round(same_emotion / max(found, 1), 3),
        "tracking": {key: getattr(config.tracking, key) for key in
                     ("full_detect_every", "region_model", "region_scale", "max_regions")},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("video", nargs="?", type=Path, default=VIDEO)
    parser.add_argument("--every", type=int, default=1, help="every Nth frame only (default: 1, all)")
    parser.add_argument("--config", type=Path, help="config file (default: the defaults)")
    parser.add_argument("--json", action="store_true", help="one JSON object")
    args = parser.parse_args()
    if not args.video.is_file():
        print(f"measure_tracking: no video at {args.video}", file=sys.stderr)
        return 2
    if args.every < 1:
        print("measure_tracking: --every must be at least 1", file=sys.stderr)
        return 2
    report = measure(args.video, args.config, args.every)
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
