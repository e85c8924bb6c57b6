"""Faults and abuse, through the real daemon: each ends with the appliance running and saying what is wrong,
or exiting with a clear error, and nothing recorded before the fault lost.

Broker down and back, a wrong password, TLS on the wrong port either way, two devices with one id, a corrupt
and a locked history, non-finite config values, extreme ``--fps``, a decompression bomb, hostile file names,
the privacy lock, and the owner-only files the daemon makes.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import stat
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.audio_files import music_folder, write_corrupt, write_track
from tests.broker import Broker, Certificates, MqttProbe, free_port
from tests.daemon_process import Daemon, NotifySocket
from todayfeeling.commands.common import handle_signal
from todayfeeling.history import read_spans

BASE = "todayfeeling/faults"
SMILING = "face_recognition_examples/obama.jpg"


def config_file(tmp_path: Path, broker: Broker | None, music: Path | None = None, mqtt: str = "",
                extra: str = "", name: str = "config.toml", music_mode: str = "follow") -> Path:
    """A config for one test's daemon: its broker (or none), music, history and state under tmp_path."""
    mqtt_section = (f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port if broker else free_port()}\n'
                    f"keepalive = 2\nstats_interval = 1.0\nreconnect_min_delay = 0.2\nreconnect_max_delay = 1.0\n"
                    f"{mqtt}\n")
    path = tmp_path / name
    path.write_text(f"""
[device]
id = "faults"

{mqtt_section}
[music]
dir = "{music or tmp_path / 'no-music'}"
fade_ms = 0
mode = "{music_mode}"

[history]
db = "{tmp_path / 'history.sqlite3'}"
checkpoint_s = 0.5

[daemon]
state_dir = "{tmp_path / 'state'}"
status_interval_s = 0.5

[inference]
threads = 1
{extra}
""")
    return path


def faces_folder(tmp_path: Path, camera_sized: Callable[[str], Path], frames: int = 3) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(frames):
        (folder / f"{i:03d}.jpg").symlink_to(camera_sized(SMILING))
    return folder


