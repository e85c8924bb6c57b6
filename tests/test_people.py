"""The people database, enrolment and recognition, on the real models and real photos; `people` and
`detect --people-db` as a user runs them."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import stat
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from todayfeeling.cli import main
from todayfeeling.history import MoodHistory
from todayfeeling.inference.faces import FaceDetector
from todayfeeling.inference.manifest import Manifest
from todayfeeling.inference.runtime import TFLiteModel
from todayfeeling.people.calibration import Calibration
from todayfeeling.people.database import MAX_NAME_LENGTH, PeopleDatabase, PeopleError, check_name
from todayfeeling.people.embedding import MATCH_THRESHOLD, FaceEmbedder
from todayfeeling.people.recognition import Recogniser

MODEL = "face_embedding:test"


@pytest.fixture(scope="module")
def examples(face_smoke: Path) -> Path:
    return face_smoke / "face_recognition_examples"


@pytest.fixture
def obama_folder(tmp_path: Path, examples: Path) -> Path:
    """Photos of one person the way a user gives them: loose photos, an emotion folder, and some mistakes."""
    folder = tmp_path / "obama"
    (folder / "neutral").mkdir(parents=True)
    (folder / "holiday").mkdir()
    shutil.copy(examples / "obama.jpg", folder / "a.jpg")
    shutil.copy(examples / "obama-240p.jpg", folder / "b.jpg")
    shutil.copy(examples / "obama-1080p.jpg", folder / "neutral" / "c.jpg")
    shutil.copy(examples / "obama_and_biden.jpg", folder / "group.jpg")
    (folder / "broken.jpg").write_bytes(b"not a picture")
    return folder


def _templates(n: int, seed: int = 0, size: int = 128) -> list[np.ndarray]:
    vectors = np.random.default_rng(seed).normal(size=(n, size)).astype(np.float32)
    return list(vectors / np.linalg.norm(vectors, axis=1, keepdims=True))


def _write_database(path: Path, model: str, people: dict[str, list[np.ndarray]]) -> None:
    """A people database file as the embedding model ``model`` would have made it."""
    database = PeopleDatabase(path, model)
    for name, templates in people.items():
        database.add(name, templates)
    database.save()


@pytest.fixture(scope="module")
def embedding_model(models_dir: Path) -> str:
    """The id of the embedding model in use, as a people database records it."""
    return FaceEmbedder.from_manifest(Manifest(models_dir), threads=1).model_id


def test_names_are_checked_with_the_reason() -> None:
    assert check_name("  Mina ") == "Mina"
    assert check_name("Jose\u0301") == "Jos\u00e9"  # decomposed (as some keyboards type it): composed
    for bad, reason in [("", "empty"), ("   ", "empty"), ("a/b", "path"), ("..", "path"), ("a\\b", "path"),
                        ("x" * (MAX_NAME_LENGTH + 1), "too long"), ("Mi\nna", "control")]:
        with pytest.raises(PeopleError, match=reason):
            check_name(bad)


def test_database_round_trip_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "state" / "people.json"
    database = PeopleDatabase.load(path, MODEL)
    assert database.people == []
    database.add("Mina", _templates(2))
    database.add("mina", _templates(1, seed=1))  # the same person in another case: more shots
    database.add("Jo", _templates(1, seed=2))
    database.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = PeopleDatabase.load(path, MODEL)
    assert [(p.name, len(p.templates)) for p in again.people] == [("Jo", 1), ("Mina", 3)]
    mina = again.get("MINA")
    assert mina is not None and np.allclose(mina.templates[0], _templates(2)[0], atol=1e-6)
    assert "templates" in json.loads(path.read_text())["people"][0]  # names and templates, nothing else


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user (CI runs as root)")
def test_a_save_run_as_root_keeps_the_service_users_ownership(tmp_path: Path) -> None:
    """``sudo todayfeeling people …`` on the device: a database that became root's would lock the service's
    user out (the appliance would not start again). A new file takes its folder's owner."""
    service_user = 4242
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    os.chown(state, service_user, service_user)
    path = state / "people.json"
    database = PeopleDatabase.load(path, MODEL)
    database.add("Mina", _templates(1))
    database.save()
    assert (path.stat().st_uid, path.stat().st_gid) == (service_user, service_user)
    os.chown(path, service_user + 1, service_user + 1)  # an existing file keeps its own owner
    database.add("Jo", _templates(1, seed=2))
    database.save()
    assert (path.stat().st_uid, path.stat().st_gid, stat.S_IMODE(path.stat().st_mode)) == (
        service_user + 1, service_user + 1, 0o600)


