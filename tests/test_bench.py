"""`todayfeeling bench`: the report's format on a few frames (never its speed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from todayfeeling.benchmark import STAGES, generated_frame, measure_startup, summary
from todayfeeling.cli import main
from todayfeeling.config import InferenceConfig
from todayfeeling.inference.manifest import Manifest
from todayfeeling.inference.pipeline import FacePipeline


def _report(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(["bench", "--json", "--frames", "3", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def _positive_stage(values: dict) -> None:
    assert set(values) == {"median", "mean", "p95"}
    assert 0 < values["median"] <= values["p95"] and values["mean"] > 0


def test_generated_frame_is_640x480_with_one_real_face(models_dir: Path) -> None:
    frame = generated_frame(Manifest(models_dir))
    assert frame.shape == (480, 640, 3) and frame.dtype == np.uint8
    result = FacePipeline.from_config(InferenceConfig(threads=1)).process(frame)
    assert len(result.faces) == 1


def test_summary_median_mean_and_nearest_rank_p95() -> None:
    assert summary([float(v) for v in range(1, 101)]) == {"median": 50.5, "mean": 50.5, "p95": 95.0}
    assert summary([2.0]) == {"median": 2.0, "mean": 2.0, "p95": 2.0}
    assert summary([1.0, 1.0, 7.0])["mean"] == 3.0


def test_json_report_on_the_generated_frame(capsys: pytest.CaptureFixture[str]) -> None:
    report = _report(["--threads-max", "2", "--startup-runs", "1"], capsys)
    assert report["source"] == "generated 640x480 frame" and report["frame_size"] == [640, 480]
    assert report["frames"] == 3 and report["faces_per_frame"] == 1 and report["stage_threads"] == 1
    assert report["backend"]["actual"] == "cpu"
    assert report["models"] == {"detector": "face_full_range", "emotion": "emotion"}  # the manifest's default
    assert list(report["stages_ms"]) == list(STAGES)
    for values in report["stages_ms"].values():
        _positive_stage(values)
    assert [p["threads"] for p in report["threads"]] == [1, 2]
    for one_pass in report["threads"]:
        assert one_pass["fps"] > 0 and one_pass["cpu_ms_per_frame"] > 0
        assert list(one_pass["stages_ms"]) == list(STAGES)
    invokes = report["invokes"]
    assert invokes["classifier_invokes_per_frame"] == 2  # one face and its mirror image (flip_average)
    assert invokes["detector_invoke_ms"] > 0 and invokes["classifier_invoke_ms"] > 0
    # the face is tracked: after the warm-up frames, regions on two frames and the full detector on one
    assert report["tracked"] and (invokes["detector_invokes_per_frame"], invokes["region_invokes_per_frame"]) == (
        0.33, 0.67)
    assert invokes["invokes_ms"] == pytest.approx(
        sum(invokes[f"{model}_invoke_ms"] * invokes[f"{model}_invokes_per_frame"]
            for model in ("detector", "region", "classifier")), rel=0.02)  # the counts are rounded
    assert invokes["frame_over_invokes"] >= invokes["pipeline_over_invokes"] > 0
    assert report["idle"]["cpu_ms_per_empty_frame"] > 0 and report["idle"]["percent_of_one_core"] > 0
    assert report["startup"]["first_result_s"] > 0 and len(report["startup"]["runs_s"]) == 1
    assert report["peak_rss_mb"]["pipeline_process"] > 0 and report["peak_rss_mb"]["bench_process"] > 0
    machine = report["machine"]
    assert machine["cores"] == os.cpu_count() and machine["cpu"] and len(machine["load_average"]) == 3


def test_the_pipeline_processs_peak_memory_is_its_own_not_its_parents(models_dir: Path) -> None:
    # Linux carries a parent's peak into its child across fork and exec: a bench process that had grown to
    # 400 MB reported its 100 MB pipeline process as 400 MB
    ballast = np.ones(400 * 2**20 // 8)  # 400 MB, touched
    startup = measure_startup(generated_frame(Manifest(models_dir)), ["--models", str(models_dir)], runs=1)
    assert ballast.sum() > 0 and 0 < startup.peak_rss_mb[0] < 300


def test_folder_of_frames_is_played_again_when_it_ends(tmp_path: Path, face_smoke: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    photo = cv2.imread(str(face_smoke / "face_recognition_examples/obama.jpg"))
    for index in range(2):
        cv2.imwrite(str(frames / f"{index}.jpg"), cv2.resize(photo, (640, 480)))
    report = _report(["--threads", "2", "--startup-runs", "0", "--no-idle", "--no-tracking", str(frames)], capsys)
    assert report["source"] == str(frames) and report["frame_size"] == [640, 480]
    assert not report["tracked"]
    assert (report["invokes"]["detector_invokes_per_frame"], report["invokes"]["region_invokes_per_frame"]) == (1, 0)
    assert report["faces_per_frame"] == 1
    assert [p["threads"] for p in report["threads"]] == [2] and report["stage_threads"] == 2
    assert "startup" not in report and "idle" not in report
    assert report["peak_rss_mb"]["pipeline_process"] is None


def test_text_report_names_every_stage(tmp_path: Path, face_smoke: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    video = face_smoke / "face_recognition_examples/short_hamilton_clip.mp4"
    assert main(["bench", "--frames", "3", "--threads-max", "1", "--startup-runs", "0", "--no-idle",
                 str(video)]) == 0
    out = capsys.readouterr().out
    assert f"source: {video} (640x360)" in out
    assert all(f"\n{stage} " in out for stage in STAGES)
    assert "whole frame / invokes" in out


def test_unreadable_source_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    assert main(["bench", "--frames", "3", str(broken)]) == 2
    assert "not a video OpenCV can read" in capsys.readouterr().err
    assert main(["bench", "--frames", "0"]) == 2
    capsys.readouterr()
    missing = tmp_path / "typo-people.json"
    assert main(["bench", "--frames", "3", "--people-db", str(missing)]) == 2  # not measured as "nobody enrolled"
    assert f"{missing}: no such people database" in capsys.readouterr().err


def test_with_a_people_database_each_track_is_recognised_once_and_its_cost_reported(
        tmp_path: Path, face_smoke: Path, capsys: pytest.CaptureFixture[str]) -> None:
    examples = face_smoke / "face_recognition_examples"
    frames, person = tmp_path / "frames", tmp_path / "obama"
    frames.mkdir()
    person.mkdir()
    (person / "obama.jpg").symlink_to(examples / "obama-240p.jpg")
    db = tmp_path / "people.json"
    assert main(["people", "add", "Obama", "--from", str(person), "--people-db", str(db)]) == 0
    (frames / "0.jpg").symlink_to(examples / "obama.jpg")  # the same photo again and again: one track
    config = tmp_path / "config.toml"  # no re-check within the run, however slow the machine (emulation)
    config.write_text("[people]\nrecheck_s = 3600\n")
    capsys.readouterr()
    report = _report(["--threads", "1", "--startup-runs", "0", "--no-idle", "--config", str(config),
                      "--people-db", str(db), str(frames)], capsys)
    assert list(report["stages_ms"]) == [*STAGES, "recognise"]
    recognition = report["recognition"]
    assert (recognition["people"], recognition["recognitions"], recognition["frames_recognising"]) == (1, 1, 1)
    assert recognition["ms_per_recognition"] > 0
    assert set(recognition["known_frames"]) == {"recognise", "mood", "frame"}  # the 2 frames after the first