def todayfeeling(*args: str, timeout: float = 120, **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SDL_AUDIODRIVER": "dummy"}
    return subprocess.run([sys.executable, "-m", "todayfeeling", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, **kwargs)  # type: ignore[call-overload]


# -- MQTT ----------------------------------------------------------------------------------------------------

def test_broker_down_at_start_is_said_at_once_and_the_daemon_connects_when_it_comes(
        tmp_path: Path, broker_factory: Callable[..., Broker], probe_factory: Callable[..., MqttProbe],
        start_daemon: Callable[..., Daemon], notify_socket: NotifySocket) -> None:
    broker = broker_factory()
    broker.stop()
    daemon = start_daemon(config_file(tmp_path, broker), "--source", "demo:empty",
                          env={"NOTIFY_SOCKET": str(notify_socket.path)})
    daemon.wait_for_log(f"MQTT: cannot connect to 127.0.0.1:{broker.port}: Connection refused", timeout=20)
    assert "Connection refused" in notify_socket.wait_for_status(lambda line: "mqtt: cannot connect" in line)
    broker.start()
    probe = probe_factory(broker, f"{BASE}/#")
    probe.wait_for(lambda m: m.topic == f"{BASE}/availability" and m.text == "online", timeout=20)
    daemon.wait_for_log("MQTT: connected to 127.0.0.1")
    stats = probe.wait_for(lambda m: m.topic == f"{BASE}/stats" and json.loads(m.payload)["problems"] == [],
                           timeout=20)
    assert stats
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.wait(20) == 0


def test_a_wrong_password_is_named_by_the_daemon_and_by_doctor(
        tmp_path: Path, broker_factory: Callable[..., Broker], start_daemon: Callable[..., Daemon]) -> None:
    broker = broker_factory(users={"speaker": "right"})
    config = config_file(tmp_path, broker, mqtt='username = "speaker"\npassword = "wrong"')
    daemon = start_daemon(config, "--source", "demo:empty")
    daemon.wait_for_log("MQTT: cannot connect to", timeout=20)
    daemon.wait_for_log("the broker refused the login: Not authorized")
    doctor = todayfeeling("doctor", "--config", str(config), "--source", "demo:empty", "--frames", "1", "--json")
    mqtt = [json.loads(line) for line in doctor.stdout.splitlines() if json.loads(line)["name"] == "mqtt"]
    assert mqtt[0]["outcome"] == "failed" and "refused the login" in mqtt[0]["detail"]
    assert doctor.returncode == 1
    right = config_file(tmp_path, broker, mqtt='username = "speaker"\npassword = "right"', name="right.toml")
    doctor = todayfeeling("doctor", "--config", str(right), "--source", "demo:empty", "--frames", "1", "--json")
    mqtt = [json.loads(line) for line in doctor.stdout.splitlines() if json.loads(line)["name"] == "mqtt"]
    assert mqtt[0]["outcome"] == "ok" and "as 'speaker'" in mqtt[0]["detail"]
    assert daemon.process.poll() is None  # still running, still trying


def test_tls_against_a_plain_port_and_plain_against_a_tls_port_are_both_named(
        tmp_path: Path, broker_factory: Callable[..., Broker], tls_certificates: Certificates,
        start_daemon: Callable[..., Daemon]) -> None:
    plain = broker_factory()
    tls_on_plain = start_daemon(config_file(tmp_path, plain, mqtt="tls = true\ntls_insecure = true",
                                            name="a.toml"), "--source", "demo:empty")
    tls_on_plain.wait_for_log("TLS handshake failed", timeout=20)
    secure = broker_factory(certificates=tls_certificates)
    plain_on_tls = start_daemon(config_file(tmp_path, secure, name="b.toml"), "--source", "demo:empty")
    plain_on_tls.wait_for_log("the broker closed the connection before accepting it", timeout=20)
    assert "a TLS port without tls = true" in plain_on_tls.log_text()


def test_a_slow_idle_frame_rate_still_feeds_the_watchdog(
        tmp_path: Path, start_daemon: Callable[..., Daemon], notify_socket: NotifySocket) -> None:
    """A frame every 20 s in an empty room is the loop waiting as configured: systemd's watchdog (here 1 s,
    pinged every half second) must not take it for a hang and restart the service."""
    config = config_file(tmp_path, None, mqtt="enabled = false")
    config.write_text(config.read_text().replace("status_interval_s = 0.5", "status_interval_s = 0.5\nidle_fps = 0.05"))
    start_daemon(config, "--source", "demo:empty",
                 env={"NOTIFY_SOCKET": str(notify_socket.path), "WATCHDOG_USEC": "1000000"})
    pings = notify_socket.wait_for(lambda got: sum(m == "WATCHDOG=1" for m in got) >= 6)
    assert sum(m == "WATCHDOG=1" for m in pings) >= 6


def test_two_devices_with_one_id_are_detected_and_named(
        tmp_path: Path, mosquitto: Broker, start_daemon: Callable[..., Daemon]) -> None:
    first = start_daemon(config_file(tmp_path, mosquitto, name="a.toml"), "--source", "demo:empty")
    first.wait_for_log("MQTT: online", timeout=20)
    second = start_daemon(config_file(tmp_path, mosquitto, name="b.toml"), "--source", "demo:empty")
    deadline = time.monotonic() + 40
    named = ("another appliance uses the device id", "another client probably uses the client id")
    while not any(text in d.log_text() for d in (first, second) for text in named):
        assert time.monotonic() < deadline, first.log_text() + second.log_text()
        time.sleep(0.2)
    log = first.log_text() + second.log_text()
    assert "todayfeeling/faults" in log or "'todayfeeling-faults'" in log


def test_hostile_messages_on_the_instance_topic_cannot_cut_the_link_or_the_stats(
        tmp_path: Path, mosquitto: Broker, probe_factory: Callable[..., MqttProbe],
        start_daemon: Callable[..., Daemon]) -> None:
    """Any client of the broker may write to ``…/instance``: JSON nested too deep for the parser must not end
    paho's network thread (no more commands, no reconnect), and a made-up machine must not reach the stats
    (a problem text too long to publish stopped every stats message and crashed the next privacy switch)."""
    daemon = start_daemon(config_file(tmp_path, mosquitto), "--source", "demo:empty")
    daemon.wait_for_log("MQTT: online", timeout=20)
    probe = probe_factory(mosquitto, f"{BASE}/#")
    probe.publish(f"{BASE}/instance", b"[" * 100_000)
    probe.publish(f"{BASE}/instance", json.dumps({"machine": "x" * 200, "pid": 1}))
    daemon.wait_for_log("another appliance uses the device id of this one (todayfeeling/faults; machine unknown")
    probe.clear()
    probe.publish(f"{BASE}/privacy/set", "ON")
    assert probe.wait_for(lambda m: m.topic == f"{BASE}/privacy/state" and m.payload == b"ON", timeout=20)
    stats = probe.wait_for(lambda m: m.topic == f"{BASE}/stats" and any(
        "another appliance" in problem for problem in json.loads(m.payload)["problems"]), timeout=20)
    assert all(len(problem) <= 200 for problem in json.loads(stats[0].payload)["problems"])
    assert daemon.process.poll() is None
    assert "Traceback" not in daemon.log_text()


def test_rapid_volume_commands_never_publish_an_older_volume_after_a_newer_one(
        tmp_path: Path, mosquitto: Broker, probe_factory: Callable[..., MqttProbe],
        start_daemon: Callable[..., Daemon]) -> None:
    music = music_folder(tmp_path / "music", {"neutral": ["calm.wav"]}, seconds=20.0)
    config = config_file(tmp_path, mosquitto, music, music_mode="fixed")
    daemon = start_daemon(config, "--source", "demo:empty")
    probe = probe_factory(mosquitto, f"{BASE}/player/state")
    probe.wait_for(lambda m: json.loads(m.payload)["state"] == "playing", timeout=30)
    probe.clear()
    for volume in range(11, 100, 11):
        probe.publish(f"{BASE}/volume/set", str(volume))
    probe.wait_for(lambda m: json.loads(m.payload)["volume"] == 99, timeout=20)
    time.sleep(1.0)  # the player's own states arrive too
    volumes = [json.loads(m.payload)["volume"] for m in probe.messages]
    assert volumes == sorted(volumes) and volumes[-1] == 99
    assert daemon.process.poll() is None


# -- history ---------------------------------------------------------------------------------------------------

def test_a_corrupt_history_is_kept_aside_and_a_new_one_records(
        tmp_path: Path, start_daemon: Callable[..., Daemon]) -> None:
    db = tmp_path / "history.sqlite3"
    db.write_bytes(b"this is not a database, but someone's data" * 100)
    daemon = start_daemon(config_file(tmp_path, None, mqtt="enabled = false"), "--source", "demo")
    daemon.wait_for_log("mood: happiness", timeout=30)
    daemon.stop()
    assert "is not a usable database" in daemon.log_text()
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("history.sqlite3.corrupt-")]
    assert len(kept) == 1 and kept[0].read_bytes().startswith(b"this is not a database")
    assert [s.mood for s in read_spans(db)] == ["happiness"]


def test_a_locked_history_keeps_the_changes_until_it_is_free_again(
        tmp_path: Path, start_daemon: Callable[..., Daemon], notify_socket: NotifySocket) -> None:
    db = tmp_path / "history.sqlite3"
    blocker = sqlite3.connect(db)
    blocker.execute("CREATE TABLE other (x)")
    blocker.commit()
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the database
    # the demo camera (a smiling face) runs until stopped: no frame count to outlast the lock at any speed
    daemon = start_daemon(config_file(tmp_path, None, mqtt="enabled = false"), "--source", "demo",
                          env={"NOTIFY_SOCKET": str(notify_socket.path)})
    daemon.wait_for_log("is locked by another process", timeout=30)
    assert "locked by another process" in notify_socket.wait_for_status(lambda line: "history:" in line)
    daemon.wait_for_log("mood: happiness", timeout=30)  # a change made while the history is locked
    blocker.rollback()
    blocker.close()
    daemon.wait_for_log("usable again; every waiting change is saved", timeout=30)
    daemon.stop()
    spans = read_spans(db)
    assert [s.mood for s in spans] == ["happiness"] and spans[0].duration > 0


def test_the_history_the_daemon_makes_is_owner_only(tmp_path: Path, camera_sized: Callable[[str], Path],
                                                   start_daemon: Callable[..., Daemon]) -> None:
    daemon = start_daemon(config_file(tmp_path, None, mqtt="enabled = false"), "--source",
                          str(faces_folder(tmp_path, camera_sized)))
    assert daemon.wait(60) == 0, daemon.log_text()
    for path in tmp_path.glob("history.sqlite3*"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_history_command_names_a_corrupt_database_as_such(tmp_path: Path) -> None:
    bogus = tmp_path / "history.sqlite3"
    bogus.write_text("not a database")
    done = todayfeeling("history", "--db", str(bogus))
    assert done.returncode == 1 and "is corrupt" in done.stderr and "run as root" not in done.stderr


# -- input that could stop or mislead the appliance ------------------------------------------------------------

@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_non_finite_config_values_stop_the_start_with_file_key_and_reason(tmp_path: Path, value: str) -> None:
    config = config_file(tmp_path, None, mqtt="enabled = false", extra=f"[mood]\ntime_constant_s = {value}")
    done = todayfeeling("run", "--config", str(config), "--source", "demo:empty")
    assert done.returncode == 2
    assert f"{config}: mood.time_constant_s: expected a finite number" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("fps", ["0", "-1", "nan", "inf", "1e9", "fast"])
def test_extreme_fps_is_refused(fps: str) -> None:
    done = todayfeeling("run", "--source", "demo:empty", "--fps", fps)
    assert done.returncode == 2 and "argument --fps" in done.stderr


def test_the_slowest_fps_still_stops_at_once_on_sigterm(tmp_path: Path, camera_sized: Callable[[str], Path],
                                                       start_daemon: Callable[..., Daemon]) -> None:
    daemon = start_daemon(config_file(tmp_path, None, mqtt="enabled = false"), "--source",
                          str(faces_folder(tmp_path, camera_sized)), "--fps", "1e-9")
    daemon.wait_for_log("running: source", timeout=30)
    time.sleep(1.0)
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.wait(10) == 0
    assert "stopping (asked to)" in daemon.log_text()


def _bomb(path: Path, side: int = 30000) -> Path:
    """A PNG of under a megabyte that declares a side x side picture (2.7 GB as BGR).

    Its pixel data (each row a filter byte and ``side`` zeros) is all zeros, so it is written without
    compressing 0.9 GB (a minute and more under emulation): one deflate block of a MiB of zeros, repeated (a
    full flush makes each block stand alone), the rest, and the zlib trailer, where the Adler-32 of n zeros
    is ``(n mod 65521) << 16 | 1``.
    """
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    size, block = side * (side + 1), 1 << 20
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate: the zlib header and trailer are written here
    blocks = packer.compress(bytes(block)) + packer.flush(zlib.Z_FULL_FLUSH)
    rest = packer.compress(bytes(size % block)) + packer.flush()
    pixels = b"\x78\xda" + blocks * (size // block) + rest + struct.pack(">I", (size % 65521) << 16 | 1)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))
    return path


def test_a_decompression_bomb_is_refused_before_it_is_decoded(tmp_path: Path, camera_sized: Callable[[str], Path],
                                                              start_daemon: Callable[..., Daemon]) -> None:
    folder = faces_folder(tmp_path, camera_sized, frames=2)
    bomb = _bomb(folder / "000_bomb.png")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = todayfeeling("detect", "--json", str(bomb))
    assert done.returncode == 1
    assert json.loads(done.stdout)["error"] == "image larger than 40 megapixels: not decoded"
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss < max(before, 1024 * 1024)  # under 1 GiB
    daemon = start_daemon(config_file(tmp_path, None, mqtt="enabled = false"), "--source", str(folder))
    assert daemon.wait(60) == 0, daemon.log_text()
    assert "000_bomb.png: image larger than 40 megapixels" in daemon.log_text()


def test_a_folder_of_only_corrupt_images_is_an_error_not_a_clean_end(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for name in ("a.jpg", "b.png"):
        (folder / name).write_bytes(b"not an image")
    done = todayfeeling("run", "--config", str(config_file(tmp_path, None, mqtt="enabled = false")),
                        "--source", str(folder))
    assert done.returncode == 2
    assert f"todayfeeling: folder {folder}: no readable frame in it" in done.stderr


def test_a_start_up_failure_is_logged_as_one(tmp_path: Path) -> None:
    folder = tmp_path / "video.mp4"
    folder.write_bytes(b"not a video")
    done = todayfeeling("run", "--config", str(config_file(tmp_path, None, mqtt="enabled = false")),
                        "--source", str(folder))
    assert done.returncode == 2
    assert "stopping (start-up failed:" in done.stderr and "stopping (asked to)" not in done.stderr


# -- hostile file names and folders ------------------------------------------------------------------------------

def test_hostile_track_names_play_and_cannot_forge_log_lines(
        tmp_path: Path, mosquitto: Broker, probe_factory: Callable[..., MqttProbe],
        start_daemon: Callable[..., Daemon]) -> None:
    music = tmp_path / "music"
    (music / "neutral").mkdir(parents=True)
    write_track(Path(os.fsdecode(os.fsencode(music / "neutral") + b"/caf\xe9.wav")), seconds=20.0)
    (music / "neutral" / "bad\nWARNING forged line.ogg").write_bytes(b"OggS not really")
    config = config_file(tmp_path, mosquitto, music, mqtt="publish_track = true", music_mode="fixed")
    probe = probe_factory(mosquitto, f"{BASE}/player/state")
    daemon = start_daemon(config, "--source", "demo:empty")
    playing = probe.wait_for(lambda m: json.loads(m.payload)["state"] == "playing", timeout=30)
    assert json.loads(playing[0].payload)["track"] == "caf\\xe9.wav"
    daemon.wait_for_log("playing caf\\xe9.wav from neutral")
    assert not any(line.startswith("WARNING forged line") for line in daemon.log_text().splitlines())
    assert daemon.process.poll() is None


def test_a_track_that_cannot_be_opened_is_reported_with_the_real_reason(tmp_path: Path) -> None:
    import pygame

    from todayfeeling.music.player import load

    (tmp_path / "not-a-file.ogg").mkdir()  # a name that looks like a track; opening it fails for a reason
    pygame.mixer.init()
    try:
        assert load(tmp_path / "not-a-file.ogg") == "Is a directory"
        write_corrupt(tmp_path / "broken.ogg")
        problem = load(tmp_path / "broken.ogg")
        assert problem is not None and "No such file" not in problem
    finally:
        pygame.mixer.quit()


def test_a_preference_folder_outside_the_library_is_a_config_error(tmp_path: Path) -> None:
    config = config_file(tmp_path, None, mqtt="enabled = false",
                         extra='[music.preferences]\nsadness = [{ folder = "../outside" }]')
    done = todayfeeling("run", "--config", str(config), "--source", "demo:empty")
    assert done.returncode == 2
    assert "music.preferences.sadness[0].folder: '../outside' must be a folder inside the music library" \
        in done.stderr
    outside = todayfeeling("music", "play", "../../etc", "--music", str(tmp_path))
    assert outside.returncode == 2 and "inside the music library" in outside.stderr


def test_track_names_stay_private_unless_the_owner_allows_them(
        tmp_path: Path, mosquitto: Broker, probe_factory: Callable[..., MqttProbe],
        start_daemon: Callable[..., Daemon]) -> None:
    music = music_folder(tmp_path / "music", {"neutral": ["our wedding song.wav"]}, seconds=20.0)
    config = config_file(tmp_path, mosquitto, music, music_mode="fixed")
    probe = probe_factory(mosquitto, f"{BASE}/#")
    start_daemon(config, "--source", "demo:empty")
    probe.wait_for(lambda m: m.topic == f"{BASE}/player/state" and json.loads(m.payload)["state"] == "playing",
                   timeout=30)
    time.sleep(0.5)
    assert all(b"wedding" not in m.payload for m in probe.messages)
    players = [json.loads(m.payload) for m in probe.messages if m.topic == f"{BASE}/player/state"]
    assert players[-1]["track"] is None and players[-1]["playlist"] == "neutral"


# -- privacy ---------------------------------------------------------------------------------------------------

def test_the_privacy_lock_cannot_be_undone_over_mqtt(
        tmp_path: Path, mosquitto: Broker, probe_factory: Callable[..., MqttProbe],
        start_daemon: Callable[..., Daemon]) -> None:
    config = config_file(tmp_path, mosquitto)
    probe = probe_factory(mosquitto, f"{BASE}/privacy/state")
    daemon = start_daemon(config, "--source", "demo")
    probe.wait_for(lambda m: m.text == "OFF", timeout=30)
    locking = todayfeeling("privacy", "lock", "--config", str(config))
    assert locking.returncode == 0 and "privacy locked" in locking.stdout
    probe.wait_for(lambda m: m.text == "ON", timeout=10)
    probe.clear()
    probe.publish(f"{BASE}/privacy/set", "OFF")
    daemon.wait_for_log("privacy stays on: it is locked on this device")
    time.sleep(1.0)
    assert [m.text for m in probe.messages] in ([], ["ON"])  # never OFF
    os.kill(daemon.process.pid, signal.SIGUSR2)  # a local signal does not unlock either
    time.sleep(1.0)
    assert "OFF" not in [m.text for m in probe.messages]
    assert todayfeeling("privacy", "unlock", "--config", str(config)).returncode == 0
    probe.publish(f"{BASE}/privacy/set", "OFF")
    probe.wait_for(lambda m: m.text == "OFF", timeout=10)


def test_privacy_locked_in_the_config_means_the_camera_is_never_opened(
        tmp_path: Path, start_daemon: Callable[..., Daemon]) -> None:
    config = config_file(tmp_path, None, mqtt="enabled = false")
    config.write_text(config.read_text().replace("[daemon]\n", "[daemon]\nprivacy_lock = true\n"))
    daemon = start_daemon(config, "--source", "/dev/video9")  # a camera would be opened at once otherwise
    daemon.wait_for_log("privacy on at start ([daemon] privacy_lock = true): the camera is not opened")
    time.sleep(1.5)
    assert "cannot open" not in daemon.log_text() and "reconnecting" not in daemon.log_text()
    assert daemon.process.poll() is None


# -- the speaker set-up command --------------------------------------------------------------------------------

def test_a_signal_arriving_while_the_main_thread_holds_a_lock_cannot_deadlock_its_request() -> None:
    # `music play` once set its Event straight from the SIGTERM handler: when the signal came while the main
    # thread was inside that Event's wait, holding its lock, the handler waited for it forever (1 run in 40)
    lock, done = threading.Lock(), threading.Event()

    def request() -> None:  # needs the lock the main thread holds when the signal arrives
        if lock.acquire(timeout=2.0):
            lock.release()
            done.set()

    previous = handle_signal(signal.SIGUSR1, request)
    try:
        with lock:
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(0.2)  # the handler runs here, in this thread, while it holds the lock
        assert done.wait(5.0)
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_music_play_stops_on_sigterm_and_blames_the_audio_output_when_there_is_none(tmp_path: Path) -> None:
    music = music_folder(tmp_path / "music", {"happiness": ["a.wav"]}, seconds=30.0)
    env = {**os.environ, "SDL_AUDIODRIVER": "dummy"}
    player = subprocess.Popen([sys.executable, "-m", "todayfeeling", "music", "play", "happiness", "--music",
                               str(music)], stdout=subprocess.PIPE, text=True, env=env)
    assert player.stdout is not None and player.stdout.readline().startswith("playing happiness")
    player.send_signal(signal.SIGTERM)
    assert player.wait(10) == 0
    silent = subprocess.run([sys.executable, "-m", "todayfeeling", "music", "play", "happiness", "--music",
                             str(music)], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "SDL_AUDIODRIVER": "no-such-driver"})
    assert silent.returncode == 1
    assert "cannot open the audio output" in silent.stderr and "nothing playable" not in silent.stderr


# -- doctor ----------------------------------------------------------------------------------------------------

def test_doctor_shows_the_device_id_and_does_not_judge_placement_without_a_camera(tmp_path: Path) -> None:
    config = config_file(tmp_path, None, mqtt="enabled = false")
    config.write_text(config.read_text().replace('id = "faults"', ""))
    done = todayfeeling("doctor", "--config", str(config), "--json")
    checks = {json.loads(line)["name"]: json.loads(line) for line in done.stdout.splitlines()}
    assert "(derived from this machine)" in checks["device"]["detail"]
    device_id = checks["device"]["detail"].split()[1]
    assert device_id.startswith("todayfeeling-")
    frame = tmp_path / "frame.png"
    cv2.imwrite(str(frame), np.full((48, 64, 3), 90, np.uint8))
    run = todayfeeling("run", "--config", str(config), "--source", str(frame))
    assert f"device id {device_id} (derived from this machine)" in run.stderr
    assert checks["camera"]["outcome"] == "failed"  # this build machine has no camera
    assert checks["placement"]["detail"] == checks["lighting"]["detail"] == "not checked: no camera"


def test_without_a_music_library_the_player_state_is_whole_and_music_commands_change_nothing(
        tmp_path: Path, mosquitto: Broker, probe_factory: Callable[..., MqttProbe],
        start_daemon: Callable[..., Daemon]) -> None:
    """No music folder yet (a fresh appliance): Home Assistant still offers the volume, mode and buttons. A
    volume command made the retained player state ``{"volume": 0}`` (no state for the Player sensor)."""
    probe = probe_factory(mosquitto, f"{BASE}/#")
    daemon = start_daemon(config_file(tmp_path, mosquitto), "--source", "demo:empty")
    first = json.loads(probe.wait_for(lambda m: m.topic == f"{BASE}/player/state", timeout=30)[0].payload)
    assert (first["state"], first["mode"], first["volume"]) == ("stopped", "off", 60)
    assert first["error"] == f"no music library at {tmp_path / 'no-music'}"
    probe.clear()
    probe.publish(f"{BASE}/volume/set", "50")
    probe.publish(f"{BASE}/player/cmd", "play")
    daemon.wait_for_log("no music library at /")
    daemon.wait_for_log(": play ignored")
    fresh = probe_factory(mosquitto, f"{BASE}/player/state")  # the retained state, as Home Assistant reads it
    state = json.loads(fresh.wait_for(lambda m: m.topic == f"{BASE}/player/state", timeout=20)[0].payload)
    assert (state["state"], state["volume"], state["mode"]) == ("stopped", 60, "off")
    assert "Traceback" not in daemon.log_text()
