"""The real appliance process end to end: real models, a real mosquitto, pygame's dummy audio, real signals.

Each test starts `python -m todayfeeling run` with a config file in tmp_path and watches it from the outside:
over MQTT, through a NOTIFY_SOCKET datagram socket (as systemd would), in its log, and by its exit status.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import pytest

from tests.audio_files import music_folder
from tests.broker import Broker, MqttProbe
from tests.daemon_process import Daemon, NotifySocket, write_config
from tests.emulation import hang_guard

BASE = "todayfeeling/e2e"
SMILING = ("face_recognition_examples/obama.jpg", "dlib_misc/Tom_Cruise_avp_2014_4.jpg")
EMULATED_CLIP_FRAMES = 24  # of the clip's 275: about 70 s under qemu instead of about 190 s


@pytest.fixture()
def music(tmp_path: Path) -> Path:
    return music_folder(tmp_path / "music", {"happiness": ["joy.ogg", "sun.wav"], "neutral": ["calm.wav"],
                                             "sadness": ["rain.wav"]}, seconds=2.0)


def payloads(probe: MqttProbe, topic: str) -> list[dict]:
    return [json.loads(m.payload) for m in probe.messages if m.topic == topic]


def smiling_folder(tmp_path: Path, camera_sized: Callable[[str], Path], frames: int = 20) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(frames):
        (folder / f"{i:03d}.jpg").symlink_to(camera_sized(SMILING[i % len(SMILING)]))
    return folder


def test_folder_of_smiling_faces_plays_happy_music_and_tells_the_smart_home(
        tmp_path: Path, camera_sized: Callable[[str], Path], mosquitto: Broker, probe_factory: Callable[..., MqttProbe],
        music: Path, start_daemon: Callable[..., Daemon]) -> None:
    probe = probe_factory(mosquitto, f"{BASE}/#", "homeassistant/#")
    config = write_config(tmp_path / "config.toml", mosquitto, music, tmp_path)
    daemon = start_daemon(config, "--source", str(smiling_folder(tmp_path, camera_sized)), "--fps", "5")
    assert daemon.wait(60) == 0, daemon.log_text()

    assert [m.text for m in probe.messages if m.topic == f"{BASE}/availability"][0] == "online"
    assert probe.last(f"{BASE}/availability").text == "offline"  # a clean stop says goodbye
    mood_sensor = json.loads(probe.on("homeassistant/sensor/todayfeeling_e2e/mood/config")[0].payload)
    assert mood_sensor["state_topic"] == f"{BASE}/state" and "none" in mood_sensor["options"]

    events = payloads(probe, f"{BASE}/event")
    kinds = [e["event_type"] for e in events]
    assert kinds.index("face_arrived") < kinds.index("mood_changed")
    changed = [e for e in events if e["event_type"] == "mood_changed"]
    assert changed[0]["mood"] == "happiness"
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    states = payloads(probe, f"{BASE}/state")
    assert any(s["mood"] == "happiness" and s["faces"] == 1 for s in states)

    players = payloads(probe, f"{BASE}/player/state")
    playing = [p for p in players if p["state"] == "playing"]
    assert playing and playing[0]["playlist"] == "happiness"
    assert playing[0]["track"] in {"joy.ogg", "sun.wav"}
    assert players[-1]["state"] == "playing"  # the end of a finite source leaves the player's state as it was
    started = [e for e in events if e["event_type"] == "playback_started"]
    assert started and started[0]["playlist"] == "happiness"


def first_frames(video: Path, out: Path, count: int) -> Path:
    """The first ``count`` frames of ``video`` written as a new video (MPEG-4 in .mp4)."""
    capture = cv2.VideoCapture(str(video))
    writer = None
    try:
        for _ in range(count):
            ok, image = capture.read()
            assert ok, f"{video} has fewer than {count} frames"
            if writer is None:
                height, width = image.shape[:2]
                writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), capture.get(cv2.CAP_PROP_FPS),
                                         (width, height))
            writer.write(image)
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    return out


@pytest.mark.emulation_short(reason=f"the 275-frame clip needs about 190 s under qemu (0.65 s a frame); its first "
                                    f"{EMULATED_CLIP_FRAMES} frames, re-encoded, take the same video path to "
                                    "the same events and stats")
def test_short_video_runs_to_its_end_with_mood_events(
        tmp_path: Path, face_smoke: Path, mosquitto: Broker, probe_factory: Callable[..., MqttProbe],
        music: Path, start_daemon: Callable[..., Daemon], emulation_short: bool) -> None:
    probe = probe_factory(mosquitto, f"{BASE}/#")
    config = write_config(tmp_path / "config.toml", mosquitto, music, tmp_path)
    video = face_smoke / "face_recognition_examples/short_hamilton_clip.mp4"
    if emulation_short:  # 0.8 s of the clip's time, however slowly read: enough for the mood tracker
        video = first_frames(video, tmp_path / "first_frames.mp4", EMULATED_CLIP_FRAMES)
    daemon = start_daemon(config, "--source", str(video))
    assert daemon.wait(120) == 0, daemon.log_text()
    kinds = [e["event_type"] for e in payloads(probe, f"{BASE}/event")]
    assert "face_arrived" in kinds and "mood_changed" in kinds
    stats = payloads(probe, f"{BASE}/stats")
    assert stats and stats[-1]["backend"]["actual"] == "cpu" and stats[-1]["frames_processed"] > 0


def test_live_appliance_privacy_reload_and_clean_stop_under_systemd_notify(
        tmp_path: Path, mosquitto: Broker, probe_factory: Callable[..., MqttProbe], music: Path,
        start_daemon: Callable[..., Daemon], notify_socket: NotifySocket) -> None:
    probe = probe_factory(mosquitto, f"{BASE}/#")
    config = write_config(tmp_path / "config.toml", mosquitto, music, tmp_path)
    daemon = start_daemon(config, "--source", "demo",
                          env={"NOTIFY_SOCKET": str(notify_socket.path), "WATCHDOG_USEC": "1000000"})
    ready = notify_socket.wait_for(lambda got: any("READY=1" in m for m in got))
    assert any(m.startswith("READY=1") for m in ready)
    probe.wait_for(lambda m: m.topic == f"{BASE}/state" and json.loads(m.payload)["mood"] == "happiness")
    pings = notify_socket.wait_for(lambda got: got[len(ready):].count("WATCHDOG=1") >= 2)[len(ready):]
    assert pings.count("WATCHDOG=1") >= 2
    assert any("STATUS=cpu | " in m for m in ready + pings)

    probe.publish(f"{BASE}/privacy/set", "ON")
    probe.wait_for(lambda m: m.topic == f"{BASE}/privacy/state" and m.text == "ON")
    probe.wait_for(lambda m: m.topic == f"{BASE}/state" and json.loads(m.payload)["mood"] == "none"
                   and json.loads(m.payload)["privacy"] is True)
    probe.publish(f"{BASE}/privacy/set", "OFF")
    probe.wait_for(lambda m: m.topic == f"{BASE}/privacy/state" and m.text == "OFF")

    config.write_text(config.read_text() + "\n[daemon]\nidle_fps = 2.0\n")
    daemon.process.send_signal(signal.SIGHUP)
    daemon.wait_for_log("config reloaded")
    config.write_text(config.read_text() + "\n[mood]\nswitch_margin = 7\n")
    daemon.process.send_signal(signal.SIGHUP)
    daemon.wait_for_log("config reload rejected")
    assert f"{config}: mood.switch_margin: must be at least 0 and below 1, got 7" in daemon.log_text()
    assert daemon.process.poll() is None

    probe.clear()
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.wait(10) == 0, daemon.log_text()
    assert probe.on(f"{BASE}/availability")[0].text == "offline"
    assert "STOPPING=1" in notify_socket.wait_for(lambda got: "STOPPING=1" in got, timeout=2)
    assert "cannot notify systemd" not in daemon.log_text()


def test_without_a_camera_a_terminal_run_shows_the_demo_and_the_service_looks_for_a_camera(
        tmp_path: Path, mosquitto: Broker, probe_factory: Callable[..., MqttProbe], music: Path,
        start_daemon: Callable[..., Daemon], notify_socket: NotifySocket) -> None:
    config = write_config(tmp_path / "config.toml", mosquitto, music, tmp_path)  # [camera] source: auto
    terminal = start_daemon(config)  # this machine has no camera: the quick start's demo
    terminal.wait_for_log("no camera on this machine: running on the demo source")
    terminal.wait_for_log("running: source demo")
    terminal.stop()
    probe = probe_factory(mosquitto, f"{BASE}/#")
    service = start_daemon(config, env={"NOTIFY_SOCKET": str(notify_socket.path), "WATCHDOG_USEC": "1000000"})
    notify_socket.wait_for(lambda got: any("READY=1" in m for m in got))
    service.wait_for_log("no camera yet: looking for one until it comes")
    stats = probe.wait_for(lambda m: m.topic == f"{BASE}/stats" and "no camera" in json.loads(m.payload)["camera"])
    assert json.loads(stats[0].payload)["camera"].startswith("reconnecting: no camera found")
    service.stop()
    assert "running on the demo source" not in service.log_text()  # no demo face's mood reaches the smart home
    assert all(json.loads(m.payload)["faces"] == 0 for m in probe.messages if m.topic == f"{BASE}/state"
               and not m.retain)  # the retained state is the terminal run's


def test_killed_appliance_leaves_its_last_will(
        tmp_path: Path, mosquitto: Broker, probe_factory: Callable[..., MqttProbe], music: Path,
        start_daemon: Callable[..., Daemon]) -> None:
    probe = probe_factory(mosquitto, f"{BASE}/availability")
    config = write_config(tmp_path / "config.toml", mosquitto, music, tmp_path)
    daemon = start_daemon(config)
    probe.wait_for(lambda m: m.text == "online", timeout=hang_guard(30))
    daemon.process.kill()
    daemon.wait(10)
    will = probe.wait_for(lambda m: m.text == "offline", timeout=hang_guard(10))[0]
    assert will.qos == 1


def test_bad_config_is_rejected_at_start_with_file_key_and_reason(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[camera]\nsource = 'auto'\nfps = -3\n[mqtt]\nusername = 'ha'\n")
    done = subprocess.run([sys.executable, "-m", "todayfeeling", "run", "--config", str(config)],
                          capture_output=True, text=True, timeout=hang_guard(60))
    assert done.returncode == 2
    assert f"config error: {config}: camera.fps: must be positive, got -3" in done.stderr
