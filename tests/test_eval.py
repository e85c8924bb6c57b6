"""`todayfeeling eval`: metrics, label names, exclusions, FER+ labels, plots and model comparison.

The labelled folders are built in tmp_path from real FER-2013 images, linked in place from the datasets.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from todayfeeling.cli import main
from todayfeeling.config import InferenceConfig
from todayfeeling.evaluation import emotion_for_label
from todayfeeling.inference.pipeline import FacePipeline
from todayfeeling.scoring import compute_metrics
from todayfeeling.vocabulary import EMOTIONS


def _link_images(source: Path, target: Path, count: int) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    links = []
    for image in sorted(source.glob("*.png"))[:count]:
        os.symlink(image, target / image.name)
        links.append(target / image.name)
    return links


def _run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_metrics_on_a_hand_made_case() -> None:
    truth = ["anger", "anger", "anger", "happiness", "happiness", "sadness", "sadness", "sadness", "sadness"]
    guess = ["anger", "sadness", None, "happiness", "happiness", "sadness", "neutral", "anger", "sadness"]
    metrics = compute_metrics(truth, guess)
    anger, happiness, sadness, neutral = (EMOTIONS.index(e) for e in ("anger", "happiness", "sadness", "neutral"))
    assert metrics.confusion[anger].tolist() == [1, 0, 0, 1, 0, 0]
    assert metrics.confusion[sadness, [anger, sadness, neutral]].tolist() == [1, 2, 1]
    assert metrics.missed[anger] == 1 and metrics.missed.sum() == 1
    assert metrics.total == 9
    assert metrics.accuracy == pytest.approx(5 / 9)  # the image with no face counts as wrong
    assert metrics.recall == {"anger": pytest.approx(1 / 3), "fear": None, "happiness": 1.0,
                              "sadness": 0.5, "surprise": None, "neutral": None}
    assert metrics.macro_recall == pytest.approx((1 / 3 + 1.0 + 0.5) / 3)  # only emotions with images


def test_label_names_of_fer2013_ferplus_and_the_six_emotions() -> None:
    fer2013 = {"angry": "anger", "fear": "fear", "happy": "happiness", "neutral": "neutral", "sad": "sadness",
               "surprise": "surprise", "disgust": None}
    ferplus = {"anger": "anger", "happiness": "happiness", "sadness": "sadness", "contempt": None,
               "unknown": None, "NF": None}
    for name, emotion in {**fer2013, **ferplus, **{e: e for e in EMOTIONS}}.items():
        assert emotion_for_label(name) == emotion, name
    assert emotion_for_label("Happy") == "happiness"


@pytest.fixture()
def labelled_folder(tmp_path: Path, datasets: Path) -> Path:
    """FER-2013 folder names, a six-emotion folder name, and disgust (to be skipped)."""
    publictest = datasets / "fer2013/publictest"
    root = tmp_path / "faces"
    _link_images(publictest / "happy", root / "happy", 4)
    _link_images(publictest / "angry", root / "angry", 3)
    _link_images(publictest / "sad", root / "sadness", 3)
    _link_images(publictest / "disgust", root / "disgust", 2)
    return root


def _expected(root: Path, pipeline: FacePipeline) -> tuple[list[str], list[str]]:
    """Truth and the classifier's own prediction for every image, computed without `eval`."""
    names = {"happy": "happiness", "angry": "anger", "sadness": "sadness"}
    truth, guess = [], []
    for folder, emotion in names.items():
        for image in sorted((root / folder).iterdir()):
            truth.append(emotion)
            guess.append(pipeline.classify_crop(cv2.imread(str(image))).faces[0].emotion)
    return truth, guess


