"""Household members in the real daemon: a people database made by the real `people add --from`, a folder of
frames showing two enrolled people and a stranger, a real mosquitto, pygame's dummy audio.

Per-person moods go to the history (on the device) whatever the config says; on MQTT a name appears only
with ``[people] publish = true``: the test with it off reads every message on the broker (``#``) for a name.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.audio_files import music_folder
from tests.broker import Broker, MqttProbe
from tests.daemon_process import Daemon, write_config
from tests.emulation import hang_guard
from todayfeeling.cli import main

BASE = "todayfeeling/e2e"
NAMES = ("obama", "biden")
OBAMA = ("obama.jpg", "obama-240p.jpg", "obama-1080p.jpg")
STRANGER = "dlib_misc/Tom_Cruise_avp_2014_4.jpg"


@pytest.fixture(scope="module")
def people_db(tmp_path_factory: pytest.TempPathFactory, face_smoke: Path) -> Path:
    """Obama (three photos) and Biden (one) enrolled by `todayfeeling people add --from`; each test copies it."""
    root = tmp_path_factory.mktemp("people")
    examples = face_smoke / "face_recognition_examples"
    db = root / "people.json"
    for name, photos in (("Obama", OBAMA), ("Biden", ("biden.jpg",))):
        folder = root / name
        folder.mkdir()
        for photo in photos:
            shutil.copy(examples / photo, folder / photo)
        assert main(["people", "add", name, "--from", str(folder), "--people-db", str(db)]) == 0
    return db


def frames_folder(tmp_path: Path, camera_sized: Callable[[str], Path], stranger_frames: int) -> Path:
    """Obama for 8 frames, Biden for 8, then a stranger, with a few empty frames between (each one leaves,
    ending their face track, before the next comes)."""
    folder = tmp_path / "frames"
    folder.mkdir()
    empty = tmp_path / "empty.png"
    cv2.imwrite(str(empty), np.full((480, 640, 3), 128, np.uint8))
    gap = [empty] * 3
    sources = ([camera_sized("face_recognition_examples/obama.jpg")] * 8 + gap
               + [camera_sized("face_recognition_examples/biden.jpg")] * 8 + gap
               + [camera_sized(STRANGER)] * stranger_frames)
    for i, source in enumerate(sources):
        (folder / f"{i:03d}{source.suffix}").symlink_to(source)
    return folder


def people_config(tmp_path: Path, broker: Broker, db: Path, publish: bool) -> Path:
    music = music_folder(tmp_path / "music", {"happiness": ["joy.wav"], "neutral": ["calm.wav"],
                                              "sadness": ["rain.wav"], "upbeat": ["brass.wav"]}, seconds=2.0)
    people_db = tmp_path / "people.json"
    shutil.copy(db, people_db)
    config = write_config(tmp_path / "config.toml", broker, music, tmp_path, extra=f"""
[people]
db = "{people_db}"
publish = {str(publish).lower()}
recheck_s = 3600  # each track recognised once (re-checks have their own test; under qemu, each costs seconds)

[music.people.Obama.preferences]
happiness = [{{ folder = "upbeat" }}]

