"""Personal calibration on the real models and real photos: a person the generic model consistently misreads is
read right once calibrated, few shots move less than many, guests keep the generic reading; the database
keeps calibrations (and still reads files from before them); `people add`, `detect --json` and
`eval --people-db` as a user runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from todayfeeling.cli import main
from todayfeeling.people.calibration import Calibration
from todayfeeling.people.database import PeopleDatabase, PeopleError
from todayfeeling.vocabulary import EMOTIONS

MODEL = "face_embedding:test"


@pytest.fixture(scope="module")
def examples(face_smoke: Path) -> Path:
    return face_smoke / "face_recognition_examples"


@pytest.fixture
def enrolled(tmp_path: Path, examples: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A people database with Obama, whose photos here the generic model reads as happiness (about 95 %): in
    this test that broad smile is his resting face, so he gives one photo of it as his neutral baseline."""
    folder = tmp_path / "obama"
    (folder / "neutral").mkdir(parents=True)
    shutil.copy(examples / "obama.jpg", folder / "neutral" / "resting.jpg")
    db = tmp_path / "people.json"
    assert main(["people", "add", "Obama", "--from", str(folder), "--people-db", str(db)]) == 0
    assert "calibrated from 1 labelled shot in" in capsys.readouterr().out
    return db


def _probabilities(top: str, share: float) -> np.ndarray:
    rest = (1.0 - share) / (len(EMOTIONS) - 1)
    return np.array([share if e == top else rest for e in EMOTIONS], np.float32)


def test_without_shots_the_generic_reading_is_kept() -> None:
    generic = np.array([0.1, 0.05, 0.5, 0.05, 0.1, 0.2], np.float32)
    assert np.array_equal(Calibration("emotion:x").apply(generic), generic)


def test_few_shots_move_the_reading_less_than_many() -> None:
    """A person whose anger reads as neutral (70 %) with some anger (20 %): one anger shot already tips such a
    face towards anger a little, three shots more; a face that reads clearly happy stays happy."""
    angry_face = np.array([0.2, 0.02, 0.02, 0.03, 0.03, 0.7], np.float32)
    generic_anger = float(angry_face[EMOTIONS.index("anger")])
    shares = []
    for shots in (1, 3):
        calibration = Calibration("emotion:x")
        calibration.add([("anger", angry_face)] * shots)
        calibrated = calibration.apply(angry_face)
        assert calibrated.sum() == pytest.approx(1.0, abs=1e-5)
        shares.append(float(calibrated[EMOTIONS.index("anger")]))
        assert EMOTIONS[int(np.argmax(calibration.apply(_probabilities("happiness", 0.9))))] == "happiness"
    assert generic_anger < shares[0] < shares[1]
    assert EMOTIONS[int(np.argmax(calibrated))] == "anger"


def test_calibration_is_stored_with_its_emotion_model_and_old_files_still_load(tmp_path: Path) -> None:
    path = tmp_path / "people.json"
    path.write_text(json.dumps({"schema": 1, "model": MODEL,
                                "people": [{"name": "Mina", "templates": [[1.0, 0.0]]}]}))
    database = PeopleDatabase.load(path, MODEL)  # written before calibration existed
    mina = database.get("mina")
    assert mina is not None and mina.calibration is None
    mina.calibrate([("neutral", _probabilities("sadness", 0.6))], "emotion:a")
    database.save()
    again = PeopleDatabase.load(path, MODEL)
    stored = again.calibration("Mina", "emotion:a")
    assert json.loads(path.read_text())["schema"] == 2
    assert stored is not None and stored.counts[EMOTIONS.index("neutral")] == 1
    face = _probabilities("sadness", 0.6)
    assert np.allclose(stored.apply(face), mina.calibration.apply(face) if mina.calibration else face, atol=1e-4)
    assert again.calibration("Mina", "emotion:b") is None  # made by another emotion model: not used
    assert again.calibration("Jo", "emotion:a") is None
    again_mina = again.get("Mina")
    assert again_mina is not None
    assert again_mina.calibrate([("anger", face)], "emotion:a").shots == 2  # more shots add to it
    assert again_mina.calibrate([("anger", face)], "emotion:b").shots == 1  # another model's is replaced


