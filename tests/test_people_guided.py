"""`people add NAME --camera`: the guided session on the real detector and embedder, fed real photos as a
folder of frames; its quality checks and their hints; spoken prompts and their fall-back to text."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.emulation import hang_guard
from todayfeeling.camera import ImageFolderSource
from todayfeeling.cli import main
from todayfeeling.inference.faces import FaceDetector
from todayfeeling.inference.manifest import Manifest
from todayfeeling.inference.runtime import TFLiteModel
from todayfeeling.people.guided import FINISHED, GuidedSession, Problem, session_steps
from todayfeeling.people.prompts import Speech

# a hang guard for the folder sessions: their frames come as fast as they are read, no step waits on time
STEP_GUARD = str(hang_guard(60))


class Said:
    """Records what the session says aloud (the speaker it would otherwise give to espeak-ng)."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def say(self, text: str, wait: bool = False) -> None:
        self.texts.append(text)


def _fit(image: np.ndarray, width: int = 640) -> np.ndarray:
    """The photo at most ``width`` wide, as a camera frame would be (and quick to detect under emulation)."""
    scale = min(1.0, width / image.shape[1])
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def photos(face_smoke: Path) -> dict[str, np.ndarray]:
    examples = face_smoke / "face_recognition_examples"
    return {name: _fit(cv2.imread(str(examples / name)))
            for name in ("obama.jpg", "obama-1080p.jpg", "obama_and_biden.jpg", "biden.jpg")}


@pytest.fixture(scope="module")
def bad_frames(photos: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray, Problem]]:
    """A frame that fails each check, and the problem it must give."""
    obama = photos["obama.jpg"]
    far = np.full((480, 640, 3), 120, np.uint8)
    small = cv2.resize(obama, (100, 125), interpolation=cv2.INTER_AREA)
    far[200:325, 300:400] = small
    return [("dark.png", (obama * 0.15).astype(np.uint8), Problem.DARK),
            ("glare.png", cv2.convertScaleAbs(obama, alpha=1.8), Problem.BRIGHT),
            ("blurred.png", cv2.GaussianBlur(obama, (0, 0), 4), Problem.BLURRED),
            ("two.png", photos["obama_and_biden.jpg"], Problem.FACES),
            ("far.png", far, Problem.SMALL),
            ("wall.png", np.full((480, 640, 3), 90, np.uint8), Problem.NO_FACE),
            ("turned.png", photos["biden.jpg"], Problem.TURNED)]


