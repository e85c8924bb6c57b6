"""scripts/replay_mood.py on a recorded-format detection file: raw flicker vs the tracker's changes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.emulation import hang_guard

REPO = Path(__file__).resolve().parents[1]


def detection_line(frame: int, emotion: str | None) -> str:
    faces = [] if emotion is None else [{
        "box": [10, 10, 80, 80], "score": 0.9, "emotion": emotion,
        "probabilities": {"anger": 0.0, "fear": 0.0, "happiness": 0.0, "sadness": 0.0, "surprise": 0.0,
                          "neutral": 0.0, emotion: 0.7, "surprise" if emotion != "surprise" else "fear": 0.3}}]
    return json.dumps({"path": "clip.mp4", "frame": frame, "faces": faces, "backend": "cpu", "ms": {}})


def test_replay_counts_raw_flicker_and_the_trackers_few_changes(tmp_path):
    # 60 s at 10 fps: happiness with a surprise frame every 4th, then sadness for the second half
    lines = [detection_line(i, ("happiness" if i < 300 else "sadness") if i % 4 else "surprise")
             for i in range(600)]
    recording = tmp_path / "clip.jsonl"
    recording.write_text("\n".join(lines) + "\n")
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "replay_mood.py"), str(recording),
                             "--fps", "10"], capture_output=True, text=True, timeout=hang_guard(60))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "600 frames over 59.9 s (10.00 fps), 600 with a face",
        "raw per-frame argmax: 299 changes, 299.5 per minute",
        "tracker:              1 changes, 1.0 per minute (plus 1 to or from none)",
        "     0.50 s  none -> happiness (0.55)",
        "    34.80 s  happiness -> sadness (0.45)",  # surprise, always second, topped it only in passing
    ]
