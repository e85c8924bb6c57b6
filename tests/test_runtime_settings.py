"""Settings changed over MQTT survive a restart (through the real daemon), with the config file's precedence;
privacy never looks like an empty room; the player follows privacy; no duplicate publishes."""

from __future__ import annotations

import json
import signal
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.audio_files import music_folder
from tests.broker import Broker, MqttProbe
from tests.daemon_process import Daemon
from tests.test_faults import config_file, todayfeeling
from todayfeeling.config import load_config
from todayfeeling.runtime_settings import RuntimeSettings

BASE = "todayfeeling/faults"


def payload(probe: MqttProbe, topic: str) -> dict:
    last = probe.last(topic)
    assert last is not None, topic
    return json.loads(last.payload)


def test_privacy_volume_and_mode_set_over_mqtt_are_what_the_appliance_does_after_a_restart(
        tmp_path: Path, mosquitto: Broker, probe_factory: Callable[..., MqttProbe],
        start_daemon: Callable[..., Daemon]) -> None:
    music = music_folder(tmp_path / "music", {"neutral": ["calm.wav"], "happiness": ["joy.wav"]}, seconds=20.0)
    config = config_file(tmp_path, mosquitto, music)
    probe = probe_factory(mosquitto, f"{BASE}/#")
    daemon = start_daemon(config, "--source", "demo")
    probe.wait_for(lambda m: m.topic == f"{BASE}/availability" and m.text == "online", timeout=30)
    probe.publish(f"{BASE}/volume/set", "25")
    probe.publish(f"{BASE}/music_mode/set", "uplift")
    probe.publish(f"{BASE}/privacy/set", "ON")
    probe.wait_for(lambda m: m.topic == f"{BASE}/privacy/state" and m.text == "ON", timeout=20)
    probe.wait_for(lambda m: m.topic == f"{BASE}/music_mode/state" and m.text == "uplift", timeout=20)
    probe.wait_for(lambda m: m.topic == f"{BASE}/player/state" and json.loads(m.payload)["volume"] == 25,
                   timeout=20)
    stored = tmp_path / "state" / "settings.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    daemon.stop()

    probe.clear()
    again = start_daemon(config, "--source", "/dev/video9")  # a camera that would be tried at once if opened
    probe.wait_for(lambda m: m.topic == f"{BASE}/availability" and m.text == "online", timeout=30)
    time.sleep(1.0)
    assert probe.last(f"{BASE}/privacy/state").text == "ON"
    assert probe.last(f"{BASE}/music_mode/state").text == "uplift"
    assert payload(probe, f"{BASE}/player/state")["volume"] == 25
    assert payload(probe, f"{BASE}/state")["privacy"] is True
    log = again.log_text()
    assert "runtime settings: privacy = True restored" in log and "the camera is not opened" in log
    assert "reconnecting" not in log  # the camera was never opened
    again.stop()


def test_the_privacy_flag_wins_over_privacy_turned_off_over_mqtt_before_the_restart(
        tmp_path: Path, mosquitto: Broker, probe_factory: Callable[..., MqttProbe],
        start_daemon: Callable[..., Daemon]) -> None:
    """A unit started with `run --privacy` comes up with the camera released, every time: privacy turned off
    over MQTT in an earlier run once made the next start open the camera. And the flag is not remembered: one
    `run --privacy` once kept every later start's camera off."""
    config = config_file(tmp_path, mosquitto)
    probe = probe_factory(mosquitto, f"{BASE}/#")
    first = start_daemon(config, "--source", "demo:empty", "--privacy")
    probe.wait_for(lambda m: m.topic == f"{BASE}/privacy/state" and m.text == "ON", timeout=30)
    probe.publish(f"{BASE}/privacy/set", "OFF")
    probe.wait_for(lambda m: m.topic == f"{BASE}/privacy/state" and m.text == "OFF", timeout=20)
    first.stop()

    probe.clear()
    again = start_daemon(config, "--source", "/dev/video9", "--privacy")  # a camera that would be tried if opened
    probe.wait_for(lambda m: m.topic == f"{BASE}/availability" and m.text == "online", timeout=30)
    time.sleep(1.0)
    assert probe.last(f"{BASE}/privacy/state").text == "ON"
    assert "the camera is not opened" in again.log_text() and "reconnecting" not in again.log_text()
    again.stop()

    probe.clear()  # the flag is how that run started, not a setting: a start without it has the camera on
    plain = start_daemon(config, "--source", "demo:empty")
    probe.wait_for(lambda m: m.topic == f"{BASE}/privacy/state" and m.text == "OFF", timeout=30)
    assert "the camera is not opened" not in plain.log_text()
    plain.stop()


