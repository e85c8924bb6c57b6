"""The vision core on real models and real photos: detection, alignment, classification, fallback."""

from __future__ import annotations

import csv
import gc
import re
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from todayfeeling.config import InferenceConfig
from todayfeeling.inference.align import FER_EYE_CENTRE, FER_EYE_DISTANCE, align_face, alignment_matrix
from todayfeeling.inference.emotion import checked_fold
from todayfeeling.inference.faces import FaceDetector
from todayfeeling.inference.manifest import Manifest, ModelError
from todayfeeling.inference.pipeline import FacePipeline
from todayfeeling.inference.runtime import TFLiteModel, edgetpu_twin
from todayfeeling.vocabulary import EMOTIONS


@pytest.fixture(scope="module")
def manifest(models_dir: Path) -> Manifest:
    return Manifest(models_dir)


@pytest.fixture(scope="module")
def detector(manifest: Manifest) -> FaceDetector:
    spec = manifest.spec("face_full_range", "face_detector")
    return FaceDetector(spec, TFLiteModel(spec.path, threads=1), max_faces=50)


def _iou(a: list[float], b: list[float]) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def test_full_range_detector_finds_every_annotated_face_without_false_positives(
        detector: FaceDetector, face_smoke: Path) -> None:
    truth: dict[str, list[list[float]]] = {}
    with (face_smoke / "dlib_pascal_voc/boxes.csv").open() as handle:
        for row in csv.DictReader(handle):
            truth.setdefault(row["file"], []).append([float(row[k]) for k in "xywh"])
    found = false_positives = 0
    for name, boxes in truth.items():
        faces = detector.detect(cv2.imread(str(face_smoke / "dlib_pascal_voc" / name)))
        matched: set[int] = set()
        for face in faces:
            best = max(range(len(boxes)), key=lambda i: _iou(list(face.box), boxes[i]))
            if _iou(list(face.box), boxes[best]) >= 0.3 and best not in matched:
                matched.add(best)
            else:
                false_positives += 1
        found += len(matched)
    assert (found, false_positives) == (43, 0)


def test_detector_finds_no_face_among_dogs(detector: FaceDetector, face_smoke: Path) -> None:
    assert detector.detect(cv2.imread(str(face_smoke / "dlib_misc/dogs.jpg"))) == []


def test_several_faces_sorted_largest_first_with_keypoints_inside_their_boxes(
        detector: FaceDetector, face_smoke: Path) -> None:
    faces = detector.detect(cv2.imread(str(face_smoke / "face_recognition_examples/two_people.jpg")))
    assert len(faces) == 2
    areas = [f.box[2] * f.box[3] for f in faces]
    assert areas == sorted(areas, reverse=True)
    for face in faces:
        x, y, w, h = face.box
        assert face.keypoints.shape == (6, 2)
        eyes = face.keypoints[:2]
        assert np.all((eyes[:, 0] > x) & (eyes[:, 0] < x + w) & (eyes[:, 1] > y) & (eyes[:, 1] < y + h))
        assert face.right_eye[0] < face.left_eye[0]  # the subject's right eye is on the image's left


def test_short_range_model_decodes_a_close_face(manifest: Manifest, face_smoke: Path) -> None:
    spec = manifest.spec("face_short_range", "face_detector")
    detector = FaceDetector(spec, TFLiteModel(spec.path, threads=1))
    image = cv2.imread(str(face_smoke / "face_recognition_examples/obama.jpg"))
    faces = detector.detect(image)
    assert len(faces) == 1
    x, y, w, h = faces[0].box
    assert 0.15 * image.shape[1] < w < 0.6 * image.shape[1]
    assert x >= 0 and x + w <= image.shape[1] and y >= 0 and y + h <= image.shape[0]


def test_alignment_puts_tilted_eyes_level_where_fer_crops_have_them() -> None:
    frame = np.full((400, 400), 255, np.uint8)
    right_eye, left_eye = np.array([150.0, 220.0]), np.array([250.0, 180.0])  # tilted by about 22 degrees
    for x, y in (right_eye, left_eye):
        cv2.circle(frame, (int(x), int(y)), 6, 0, -1)
    crop = align_face(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR), right_eye, left_eye, 96)
    assert crop.shape == (96, 96)
    dark = np.argwhere(crop < 128)
    left_half, right_half = dark[dark[:, 1] < 48], dark[dark[:, 1] >= 48]
    expected_y = FER_EYE_CENTRE[1] * 96
    half_distance = FER_EYE_DISTANCE * 96 / 2
    for blob, expected_x in ((left_half, 48 - half_distance), (right_half, 48 + half_distance)):
        centre_y, centre_x = blob.mean(axis=0)
        assert centre_y == pytest.approx(expected_y, abs=1.0)
        assert centre_x == pytest.approx(expected_x, abs=1.0)


