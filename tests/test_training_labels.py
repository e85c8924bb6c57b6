"""The training label policy (models/training/datasets.py) on a small FER+ labels file written by the test.

No TensorFlow needed: the data sets are plain numpy; only the training itself runs in the training venv.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.training import LABELS
from models.training.datasets import ferplus_train

VOTE_COLUMNS = ["votes_neutral", "votes_happy", "votes_surprise", "votes_sad", "votes_angry", "votes_disgust",
                "votes_fear", "votes_contempt", "votes_unknown", "votes_NF"]
ROWS = [  # majority, original label, votes in VOTE_COLUMNS order
    ("happy", "happy", [0, 8, 2, 0, 0, 0, 0, 0, 0, 0]),
    ("neutral", "sad", [6, 0, 0, 2, 0, 0, 0, 0, 2, 0]),
    ("angry", "disgust", [0, 0, 0, 0, 5, 3, 0, 0, 0, 0]),  # disgust votes and label count as anger
    ("unknown", "fear", [3, 0, 0, 3, 0, 0, 2, 0, 2, 0]),  # the crowd could not agree
    ("NF", "neutral", [0, 0, 0, 0, 0, 0, 0, 0, 2, 8]),  # not a face: never trained on
    ("neutral", "neutral", [2, 0, 0, 0, 0, 0, 0, 0, 8, 0]),  # too few votes left among the six
]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    (tmp_path / "fer2013" / "train").mkdir(parents=True)
    (tmp_path / "ferplus").mkdir()
    with open(tmp_path / "ferplus" / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["split", "majority_label", "fer2013_label", "fer2013_file", *VOTE_COLUMNS])
        for i, (majority, original, votes) in enumerate(ROWS):
            name = f"train/{i}.png"
            cv2.imwrite(str(tmp_path / "fer2013" / name), np.full((48, 48), i * 10, np.uint8))
            writer.writerow(["train", majority, original, name, *votes])
    return tmp_path


def target(**probabilities: float) -> list[float]:
    return [probabilities.get(label, 0.0) for label in LABELS]


def test_votes_only_keeps_clear_majorities_and_folds_disgust_into_anger(data: Path) -> None:
    split = ferplus_train(data)
    assert split.files == ["train/0.png", "train/1.png", "train/2.png"]
    np.testing.assert_allclose(split.targets, [target(happiness=0.8, surprise=0.2),
                                               target(neutral=0.75, sadness=0.25),
                                               target(anger=1.0)], atol=1e-6)
    assert [int(split.images[i, 0, 0]) for i in range(3)] == [0, 10, 20]


def test_original_weight_mixes_in_the_original_label_and_keeps_crowd_split_images(data: Path) -> None:
    split = ferplus_train(data, original_weight=0.2)
    assert split.files == ["train/0.png", "train/1.png", "train/2.png", "train/3.png"]
    np.testing.assert_allclose(split.targets, [target(happiness=0.84, surprise=0.16),
                                               target(neutral=0.6, sadness=0.4),
                                               target(anger=1.0),
                                               target(neutral=0.3, sadness=0.3, fear=0.4)], atol=1e-6)
    assert LABELS[split.labels[3]] == "fear"  # the original label breaks the crowd's tie


def test_original_weight_outside_0_to_1_is_refused(data: Path) -> None:
    with pytest.raises(ValueError, match="original_weight"):
        ferplus_train(data, original_weight=1.5)
