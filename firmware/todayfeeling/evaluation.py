"""Accuracy of the emotion stage on labelled images: data sets, metrics, confusion matrix text and plot.

A labelled set is a folder of ``<label>/<image>`` (FER-2013, FER+ or the six emotion names as folder names)
or the FER+ ``labels.csv`` (majority labels, images read in place from the FER-2013 folder). Labels outside
the six emotions (disgust, contempt, unknown, …) are skipped and counted, never folded into another class.
"""

from __future__ import annotations

import csv
import logging
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from todayfeeling.inference.pipeline import FacePipeline
from todayfeeling.media import IMAGE_SUFFIXES, MediaError, read_image
from todayfeeling.scoring import Metrics, compute_metrics
from todayfeeling.vocabulary import EMOTIONS

if TYPE_CHECKING:
    from todayfeeling.people.recognition import Recogniser

log = logging.getLogger(__name__)

# Folder and CSV label names of FER-2013 and FER+ that mean one of the six emotions.
LABEL_ALIASES = {
    "angry": "anger", "happy": "happiness", "sad": "sadness",  # FER-2013 folders
    **{emotion: emotion for emotion in EMOTIONS},  # the six names, also FER+'s majority labels
}


class DatasetError(Exception):
    """A labelled set that cannot be read (missing folder or CSV, bad columns, nothing left to evaluate)."""


def emotion_for_label(label: str) -> str | None:
    """The emotion a folder or CSV label names, or None for a label outside the six (disgust, contempt…)."""
    return LABEL_ALIASES.get(label.strip().lower())


@dataclass(frozen=True)
class Sample:
    """One labelled image."""

    path: Path
    emotion: str