def test_alignment_matrix_maps_eyes_exactly() -> None:
    matrix = alignment_matrix(np.array([10.0, 30.0]), np.array([40.0, 10.0]), 48)
    mapped = (matrix @ np.array([[10.0, 30.0, 1.0], [40.0, 10.0, 1.0]]).T).T
    expected_y = FER_EYE_CENTRE[1] * 48
    assert mapped[:, 1] == pytest.approx([expected_y, expected_y])
    assert mapped[1, 0] - mapped[0, 0] == pytest.approx(FER_EYE_DISTANCE * 48)


def test_large_face_is_shrunk_without_losing_its_place() -> None:
    frame = np.zeros((2000, 2000, 3), np.uint8)
    frame[1000:1100, 400:1600] = 255  # a bright band through the eye line
    crop = align_face(frame, np.array([700.0, 1050.0]), np.array([1300.0, 1050.0]), 48)
    row = int(round(FER_EYE_CENTRE[1] * 48))
    assert crop[row, 24] > 200 and crop[2, 24] < 30


def test_a_large_face_mostly_outside_the_frame_still_gives_a_crop() -> None:
    # a low [inference] min_face_score lets the detector report such faces: their eyes far left of a narrow frame
    frame = np.full((200, 220, 3), 90, np.uint8)
    crop = align_face(frame, np.array([-600.0, 100.0]), np.array([-400.0, 100.0]), 48)
    assert crop.shape == (48, 48) and (crop == 90).all()  # the frame's border, repeated


def test_fold_matrix_folds_disgust_into_anger_and_rejects_missing_emotions() -> None:
    labels = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
    matrix = checked_fold(labels, {"disgust": "anger"})
    assert matrix[1, EMOTIONS.index("anger")] == 1.0 and matrix.sum() == 7
    with pytest.raises(ModelError, match="surprise"):
        checked_fold(("anger", "fear", "happiness", "sadness", "neutral"), {})


def test_pipeline_recognises_a_smile_through_the_full_path(face_smoke: Path, models_dir: Path) -> None:
    pipeline = FacePipeline.from_config(InferenceConfig(models_dir=models_dir, threads=1))
    result = pipeline.process(cv2.imread(str(face_smoke / "face_recognition_examples/obama.jpg")))
    assert len(result.faces) == 1
    assert result.faces[0].emotion == "happiness"
    assert sum(result.faces[0].probabilities) == pytest.approx(1.0, abs=1e-4)
    assert set(result.ms) == {"detect", "align", "classify"}


def test_float_input_model_runs_and_int8_quantisation_follows_the_models_parameters(models_dir: Path) -> None:
    baseline = TFLiteModel(models_dir / "emotion_model_quantized.tflite", threads=1)
    assert baseline.input_dtype == np.float32
    probabilities = baseline.run(np.zeros(baseline.input_shape, np.float32))[0]
    assert probabilities.shape == (1, 7) and probabilities.sum() == pytest.approx(1.0, abs=1e-3)
    manifest = Manifest(models_dir)
    if "emotion" not in manifest.entries:
        pytest.skip("the project's int8 emotion model is not trained yet")
    ours = TFLiteModel(manifest.spec("emotion").path, threads=1)
    assert ours.input_dtype == np.int8
    quantised = ours.quantise_input(np.array([0.0, 128 / 255, 1.0], np.float32))
    assert quantised.tolist() == [-128, 0, 127]
    outputs = ours.run(np.zeros(ours.input_shape, np.float32))[0]
    assert outputs.dtype == np.float32 and outputs.sum() == pytest.approx(1.0, abs=0.02)


@pytest.fixture()
def model_with_edgetpu_twin(tmp_path: Path, models_dir: Path) -> Path:
    """A CPU model with an `_edgetpu` twin beside it, so the runtime tries the Edge TPU first."""
    model = tmp_path / "emotion_model_quantized.tflite"
    shutil.copy(models_dir / model.name, model)
    shutil.copy(models_dir / model.name, edgetpu_twin(model))
    return model