[music.people.Biden]
mode = "uplift"
""")
    config.write_text(config.read_text().replace("[music]\n", '[music]\naudience = "longest"\naudience_hold_s = 0.0\n'))
    return config


def history_rows(tmp_path: Path) -> list[tuple[str | None, str]]:
    with sqlite3.connect(tmp_path / "history.sqlite3") as db:
        return [(person, mood) for person, mood in db.execute("SELECT person, mood FROM mood_changes ORDER BY ts")]


def payloads(probe: MqttProbe, topic: str) -> list[dict]:
    return [json.loads(m.payload) for m in probe.messages if m.topic == topic and m.payload]


def test_with_publishing_off_no_name_reaches_the_broker_but_each_person_has_a_history(
        tmp_path: Path, camera_sized: Callable[[str], Path], people_db: Path, mosquitto: Broker,
        probe_factory: Callable[..., MqttProbe], start_daemon: Callable[..., Daemon]) -> None:
    probe = probe_factory(mosquitto, "#")
    config = people_config(tmp_path, mosquitto, people_db, publish=False)
    daemon = start_daemon(config, "--source", str(frames_folder(tmp_path, camera_sized, 4)), "--fps", "5")
    assert daemon.wait(120) == 0, daemon.log_text()

    assert "recognising 2 enrolled people" in daemon.log_text()
    people = {person for person, _ in history_rows(tmp_path)}
    assert {"Obama", "Biden", None} <= people, daemon.log_text()
    assert probe.messages
    for message in probe.messages:
        text = (message.topic + message.payload.decode("utf-8", "replace")).casefold()
        assert not any(name in text for name in NAMES), f"{message.topic}: {message.payload!r}"
    assert not any("for" in player for player in payloads(probe, f"{BASE}/player/state"))


def test_with_publishing_on_each_person_has_a_sensor_a_state_and_events_and_a_removed_one_goes(
        tmp_path: Path, camera_sized: Callable[[str], Path], people_db: Path, mosquitto: Broker,
        probe_factory: Callable[..., MqttProbe], start_daemon: Callable[..., Daemon]) -> None:
    probe = probe_factory(mosquitto, f"{BASE}/#", "homeassistant/#")
    config = people_config(tmp_path, mosquitto, people_db, publish=True)
    daemon = start_daemon(config, "--source", str(frames_folder(tmp_path, camera_sized, 16)), "--fps", "5")
    sensors = {name: f"homeassistant/sensor/todayfeeling_e2e/person_{name}/config" for name in NAMES}
    for name, topic in sensors.items():
        sensor = json.loads(probe.on(topic, timeout=hang_guard(30))[0].payload)
        assert sensor["state_topic"] == f"{BASE}/people/{name}/state"

    daemon.wait_for_log("Biden arrived", timeout=60)
    assert main(["people", "remove", "Biden", "--people-db", str(tmp_path / "people.json"),
                 "--config", str(config)]) == 0
    daemon.wait_for_log("people database re-read: 1 enrolled", timeout=30)
    assert daemon.wait(120) == 0, daemon.log_text()
    assert "config: music.people.Biden names someone who is no longer enrolled" in daemon.log_text()  # no crash

    assert [m.payload for m in probe.messages if m.topic == sensors["biden"]][-1] == b""  # deleted in HA
    assert [m.payload for m in probe.messages if m.topic == f"{BASE}/people/biden/state"][-1] == b""  # and his mood
    events = payloads(probe, f"{BASE}/event")
    personal = [(e["event_type"], e["person"]) for e in events if "person" in e]
    assert ("person_arrived", "Obama") in personal and ("person_arrived", "Biden") in personal
    assert ("mood_changed", "Obama") in personal
    obama = payloads(probe, f"{BASE}/people/obama/state")
    assert obama[0] == {**obama[0], "person": "Obama", "mood": "none", "present": False}
    assert any(state["mood"] == "happiness" and state["present"] for state in obama)

    players = [p for p in payloads(probe, f"{BASE}/player/state") if p["state"] == "playing"]
    assert players and players[0]["track"] == "brass.wav" and players[0]["for"] == "Obama"  # from Obama's folder

    rows = history_rows(tmp_path)
    assert ("Obama", "happiness") in rows and None in {person for person, _ in rows}
    assert "Biden" not in {person for person, _ in rows}  # `people remove` deleted them, the daemon too


def test_an_enrolled_face_is_read_with_its_personal_calibration_in_the_room_and_its_own_mood(
        tmp_path: Path, face_smoke: Path, mosquitto: Broker, camera_sized: Callable[[str], Path],
        start_daemon: Callable[..., Daemon]) -> None:
    """The generic model reads Obama's photos as happiness; enrolled with one of them as his neutral
    baseline, the daemon reads his other photos as his neutral, in his mood and in the room's."""
    examples = face_smoke / "face_recognition_examples"
    neutral = tmp_path / "Obama" / "neutral"
    neutral.mkdir(parents=True)
    shutil.copy(examples / "obama.jpg", neutral / "obama.jpg")
    db = tmp_path / "enrolled.json"
    assert main(["people", "add", "Obama", "--from", str(tmp_path / "Obama"), "--people-db", str(db)]) == 0
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(10):
        photo = camera_sized(f"face_recognition_examples/{('obama-240p.jpg', 'obama-1080p.jpg')[i % 2]}")
        (folder / f"{i:03d}.jpg").symlink_to(photo)
    config = people_config(tmp_path, mosquitto, db, publish=False)
    config.write_text(config.read_text().replace("[music.people.Biden]\nmode = \"uplift\"\n", ""))
    daemon = start_daemon(config, "--source", str(folder), "--fps", "5")
    assert daemon.wait(120) == 0, daemon.log_text()
    rows = history_rows(tmp_path)
    assert ("Obama", "neutral") in rows and (None, "neutral") in rows, rows
    assert ("Obama", "happiness") not in rows and (None, "happiness") not in rows, rows
