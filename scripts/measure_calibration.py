#!/usr/bin/env python3
"""Measure recognition and personal calibration on posed photos of the same people (models/README.md).

The photos are a folder of ``PPTVE##.jpg`` files, the naming of the Taiwanese performers' expression set
(``PP`` performer, ``T`` performance type, ``V`` view, ``E`` expression a-g: neutral, happy, sad, angry,
disgusted, fearful, surprised; disgust is left out, as ``eval`` leaves it out). Every photo goes once through
the full pipeline (detector, aligner, emotion model on the largest face; SFace on that face); the rest is
arithmetic on those outputs, so the constants can be searched.

People are split by a fixed rule (alternating, in sorted order) into development people, on whom the
calibration constants are chosen, and held-out people, on whom the numbers are reported. Per person, the
enrolment photos are the first photo (in name order) of each emotion; the test photos are all their other
photos. Two protocols: (a) one neutral photo enrols the person (template and neutral baseline), (b) one
photo per emotion does. A test face is recognised against everyone of its half; a recognised face is read
with that person's calibration, any other face with the generic model; a photo without a face is wrong.
Strangers: the other half's photos, none of whom is enrolled, should match nobody.

    python scripts/measure_calibration.py PHOTOS [--pad 0.25] [--json OUT]
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from todayfeeling.config import load_config
from todayfeeling.inference.manifest import Manifest
from todayfeeling.inference.pipeline import FacePipeline
from todayfeeling.people.calibration import DEFAULT_METHOD, Calibration, Method
from todayfeeling.people.database import PeopleDatabase
from todayfeeling.people.embedding import MATCH_THRESHOLD, FaceEmbedder
from todayfeeling.vocabulary import EMOTIONS

log = logging.getLogger("measure_calibration")

EXPRESSIONS = {"a": "neutral", "b": "happiness", "c": "sadness", "d": "anger", "f": "fear", "g": "surprise"}
GRID = {"target_confidence": (0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.75, 0.9),
        "baseline_prior_shots": (0.01, 0.05, 0.1, 0.25, 0.5, 1.0),
        "prototype_prior_shots": (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)}


@dataclass(frozen=True, eq=False)
class Photo:
    """One photo's label and what the pipeline made of its largest face (None: no face found)."""

    name: str
    person: str
    emotion: str
    probabilities: np.ndarray[Any, Any] | None
    embedding: np.ndarray[Any, Any] | None


@dataclass(frozen=True)
class Scores:
    """One half under one protocol: recognition, and emotion accuracy generic and under each method."""

    people: int
    test_photos: int
    faces: int
    recognised_right: float
    strangers_null: float
    generic: float
    calibrated: list[float]  # one per method


def read_photos(folder: Path, pad: float) -> list[Photo]:
    """Every labelled photo of ``folder`` through the pipeline once."""
    config = load_config(None)
    pipeline = FacePipeline.from_config(config.inference)
    embedder = FaceEmbedder.from_manifest(Manifest(config.inference.models_dir))
    photos = []
    for path in sorted(folder.glob("*.jpg")):
        emotion = EXPRESSIONS.get(path.stem[4:5])
        if emotion is None:
            continue
        frame = cv2.imread(str(path))
        border = round(pad * max(frame.shape[:2]))
        frame = cv2.copyMakeBorder(frame, border, border, border, border, cv2.BORDER_CONSTANT, value=(128,) * 3)
        faces = pipeline.process(frame).faces
        face = faces[0] if faces else None
        photos.append(Photo(path.name, path.stem[:2], emotion, face.probabilities if face else None,
                            embedder.embed(frame, face.face) if face else None))
    return photos


def enrolment(photos: list[Photo], protocol: str) -> list[Photo]:
    """A person's enrolment photos: their first photo of each emotion with a face (b), or of neutral only (a)."""
    chosen = {}
    for photo in photos:
        if photo.probabilities is not None and photo.emotion not in chosen:
            chosen[photo.emotion] = photo
    return [chosen["neutral"]] if protocol == "a" else list(chosen.values())


