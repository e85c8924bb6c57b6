"""`todayfeeling doctor`: each check against real parts, and the placement advice."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.audio_files import todayfeeling_without_mixer
from tests.broker import Broker, free_port
from tests.emulation import hang_guard
from todayfeeling import doctor
from todayfeeling.cli import main
from todayfeeling.config import AppConfig, defaults, load_config
from todayfeeling.inference.faces import Face


def _config(tmp_path: Path, text: str) -> AppConfig:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_config(path)


def _face(nose_x: float, size: float = 80.0) -> Face:
    keypoints = np.array([[100, 100], [140, 100], [nose_x, 120], [120, 140], [80, 110], [160, 110]], np.float32)
    return Face((80.0, 80.0, size, size), 0.9, keypoints)


def test_frontalness_is_one_for_a_centred_nose_and_falls_towards_profile() -> None:
    assert doctor.frontalness(_face(120)) == pytest.approx(1.0)
    assert doctor.frontalness(_face(130)) == pytest.approx(0.5)
    assert doctor.frontalness(_face(150)) == 0.0


@pytest.mark.parametrize(("frame_value", "faces", "expected"), [
    (128, [_face(120)], {"lighting": "ok", "placement": "ok"}),
    (20, [_face(120)], {"lighting": "warning", "placement": "ok"}),
    (128, [_face(120, size=24)], {"lighting": "ok", "placement": "warning"}),
    (128, [_face(134)], {"lighting": "ok", "placement": "warning"}),
    (128, [], {"lighting": "ok", "placement": "warning"}),
])
def test_placement_advice(frame_value: int, faces: list[Face], expected: dict[str, str]) -> None:
    frames = [np.full((48, 64, 3), frame_value, np.uint8)] * 3
    placement = doctor.measure_placement(frames, [faces] * 3)
    checks = {c.name: c for c in doctor.placement_advice(placement)}
    assert {name: c.outcome for name, c in checks.items()} == expected
    assert all(c.advice for c in checks.values() if c.outcome != "ok")


def test_broker_check_against_a_real_broker_and_a_closed_port(tmp_path: Path, mosquitto: Broker) -> None:
    up = _config(tmp_path, f"[mqtt]\nhost = '{mosquitto.host}'\nport = {mosquitto.port}\n")
    assert [c.outcome for c in doctor.check_broker(up)] == ["ok"]
    assert "accepts the appliance (plain MQTT, anonymously)" in doctor.check_broker(up)[0].detail
    down = _config(tmp_path, f"[mqtt]\nhost = '127.0.0.1'\nport = {free_port()}\n")
    [check] = doctor.check_broker(down, timeout=1.0)
    assert check.outcome == "failed" and "Connection refused" in check.detail


def test_model_check_verifies_checksums(tmp_path: Path, models_dir: Path) -> None:
    assert {c.outcome for c in doctor.check_models(defaults())} == {"ok"}
    for name in ("manifest.json", "face_detection_full_range_sparse.tflite", "emotion_model_quantized.tflite",
                 "face_detection_short_range.tflite"):
        shutil.copy(models_dir / name, tmp_path / name)
    with (tmp_path / "emotion_model_quantized.tflite").open("ab") as model:
        model.write(b"\0")
    config = _config(tmp_path, f"[inference]\nmodels_dir = '{tmp_path}'\nemotion_model = 'emotion_baseline'\n")
    outcomes = [(c.outcome, c.detail) for c in doctor.check_models(config)]
    assert outcomes[0][0] == "ok"
    assert outcomes[1][0] == "failed" and "sha256" in outcomes[1][1]
    assert outcomes[2] == ("ok", "face_short_range: face_detection_short_range.tflite (sha256 verified)")  # regions


def test_edgetpu_check_sees_a_coral_on_usb_without_its_runtime(tmp_path: Path) -> None:
    coral = tmp_path / "usb" / "2-1"
    coral.mkdir(parents=True)
    (coral / "idVendor").write_text("1a6e\n")
    (coral / "idProduct").write_text("089a\n")
    check = doctor.check_edgetpu(defaults(), usb_root=tmp_path / "usb", pcie_device=tmp_path / "apex_0")
    assert check.outcome == "warning" and check.detail.startswith("attached, but OSError")
    nothing = doctor.check_edgetpu(defaults(), usb_root=tmp_path / "none", pcie_device=tmp_path / "apex_0")
    assert nothing.outcome == "ok"


def test_doctor_command_reports_every_check_and_fails_on_a_broken_part(
        tmp_path: Path, face_smoke: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[mqtt]\nhost = '127.0.0.1'\nport = {free_port()}\n[camera]\nsource = '{face_smoke}'\n")
    status = main(["doctor", "--config", str(config), "--source", str(face_smoke / "dlib_pascal_voc"),
                   "--frames", "3", "--json"])
    checks = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    names = [c["name"] for c in checks]
    assert {"config", "models", "runtime", "edge tpu", "camera", "audio", "music", "mqtt", "lighting",
            "placement"} <= set(names)
    assert status == 1 and next(c for c in checks if c["name"] == "mqtt")["outcome"] == "failed"
    placement = next(c for c in checks if c["name"] == "placement")
    assert "faces in 3/3 frames" in placement["detail"]


def test_music_and_history_in_a_folder_the_user_may_not_look_into_are_failed_checks_naming_the_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"  # the service's, mode 0700: the doctor run by another user may not look in
    config = _config(tmp_path, f"[music]\ndir = '{state / 'music'}'\n[history]\ndb = '{state / 'h.sqlite3'}'\n")
    look = Path.stat

    def stat(path: Path, **kwargs):  # as for that user (tests may run as root)
        if state in path.parents:
            raise PermissionError(13, "Permission denied", str(path))
        return look(path, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    for check, path in ((doctor.check_music(config), state / "music"), (doctor.check_history(config),
                                                                        state / "h.sqlite3")):
        assert (check.outcome, check.detail) == ("failed", f"{path}: cannot read: Permission denied")
        assert "`sudo -u todayfeeling " in check.advice


def test_a_config_that_does_not_load_fails_once_and_the_defaults_are_not_checked_in_its_place(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[camera]\nsource = 'demo'\n[mqtt]\nenabled = false\n[music]\nvolum = 50\n")
    assert main(["doctor", "--config", str(config), "--json"]) == 1
    checks = {c["name"]: c for c in map(json.loads, capsys.readouterr().out.splitlines())}
    assert checks["config"]["outcome"] == "failed" and "music.volum: unknown key" in checks["config"]["detail"]
    assert set(checks) == {"config", "runtime", "audio", "the rest"}  # no camera or broker of the defaults
    assert checks["the rest"]["outcome"] == "warning"


def test_a_camera_that_gives_no_frame_fails_the_placement_check_instead_of_being_dark(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[camera]\nsource = '/dev/video9'\nread_timeout = 0.1\n[mqtt]\nenabled = false\n")
    assert main(["doctor", "--config", str(config), "--frames", "1", "--json"]) == 1
    checks = {c["name"]: c for c in map(json.loads, capsys.readouterr().out.splitlines())}
    assert checks["placement"]["outcome"] == "failed" and "lighting" not in checks
    assert checks["placement"]["detail"].startswith("no frame from camera /dev/video9 in 3 tries (reconnecting: ")


def test_settings_the_doctor_may_not_read_are_a_failed_check_not_nothing_set(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(tmp_path, f"[daemon]\nstate_dir = '{tmp_path / 'state'}'\n")
    (tmp_path / "state").mkdir()
    settings = tmp_path / "state" / "settings.json"
    settings.write_text('{"version": 1, "settings": {"privacy": {"value": true, "config_value": false}}}')
    opened = Path.open

    def open_as_another_user(path: Path, *args, **kwargs):  # tests may run as root, who may read anything
        if path == settings:
            raise PermissionError(13, "Permission denied", str(path))
        return opened(path, *args, **kwargs)

    monkeypatch.setattr(Path, "open", open_as_another_user)
    check = doctor.check_runtime_settings(config)
    assert (check.outcome, check.detail) == ("failed", f"{settings}: cannot read: Permission denied")


def test_doctor_looks_through_the_demo_camera_like_run(capsys: pytest.CaptureFixture[str]) -> None:
    # `run --source demo` works, so `doctor --source demo` must too (one place makes every source).
    main(["doctor", "--source", "demo", "--frames", "2", "--json"])
    checks = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    placement = next(c for c in checks if c["name"] == "placement")
    assert placement["outcome"] == "ok" and "faces in 2/2 frames" in placement["detail"]


def test_doctor_reports_a_missing_mixer_as_a_failed_audio_check(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[mqtt]\nenabled = false\n[music]\ndir = '{tmp_path}'\n")
    done = subprocess.run(todayfeeling_without_mixer("doctor", "--config", str(config), "--frames", "1", "--json"),
                          capture_output=True, text=True, timeout=hang_guard(120))
    assert "Traceback" not in done.stderr, done.stderr
    checks = {c["name"]: c for c in map(json.loads, done.stdout.splitlines())}
    assert done.returncode == 1 and checks["audio"]["outcome"] == "failed", done.stdout
    assert "mixer module not available" in checks["audio"]["detail"]
    assert "libglib2.0-0" in checks["audio"]["advice"]
    assert {"music", "mqtt", "lighting", "placement"} <= set(checks)  # the checks after audio still ran
