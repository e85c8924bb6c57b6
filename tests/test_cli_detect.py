"""`todayfeeling detect` as outside tools use it: JSON lines, crops, videos and clear per-file errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.emulation import hang_guard
from todayfeeling.cli import main
from todayfeeling.vocabulary import EMOTIONS


def _json_lines(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_json_output_follows_the_contract(face_smoke: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = face_smoke / "face_recognition_examples/two_people.jpg"
    assert main(["detect", "--json", str(image)]) == 0
    (record,) = _json_lines(capsys)
    assert record["path"] == str(image) and record["backend"] == "cpu"
    assert set(record["ms"]) >= {"detect", "classify"}
    assert len(record["faces"]) == 2
    sizes = [f["box"][2] * f["box"][3] for f in record["faces"]]
    assert sizes == sorted(sizes, reverse=True)
    for face in record["faces"]:
        assert len(face["box"]) == 4 and all(isinstance(v, int) for v in face["box"])
        assert list(face["probabilities"]) == list(EMOTIONS)
        assert face["emotion"] == max(face["probabilities"], key=face["probabilities"].get)
        assert 0.5 <= face["score"] <= 1.0


def test_crop_mode_gives_one_face_covering_the_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crop = tmp_path / "face.png"
    cv2.imwrite(str(crop), np.full((60, 50), 128, np.uint8))
    assert main(["detect", "--json", "--crop", str(crop)]) == 0
    (record,) = _json_lines(capsys)
    assert [f["box"] for f in record["faces"]] == [[0, 0, 50, 60]]


def test_video_gives_one_line_per_frame(tmp_path: Path, face_smoke: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    frame = cv2.resize(cv2.imread(str(face_smoke / "face_recognition_examples/obama.jpg")), (320, 400))
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 400))
    for _ in range(3):
        writer.write(frame)
    writer.release()
    assert main(["detect", "--json", str(video)]) == 0
    records = _json_lines(capsys)
    assert [r["frame"] for r in records] == [0, 1, 2]
    assert all(len(r["faces"]) == 1 for r in records)
    other_suffix = video.rename(tmp_path / "clip.3gp")  # a video whatever it is called: still one line a frame
    assert main(["detect", "--json", str(other_suffix)]) == 0
    assert [r["frame"] for r in _json_lines(capsys)] == [0, 1, 2]


def test_bad_files_are_reported_per_file_and_the_run_goes_on(
        tmp_path: Path, face_smoke: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "photos"
    (folder / "nested").mkdir(parents=True)
    (folder / "broken.jpg").write_bytes(b"not a jpeg at all")
    shutil.copy(face_smoke / "dlib_misc/dogs.jpg", folder / "nested/dogs.jpg")
    empty = tmp_path / "empty"
    empty.mkdir()
    status = main(["detect", "--json", str(folder), str(empty), str(tmp_path / "missing.png")])
    records = {Path(r["path"]).name: r for r in _json_lines(capsys)}
    assert status == 1
    assert records["broken.jpg"]["error"] == "not a readable image"
    assert records["dogs.jpg"]["faces"] == []
    assert records["empty"]["error"] == "no images or videos in this folder"
    assert records["missing.png"]["error"] == "no such file or folder"


def test_missing_model_exits_with_how_to_fetch_it(tmp_path: Path, models_dir: Path, face_smoke: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(models_dir / "manifest.json", tmp_path / "manifest.json")
    image = face_smoke / "face_recognition_examples/obama.jpg"
    assert main(["detect", "--models", str(tmp_path), str(image)]) == 2
    assert "fetch_models.py" in capsys.readouterr().err


def test_human_readable_output_from_the_installed_command(face_smoke: Path) -> None:
    image = face_smoke / "face_recognition_examples/obama.jpg"
    done = subprocess.run([sys.executable, "-m", "todayfeeling", "detect", str(image)],
                          capture_output=True, text=True, timeout=hang_guard(60))
    assert done.returncode == 0
    pattern = rf"{re.escape(str(image))}: 1 face: happiness \d+% at \[\d+, \d+, \d+, \d+\]"
    assert re.fullmatch(pattern, done.stdout.strip())


def test_a_reader_that_stops_early_ends_the_command_quietly(face_smoke: Path) -> None:
    # `todayfeeling detect --json FOLDER | head -1`: the pipe closes after the first line
    detect = subprocess.Popen([sys.executable, "-m", "todayfeeling", "detect", "--json",
                               str(face_smoke / "dlib_pascal_voc")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert detect.stdout is not None and detect.stderr is not None
    first = json.loads(detect.stdout.readline())
    detect.stdout.close()
    errors = detect.stderr.read().decode()
    assert detect.wait(hang_guard(60)) == 141 and first["faces"] is not None
    assert "Traceback" not in errors and "BrokenPipeError" not in errors


def test_a_photo_named_like_a_camera_spec_is_read_as_the_photo(tmp_path: Path, face_smoke: Path,
                                                               capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(face_smoke / "face_recognition_examples/obama.jpg", tmp_path / "demo")
    monkeypatch.chdir(tmp_path)
    assert main(["detect", "--json", "demo"]) == 0  # not the demo camera, which never ends
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["path"] == "demo" and len(json.loads(lines[0])["faces"]) == 1
