"""Measure the `fer` package (Haar cascade + its TFLite mini-Xception) on frames: run INSIDE fer's own venv.

    <fer-venv>/bin/python benchmarks/fer_probe.py SOURCE [--frames N] [--one-core]

SOURCE is an image (the same frame every time, copied as a camera would hand it over) or a video (looped).
Prints ``first-result`` as soon as the first frame is processed (the caller times launch → that line), then
one JSON line with the numbers. Depends only on fer, OpenCV and NumPy, never on todayfeeling.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

ALL_CORES = os.sched_getaffinity(0)


def main() -> None:
    """Import fer, load it, process frames, print the numbers."""
    parser = argparse.ArgumentParser()
    parser.add_argument("source")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--one-core", action="store_true", help="pin to one core (OpenCV and TFLite)")
    args = parser.parse_args()
    if args.one_core:
        os.sched_setaffinity(0, {min(ALL_CORES)})
    started = time.perf_counter()
    import cv2
    import numpy as np  # noqa: F401  (fer imports it anyway; imported here so the import time is fer's)
    from fer.fer import FER

    if args.one_core:
        cv2.setNumThreads(1)
    imported = time.perf_counter()
    detector = FER()  # Haar cascade + the quantised TFLite model (fer's defaults)
    loaded = time.perf_counter()
    frames = _frames(cv2, args.source)
    detector.detect_emotions(next(frames))
    first = time.perf_counter()
    sys.stdout.write("first-result\n")
    sys.stdout.flush()
    for _ in range(3):  # warm-up, as for our pipeline
        detector.detect_emotions(next(frames))
    frame_ms, detect_ms, faces = [], [], []
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    for _ in range(args.frames):
        start = time.perf_counter()
        frame = next(frames)
        result = detector.detect_emotions(frame)
        end = time.perf_counter()
        frame_ms.append((end - start) * 1000.0)
        faces.append(len(result))
    wall, cpu = time.perf_counter() - wall_start, time.process_time() - cpu_start
    for _ in range(args.frames):
        frame = next(frames)
        start = time.perf_counter()
        detector.find_faces(frame)
        detect_ms.append((time.perf_counter() - start) * 1000.0)
    sys.stdout.write(json.dumps({
        "fer_version": _fer_version(), "one_core": args.one_core, "frames": args.frames,
        "faces_per_frame": statistics.median(faces),
        "frame_ms": _summary(frame_ms), "haar_detect_ms": _summary(detect_ms),
        "fps": round(args.frames / wall, 2), "cpu_ms_per_frame": round(cpu * 1000.0 / args.frames, 3),
        "import_s": round(imported - started, 3), "load_s": round(loaded - imported, 3),
        "first_frame_s": round(first - loaded, 3),
        "peak_rss_mb": _peak_rss_mb(),
    }) + "\n")


def _peak_rss_mb() -> float:
    """This process's own peak (VmHWM): ru_maxrss would include the parent's, carried across fork and exec."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _frames(cv2, source: str):
    """Endless BGR frames: copies of an image, or a video played again at its end."""
    image = cv2.imread(source, cv2.IMREAD_COLOR)
    if image is not None:
        while True:
            yield image.copy()
    while True:
        capture = cv2.VideoCapture(source)
        ok, frame = capture.read()
        if not ok:
            raise SystemExit(f"{source}: not a readable image or video")
        while ok:
            yield frame
            ok, frame = capture.read()
        capture.release()


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, max(0, -(-95 * len(ordered) // 100) - 1))]
    return {"median": round(statistics.median(ordered), 3), "p95": round(p95, 3)}


def _fer_version() -> str:
    import fer

    return fer.__version__


if __name__ == "__main__":
    main()
