#!/usr/bin/env python3
"""Replay recorded detections through the mood tracker: how often the mood changes, raw vs smoothed.

    todayfeeling detect --json clip.mp4 > clip.jsonl
    python scripts/replay_mood.py clip.jsonl --fps 29.97 [--stride 3] [--config config.toml] [--sweep]

Input: the `todayfeeling detect --json` format, one line per frame in order (a line's "frame" index, when
present, gives its time as frame / fps; otherwise its position does). ``--stride N`` keeps every N-th frame,
as a daemon running at fps / N would see the scene. Prints the per-frame argmax's changes (the largest
face's emotion; frames without a face are left out, which flatters the raw signal) and the tracker's mood
changes, each per minute, then the tracker's timeline. ``--sweep`` repeats the count over a grid of
smoothing, margin and dwell settings, to see how sensitive the defaults are.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import replace
from pathlib import Path

from todayfeeling.config import MoodConfig, load_config
from todayfeeling.mood import FaceObservation, MoodTracker
from todayfeeling.vocabulary import NO_MOOD

Frame = tuple[float, list[FaceObservation]]


def read_frames(path: Path, fps: float, stride: int) -> list[Frame]:
    """(time, faces) per kept frame; lines with an error count as frames without faces."""
    frames = []
    with path.open(encoding="utf-8") if str(path) != "-" else sys.stdin as lines:
        for position, line in enumerate(lines):
            if not line.strip():
                continue
            record = json.loads(line)
            index = record.get("frame", position)
            if index % stride:
                continue
            faces = [FaceObservation.from_detection(face) for face in record.get("faces", [])]
            frames.append((index / fps, faces))
    return frames


def raw_changes(frames: list[Frame]) -> int:
    """Changes of the largest face's argmax between consecutive frames with a face."""
    emotions = [max(faces[0].probabilities, key=faces[0].probabilities.get) for _, faces in frames if faces]
    return sum(a != b for a, b in itertools.pairwise(emotions))


def replay(frames: list[Frame], config: MoodConfig) -> list[tuple[float, str, str, float]]:
    """The tracker's mood changes: (time, previous, mood, confidence)."""
    tracker = MoodTracker(config, now=frames[0][0] if frames else 0.0)
    changes = []
    for now, faces in frames:
        for event in tracker.update(now, faces):
            if event.event_type == "mood_changed":
                details = event.details
                changes.append((now, details["previous"], details["mood"], details["confidence"]))
    return changes


def between_emotions(changes: list[tuple[float, str, str, float]]) -> int:
    """Changes from one emotion to another (not the first mood, nor to or from `none`)."""
    return sum(NO_MOOD not in (previous, mood) for _, previous, mood, _ in changes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("detections", type=Path, help="JSON lines from `todayfeeling detect --json` ('-': stdin)")
    parser.add_argument("--fps", type=float, required=True, help="frame rate of the recording")
    parser.add_argument("--stride", type=int, default=1, help="keep every N-th frame (default 1)")
    parser.add_argument("--config", type=Path, help="config file whose [mood] section to use")
    parser.add_argument("--sweep", action="store_true", help="also count changes over a grid of settings")
    args = parser.parse_args()

    frames = read_frames(args.detections, args.fps, max(1, args.stride))
    if len(frames) < 2:
        print("replay_mood: fewer than two frames", file=sys.stderr)
        return 1
    config = load_config(args.config).mood
    minutes = (frames[-1][0] - frames[0][0]) / 60.0
    with_faces = sum(1 for _, faces in frames if faces)
    changes = replay(frames, config)
    raw = raw_changes(frames)
    print(f"{len(frames)} frames over {minutes * 60:.1f} s ({args.fps / max(1, args.stride):.2f} fps), "
          f"{with_faces} with a face")
    print(f"raw per-frame argmax: {raw} changes, {raw / minutes:.1f} per minute")
    smoothed = between_emotions(changes)
    print(f"tracker:              {smoothed} changes, {smoothed / minutes:.1f} per minute "
          f"(plus {len(changes) - smoothed} to or from none)")
    for now, previous, mood, confidence in changes:
        print(f"  {now:7.2f} s  {previous} -> {mood} ({confidence:.2f})")
    if args.sweep:
        print("time_constant_s switch_margin min_dwell_s  changes/min")
        for tau, margin, dwell in itertools.product((0.5, 1.0, 2.0, 4.0), (0.05, 0.15, 0.25), (0.0, 3.0, 6.0)):
            swept = replace(config, time_constant_s=tau, switch_margin=margin, min_dwell_s=dwell)
            count = between_emotions(replay(frames, swept))
            print(f"{tau:15.1f} {margin:13.2f} {dwell:11.1f}  {count / minutes:11.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