@pytest.mark.parametrize(("calibration", "reason"), [
    ('"x"', "expected an object with 'emotion_model' and 'shots'"),
    ('{"emotion_model": "e", "shots": {"joy": {"count": 1, "mean": [0,0,0,0,0,0]}}}', "'joy' is not one of"),
    ('{"emotion_model": "e", "shots": {"anger": {"count": 0, "mean": [0,0,0,0,0,0]}}}', "a 'count' from 1 to"),
    ('{"emotion_model": "e", "shots": {"anger": {"count": 1' + "0" * 30 + ', "mean": [0,0,0,0,0,0]}}}',
     "a 'count' from 1 to 1000000"),
    ('{"emotion_model": "e", "shots": {"anger": {"count": 1, "mean": [0]}}}', "a 'mean' of 6 numbers from -6.24"),
    ('{"emotion_model": "e", "shots": {"anger": {"count": 1, "mean": [1' + "0" * 400 + ',0,0,0,0,0]}}}',
     "a 'mean' of 6 numbers from -6.24 to 6.24"),
    # finite, but no mean of centred log-probabilities: it overflowed the distances and read a smile as anger
    ('{"emotion_model": "e", "shots": {"anger": {"count": 1, "mean": [1e200,0,0,0,0,-1e200]}}}',
     "a 'mean' of 6 numbers from -6.24 to 6.24"),
])
def test_a_bad_calibration_is_refused_naming_the_entry(tmp_path: Path, calibration: str, reason: str) -> None:
    path = tmp_path / "people.json"
    path.write_text(f'{{"schema": 2, "model": "{MODEL}", "people": [{{"name": "Mina", "templates": [[1.0]], '
                    f'"calibration": {calibration}}}]}}')
    with pytest.raises(PeopleError, match=rf"people\[0\]\.calibration: .*{reason}"):
        PeopleDatabase.load(path, MODEL)


def test_detect_gives_an_enrolled_person_the_calibrated_emotion_and_a_guest_the_generic_one(
        enrolled: Path, examples: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos = [str(examples / "obama-1080p.jpg"), str(examples / "biden.jpg")]
    assert main(["detect", "--json", *photos]) == 0
    generic = [json.loads(line)["faces"][0] for line in capsys.readouterr().out.splitlines()]
    assert main(["detect", "--json", *photos, "--people-db", str(enrolled)]) == 0
    obama, biden = [json.loads(line)["faces"][0] for line in capsys.readouterr().out.splitlines()]
    assert generic[0]["emotion"] == "happiness"  # the generic model misreads his resting face
    assert obama["person"] == "Obama" and obama["emotion"] == "neutral"
    assert sum(obama["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
    assert obama["box"] == generic[0]["box"]
    assert biden["person"] is None and biden == {**generic[1], "person": None}


def test_eval_with_a_people_db_scores_generic_and_calibrated_side_by_side(
        enrolled: Path, examples: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    labelled = tmp_path / "labelled" / "neutral"
    labelled.mkdir(parents=True)
    for name in ("obama-1080p.jpg", "obama-240p.jpg", "biden.jpg"):  # Obama's other photos; Biden a guest
        shutil.copy(examples / name, labelled / name)
    assert main(["eval", "--json", str(labelled.parent), "--people-db", str(enrolled)]) == 0
    model = json.loads(capsys.readouterr().out)["models"][0]
    assert model["accuracy"] == pytest.approx(1 / 3, abs=1e-3)
    assert model["people"]["recognised"] == 2
    assert model["people"]["calibrated"]["accuracy"] == 1.0
    assert main(["eval", str(labelled.parent), "--people-db", str(enrolled)]) == 0
    text = capsys.readouterr().out
    assert "people: 2 of 3 faces recognised as an enrolled person" in text
    assert "accuracy      33.33%     100.00%" in text
    assert main(["eval", "--crop", str(labelled.parent), "--people-db", str(enrolled)]) == 2
    assert "recognition needs whole photos" in capsys.readouterr().err