def test_a_volume_command_that_changes_nothing_does_not_hide_a_later_reload_of_the_volume(
        tmp_path: Path, mosquitto: Broker, probe_factory: Callable[..., MqttProbe],
        start_daemon: Callable[..., Daemon]) -> None:
    """An automation that sets the volume already in effect, then a config reload that changes it: the player
    state must say the new volume (it once kept saying the command's, while the speaker played the other)."""
    music = music_folder(tmp_path / "music", {"neutral": ["calm.wav"]}, seconds=20.0)
    config = config_file(tmp_path, mosquitto, music, music_mode="fixed")
    probe = probe_factory(mosquitto, f"{BASE}/player/state")
    daemon = start_daemon(config, "--source", "demo:empty")
    probe.wait_for(lambda m: json.loads(m.payload)["state"] == "playing", timeout=30)
    assert payload(probe, f"{BASE}/player/state")["volume"] == 60
    probe.publish(f"{BASE}/volume/set", "60")
    time.sleep(1.0)
    config.write_text(config.read_text().replace("fade_ms = 0", "fade_ms = 0\nvolume = 30"))
    daemon.process.send_signal(signal.SIGHUP)
    daemon.wait_for_log("config reloaded")
    probe.wait_for(lambda m: json.loads(m.payload)["volume"] == 30, timeout=20)
    time.sleep(1.0)  # nothing later may bring the old volume back
    assert payload(probe, f"{BASE}/player/state")["volume"] == 30
    daemon.stop()


def test_a_changed_config_file_value_wins_once(tmp_path: Path) -> None:
    config_path = config_file(tmp_path, None, mqtt="enabled = false")
    config = load_config(config_path)
    store = RuntimeSettings(config.daemon.state_dir)
    store.restore(config)
    store.remember("volume", 25)
    store.remember("privacy", True)
    assert store.restore(load_config(config_path)).music.volume == 25  # the file still says 60: 25 holds
    original = config_path.read_text()
    config_path.write_text(original.replace("fade_ms = 0", "fade_ms = 0\nvolume = 40"))
    doctor = todayfeeling("doctor", "--config", str(config_path), "--source", "demo:empty", "--frames", "1",
                          "--json")  # before the appliance restarts
    settings = next(json.loads(line) for line in doctor.stdout.splitlines() if '"settings"' in line)
    assert "volume 25 (replaced by the edited file; the file says 40)" in settings["detail"]
    assert "privacy True (applies; the file says False)" in settings["detail"]
    edited = RuntimeSettings(config.daemon.state_dir).restore(load_config(config_path))
    assert edited.music.volume == 40  # the edited file wins ...
    assert edited.daemon.privacy is True  # ... for the value it changed only
    config_path.write_text(original)  # the file back at 60: the volume set before the edit is gone for good
    assert RuntimeSettings(config.daemon.state_dir).restore(load_config(config_path)).music.volume == 60


@pytest.mark.parametrize("text", ['{"version": 1, "settings": {"privacy": {"val', "[" * 100_000])
def test_a_corrupt_settings_file_is_reported_and_ignored(tmp_path: Path, start_daemon: Callable[..., Daemon],
                                                         text: str) -> None:
    config = config_file(tmp_path, None, mqtt="enabled = false")
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "settings.json").write_text(text)  # cut short; nested too deep for the parser
    daemon = start_daemon(config, "--source", "demo:empty")
    daemon.wait_for_log("runtime settings: ignoring")
    daemon.wait_for_log("running: source demo")
    daemon.stop()


def test_privacy_pauses_the_music_and_resumes_it_and_is_published_once_per_change(
        tmp_path: Path, mosquitto: Broker, probe_factory: Callable[..., MqttProbe],
        start_daemon: Callable[..., Daemon]) -> None:
    music = music_folder(tmp_path / "music", {"neutral": ["calm.wav"]}, seconds=30.0)
    config = config_file(tmp_path, mosquitto, music, music_mode="fixed")
    probe = probe_factory(mosquitto, f"{BASE}/#")
    daemon = start_daemon(config, "--source", "demo:empty")
    probe.wait_for(lambda m: m.topic == f"{BASE}/player/state" and json.loads(m.payload)["state"] == "playing",
                   timeout=30)
    probe.clear()
    probe.publish(f"{BASE}/privacy/set", "ON")
    probe.wait_for(lambda m: m.topic == f"{BASE}/player/state" and json.loads(m.payload)["state"] == "paused",
                   timeout=20)
    # the player pauses before the privacy state is published: wait for that, then a moment for a second copy
    probe.wait_for(lambda m: m.topic == f"{BASE}/privacy/state", timeout=20)
    time.sleep(1.0)
    assert [m.text for m in probe.messages if m.topic == f"{BASE}/privacy/state"] == ["ON"]  # once, not twice
    probe.publish(f"{BASE}/privacy/set", "OFF")
    probe.wait_for(lambda m: m.topic == f"{BASE}/player/state" and json.loads(m.payload)["state"] == "playing",
                   timeout=20)
    daemon.stop()


def test_the_first_stats_already_have_a_frame_rate(
        tmp_path: Path, mosquitto: Broker, probe_factory: Callable[..., MqttProbe],
        start_daemon: Callable[..., Daemon]) -> None:
    config = config_file(tmp_path, mosquitto)
    config.write_text(config.read_text().replace("stats_interval = 1.0", "stats_interval = 30.0"))
    probe = probe_factory(mosquitto, f"{BASE}/stats")
    daemon = start_daemon(config, "--source", "demo")
    first = probe.wait_for(lambda m: True, timeout=30)[0]
    stats = json.loads(first.payload)
    assert stats["fps"] > 0 and stats["started"] and stats["problems"] == []
    daemon.stop()