@pytest.fixture(scope="module")
def good_frames(photos: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """Obama looking at the camera: four frames that differ (mirrored, another photo, dimmer)."""
    obama = photos["obama.jpg"]
    return [("good1.png", obama), ("good2.png", obama[:, ::-1].copy()), ("good3.png", photos["obama-1080p.jpg"]),
            ("good4.png", cv2.convertScaleAbs(obama, alpha=0.8, beta=10))]


def _folder(path: Path, frames: list[tuple[str, np.ndarray]]) -> Path:
    path.mkdir()
    for index, (name, image) in enumerate(frames):
        cv2.imwrite(str(path / f"{index:02d}_{name}"), image)
    return path


@pytest.fixture(scope="module")
def detector(models_dir: Path) -> FaceDetector:
    spec = Manifest(models_dir).spec("face_full_range", "face_detector")
    return FaceDetector(spec, TFLiteModel(spec.path, threads=1))


def test_each_failed_check_says_its_hint_and_gives_no_shot(
        tmp_path: Path, detector: FaceDetector, bad_frames: list[tuple[str, np.ndarray, Problem]]) -> None:
    source = ImageFolderSource(_folder(tmp_path / "frames", [(name, image) for name, image, _ in bad_frames]), 15.0)
    source.open()
    shown: list[str] = []
    said = Said()
    session = GuidedSession(source, detector, said, show=shown.append, timeout=hang_guard(60), interval=0.0)
    assert session.run(session_steps(["happiness"])) == []
    hints = [problem.value for _, _, problem in bad_frames]
    assert said.texts == [session_steps([])[0].instruction, *hints, FINISHED]  # the next step is never begun
    assert [line.strip().rpartition(" (")[0] for line in shown[1:-2]] == hints  # with what was measured
    assert shown[-2].endswith("has no more frames (0 of 3 shots)")
    assert shown[-1] == "[happiness] skipped: folder " + str(tmp_path / "frames") + " has no more frames"


def test_a_camera_session_enrols_its_good_shots_as_labelled_and_stores_no_picture(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        bad_frames: list[tuple[str, np.ndarray, Problem]], good_frames: list[tuple[str, np.ndarray]]) -> None:
    dark, blurred = bad_frames[0][:2], bad_frames[2][:2]
    frames = _folder(tmp_path / "frames", [dark, *good_frames[:3], blurred, good_frames[3]])
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs"))  # no espeak-ng: the prompts are text only
    db = tmp_path / "state" / "people.json"
    assert main(["people", "add", "Obama", "--camera", "--source", str(frames), "--emotions", "happy,surprise",
                 "--timeout", STEP_GUARD, "--people-db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "speech off: espeak-ng is not installed (apt install espeak-ng); the prompts are on this terminal" in out
    assert "[neutral] Look at the camera with a relaxed, neutral face." in out
    assert f"  {Problem.DARK.value} (brightness 2" in out and f"  {Problem.BLURRED.value} (sharpness 0.0" in out
    assert "[happiness] Now show me a happy face" in out and "has no more frames (1 of 2 shots)" in out
    assert "[surprise] skipped: folder" in out
    assert "enrolled Obama: 4 shots (1 happiness, 3 neutral); 4 templates, calibrated from 4 labelled shots in" in out
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file() and p.parent != frames) == ["people.json"]
    assert main(["people", "list", "--json", "--people-db", str(db)]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["templates"] == 4 and listed["calibration"]["shots"] == 4 and listed["calibration"]["in_use"]


def test_a_session_without_a_good_frame_fails_and_leaves_the_database_alone(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], good_frames: list[tuple[str, np.ndarray]],
        bad_frames: list[tuple[str, np.ndarray, Problem]]) -> None:
    db = tmp_path / "people.json"
    good = _folder(tmp_path / "good", good_frames[:1])
    assert main(["people", "add", "Obama", "--camera", "--source", str(good), "--emotions", "none", "--no-speech",
                 "--timeout", STEP_GUARD, "--people-db", str(db)]) == 0
    before = db.read_bytes()
    bad = _folder(tmp_path / "bad", [(name, image) for name, image, _ in bad_frames])
    capsys.readouterr()
    assert main(["people", "add", "Obama", "--camera", "--source", str(bad), "--emotions", "none", "--no-speech",
                 "--timeout", STEP_GUARD, "--people-db", str(db)]) == 1
    assert "the camera session: no face could be enrolled" in capsys.readouterr().err
    assert db.read_bytes() == before


def test_a_step_goes_on_after_its_timeout_and_a_skipped_step_takes_no_shot(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], detector: FaceDetector,
        good_frames: list[tuple[str, np.ndarray]]) -> None:
    db = tmp_path / "people.json"
    assert main(["people", "add", "Nobody", "--camera", "--source", "demo:empty", "--emotions", "none",
                 "--no-speech", "--timeout", "0.3", "--people-db", str(db)]) == 1
    captured = capsys.readouterr()
    assert f"  {Problem.NO_FACE.value} (no face found)" in captured.out
    assert "  0 of 3 shots within 0.3 s: going on" in captured.out
    assert not db.exists()
    source = ImageFolderSource(_folder(tmp_path / "frames", good_frames[:1]), 15.0)
    source.open()
    shown: list[str] = []
    session = GuidedSession(source, detector, Said(), show=shown.append, skip=lambda: True, interval=0.0)
    assert session.run(session_steps([])) == []
    assert shown[-1] == "  skipped (0 of 3 shots)"


def test_a_camera_that_gives_no_picture_ends_the_session_with_the_reason(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "people.json"  # /dev/video9: absent here, as a busy or unplugged camera is on a Pi
    assert main(["people", "add", "Mina", "--camera", "--source", "/dev/video9", "--emotions", "none",
                 "--no-speech", "--timeout", "0.5", "--people-db", str(db)]) == 1
    captured = capsys.readouterr()
    assert "camera /dev/video9: no picture in 0.5 s (reconnecting: " in captured.err
    assert "is another program using the camera?" in captured.err
    assert "[happiness]" not in captured.out and not db.exists()  # not every step waited out, nothing stored


@pytest.mark.parametrize(("args", "reason"), [
    (["--from", "x", "--source", "demo"], "--source, --no-speech: only with --camera"),
    (["--camera", "--emotions", "disgust"], "--emotions: 'disgust' is not one of happiness, surprise"),
    (["--camera", "--emotions", "neutral"], "'neutral' is always the first step"),
    (["--camera", "--source", "demo:empty", "--timeout", "0"], "--timeout: 0 s: a step needs a positive time"),
    (["--camera", "--source", "demo:empty", "--timeout", "nan"], "--timeout: nan s: a step needs a positive time"),
    (["--camera", "--source", "/no/such/camera"], "/no/such/camera: no such camera, video file or folder"),
    (["--camera"], "no camera found to enrol from"),  # [camera] source = auto on a machine without one: no demo
])
def test_wrong_camera_options_are_refused_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          args: list[str], reason: str) -> None:
    db = tmp_path / "people.json"
    assert main(["people", "add", "Mina", *args, "--no-speech", "--people-db", str(db)]) == 1
    assert reason in capsys.readouterr().err
    assert not db.exists()


def test_prompts_are_spoken_by_espeak_ng_and_fall_back_to_text(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (scripts/dev.sh setup installs it)")
    speech = Speech()
    assert speech.start() == ""  # SDL's dummy audio driver (tests/conftest.py)
    speech.say(Problem.SMALL.value, wait=True)
    speech.say(Problem.SMALL.value)  # rendered once, kept in memory
    assert speech.off_reason == ""
    speech.close()

    failing = tmp_path / "espeak-ng"
    failing.write_text("#!/bin/sh\necho 'no voice en' >&2\nexit 1\n")
    failing.chmod(0o755)
    broken = Speech(str(failing))
    assert broken.start() == ""
    broken.say("Hello")  # never raises: speech turns off, with the reason
    assert broken.off_reason == f"{failing} failed: no voice en"
    broken.say("Hello again")

    monkeypatch.setenv("SDL_AUDIODRIVER", "no-such-driver")
    reason = Speech().start()
    assert reason.startswith("no audio output (") and "no-such-driver" in reason