def test_a_failed_write_leaves_the_old_database_and_no_temporary_file(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "people.json"
    database = PeopleDatabase.load(path, MODEL)
    database.add("Mina", _templates(1))
    database.save()
    before = path.read_bytes()
    database.add("Jo", _templates(1, seed=1))

    def disk_full(_descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(PeopleError, match=f"{path}: cannot write the people database: No space left"):
        database.save()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["people.json"]


@pytest.mark.parametrize(("content", "reason"), [
    ("{not json", "not a people database \\(bad JSON"),
    ('{"hello": 1}', "no 'model' and 'people' keys"),
    ('{"schema": 1, "model": "other:123", "people": []}', "made by embedding model 'other:123'"),
    ('{"schema": 7, "model": "face_embedding:test", "people": []}', "schema 7"),
    ('{"schema": 1, "model": "face_embedding:test", "people": [{"name": "a/b", "templates": [[0.1]]}]}',
     "people\\[0\\]: name 'a/b': a name cannot be a path"),
    ('{"schema": 1, "model": "face_embedding:test", "people": [{"name": "Mina", "templates": "x"}]}',
     "people\\[0\\].templates: expected"),
    ('{"schema": 2, "model": "face_embedding:test", "people": [{"name": "Mina", "templates": [[1' + "0" * 400
     + ']]}]}', "people\\[0\\].templates: expected a list of equal-length number lists"),
])
def test_corrupt_or_foreign_databases_are_refused_naming_the_file(tmp_path: Path, content: str,
                                                                  reason: str) -> None:
    path = tmp_path / "people.json"
    path.write_text(content)
    with pytest.raises(PeopleError, match=f"{path}: .*{reason}"):
        PeopleDatabase.load(path, MODEL)


def test_damaged_templates_are_refused_naming_the_person_and_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "people.json"
    good = [[round(float(v), 6) for v in t] for t in _templates(2)]

    def refused(templates: list[list[float]], size: int | None) -> str:
        path.write_text(json.dumps({"schema": 2, "model": MODEL, "people": [
            {"name": "Mina", "templates": good}, {"name": "Jo", "templates": templates}]}))
        with pytest.raises(PeopleError) as err:
            PeopleDatabase.load(path, MODEL, size)
        return str(err.value)

    assert refused([good[0][:3]], 128) == (f"{path}: people[1].templates: 3 numbers each, but the embedding "
                                           "model's templates have 128")
    assert refused([good[0][:64]], None).endswith("people[1].templates: 64 numbers each, but the embedding "
                                                  "model's templates have 128")
    assert refused([good[1], [2 * v for v in good[0]]], 128) == (f"{path}: people[1].templates[1]: not of unit "
                                                                 "length (2.0000): damaged")
    assert [p.name for p in PeopleDatabase.load(path.with_name("none.json"), MODEL, 128).people] == []


def test_remove_and_rename(tmp_path: Path) -> None:
    database = PeopleDatabase(tmp_path / "people.json", MODEL)
    database.add("Mina", _templates(1))
    database.add("Jo", _templates(1, seed=1))
    with pytest.raises(PeopleError, match="'Jo' is already enrolled"):
        database.rename("Mina", "jo")
    assert database.rename("mina", "Mina Lee").name == "Mina Lee"
    assert database.remove("JO").name == "Jo"
    with pytest.raises(PeopleError, match="nobody called 'Jo' is enrolled \\(Mina Lee\\)"):
        database.remove("Jo")
    assert [p.name for p in database.people] == ["Mina Lee"]


def test_a_name_typed_composed_or_decomposed_is_one_person(tmp_path: Path) -> None:
    database = PeopleDatabase(tmp_path / "people.json", MODEL)
    database.add("Jos\u00e9", _templates(1))
    database.add("Jose\u0301", _templates(1, seed=1))  # "José" with a combining accent
    assert [(p.name, len(p.templates)) for p in database.people] == [("Jos\u00e9", 2)]
    assert database.get("JOSE\u0301") is not None
    database.add("Mina", _templates(1, seed=2))
    with pytest.raises(PeopleError, match="'Jos\u00e9' is already enrolled"):
        database.rename("Mina", "jose\u0301")
    database.save()
    assert [p.name for p in PeopleDatabase.load(database.path, MODEL).people] == ["Jos\u00e9", "Mina"]


def test_a_file_holding_one_name_typed_two_ways_is_read_as_one_person(tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "people.json"
    first, second = Calibration("emotion:a"), Calibration("emotion:a")
    first.add([("neutral", np.full(6, 1 / 6))])
    second.add([("neutral", np.array([0.5, 0.1, 0.1, 0.1, 0.1, 0.1])), ("anger", np.full(6, 1 / 6))])
    both = Calibration("emotion:a")
    both.add([("neutral", np.full(6, 1 / 6)), ("neutral", np.array([0.5, 0.1, 0.1, 0.1, 0.1, 0.1])),
              ("anger", np.full(6, 1 / 6))])
    entries = [("Jose\u0301", _templates(1), first), ("Jos\u00e9", _templates(2, seed=1), second)]
    path.write_text(json.dumps({"schema": 2, "model": MODEL, "people": [  # as written before names were composed
        {"name": name, "templates": [t.tolist() for t in templates], "calibration": calibration.as_json()}
        for name, templates, calibration in entries]}))
    with caplog.at_level(logging.WARNING):
        [jose] = PeopleDatabase.load(path, MODEL).people
    assert f"{path}: people[1]: 'Jos\u00e9' is enrolled twice (the name typed in two ways)" in caplog.text
    assert jose.name == "Jos\u00e9" and len(jose.templates) == 3 and jose.calibration is not None
    assert np.array_equal(jose.calibration.counts, both.counts)
    assert np.allclose(jose.calibration.means, both.means)


def test_two_names_of_one_mqtt_key_cannot_both_be_enrolled(tmp_path: Path) -> None:
    database = PeopleDatabase(tmp_path / "people.json", MODEL)
    database.add("Anne-Marie", _templates(1))
    database.add("Zo\u00eb", _templates(1, seed=1))
    with pytest.raises(PeopleError, match="'Anne Marie' would share its MQTT topic and Home Assistant sensor "
                                          "\\('anne_marie'\\) with 'Anne-Marie', who is already enrolled"):
        database.add("Anne Marie", _templates(1, seed=2))
    with pytest.raises(PeopleError, match="'Zo' would share .* with 'Zo\u00eb'"):
        database.rename("Anne-Marie", "Zo")
    assert database.rename("Anne-Marie", "Anne Marie").name == "Anne Marie"  # their own key: fine
    database.add("anne marie", _templates(1, seed=3))  # more shots of an enrolled person: fine
    assert [(p.name, len(p.templates)) for p in database.people] == [("Anne Marie", 2), ("Zo\u00eb", 1)]


def test_the_same_person_is_recognised_in_other_photos_and_a_stranger_is_a_guest(
        tmp_path: Path, examples: Path, models_dir: Path) -> None:
    manifest = Manifest(models_dir)
    embedder = FaceEmbedder.from_manifest(manifest, threads=1)
    spec = manifest.spec("face_full_range", "face_detector")
    detector = FaceDetector(spec, TFLiteModel(spec.path, threads=1))

    def embedding(name: str) -> np.ndarray:
        frame = cv2.imread(str(examples / name))
        return embedder.embed(frame, detector.detect(frame)[0])

    database = PeopleDatabase(tmp_path / "people.json", embedder.model_id)
    database.add("Obama", [embedding("obama.jpg"), embedding("obama-240p.jpg")])
    recogniser = Recogniser(embedder, database)
    frame = cv2.imread(str(examples / "obama-1080p.jpg"))
    match = recogniser.identify(frame, detector.detect(frame)[0])
    assert match.name == "Obama" and match.similarity >= MATCH_THRESHOLD
    frame = cv2.imread(str(examples / "biden.jpg"))
    assert recogniser.identify(frame, detector.detect(frame)[0]).name is None


def test_people_commands_enrol_list_recognise_rename_and_remove(
        tmp_path: Path, obama_folder: Path, examples: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "state" / "people.json"
    assert main(["people", "add", "Obama", "--from", str(obama_folder), "--people-db", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"skipped {obama_folder / 'group.jpg'}: 2 faces: an enrolment photo must show this person alone" in out
    assert f"skipped {obama_folder / 'broken.jpg'}: not a readable image" in out
    assert f"skipped {obama_folder / 'holiday'}: not an emotion folder name" in out
    assert "enrolled Obama: 3 photos (2 unlabelled, 1 neutral); 3 templates" in out
    assert stat.S_IMODE(db.stat().st_mode) == 0o600

    assert main(["people", "list", "--json", "--people-db", str(db)]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["name"] == "Obama" and listed["templates"] == 3
    assert listed["calibration"]["shots"] == 1 and listed["calibration"]["in_use"] is True
    assert listed["calibration"]["emotion_model"].startswith("emotion:")

    assert main(["detect", "--json", str(examples / "two_people.jpg"), "--people-db", str(db)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert sorted(f["person"] or "" for f in record["faces"]) == ["", "Obama"]
    assert "recognise" in record["ms"]

    assert main(["people", "rename", "obama", "Barack", "--people-db", str(db)]) == 0
    assert "renamed Obama to Barack" in capsys.readouterr().out
    assert main(["people", "remove", "barack", "--people-db", str(db)]) == 0
    assert main(["people", "list", "--people-db", str(db)]) == 0
    assert "nobody is enrolled" in capsys.readouterr().out


def test_a_calibration_of_another_emotion_model_is_listed_as_not_in_use_and_not_applied(
        tmp_path: Path, obama_folder: Path, models_dir: Path, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "people.json"
    assert main(["people", "add", "Obama", "--from", str(obama_folder), "--people-db", str(db)]) == 0
    data = json.loads(db.read_text())  # as if the emotion model had been updated since the enrolment
    data["people"][0]["calibration"]["emotion_model"] = "emotion:0123"
    db.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["people", "list", "--people-db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "Obama: 3 templates, calibrated from 1 labelled shot for emotion model emotion:0123, not the " \
           "one in use (emotion:" in out
    assert "not used; enrol Obama again with labelled shots to calibrate" in out
    assert main(["people", "list", "--json", "--people-db", str(db)]) == 0
    assert json.loads(capsys.readouterr().out)[0]["calibration"] == {
        "shots": 1, "emotion_model": "emotion:0123", "in_use": False}

    database = PeopleDatabase.load(db, FaceEmbedder.from_manifest(Manifest(models_dir)).model_id)
    with caplog.at_level(logging.WARNING):
        assert database.calibration("obama", "emotion:4567") is None
        assert database.calibration("obama", "emotion:4567") is None
    told = [r.getMessage() for r in caplog.records if "calibration made for emotion model" in r.getMessage()]
    assert len(told) == 1 and told[0].startswith("Obama: calibration made for emotion model emotion:0123")
    assert database.calibration("Obama", "emotion:0123") is not None


def test_a_folder_without_a_usable_face_fails_and_leaves_the_database_alone(
        tmp_path: Path, obama_folder: Path, examples: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "people.json"
    assert main(["people", "add", "Obama", "--from", str(obama_folder), "--people-db", str(db)]) == 0
    before = db.read_bytes()
    crowd = tmp_path / "crowd"
    crowd.mkdir()
    shutil.copy(examples / "obama_and_biden.jpg", crowd / "both.jpg")
    cv2.imwrite(str(crowd / "wall.png"), np.full((200, 200, 3), 90, np.uint8))
    capsys.readouterr()
    assert main(["people", "add", "Biden", "--from", str(crowd), "--people-db", str(db)]) == 1
    captured = capsys.readouterr()
    assert f"skipped {crowd / 'wall.png'}: no face found" in captured.out
    assert f"{crowd}: no face could be enrolled" in captured.err
    assert db.read_bytes() == before
    assert main(["people", "add", "../Biden", "--from", str(crowd), "--people-db", str(db)]) == 1
    assert "a name cannot be a path" in capsys.readouterr().err
    assert main(["people", "add", "Biden", "--from", str(tmp_path / "missing"), "--people-db", str(db)]) == 1
    assert "missing: not a folder of photos" in capsys.readouterr().err


def test_detect_refuses_a_corrupt_people_database_naming_it(tmp_path: Path, examples: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "people.json"
    db.write_text('{"schema": 1, "model": "some_other_model:abc", "people": []}')
    assert main(["detect", str(examples / "biden.jpg"), "--people-db", str(db)]) == 2
    assert f"{db}: its templates were made by embedding model 'some_other_model:abc'" in capsys.readouterr().err


def test_a_damaged_template_stops_detect_and_people_with_the_reason(
        tmp_path: Path, obama_folder: Path, examples: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "people.json"
    assert main(["people", "add", "Obama", "--from", str(obama_folder), "--people-db", str(db)]) == 0
    data = json.loads(db.read_text())
    data["people"][0]["templates"] = [t[:100] for t in data["people"][0]["templates"]]  # a damaged file
    db.write_text(json.dumps(data))
    capsys.readouterr()
    reason = f"{db}: people[0].templates: 100 numbers each, but the embedding model's templates have 128"
    assert main(["detect", str(examples / "obama.jpg"), "--people-db", str(db)]) == 2
    assert reason in capsys.readouterr().err
    assert main(["people", "list", "--people-db", str(db)]) == 1
    assert reason in capsys.readouterr().err


def test_the_config_names_the_database_and_can_turn_recognition_off(
        tmp_path: Path, obama_folder: Path, examples: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "people.json"
    config = tmp_path / "config.toml"
    config.write_text(f'[people]\ndb = "{db}"\n')
    assert main(["people", "add", "Obama", "--from", str(obama_folder), "--config", str(config)]) == 0
    assert db.is_file()
    capsys.readouterr()
    assert main(["detect", "--json", str(examples / "obama.jpg"), "--config", str(config)]) == 0
    assert [f["person"] for f in json.loads(capsys.readouterr().out)["faces"]] == ["Obama"]
    config.write_text(f'[people]\nenabled = false\ndb = "{db}"\n')
    assert main(["detect", "--json", str(examples / "obama.jpg"), "--config", str(config), "--people-db",
                 str(db)]) == 2  # asked for by name: refused
    assert f"{db}: recognition is off in the config ([people] enabled = false)" in capsys.readouterr().err


@pytest.mark.parametrize(("setting", "flag", "reason"), [
    ("enabled = false", [], "recognition is off in the config ([people] enabled = false)"),
    ("", ["--crop"], "recognition needs whole photos, not --crop"),
    ("", [], "no such people database"),
])
def test_a_database_only_named_by_the_config_that_cannot_be_used_leaves_detect_and_eval_without_recognition(
        tmp_path: Path, examples: Path, embedding_model: str, setting: str, flag: list[str], reason: str,
        capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "people.json"
    if reason != "no such people database":
        _write_database(db, embedding_model, {"Mina": _templates(1)})
    config = tmp_path / "config.toml"
    config.write_text(f'[people]\ndb = "{db}"\n{setting}\n')
    faces = tmp_path / "faces" / "happy"
    faces.mkdir(parents=True)
    shutil.copy(examples / "obama.jpg", faces / "obama.jpg")
    with caplog.at_level(logging.INFO):
        assert main(["detect", "--json", str(faces / "obama.jpg"), "--config", str(config), *flag]) == 0
        assert ["person" in face for face in json.loads(capsys.readouterr().out)["faces"]] == [False]
        assert main(["eval", "--json", str(faces.parent), "--config", str(config), *flag]) == 0
    assert json.loads(capsys.readouterr().out)["data"]["images"] == 1
    assert caplog.text.count(f"{db}: {reason}") == 2 and "recognition off" in caplog.text
    for command in (["detect", str(faces / "obama.jpg")], ["eval", str(faces.parent)]):  # asked for: refused
        assert main([*command, "--config", str(config), "--people-db", str(db), *flag]) == 2
        assert f"todayfeeling: {db}: {reason}" in capsys.readouterr().err


def test_rename_moves_the_persons_history_and_remove_deletes_all_of_it_even_with_the_history_off(
        tmp_path: Path, embedding_model: str, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "people.json"
    _write_database(db, embedding_model, {"Émile": _templates(1), "Jo": _templates(1, seed=1)})
    history_db = tmp_path / "history.sqlite3"
    history, now = MoodHistory(history_db), time.time()
    history.record("happiness", 0.9, now - 30)  # the household
    history.record("sadness", 0.7, now - 30, person="ÉMILE")  # spelt otherwise, and decomposed below
    history.record("anger", 0.8, now - 20, person="E\u0301mile")
    history.record("neutral", 0.8, now - 10, person="Jo")
    history.close(now)
    config = tmp_path / "config.toml"
    config.write_text(f'[history]\nenabled = false\ndb = "{history_db}"\n'
                      '[music]\naudience = "priority"\npriority = ["Jo", "Émile"]\n[music.people."Émile"]\n'
                      'mode = "uplift"\n')
    people = ["--people-db", str(db), "--config", str(config)]
    assert main(["people", "rename", "émile", "Mile", *people]) == 0
    out = capsys.readouterr().out
    assert f"renamed Émile to Mile in {db}" in out
    assert f"mood history ({history_db}): 2 rows of Émile renamed to Mile" in out
    assert (f"note: the config names someone not enrolled in {db}: music.people.Émile, music.priority[1] "
            "('Émile'); ignored until they are") in out
    assert main(["people", "remove", "mile", *people]) == 0
    out = capsys.readouterr().out
    assert f"mood history ({history_db}): 2 rows of Mile deleted" in out and "note: the config" in out
    with sqlite3.connect(history_db) as con:
        assert sorted(str(p) for (p,) in con.execute("SELECT person FROM mood_changes")) == ["Jo", "None"]
    assert main(["people", "remove", "Jo", "--people-db", str(db), "--config", str(config)]) == 0
    assert f"mood history ({history_db}): 1 row of Jo deleted" in capsys.readouterr().out
    config.write_text(f'[history]\ndb = "{history_db}"\n')
    _write_database(db, embedding_model, {"Anne-Marie": _templates(1), "Zoë": _templates(1, seed=1)})
    assert main(["people", "rename", "zoë", "Anne Marie", *people]) == 1
    assert "would share its MQTT topic and Home Assistant sensor ('anne_marie') with 'Anne-Marie'" \
        in capsys.readouterr().err


def test_people_made_by_another_embedding_model_can_be_listed_renamed_and_removed_but_not_recognised(
        tmp_path: Path, obama_folder: Path, examples: Path, embedding_model: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "people.json"
    _write_database(db, "face_embedding:old", {"Mina": _templates(3, size=64), "Jo": _templates(1, seed=1, size=64)})
    people = ["--people-db", str(db)]
    assert main(["people", "list", *people]) == 0
    out = capsys.readouterr().out
    assert (f"{db}: the templates were made by embedding model face_embedding:old, not the one in use "
            f"({embedding_model}): nobody below can be recognised until enrolled again") in out
    assert "Jo: 1 template" in out and "Mina: 3 templates" in out
    assert main(["people", "list", "--json", *people]) == 0
    assert [(p["name"], p["recognisable"]) for p in json.loads(capsys.readouterr().out)] == [
        ("Jo", False), ("Mina", False)]
    assert main(["people", "rename", "mina", "Wilhelmina", *people]) == 0
    assert main(["people", "remove", "jo", *people]) == 0
    kept = json.loads(db.read_text())
    assert kept["model"] == "face_embedding:old" and [p["name"] for p in kept["people"]] == ["Wilhelmina"]
    assert len(kept["people"][0]["templates"][0]) == 64
    capsys.readouterr()
    assert main(["detect", str(examples / "obama.jpg"), *people]) == 2
    assert "made by embedding model 'face_embedding:old'" in capsys.readouterr().err
    assert main(["people", "add", "Obama", "--from", str(obama_folder), *people]) == 1
    assert "made by embedding model 'face_embedding:old'" in capsys.readouterr().err
    kept["people"][0]["templates"][1] = [2 * v for v in kept["people"][0]["templates"][1]]  # still checked
    db.write_text(json.dumps(kept))
    assert main(["people", "list", *people]) == 1
    assert f"{db}: people[0].templates[1]: not of unit length" in capsys.readouterr().err


def test_an_unreadable_folder_is_refused_and_an_unreadable_emotion_folder_skipped_naming_it(
        tmp_path: Path, obama_folder: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "people.json"
    unreadable = {obama_folder / "neutral"}
    listing = Path.iterdir

    def iterdir(folder: Path):  # as for a folder of mode 000 owned by someone else (tests may run as root)
        if folder in unreadable:
            raise PermissionError(13, "Permission denied", str(folder))
        return listing(folder)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    assert main(["people", "add", "Obama", "--from", str(obama_folder), "--people-db", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"skipped {obama_folder / 'neutral'}: cannot read the folder: Permission denied" in out
    assert "enrolled Obama: 2 photos (2 unlabelled)" in out
    unreadable.add(obama_folder)
    assert main(["people", "add", "Obama", "--from", str(obama_folder), "--people-db", str(db)]) == 1
    assert f"todayfeeling: {obama_folder}: cannot read the folder: Permission denied" in capsys.readouterr().err


def test_photos_of_someone_else_are_kept_out_of_a_persons_templates(
        tmp_path: Path, obama_folder: Path, examples: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "people.json"
    stranger = obama_folder / "neutral" / "stranger.png"
    shutil.copy(examples / "lin-manuel-miranda.png", stranger)
    assert main(["people", "add", "Obama", "--from", str(obama_folder), "--people-db", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"skipped {stranger}: does not look like Obama's other photos (best similarity" in out
    assert "enrolled Obama: 3 photos" in out
    biden = tmp_path / "biden"
    biden.mkdir()
    shutil.copy(examples / "biden.jpg", biden / "biden.jpg")
    shutil.copy(examples / "obama-240p.jpg", biden / "mixed_up.jpg")
    assert main(["people", "add", "Biden", "--from", str(biden), "--people-db", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"skipped {biden / 'mixed_up.jpg'}: looks like Obama, who is already enrolled (similarity" in out
    assert "enrolled Biden: 1 photo (1 unlabelled); 1 template in" in out


def test_photo_names_that_are_not_utf8_are_enrolled_and_other_files_named(
        tmp_path: Path, examples: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Names copied from an old camera or a Windows zip (Latin-1 bytes) crashed OpenCV's imread with a
    segmentation fault; a photo kind the appliance cannot read (an iPhone's .HEIC) was dropped unnamed."""
    db = tmp_path / "people.json"
    folder = tmp_path / "photos"
    (folder / "happy").mkdir(parents=True)
    shutil.copy(examples / "obama.jpg", os.path.join(os.fsencode(folder), b"caf\xe9.jpg"))
    shutil.copy(examples / "obama-240p.jpg", os.path.join(os.fsencode(folder / "happy"), b"f\xeate.jpg"))
    (folder / "IMG_0001.HEIC").write_bytes(b"\0\0\0\x18ftypheic")
    (folder / ".DS_Store").write_bytes(b"\0")
    assert main(["people", "add", "Obama", "--from", str(folder), "--people-db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "enrolled Obama: 2 photos (1 unlabelled, 1 happiness)" in out
    assert f"skipped {folder / 'IMG_0001.HEIC'}: not a photo of a kind this appliance reads (bmp, jpeg, jpg" in out
    assert ".DS_Store" not in out


def test_a_removal_made_while_someone_enrols_is_kept(
        tmp_path: Path, obama_folder: Path, examples: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A camera session takes minutes: a `people remove` run meanwhile came back when the enrolment saved the
    database it had read at its start (a privacy fault: the removed person was recognised again)."""
    from todayfeeling.commands import people as people_command

    db = tmp_path / "people.json"
    biden = tmp_path / "biden"
    biden.mkdir()
    shutil.copy(examples / "biden.jpg", biden / "biden.jpg")
    assert main(["people", "add", "Biden", "--from", str(biden), "--people-db", str(db)]) == 0
    enrol = people_command.enrol_folder

    def enrol_while_biden_is_removed(*args, **kwargs):
        enrolment = enrol(*args, **kwargs)
        assert main(["people", "remove", "Biden", "--people-db", str(db)]) == 0
        return enrolment

    monkeypatch.setattr(people_command, "enrol_folder", enrol_while_biden_is_removed)
    assert main(["people", "add", "Obama", "--from", str(obama_folder), "--people-db", str(db)]) == 0
    assert [p.name for p in PeopleDatabase.load(db, "", any_model=True).people] == ["Obama"]


def test_a_history_locked_by_another_process_leaves_the_person_enrolled_and_the_command_can_be_run_again(
        tmp_path: Path, embedding_model: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The person used to leave the database first: a retry said "nobody called … is enrolled" and their mood
    history rows stayed for good."""
    from todayfeeling.commands import people as people_command

    monkeypatch.setattr(people_command, "HISTORY_WAIT_S", 0.1)
    db = tmp_path / "people.json"
    _write_database(db, embedding_model, {"Mina": _templates(1)})
    history_db = tmp_path / "history.sqlite3"
    history, now = MoodHistory(history_db), time.time()
    history.record("sadness", 0.7, now - 30, person="Mina")
    history.close(now)
    config = tmp_path / "config.toml"
    config.write_text(f'[history]\ndb = "{history_db}"\n')
    people = ["--people-db", str(db), "--config", str(config)]
    lock = sqlite3.connect(history_db, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # as the daemon's writer holds it
    for command in (["rename", "Mina", "Wilhelmina"], ["remove", "Mina"]):
        assert main(["people", *command, *people]) == 1
        assert "their mood history cannot be changed now" in capsys.readouterr().err
    assert [p.name for p in PeopleDatabase.load(db, embedding_model).people] == ["Mina"]
    lock.rollback()
    lock.close()
    assert main(["people", "remove", "Mina", *people]) == 0
    assert f"mood history ({history_db}): 1 row of Mina deleted" in capsys.readouterr().out
    assert PeopleDatabase.load(db, embedding_model).people == []