def test_crop_metrics_json_and_plot(labelled_folder: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    plot = tmp_path / "confusion.png"
    report = _run_json(["eval", "--json", "--crop", "--threads", "1", "--plot", str(plot),
                        str(labelled_folder)], capsys)
    truth, guess = _expected(labelled_folder, FacePipeline.from_config(InferenceConfig(threads=1)))
    assert report["data"] == {"source": str(labelled_folder), "images": 10, "skipped": {"disgust": 2},
                              "excluded": 0}
    assert report["mode"] == "crop"
    (model,) = report["models"]
    assert model["model"] == "emotion" and model["backend"] == "cpu"
    assert (model["images"], model["faces_found"], model["no_face"], model["unreadable"]) == (10, 10, 0, 0)
    right = [t == g for t, g in zip(truth, guess, strict=True)]
    assert model["accuracy"] == round(sum(right) / 10, 4)
    for emotion in EMOTIONS:
        rows = [r for r, t in zip(right, truth, strict=True) if t == emotion]
        assert model["recall"][emotion] == (round(sum(rows) / len(rows), 4) if rows else None)
    recalls = [r for r in model["recall"].values() if r is not None]
    assert model["macro_recall"] == pytest.approx(sum(recalls) / len(recalls), abs=1e-4)
    matrix = model["confusion"]["matrix"]
    assert model["confusion"]["labels"] == list(EMOTIONS)
    for t_index, t in enumerate(EMOTIONS):
        for g_index, g in enumerate(EMOTIONS):
            assert matrix[t_index][g_index] == sum(1 for a, b in zip(truth, guess, strict=True) if (a, b) == (t, g))
    assert model["confusion"]["no_face"] == [0] * 6
    assert model["ms"]["per_face"] > 0 and model["ms"]["per_image"] > 0
    image = cv2.imread(str(plot))
    assert image is not None and image.shape[0] > 300 and image.shape[1] > 400
    assert (image < 250).any()  # something was drawn


def test_plot_into_a_missing_folder_is_refused_and_a_written_plot_is_named(
        labelled_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no" / "such" / "cm.png"
    assert main(["eval", "--crop", "--threads", "1", "--plot", str(missing), str(labelled_folder)]) == 2
    assert f"folder {missing.parent} does not exist" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()
    written = tmp_path / "cm.png"
    assert main(["eval", "--crop", "--threads", "1", "--plot", str(written), str(labelled_folder)]) == 0
    assert f"wrote the confusion matrices to {written}" in capsys.readouterr().err and written.is_file()
    assert main(["eval", "--crop", "--threads", "1", "--plot", str(tmp_path / "cm"), str(labelled_folder)]) == 2
    assert "no image format for a name without a suffix (use .png)" in capsys.readouterr().err


def test_a_plot_that_cannot_be_written_loses_no_result(
        labelled_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    taken = tmp_path / "cm.png"
    taken.mkdir()  # a folder by that name: found out only when the plot is written, after the evaluation
    assert main(["eval", "--crop", "--threads", "1", "--plot", str(taken), str(labelled_folder)]) == 1
    captured = capsys.readouterr()
    assert "accuracy" in captured.out  # the results came first
    assert f"cannot write the plot {taken}: " in captured.err


def test_face_crops_without_crop_get_a_hint(labelled_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The test's labelled images are 48x48 face crops: the detector finds no face in most of them.
    main(["eval", "--threads", "1", str(labelled_folder)])
    err = capsys.readouterr().err
    assert "no face found in" in err and "use --crop" in err


def test_text_report_shows_the_confusion_matrix(labelled_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--crop", "--threads", "1", str(labelled_folder)]) == 0
    out = capsys.readouterr().out
    assert "skipped labels: disgust 2" in out
    assert "accuracy" in out and "macro recall" in out
    assert "truth \\ predicted" in out and all(e in out for e in EMOTIONS)


def test_full_pipeline_counts_images_without_a_face(tmp_path: Path, face_smoke: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "photos"
    (root / "happy").mkdir(parents=True)
    os.symlink(face_smoke / "face_recognition_examples/obama.jpg", root / "happy/obama.jpg")
    os.symlink(face_smoke / "dlib_misc/dogs.jpg", root / "happy/dogs.jpg")
    report = _run_json(["eval", "--json", "--threads", "1", str(root)], capsys)
    (model,) = report["models"]
    assert report["mode"] == "pipeline"
    assert (model["images"], model["faces_found"], model["no_face"]) == (2, 1, 1)
    assert model["confusion"]["no_face"][EMOTIONS.index("happiness")] == 1
    right = model["confusion"]["matrix"][EMOTIONS.index("happiness")][EMOTIONS.index("happiness")]
    assert model["accuracy"] == right / 2 and model["recall"]["happiness"] == right / 2


def test_context_lets_the_detector_find_tight_fer_faces(labelled_folder: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    bare = _run_json(["eval", "--json", "--threads", "1", str(labelled_folder)], capsys)["models"][0]
    framed = _run_json(["eval", "--json", "--threads", "1", "--context", str(labelled_folder)], capsys)
    assert framed["mode"] == "pipeline+context"
    assert framed["models"][0]["faces_found"] > bare["faces_found"]


def test_ferplus_labels_csv_with_leaked_images_excluded(tmp_path: Path, datasets: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A FER+ style tree: labels.csv in ferplus/, images under fer2013/, an exclusion list of leaked files."""
    happy = _link_images(datasets / "fer2013/publictest/happy", tmp_path / "fer2013/publictest/happy", 3)
    sad = _link_images(datasets / "fer2013/publictest/sad", tmp_path / "fer2013/publictest/sad", 3)
    rows = [("valid", happy[0], "happy"), ("valid", happy[1], "happy"), ("valid", happy[2], "surprise"),
            ("valid", sad[0], "sad"), ("valid", sad[1], "contempt"), ("valid", sad[2], "unknown"),
            ("train", happy[0], "neutral")]
    (tmp_path / "ferplus").mkdir()
    labels = tmp_path / "ferplus/labels.csv"
    labels.write_text("split,usage,majority_label,fer2013_file\n" + "".join(
        f"{split},x,{label},{path.relative_to(tmp_path / 'fer2013')}\n" for split, path, label in rows))
    leaked = tmp_path / "leaked.txt"
    leaked.write_text(f"# leaked from train\n{happy[1].relative_to(tmp_path / 'fer2013')}\n")
    report = _run_json(["eval", "--json", "--crop", "--threads", "1", "--labels-csv", str(labels),
                        "--exclude", str(leaked)], capsys)
    assert report["data"]["images"] == 3  # happy[0] happy, happy[2] surprise, sad[0] sad
    assert report["data"]["skipped"] == {"contempt": 1, "unknown": 1}
    assert report["data"]["excluded"] == 1
    support = [sum(row) for row in report["models"][0]["confusion"]["matrix"]]
    assert support == [0, 0, 1, 1, 1, 0]  # anger fear happiness sadness surprise neutral


def test_two_models_compared_on_the_same_images(labelled_folder: Path, tmp_path: Path, models_dir: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A second emotion model (the baseline's file fed with another normalisation) beside the baseline."""
    manifest = json.loads((models_dir / "manifest.json").read_text())
    variant = json.loads(json.dumps(manifest["models"]["emotion_baseline"]))
    variant["input"]["normalisation"] = {"scale": 1 / 255, "offset": 0.0}
    manifest["models"]["baseline_unit_range"] = variant
    models = tmp_path / "models"
    models.mkdir()
    (models / "manifest.json").write_text(json.dumps(manifest))
    for name in ("emotion_model_quantized.tflite", "face_detection_full_range_sparse.tflite"):
        os.symlink(models_dir / name, models / name)
    common = ["eval", "--json", "--crop", "--threads", "1", "--models", str(models), str(labelled_folder)]
    both = _run_json([*common, "--model", "emotion_baseline", "--model", "baseline_unit_range"], capsys)
    assert [m["model"] for m in both["models"]] == ["emotion_baseline", "baseline_unit_range"]
    for entry in both["models"]:
        alone = _run_json([*common, "--model", entry["model"]], capsys)["models"][0]
        assert {k: v for k, v in entry.items() if k != "ms"} == {k: v for k, v in alone.items() if k != "ms"}
    assert both["models"][0]["confusion"] != both["models"][1]["confusion"]


def test_bad_input_exits_2_with_a_clear_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(tmp_path / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err
    (tmp_path / "disgust").mkdir()
    cv2.imwrite(str(tmp_path / "disgust/a.png"), np.zeros((48, 48), np.uint8))
    assert main(["eval", str(tmp_path)]) == 2
    assert "no images labelled with one of" in capsys.readouterr().err


def test_unreadable_image_is_reported_and_left_out(labelled_folder: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    (labelled_folder / "happy/broken.png").write_bytes(b"not a png")
    assert main(["eval", "--json", "--crop", "--threads", "1", str(labelled_folder)]) == 1
    captured = capsys.readouterr()
    (model,) = json.loads(captured.out)["models"]
    assert model["images"] == 10 and model["unreadable"] == 1
    assert f"{labelled_folder / 'happy/broken.png'}: error: not a readable image" in captured.err
