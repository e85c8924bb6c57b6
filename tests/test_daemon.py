"""The appliance's main loop in a real process: its signal handlers, reloads and shutdown.

The end-to-end tests (test_daemon_e2e.py) drive `todayfeeling run` from the outside; these run small
scripts against :class:`~todayfeeling.daemon.Appliance` to reach moments that are hard to hit from outside.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from datetime import datetime

import pytest

from tests.audio_files import music_folder
from tests.emulation import hang_guard
from todayfeeling import daemon
from todayfeeling.camera.demo import DemoSource
from todayfeeling.config import defaults, load_config
from todayfeeling.daemon import Appliance
from todayfeeling.inference.manifest import Manifest
from todayfeeling.inference.pipeline import FacePipeline
from todayfeeling.mood import MoodState
from todayfeeling.music.service import MusicService
from todayfeeling.reporting import Periodic, StageTimes, state_payload

SIGNAL_WHILE_LOCKED = """
import os, signal
from todayfeeling.camera import DemoSource
from todayfeeling.commands.run import install_signal_handlers
from todayfeeling.inference.manifest import Manifest
from todayfeeling.config import defaults
from todayfeeling.daemon import Appliance
from todayfeeling.inference.pipeline import FacePipeline

config = defaults()
reloads = []
appliance = Appliance(config, DemoSource(Manifest(), empty=True), FacePipeline.from_config(config.inference),
                      reload_config=lambda: reloads.append(1) or config)
install_signal_handlers(appliance)
with appliance._lock:  # the main loop holds it for a moment on every frame
    os.kill(os.getpid(), signal.SIGHUP)  # the handler runs in this thread, right here
    os.kill(os.getpid(), signal.SIGUSR1)
import time
for _ in range(100):
    appliance._apply_requests()  # what the main loop does next
    if reloads and appliance._privacy:
        break
    time.sleep(0.1)  # (not _wake.wait: the event stays set, it would not wait for the request threads)
