"""Recognition per face track as the daemon does it (people/tracked.py), on the real models and photos; the
config checks that name enrolled people; `people remove` and the history."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.emulation import hang_guard
from todayfeeling.camera.demo import DemoSource
from todayfeeling.cli import main
from todayfeeling.config import InferenceConfig, TrackingConfig, load_config
from todayfeeling.daemon import Appliance
from todayfeeling.history import MoodHistory
from todayfeeling.inference.manifest import Manifest
from todayfeeling.inference.pipeline import FacePipeline
from todayfeeling.people.database import PeopleDatabase
from todayfeeling.people.embedding import FaceEmbedder
from todayfeeling.people.recognition import Recogniser
from todayfeeling.people.tracked import PeopleChange, TrackRecognition

EXAMPLES = "face_recognition_examples"


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    return FacePipeline.from_config(InferenceConfig(threads=1), tracking=TrackingConfig())


@pytest.fixture(scope="module")
def embedder(models_dir: Path) -> FaceEmbedder:
    return FaceEmbedder.from_manifest(Manifest(models_dir), threads=1)


def photo(face_smoke: Path, name: str) -> np.ndarray:
    image = cv2.imread(str(face_smoke / EXAMPLES / name))
    assert image is not None
    return image


def enrolled(tmp_path: Path, face_smoke: Path, pipeline: FacePipeline, embedder: FaceEmbedder) -> PeopleDatabase:
    database = PeopleDatabase(tmp_path / "people.json", embedder.model_id)
    for name, file in (("Obama", "obama-240p.jpg"), ("Biden", "biden.jpg")):
        frame = photo(face_smoke, file)
        database.add(name, [embedder.embed(frame, pipeline.detector.detect(frame)[0])])
    database.save()
    return database


def test_a_track_is_recognised_when_it_starts_and_again_only_when_due(
        tmp_path: Path, face_smoke: Path, pipeline: FacePipeline, embedder: FaceEmbedder) -> None:
    recognition = TrackRecognition(Recogniser(embedder, enrolled(tmp_path, face_smoke, pipeline, embedder)), 5.0)
    pipeline.reset_tracks()
    frame = photo(face_smoke, "obama.jpg")
    for now in (0.0, 0.5, 4.9):
        assert recognition.identify(frame, pipeline.follow(frame).faces, now) == ["Obama"]
    assert recognition.recognised == 1
    assert recognition.identify(frame, pipeline.follow(frame).faces, 5.0) == ["Obama"]
    assert recognition.recognised == 2  # due again

    guest = cv2.imread(str(face_smoke / "dlib_misc/Tom_Cruise_avp_2014_4.jpg"))
    pipeline.reset_tracks()  # another scene: a new track
    assert recognition.identify(guest, pipeline.follow(guest).faces, 6.0) == [None]
    assert recognition.identify(guest, pipeline.follow(guest).faces, 6.1) == [None]
    assert recognition.recognised == 3


def test_a_changed_database_file_is_read_again_and_a_broken_one_keeps_the_old(
        tmp_path: Path, face_smoke: Path, pipeline: FacePipeline, embedder: FaceEmbedder,
        caplog: pytest.LogCaptureFixture) -> None:
    database = enrolled(tmp_path, face_smoke, pipeline, embedder)
    recognition = TrackRecognition(Recogniser(embedder, PeopleDatabase.load(database.path, embedder.model_id,
                                                                      embedder.embedding_size)), 5.0)
    pipeline.reset_tracks()
    frame = photo(face_smoke, "obama.jpg")
    assert recognition.identify(frame, pipeline.follow(frame).faces, 0.0) == ["Obama"]
    assert recognition.reload_if_changed() is None

    database.rename("Biden", "Joe")
    database.save()
    assert recognition.reload_if_changed() == PeopleChange([], {"Biden": "Joe"})
    database.remove("Obama")
    database.save()  # what `todayfeeling people remove` does: the file replaced whole
    assert recognition.reload_if_changed() == PeopleChange(["Obama"], {})
    assert recognition.names == ["Joe"]
    assert recognition.identify(frame, pipeline.follow(frame).faces, 0.1) == [None]  # recognised afresh

    database.path.write_text("{not json")
    with caplog.at_level(logging.WARNING):
        assert recognition.reload_if_changed() is None
    assert f"{database.path}: not a people database" in caplog.text
    assert recognition.names == ["Joe"]

    # a file whose templates are all too short: of one size and unit length, but not this model's
    database.people[0].templates = [t[:100] / np.linalg.norm(t[:100]) for t in database.people[0].templates]
    database.save()
    with caplog.at_level(logging.WARNING):
        assert recognition.reload_if_changed() is None
    assert f"{database.path}: people[0].templates: 100 numbers each, but the embedding model's templates " \
           "have 128" in caplog.text
    assert recognition.names == ["Joe"]


def _run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "todayfeeling", "run", "--config", str(config), "--no-mqtt", *args],
                          capture_output=True, text=True, timeout=hang_guard(60))


def test_a_taste_or_priority_for_someone_not_enrolled_is_warned_about_naming_the_key_and_the_start_goes_on(
        tmp_path: Path, face_smoke: Path, pipeline: FacePipeline, embedder: FaceEmbedder) -> None:
    database = enrolled(tmp_path, face_smoke, pipeline, embedder)  # as after `people remove` or `rename`
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "0.jpg").symlink_to(face_smoke / EXAMPLES / "obama.jpg")
    config = tmp_path / "config.toml"
    config.write_text(f'[people]\ndb = "{database.path}"\n[music]\ndir = "{tmp_path / "none"}"\n'
                      f'audience = "priority"\npriority = ["biden", "Mina"]\n[music.people.Nobody]\nmode = "uplift"\n'
                      f'[history]\ndb = "{tmp_path / "history.sqlite3"}"\n')
    done = _run(config, "--source", str(frames))
    assert done.returncode == 0, done.stderr
    for key in ("music.people.Nobody", "music.priority[1] ('Mina')"):
        assert (f"WARNING todayfeeling.commands.run: config: {key} names someone not enrolled in {database.path}; "
                "it is ignored until they are") in done.stderr
    assert "music.priority[0]" not in done.stderr and "recognising 2 enrolled people" in done.stderr


def test_people_remove_deletes_the_persons_history_and_says_so(
        tmp_path: Path, face_smoke: Path, pipeline: FacePipeline, embedder: FaceEmbedder,
        capsys: pytest.CaptureFixture[str]) -> None:
    database = enrolled(tmp_path, face_smoke, pipeline, embedder)
    history_db = tmp_path / "history.sqlite3"
    history, now = MoodHistory(history_db), time.time()
    history.record("happiness", 0.9, now - 20)
    history.record("happiness", 0.9, now - 20, person="Obama")
    history.record("neutral", 0.8, now - 10, person="Biden")
    history.close(now)
    config = tmp_path / "config.toml"
    config.write_text(f'[history]\ndb = "{history_db}"\n')
    assert main(["people", "remove", "obama", "--people-db", str(database.path), "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"removed Obama (1 template) from {database.path}" in out
    assert f"mood history ({history_db}): 1 row of Obama deleted" in out
    with sqlite3.connect(history_db) as db:
        assert sorted(str(p) for (p,) in db.execute("SELECT person FROM mood_changes")) == ["Biden", "None"]


def test_people_enabled_false_turns_recognition_off_even_with_a_database_given(
        tmp_path: Path, face_smoke: Path, pipeline: FacePipeline, embedder: FaceEmbedder) -> None:
    database = enrolled(tmp_path, face_smoke, pipeline, embedder)
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "0.jpg").symlink_to(face_smoke / EXAMPLES / "obama.jpg")
    config = tmp_path / "config.toml"
    config.write_text(f'[people]\nenabled = false\n[music]\ndir = "{tmp_path / "none"}"\n'
                      f'[history]\ndb = "{tmp_path / "history.sqlite3"}"\n[music.people.Nobody]\nmode = "uplift"\n')
    done = _run(config, "--source", str(frames), "--people-db", str(database.path))
    assert done.returncode == 0, done.stderr
    assert "recognition of household members off ([people] enabled = false)" in done.stderr
    assert "recognising" not in done.stderr


def test_a_reload_naming_someone_not_enrolled_is_applied_with_a_warning_naming_the_key(
        tmp_path: Path, face_smoke: Path, pipeline: FacePipeline, embedder: FaceEmbedder, models_dir: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    database = enrolled(tmp_path, face_smoke, pipeline, embedder)
    path = tmp_path / "config.toml"
    path.write_text('[history]\nenabled = false\n[music.people.Obama]\nmode = "uplift"\n')
    config = load_config(path)
    recognition = TrackRecognition(Recogniser(embedder, database), config.people.recheck_s)
    appliance = Appliance(config, DemoSource(Manifest(models_dir), empty=True),
                          FacePipeline.from_config(config.inference), reload_config=lambda: load_config(path),
                          recognition=recognition)
    runner = threading.Thread(target=appliance.run)
    runner.start()
    try:
        path.write_text('[history]\nenabled = false\n[music.people.Mina]\nmode = "fixed"\n')
        with caplog.at_level(logging.WARNING):
            appliance.request_reload()
            deadline = time.monotonic() + hang_guard(30)
            while "names someone not enrolled" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.05)
        assert (f"config: music.people.Mina names someone not enrolled in {database.path}; it is ignored until "
                "they are") in caplog.text  # as at start-up: the taste waits for Mina to be enrolled
        assert runner.is_alive() and list(appliance.config.music.people) == ["Mina"]
    finally:
        appliance.request_stop()
        runner.join(hang_guard(30))