@dataclass
class LabelledSet:
    """The images to evaluate, and what was left out: labels outside the six (by label) and exclusions."""

    source: str
    samples: list[Sample]
    skipped: Counter[str] = field(default_factory=Counter)
    excluded: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The data part of `todayfeeling eval --json`."""
        return {"source": self.source, "images": len(self.samples), "skipped": dict(sorted(self.skipped.items())),
                "excluded": self.excluded}


def folder_images(root: Path) -> list[tuple[Path, str]]:
    """(image, label) for every image in ``root/<label>/`` (searched recursively), in name order."""
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder of <label>/ folders")
    pairs = [(path, label_dir.name)
             for label_dir in sorted(p for p in root.iterdir() if p.is_dir())
             for path in sorted(label_dir.rglob("*")) if path.suffix.lower() in IMAGE_SUFFIXES]
    if not pairs:
        raise DatasetError(f"{root}: no images in <label>/ folders")
    return pairs


def csv_images(labels_csv: Path, images_root: Path, split: str = "valid") -> list[tuple[Path, str]]:
    """(image, majority label) for the rows of one split of a FER+ style ``labels.csv``.

    Columns used: ``split``, ``fer2013_file`` (the image's path under ``images_root``) and ``majority_label``.
    """
    try:
        with labels_csv.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as err:
        raise DatasetError(f"{labels_csv}: {err.strerror or err}") from None
    needed = {"split", "fer2013_file", "majority_label"}
    if not rows or not needed <= set(rows[0]):
        raise DatasetError(f"{labels_csv}: needs the columns {', '.join(sorted(needed))}")
    pairs = [(images_root / row["fer2013_file"], row["majority_label"]) for row in rows if row["split"] == split]
    if not pairs:
        splits = sorted({row["split"] for row in rows})
        raise DatasetError(f"{labels_csv}: no rows of split {split!r} (it has {', '.join(splits)})")
    return pairs


def read_exclusions(list_file: Path) -> list[tuple[str, ...]]:
    """The relative paths listed one per line (blank lines and ``#`` comments ignored), as path parts."""
    try:
        lines = list_file.read_text().splitlines()
    except OSError as err:
        raise DatasetError(f"{list_file}: {err.strerror or err}") from None
    return [Path(line.strip()).parts for line in lines if line.strip() and not line.lstrip().startswith("#")]


def labelled_set(source: str, pairs: Iterable[tuple[Path, str]],
                 exclusions: Sequence[tuple[str, ...]] = ()) -> LabelledSet:
    """The images whose label is one of the six and whose path does not end with an excluded path.

    An exclusion such as ``publictest/angry/fer0028925.png`` drops the image whose path ends with those
    parts, wherever the set's folder is.
    """
    excluded_paths = set(exclusions)
    lengths = sorted({len(parts) for parts in excluded_paths})
    result = LabelledSet(source, [])
    for path, label in pairs:
        if any(path.parts[-length:] in excluded_paths for length in lengths):
            result.excluded += 1
            continue
        emotion = emotion_for_label(label)
        if emotion is None:
            result.skipped[label] += 1
            continue
        result.samples.append(Sample(path, emotion))
    if not result.samples:
        raise DatasetError(f"{source}: no images labelled with one of {', '.join(EMOTIONS)}")
    return result


@dataclass
class ModelEvaluation:
    """One emotion model's results on a labelled set."""

    model: str
    backend: str
    metrics: Metrics
    face_ms: list[float]  # classification per face found
    image_ms: list[float]  # everything the pipeline did per image
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    people: PeopleScores | None = None  # with a people database: recognition and the calibrated metrics

    def as_dict(self) -> dict[str, Any]:
        """One model's entry of `todayfeeling eval --json`."""
        found = int(self.metrics.confusion.sum())
        return {
            "model": self.model, "backend": self.backend, "images": self.metrics.total, "faces_found": found,
            "no_face": int(self.metrics.missed.sum()), "unreadable": len(self.unreadable),
            **self.metrics.as_dict(),
            "ms": {"per_face": _median(self.face_ms), "per_image": _median(self.image_ms)},
            **({"people": self.people.as_dict()} if self.people else {}),
        }


@dataclass(frozen=True)
class PeopleScores:
    """With recognition on: how many scored faces were an enrolled person, and the metrics when each of them
    is read with their personal calibration (guests and the uncalibrated keep the generic reading)."""

    recognised: int
    calibrated: Metrics

    def as_dict(self) -> dict[str, Any]:
        """The ``people`` part of a model's entry of `todayfeeling eval --json`."""
        return {"recognised": self.recognised, "calibrated": self.calibrated.as_dict()}


def with_context(image: np.ndarray, enlarge: int = 3, border: float = 0.5) -> np.ndarray:
    """A tight face crop enlarged and framed in mid-grey, so the detector sees a face with room around it.

    FER-2013's 48x48 crops end at the face's edges, where the detector finds almost nothing; enlarged 3x
    with half a face of grey on every side (as ``scripts/measure_fer_framing.py`` does) it finds most.
    """
    height, width = image.shape[:2]
    enlarged = cv2.resize(image, (width * enlarge, height * enlarge), interpolation=cv2.INTER_CUBIC)
    pad = round(border * max(height, width) * enlarge)
    return cv2.copyMakeBorder(enlarged, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(128, 128, 128))


def evaluate(pipeline: FacePipeline, samples: Sequence[Sample], crop: bool = False,
             context: bool = False, recogniser: Recogniser | None = None) -> ModelEvaluation:
    """Run every image through the pipeline (or the classifier alone with ``crop``) and score the largest face.

    ``context`` frames each image with :func:`with_context` first (not meant for ``crop``). An unreadable image
    is reported and left out of the metrics. With a ``recogniser`` (not with ``crop``) the largest face is also
    recognised, and scored a second time with that person's calibration (``people``).
    """
    model = pipeline.classifier.spec.name
    truth: list[str] = []
    predicted: list[str | None] = []
    face_ms: list[float] = []
    image_ms: list[float] = []
    unreadable: list[tuple[Path, str]] = []
    personal: list[str | None] = []
    recognised = 0
    for number, sample in enumerate(samples, 1):
        try:
            image = read_image(sample.path)
        except MediaError as err:
            unreadable.append((sample.path, str(err)))
            continue
        if context:
            image = with_context(image)
        result = pipeline.classify_crop(image) if crop else pipeline.process(image)
        truth.append(sample.emotion)
        predicted.append(result.faces[0].emotion if result.faces else None)
        if recogniser is not None:
            face = result.faces[0] if result.faces else None
            person = recogniser.identify(image, face.face).name if face else None
            recognised += person is not None
            personal.append(recogniser.personal(face, person, pipeline.classifier.spec).emotion if face else None)
        image_ms.append(sum(result.ms.values()))
        if result.faces:
            face_ms.append(result.ms["classify"] / len(result.faces))
        if number % 1000 == 0:
            log.info("%s: %d of %d images", model, number, len(samples))
    people = PeopleScores(recognised, compute_metrics(truth, personal)) if recogniser is not None else None
    return ModelEvaluation(model, pipeline.backend.actual,
                           compute_metrics(truth, predicted), face_ms, image_ms, unreadable, people)


def _median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


# -- presentation ------------------------------------------------------------------------------------------

def format_confusion(metrics: Metrics) -> str:
    """The confusion matrix as a text table (rows: truth, columns: prediction, then "no face" if any)."""
    columns = [*EMOTIONS, *(["no face"] if metrics.missed.any() else [])]
    rows = [[e, *map(str, metrics.confusion[i]), *([str(metrics.missed[i])] if metrics.missed.any() else [])]
            for i, e in enumerate(EMOTIONS)]
    header = ["truth \\ predicted", *columns]
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) if c == 0 else cell.rjust(w)
                               for c, (cell, w) in enumerate(zip(row, widths, strict=True)))
                     for row in [header, *rows])