print("reloaded" if reloads else "not reloaded", "privacy" if appliance._privacy else "no privacy")
"""


def test_a_signal_while_the_main_loop_holds_its_lock_neither_deadlocks_nor_is_lost() -> None:
    done = subprocess.run([sys.executable, "-c", SIGNAL_WHILE_LOCKED], capture_output=True, text=True,
                          timeout=hang_guard(30))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["reloaded", "privacy"]


def test_a_privacy_command_waiting_for_the_main_loop_is_released_by_a_stop(monkeypatch, models_dir) -> None:
    # The MQTT worker waits in set_privacy until the main loop applied it; a stop must end that wait at
    # once, or MqttPublisher.stop() (which joins the worker) holds up the shutdown.
    monkeypatch.setattr(daemon, "PRIVACY_WAIT_S", 3600.0)
    config = defaults()
    appliance = Appliance(config, DemoSource(Manifest(models_dir), empty=True),
                          FacePipeline.from_config(config.inference))
    answers: list[bool] = []
    worker = threading.Thread(target=lambda: answers.append(appliance.set_privacy(True)))
    worker.start()
    appliance.request_stop()
    worker.join(30)
    assert not worker.is_alive()
    assert answers == [False]  # the loop never applied it


def test_a_reload_of_a_broken_file_keeps_the_running_config(tmp_path, models_dir, caplog) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[daemon]\nidle_fps = 2.0\n")
    flags = {"music": {"dir": str(tmp_path / "music")}}  # as `todayfeeling run --music DIR` gives
    config = load_config(path, flags)
    appliance = Appliance(config, DemoSource(Manifest(models_dir), empty=True),
                          FacePipeline.from_config(config.inference), reload_config=lambda: load_config(path, flags))
    runner = threading.Thread(target=appliance.run)
    runner.start()
    try:
        path.write_text("music = 3\n")
        appliance.request_reload()
        deadline = time.monotonic() + 30
        while "config reload rejected" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        assert f"{path}: music: expected a table" in caplog.text
        assert runner.is_alive()
        assert appliance.config.daemon.idle_fps == 2.0
    finally:
        appliance.request_stop()
        runner.join(30)


def test_a_reload_keeps_the_state_folder_the_appliance_started_with(tmp_path, models_dir, caplog) -> None:
    caplog.set_level(logging.INFO)  # "config reloaded" is an INFO line
    path = tmp_path / "config.toml"  # its settings and privacy lock live there; a new one takes a restart
    path.write_text(f"[daemon]\nstate_dir = '{tmp_path / 'a'}'\n")
    config = load_config(path)
    appliance = Appliance(config, DemoSource(Manifest(models_dir), empty=True),
                          FacePipeline.from_config(config.inference), reload_config=lambda: load_config(path))
    runner = threading.Thread(target=appliance.run)
    runner.start()
    try:
        path.write_text(f"[daemon]\nstate_dir = '{tmp_path / 'b'}'\nidle_fps = 2.0\n")
        appliance.request_reload()
        deadline = time.monotonic() + hang_guard(30)
        while "config reloaded" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        assert appliance.config.daemon.idle_fps == 2.0  # the rest of [daemon] applies
        assert appliance.config.daemon.state_dir == tmp_path / "a"
        assert f"daemon.state_dir {tmp_path / 'b'} takes effect at the next start" in caplog.text
    finally:
        appliance.request_stop()
        runner.join(30)


def test_the_start_time_follows_a_clock_set_after_the_start(models_dir, monkeypatch) -> None:
    config = defaults()  # a Pi without a real-time clock: NTP sets the clock after the service started
    appliance = Appliance(config, DemoSource(Manifest(models_dir), empty=True),
                          FacePipeline.from_config(config.inference))
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3 * 86400)
    assert abs(appliance.health().started - (real() + 3 * 86400)) < 60


def test_since_is_read_on_the_clock_of_the_mood_state() -> None:
    # a video read faster than real time: its mood started 60 s of the video's time before its last frame
    payload = state_payload(MoodState("happiness", 0.9, 100.0, 1, False), privacy=False, now=160.0)
    assert abs(datetime.fromisoformat(payload["since"]).timestamp() - (time.time() - 60)) <= 1


def test_a_periodic_task_keeps_its_beat_and_runs_once_after_a_stall() -> None:
    runs: list[float] = []
    periodic = Periodic()
    periodic.every(lambda: 1.0, runs.append)
    start = time.monotonic()
    for tick in range(100):  # the loop at 1 frame a second, its checks a few milliseconds early or late
        periodic.run_due(start + tick + (0.01 if tick % 2 else 0.0))
    assert len(runs) == 100  # a task due a millisecond after a check waited a whole loop: 50 runs
    periodic.run_due(start + 1000.0)  # after a stall of 15 minutes: once, not 900 times
    periodic.run_due(start + 1000.5)
    assert runs[-1] == start + 1000.0 and runs.count(start + 1000.0) == 1 and start + 1000.5 not in runs


def test_unusable_mqtt_tls_files_stop_the_start_with_a_clear_error(tmp_path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[mqtt]\ntls = true\nca_file = "{tmp_path / "absent.pem"}"\n'
                      f'[music]\ndir = "{tmp_path / "music"}"\n[history]\nenabled = false\n')
    done = subprocess.run([sys.executable, "-m", "todayfeeling", "run", "--config", str(config), "--source",
                           "demo:empty"], capture_output=True, text=True, timeout=hang_guard(60))
    assert done.returncode == 2
    assert "todayfeeling: mqtt TLS files cannot be used: [Errno 2] No such file or directory" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_folder_without_images_stops_the_start_with_a_clear_error(tmp_path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[music]\ndir = "{tmp_path / "music"}"\n[history]\nenabled = false\n')
    (tmp_path / "frames").mkdir()
    done = subprocess.run([sys.executable, "-m", "todayfeeling", "run", "--config", str(config), "--no-mqtt",
                           "--source", str(tmp_path / "frames")], capture_output=True, text=True,
                          timeout=hang_guard(60))
    assert done.returncode == 2
    assert f"todayfeeling: {tmp_path / 'frames'}: no images (" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_long_configured_fade_never_holds_up_a_stop(tmp_path, models_dir) -> None:
    # Music fades out on SIGTERM; with a ten-minute fade in the config the stop must still take seconds
    # (natively within 8 s: less than the 10 s Player.close would wait for the fade; stretched under emulation).
    music = music_folder(tmp_path / "music", {"neutral": ["calm.wav"]}, seconds=30.0)
    config = load_config(None, {"music": {"dir": str(music), "mode": "fixed", "fade_ms": 600_000},
                                "history": {"enabled": False}})
    service = MusicService(config.music)
    appliance = Appliance(config, DemoSource(Manifest(models_dir), empty=True),
                          FacePipeline.from_config(config.inference), music=service)
    runner = threading.Thread(target=appliance.run)
    runner.start()
    try:
        service.player.sync()
        assert service.state()["state"] == "playing"
    finally:
        appliance.request_stop()
        runner.join(hang_guard(8))
    assert not runner.is_alive()
    assert service.state()["state"] == "stopped"


def test_a_volume_command_answers_the_volume_in_effect_even_before_the_player_ran_it(tmp_path, models_dir) -> None:
    # The MQTT worker publishes what set_volume returns; the player's thread may not have run it yet.
    music = music_folder(tmp_path / "music", {"neutral": ["calm.wav"]}, seconds=30.0)
    config = load_config(None, {"music": {"dir": str(music), "volume": 60}, "history": {"enabled": False}})
    service = MusicService(config.music)
    appliance = Appliance(config, DemoSource(Manifest(models_dir), empty=True),
                          FacePipeline.from_config(config.inference), music=service)
    busy, release = threading.Event(), threading.Event()

    def slow_listener(state: dict) -> None:  # holds the player's thread, as a slow MQTT publish would
        busy.set()
        release.wait(30)

    service.add_listener(slow_listener)
    try:
        service.on_mood("neutral", 0.9)
        assert busy.wait(30)
        assert appliance.set_volume(140) == 100
        assert appliance.set_volume(35) == 35
    finally:
        release.set()
        service.close(fade_ms=0)
    assert service.state()["volume"] == 35


def test_one_failing_frame_is_logged_and_survived_but_a_lasting_failure_ends_the_loop(models_dir, caplog) -> None:
    config = defaults()
    pipeline = FacePipeline.from_config(config.inference, tracking=config.tracking)
    real_follow = pipeline.follow
    calls = {"n": 0}

    def flaky(image):  # the third frame fails once, like a glitch in a library
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("glitch")
        return real_follow(image)

    pipeline.follow = flaky
    appliance = Appliance(config, DemoSource(Manifest(models_dir)), pipeline)
    appliance.config = load_config(None, {"daemon": {"idle_fps": 50.0, "active_fps": 50.0}})
    runner = threading.Thread(target=appliance.run)
    runner.start()
    deadline = time.monotonic() + hang_guard(30)
    while appliance.frames < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    appliance.request_stop()
    runner.join(hang_guard(30))
    assert appliance.frames >= 6 and not runner.is_alive()
    assert "a frame failed (1 in a row)" in caplog.text

    pipeline.follow = lambda image: (_ for _ in ()).throw(RuntimeError("broken for good"))
    broken = Appliance(appliance.config, DemoSource(Manifest(models_dir)), pipeline)
    with pytest.raises(RuntimeError, match="broken for good"):
        broken.run()
    assert f"a frame failed ({daemon.MAX_FAILED_FRAMES} in a row)" in caplog.text
    assert f"stopping (giving up after {daemon.MAX_FAILED_FRAMES} failed frames in a row)" in caplog.text
    assert "stopping (asked to)" not in caplog.text.split("broken for good")[-1]


def _frames_folder(folder, count: int):
    import cv2
    import numpy as np

    folder.mkdir()
    for i in range(count):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((48, 64, 3), 50, np.uint8))
    return folder


def test_pace_fps_spaces_the_frames_of_a_finite_source(tmp_path) -> None:
    config = load_config(None, {"history": {"enabled": False}})
    pipeline = FacePipeline.from_config(config.inference, tracking=config.tracking)
    from todayfeeling.camera import make_source

    source = make_source(str(_frames_folder(tmp_path / "frames", 3)), config.camera)
    asked: list[float] = []  # when each frame was asked for: that is what the pace spaces (decoding varies)
    real_read = source.read

    def read(timeout: float):
        asked.append(time.monotonic())
        return real_read(timeout)

    source.read = read
    assert Appliance(config, source, pipeline, pace_fps=50).run() == 0
    assert len(asked) == 4  # three frames, then the end
    seen = asked[:3]
    # A lower bound only (a wait never returns early): frames are at least 1/fps apart.
    assert all(later - earlier >= 0.02 - 1e-3 for earlier, later in zip(seen, seen[1:], strict=False))


def test_a_stop_ends_even_the_slowest_pace_at_once(tmp_path) -> None:
    config = load_config(None, {"history": {"enabled": False}})
    from todayfeeling.camera import make_source

    source = make_source(str(_frames_folder(tmp_path / "frames", 2)), config.camera)
    appliance = Appliance(config, source, FacePipeline.from_config(config.inference), pace_fps=0.001)
    runner = threading.Thread(target=appliance.run)
    runner.start()
    deadline = time.monotonic() + 30
    while appliance.frames < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    stopped_at = time.monotonic()
    appliance.request_stop()  # the next frame is due in 1000 s
    runner.join(10)
    assert not runner.is_alive() and time.monotonic() - stopped_at < 10


def test_the_frame_rate_falls_to_zero_once_frames_stop() -> None:
    """With privacy on or the camera gone no frame arrives: the stats and the status line must not go on
    showing the last rate (they did, for as long as it lasted)."""
    times = StageTimes()
    for frame in range(11):  # 5 frames a second for two seconds
        times.add({"detect": 10.0}, 100.0 + frame * 0.2)
    assert times.fps(102.0) == pytest.approx(5.0)
    assert times.fps(111.0) == pytest.approx(5.0)  # the last frame is still inside the ten seconds
    assert times.fps(120.0) == 0.0


def test_a_finite_source_with_privacy_on_at_start_says_it_is_not_played(tmp_path, caplog) -> None:
    """Privacy on at start (the flag, the file, or remembered) keeps a video or folder from being read: the
    run waited for ever and said nothing about it."""
    config = load_config(None, {"history": {"enabled": False}, "daemon": {"privacy": True}})
    from todayfeeling.camera import make_source

    source = make_source(str(_frames_folder(tmp_path / "frames", 2)), config.camera)
    appliance = Appliance(config, source, FacePipeline.from_config(config.inference))
    runner = threading.Thread(target=appliance.run)
    runner.start()
    deadline = time.monotonic() + hang_guard(30)
    while "is not played until privacy is turned off" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.05)
    appliance.request_stop()
    runner.join(hang_guard(10))
    assert f"privacy is on: folder {tmp_path / 'frames'} is not played until privacy is turned off" in caplog.text
    assert appliance.frames == 0


def test_a_folder_gets_the_same_mood_however_fast_it_is_read(tmp_path, camera_sized) -> None:
    """Frames of a finite source are on its media time: eight smiling photos at 2 a second are four seconds,
    enough for the mood, though read in a fraction of one. On the time they were read, the run once ended
    without a mood (and a video's moods depended on the machine's speed)."""
    from todayfeeling.camera import make_source

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(8):
        (folder / f"{i}.jpg").symlink_to(camera_sized("face_recognition_examples/obama.jpg"))
    config = load_config(None, {"history": {"enabled": False}})
    source = make_source(str(folder), config.camera, folder_fps=2.0)
    appliance = Appliance(config, source, FacePipeline.from_config(config.inference))
    assert appliance.run() == 0
    assert (appliance.frames, appliance.tracker.state.mood) == (8, "happiness")