def test_missing_edgetpu_library_falls_back_to_cpu_and_says_why(model_with_edgetpu_twin: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # No libedgetpu.so.1 on a build machine: the real loader fails and the real fallback runs.
    ignored: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", ignored.append)  # "Exception ignored in ..." at every retry
    model = TFLiteModel(model_with_edgetpu_twin, threads=1, backend="auto", edgetpu_device="usb")
    assert model.backend.preferred == "edgetpu" and model.backend.actual == "cpu"
    assert model.backend.degraded
    assert "OSError: libedgetpu.so.1: cannot open shared object file" in model.backend.reason
    assert model.run(np.zeros(model.input_shape, np.float32))[0].shape == (1, 7)
    assert model.retry_edgetpu() is False
    gc.collect()
    assert ignored == []


def test_edgetpu_lost_while_running_recomputes_on_the_cpu(model_with_edgetpu_twin: Path) -> None:
    model = TFLiteModel(model_with_edgetpu_twin, threads=1)
    expected = model.run(np.zeros(model.input_shape, np.float32))[0]

    class UnpluggedInterpreter:  # the Edge TPU's interpreter once the stick is pulled
        def set_tensor(self, *_: object) -> None:
            pass

        def invoke(self) -> None:
            raise RuntimeError("Failed to invoke: USB transfer error")

    model._interpreter = UnpluggedInterpreter()
    model.backend = type(model.backend)("edgetpu", "edgetpu")
    result = model.run(np.zeros(model.input_shape, np.float32))[0]
    np.testing.assert_allclose(result, expected, rtol=1e-5)
    assert model.backend.actual == "cpu" and "USB transfer error" in model.backend.reason


def test_a_damaged_compiled_twin_is_refused_before_the_runtime_reads_it(tmp_path: Path, models_dir: Path) -> None:
    # a half-copied compiled model (no checksum: it is made on the owner's machine) crashed the runtime outright,
    # and so the appliance at every start; the real runtime reads it in a child process first
    model = tmp_path / "emotion_int8.tflite"
    shutil.copy(models_dir / model.name, model)
    edgetpu_twin(model).write_bytes(model.read_bytes()[:300_000])
    loaded = TFLiteModel(model, threads=1, delegate_loader=lambda library, options: object())
    assert (loaded.backend.preferred, loaded.backend.actual, loaded.backend.degraded) == ("edgetpu", "cpu", True)
    assert loaded.backend.reason.startswith("emotion_int8_edgetpu.tflite is ")  # damaged, or not readable
    assert loaded.run(np.zeros(loaded.input_shape, np.float32))[0].shape == (1, 6)


def test_cpu_backend_ignores_a_twin(model_with_edgetpu_twin: Path) -> None:
    model = TFLiteModel(model_with_edgetpu_twin, threads=1, backend="cpu")
    assert (model.backend.preferred, model.backend.actual, model.backend.degraded) == ("cpu", "cpu", False)


def test_the_edgetpu_backend_leaves_a_float_model_on_the_cpu_without_calling_it_degraded(models_dir: Path) -> None:
    manifest = Manifest(models_dir)
    detector = TFLiteModel(manifest.spec("face_full_range", "face_detector").path, threads=1, backend="edgetpu")
    assert (detector.backend.preferred, detector.backend.actual, detector.backend.degraded) == ("cpu", "cpu", False)
    ours = TFLiteModel(manifest.spec("", "emotion").path, threads=1, backend="edgetpu")  # int8: its twin is missing
    assert ours.backend.degraded and ours.backend.reason == f"no compiled model {edgetpu_twin(ours.path).name}"


@pytest.mark.parametrize(("text", "problem"), [
    ("[]", "not a JSON object"),
    ('{"models": []}', "'models' and 'defaults' must be objects"),
    ('{"models": {"emotion": {"file": "e.tflite"}}}', "model 'emotion' needs a 'file' and a 'sha256'"),
])
def test_a_manifest_of_another_shape_is_a_model_error_not_a_traceback(tmp_path: Path, text: str,
                                                                      problem: str) -> None:
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(ModelError, match=re.escape(f"manifest.json is not a model manifest ({problem})")):
        Manifest(tmp_path)


def test_a_damaged_model_file_is_refused_before_the_runtime_reads_it(tmp_path: Path, models_dir: Path) -> None:
    """An interrupted copy or a failing SD card: a truncated model crashed the TFLite runtime outright (a
    segmentation fault, no message), so the file's sha256 is checked first; a file the runtime cannot load
    anyway is a ModelError too."""
    shutil.copy(models_dir / "manifest.json", tmp_path / "manifest.json")
    spec = Manifest(models_dir).spec("", "emotion")
    (tmp_path / spec.path.name).write_bytes(spec.path.read_bytes()[:5000])
    with pytest.raises(ModelError, match="does not match its sha256 in the manifest; run `python3 models/fetch"):
        Manifest(tmp_path).spec("", "emotion")
    assert Manifest(tmp_path).spec("", "emotion", verify=False).path == tmp_path / spec.path.name  # doctor's way
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    with pytest.raises(ModelError, match="empty.tflite: not a model the TFLite runtime can load"):
        TFLiteModel(empty, threads=1, backend="cpu")


def test_missing_model_file_says_how_to_fetch_it(tmp_path: Path, models_dir: Path) -> None:
    shutil.copy(models_dir / "manifest.json", tmp_path / "manifest.json")
    with pytest.raises(ModelError, match="fetch_models.py"):
        Manifest(tmp_path).spec("face_full_range", "face_detector")
