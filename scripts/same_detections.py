#!/usr/bin/env python3
"""Whether two `todayfeeling detect --json` outputs agree within their rounding (e.g. x86 against arm64).

    python scripts/same_detections.py REFERENCE.jsonl OTHER.jsonl

Records are compared line by line, ignoring the path and the timings: the same faces in the same order with
the same emotion and backend, and every number within one unit of the digit it is rounded to (boxes to whole
pixels, scores to 3 decimals, probabilities to 4), so a value that falls on the other side of a rounding
boundary still agrees. Prints each difference; exit status 1 when there is one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# One unit of the last digit `detect` prints (firmware/todayfeeling/inference/pipeline.py), plus float noise.
TOLERANCE = {"box": 1.0, "score": 1e-3, "probabilities": 1e-4}
SLACK = 1e-9


def differences(reference: list[dict[str, Any]], other: list[dict[str, Any]]) -> list[str]:
    """What differs between two lists of detect records, beyond rounding."""
    if len(reference) != len(other):
        return [f"{len(reference)} records against {len(other)}"]
    found = []
    for line, (ref, oth) in enumerate(zip(reference, other, strict=True), start=1):
        for key in ("error", "frame", "backend"):
            if ref.get(key) != oth.get(key):
                found.append(f"record {line}: {key} {ref.get(key)!r} against {oth.get(key)!r}")
        ref_faces, oth_faces = ref.get("faces", []), oth.get("faces", [])
        if len(ref_faces) != len(oth_faces):
            found.append(f"record {line}: {len(ref_faces)} faces against {len(oth_faces)}")
            continue
        for number, (a, b) in enumerate(zip(ref_faces, oth_faces, strict=True), start=1):
            found += [f"record {line}, face {number}: {what}" for what in _face_differences(a, b)]
    return found


def _face_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    found = []
    if a["emotion"] != b["emotion"]:
        found.append(f"emotion {a['emotion']} against {b['emotion']}")
    if not _close(a["box"], b["box"], TOLERANCE["box"]):
        found.append(f"box {a['box']} against {b['box']}")
    if not _close([a["score"]], [b["score"]], TOLERANCE["score"]):
        found.append(f"score {a['score']} against {b['score']}")
    if a["probabilities"].keys() != b["probabilities"].keys():
        found.append(f"emotions {list(a['probabilities'])} against {list(b['probabilities'])}")
    elif not _close(list(a["probabilities"].values()), list(b["probabilities"].values()),
                    TOLERANCE["probabilities"]):
        found.append(f"probabilities {a['probabilities']} against {b['probabilities']}")
    return found


def _close(a: list[float], b: list[float], tolerance: float) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= tolerance + SLACK for x, y in zip(a, b, strict=True))


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    reference, other = (_records(Path(arg)) for arg in argv)
    found = differences(reference, other)
    for difference in found:
        print(f"differs: {difference}")
    if not found:
        faces = sum(len(r.get("faces", [])) for r in reference)
        print(f"same detections: {len(reference)} records, {faces} faces, within rounding")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