def score(people: dict[str, list[Photo]], strangers: list[Photo], protocol: str,
          methods: list[Method]) -> Scores:
    """Recognition and emotion accuracy (generic, and calibrated under each method) for one half."""
    enrolled = {person: enrolment(photos, protocol) for person, photos in people.items()}
    database = PeopleDatabase(Path("unused"), "measure")
    calibrations = {}
    for person, shots in enrolled.items():
        database.add(person, [s.embedding for s in shots if s.embedding is not None])
        calibrations[person] = Calibration("measure")
        calibrations[person].add((s.emotion, s.probabilities) for s in shots if s.probabilities is not None)
    # the test photos: everything but the (b) enrolment photos, so both protocols are scored on the same ones
    used = {s.name for photos in people.values() for s in enrolment(photos, "b")}
    tests = [p for photos in people.values() for p in photos if p.name not in used]
    generic = 0
    hits = np.zeros(len(methods))
    right_person = faces = 0
    for photo in tests:
        if photo.probabilities is None or photo.embedding is None:
            continue
        faces += 1
        name = database.match(photo.embedding, MATCH_THRESHOLD).name
        right_person += name == photo.person
        generic += EMOTIONS[int(np.argmax(photo.probabilities))] == photo.emotion
        for index, method in enumerate(methods):
            probabilities = calibrations[name].apply(photo.probabilities, method) if name else photo.probabilities
            hits[index] += EMOTIONS[int(np.argmax(probabilities))] == photo.emotion
    stranger_faces = sum(p.embedding is not None for p in strangers)
    null = sum(database.match(p.embedding, MATCH_THRESHOLD).name is None for p in strangers
               if p.embedding is not None)
    return Scores(len(people), len(tests), faces, right_person / faces if faces else 0.0,
                  null / stranger_faces if stranger_faces else 0.0, generic / len(tests),
                  [float(h) / len(tests) for h in hits])


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photos", type=Path, help="folder of PPTVE##.jpg photos")
    parser.add_argument("--pad", type=float, default=0.25, help="grey border, share of the photo's size per side")
    parser.add_argument("--json", type=Path, help="write every number here")
    args = parser.parse_args()
    photos = read_photos(args.photos, args.pad)
    by_person: dict[str, list[Photo]] = {}
    for photo in photos:
        by_person.setdefault(photo.person, []).append(photo)
    incomplete = [p for p, shots in by_person.items() if {s.emotion for s in shots if s.embedding is not None}
                  != set(EXPRESSIONS.values())]
    for person in incomplete:
        log.info("performer %s left out: no photo with a face of every emotion", person)
    names = sorted(set(by_person) - set(incomplete))
    development = {p: by_person[p] for p in names[0::2]}
    held_out = {p: by_person[p] for p in names[1::2]}
    dev_strangers = [p for person in held_out for p in held_out[person]]
    held_strangers = [p for person in development for p in development[person]]
    log.info("%d photos of %d people, %d without a face; development %s, held out %s", len(photos), len(names),
             sum(p.probabilities is None for p in photos), ",".join(development), ",".join(held_out))

    methods = [Method(*values) for values in itertools.product(*GRID.values())]
    dev = {protocol: score(development, dev_strangers, protocol, methods) for protocol in "ab"}
    objective = np.mean([dev[protocol].calibrated for protocol in "ab"], axis=0)
    best = methods[int(np.argmax(objective))]
    log.info("chosen on development people: %s (mean of (a) and (b) %.3f); default %s", best,
             float(np.max(objective)), DEFAULT_METHOD)
    report: dict[str, object] = {"chosen": asdict(best), "default": asdict(DEFAULT_METHOD)}
    for half, people, strangers in (("development", development, dev_strangers),
                                    ("held_out", held_out, held_strangers)):
        for protocol in "ab":
            result = score(people, strangers, protocol, [best, DEFAULT_METHOD])
            report[f"{half}_{protocol}"] = {**asdict(result), "calibrated": result.calibrated[0],
                                            "calibrated_default": result.calibrated[1]}
            log.info("%-11s (%s): %d people, %d test photos, right person %.1f%%, strangers null %.1f%%, "
                     "emotion generic %.1f%%, calibrated %.1f%% (with the default constants %.1f%%)", half,
                     protocol, result.people, result.test_photos, 100 * result.recognised_right,
                     100 * result.strangers_null, 100 * result.generic, 100 * result.calibrated[0],
                     100 * result.calibrated[1])
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
