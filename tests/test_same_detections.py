"""scripts/same_detections.py: detect outputs from two machines agree within rounding, and only then."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.emulation import hang_guard

REPO = Path(__file__).resolve().parents[1]
RECORD = {"path": "models/demo_astronaut.png", "backend": "cpu", "ms": {"detect": 6.3, "align": 0.4, "classify": 0.2},
          "faces": [{"box": [172, 67, 105, 105], "score": 0.911, "emotion": "happiness",
                     "probabilities": {"anger": 0.0039, "fear": 0.0039, "happiness": 0.9609, "sadness": 0.0039,
                                       "surprise": 0.0078, "neutral": 0.0195}}]}


def compare(tmp_path: Path, other: list[dict[str, Any]]) -> subprocess.CompletedProcess:
    (tmp_path / "x86.jsonl").write_text(json.dumps(RECORD) + "\n")
    (tmp_path / "arm64.jsonl").write_text("".join(json.dumps(r) + "\n" for r in other))
    return subprocess.run([sys.executable, str(REPO / "scripts" / "same_detections.py"), str(tmp_path / "x86.jsonl"),
                           str(tmp_path / "arm64.jsonl")], capture_output=True, text=True, timeout=hang_guard(60))


def test_rounding_differences_timings_and_paths_agree(tmp_path: Path) -> None:
    other = copy.deepcopy(RECORD)
    other.update(path="/opt/todayfeeling/models/demo_astronaut.png", ms={"detect": 812.0, "align": 30.0,
                                                                           "classify": 40.0})
    face = other["faces"][0]
    face["box"][0] += 1
    face["score"] = 0.912
    face["probabilities"]["happiness"] = 0.9608
    result = compare(tmp_path, [other])
    assert (result.returncode, result.stdout) == (0, "same detections: 1 records, 1 faces, within rounding\n")


@pytest.mark.parametrize(("change", "expected"), [
    (lambda f: f["box"].__setitem__(2, 107), "record 1, face 1: box [172, 67, 105, 105] against [172, 67, 107, 105]"),
    (lambda f: f.update(emotion="neutral"), "record 1, face 1: emotion happiness against neutral"),
    (lambda f: f.update(score=0.913), "record 1, face 1: score 0.911 against 0.913"),
    (lambda f: f["probabilities"].update(neutral=0.0197), "record 1, face 1: probabilities"),
])
def test_a_difference_beyond_rounding_is_named(tmp_path: Path, change, expected: str) -> None:
    other = copy.deepcopy(RECORD)
    change(other["faces"][0])
    result = compare(tmp_path, [other])
    assert result.returncode == 1 and result.stdout.startswith(f"differs: {expected}"), result.stdout


def test_missing_faces_or_records_differ(tmp_path: Path) -> None:
    assert "1 faces against 0" in compare(tmp_path, [{**RECORD, "faces": []}]).stdout
    assert compare(tmp_path, []).stdout == "differs: 1 records against 0\n"