def format_evaluation(result: ModelEvaluation) -> str:
    """A readable report of one model: scores, per-emotion recall, confusion matrix and timing."""
    metrics, found = result.metrics, int(result.metrics.confusion.sum())
    per_face, per_image = _median(result.face_ms), _median(result.image_ms)
    lines = [
        f"model {result.model} ({result.backend}): {metrics.total} images, {found} with a face, "
        f"{int(metrics.missed.sum())} without",
        f"  accuracy {metrics.accuracy:.2%}   macro recall {metrics.macro_recall:.2%}",
        "  recall   " + "  ".join(f"{e} {'-' if r is None else f'{r:.1%}'}" for e, r in metrics.recall.items()),
        f"  ms       per face {per_face} (classifier), per image {per_image} (median)",
        "",
        *("  " + line for line in format_confusion(metrics).splitlines()),
    ]
    if result.people is not None:
        calibrated = result.people.calibrated
        lines += ["", f"  people: {result.people.recognised} of {found} faces recognised as an enrolled person",
                  f"  {'':10}{'generic':>10}{'calibrated':>12}",
                  f"  {'accuracy':10}{metrics.accuracy:10.2%}{calibrated.accuracy:12.2%}",
                  f"  {'macro rec.':10}{metrics.macro_recall:10.2%}{calibrated.macro_recall:12.2%}",
                  *(f"  {e:10}{_share(metrics.recall[e]):>10}{_share(calibrated.recall[e]):>12}" for e in EMOTIONS),
                  "", *("  " + line for line in format_confusion(calibrated).splitlines())]
    if result.unreadable:
        lines.append(f"  {len(result.unreadable)} unreadable images left out")
    return "\n".join(lines)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


_CELL = 64
_MARGIN_LEFT, _MARGIN_TOP, _MARGIN_BOTTOM = 110, 70, 30
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def plot_confusion(panels: Sequence[tuple[str, Metrics]], path: Path) -> None:
    """Write a PNG with one confusion matrix per (title, metrics), side by side.

    Cells are shaded by the share of their row (the true emotion) and show the image count; a last column
    shows images where no face was found, when there are any.
    """
    images = [_confusion_panel(title, metrics) for title, metrics in panels]
    height = max(image.shape[0] for image in images)
    padded = [cv2.copyMakeBorder(image, 0, height - image.shape[0], 0, 0, cv2.BORDER_CONSTANT, value=(255,) * 3)
              for image in images]
    if not cv2.imwrite(str(path), np.hstack(padded)):
        raise OSError(f"cannot write {path}")


def _confusion_panel(title: str, metrics: Metrics) -> np.ndarray:
    columns = [*EMOTIONS, *(["no face"] if metrics.missed.any() else [])]
    counts = np.hstack([metrics.confusion, metrics.missed[:, None]])[:, :len(columns)]
    shares = counts / np.maximum(metrics.support, 1)[:, None]
    width = _MARGIN_LEFT + _CELL * len(columns) + 20
    height = _MARGIN_TOP + _CELL * len(EMOTIONS) + _MARGIN_BOTTOM
    panel = np.full((height, width, 3), 255, np.uint8)
    cv2.putText(panel, title, (10, 22), _FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    subtitle = f"accuracy {metrics.accuracy:.1%}  macro recall {metrics.macro_recall:.1%}  n={metrics.total}"
    cv2.putText(panel, subtitle, (10, 42), _FONT, 0.42, (60, 60, 60), 1, cv2.LINE_AA)
    for c, name in enumerate(columns):
        x = _MARGIN_LEFT + c * _CELL + 3
        cv2.putText(panel, name[:9], (x, _MARGIN_TOP - 8), _FONT, 0.36, (0, 0, 0), 1, cv2.LINE_AA)
    for r, name in enumerate(EMOTIONS):
        y = _MARGIN_TOP + r * _CELL
        cv2.putText(panel, name, (8, y + _CELL // 2 + 4), _FONT, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        for c in range(len(columns)):
            x = _MARGIN_LEFT + c * _CELL
            shade = int(255 - 200 * shares[r, c])
            colour = (255, shade, shade) if c < len(EMOTIONS) else (shade, shade, 255)  # blue, red for misses
            cv2.rectangle(panel, (x, y), (x + _CELL - 1, y + _CELL - 1), colour, -1)
            cv2.rectangle(panel, (x, y), (x + _CELL - 1, y + _CELL - 1), (200, 200, 200), 1)
            ink = (255, 255, 255) if shares[r, c] > 0.6 else (0, 0, 0)
            cv2.putText(panel, str(counts[r, c]), (x + 6, y + _CELL // 2 + 5), _FONT, 0.45, ink, 1, cv2.LINE_AA)
    cv2.putText(panel, "rows: truth, columns: predicted, shade: share of the row", (10, height - 10), _FONT,
                0.36, (90, 90, 90), 1, cv2.LINE_AA)
    return panel
