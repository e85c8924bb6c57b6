"""Face embeddings on the real SFace model and real photos: the same person close, different people apart."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from todayfeeling.inference.faces import FaceDetector
from todayfeeling.inference.manifest import Manifest, ModelError
from todayfeeling.inference.runtime import TFLiteModel
from todayfeeling.people.embedding import MATCH_THRESHOLD, FaceEmbedder, similarity_transform


@pytest.fixture(scope="module")
def manifest(models_dir: Path) -> Manifest:
    return Manifest(models_dir)


@pytest.fixture(scope="module")
def detector(manifest: Manifest) -> FaceDetector:
    spec = manifest.spec("face_full_range", "face_detector")
    return FaceDetector(spec, TFLiteModel(spec.path, threads=1))


@pytest.fixture(scope="module")
def embedder(manifest: Manifest) -> FaceEmbedder:
    return FaceEmbedder.from_manifest(manifest, threads=1)


@pytest.fixture(scope="module")
def examples(face_smoke: Path) -> Path:
    return face_smoke / "face_recognition_examples"


def embeddings(detector: FaceDetector, embedder: FaceEmbedder, path: Path) -> list[np.ndarray]:
    frame = cv2.imread(str(path))
    return [embedder.embed(frame, face) for face in detector.detect(frame)]


def test_committed_model_matches_its_manifest_entry(models_dir: Path, manifest: Manifest) -> None:
    entry = json.loads((models_dir / "manifest.json").read_text())["models"]["face_embedding"]
    data = (models_dir / entry["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    assert len(data) < 11_000_000
    assert entry["license"].startswith("Apache-2.0")
    model = TFLiteModel(manifest.spec("", "face_embedding").path, threads=1)
    assert model.input_shape == (1, 112, 112, 3) and model.output_shapes == [(1, 128)]


@pytest.mark.parametrize(("angle", "scale", "shift", "source"), [
    (0.3, 1.7, (12.0, -5.0), [[0.0, 0.0], [10.0, 0.0], [5.0, 6.0], [5.0, 12.0]]),
    # a face's eyes, nose and mouth in a photo onto the model's crop: under qemu's default CPU, numpy 2's
    # OpenBLAS got this case wrong (scripts/arm64-check.sh emulates a Pi's CPU since)
    (-0.02, 0.19, (-41.1, 17.7), [[447.2, 216.21], [560.1, 220.3], [505.5, 290.7], [503.0, 350.2]]),
])
def test_similarity_transform_recovers_a_rotation_scale_and_shift(angle: float, scale: float,
                                                                  shift: tuple[float, float],
                                                                  source: list[list[float]]) -> None:
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points, offset = np.array(source), np.array(shift)
    target = points @ rotation.T + offset
    assert np.allclose(similarity_transform(points, target), np.hstack([rotation, offset[:, None]]))


def test_alignment_puts_the_detected_eyes_on_the_template(detector: FaceDetector, embedder: FaceEmbedder,
                                                          examples: Path) -> None:
    face = detector.detect(cv2.imread(str(examples / "obama.jpg")))[0]
    eyes = np.hstack([face.keypoints[:2], np.ones((2, 1))]) @ embedder.alignment(face).T
    assert np.abs(eyes - embedder.template[:2]).max() < 3.0  # pixels of the 112 x 112 crop


def test_embeddings_are_unit_length_and_deterministic(detector: FaceDetector, embedder: FaceEmbedder,
                                                      examples: Path) -> None:
    first, again = (embeddings(detector, embedder, examples / "biden.jpg")[0] for _ in range(2))
    assert first.shape == (128,) and first.dtype == np.float32
    assert np.linalg.norm(first) == pytest.approx(1.0, abs=1e-5)
    assert np.array_equal(first, again)


def test_same_person_across_photos_matches_and_different_people_do_not(
        detector: FaceDetector, embedder: FaceEmbedder, examples: Path) -> None:
    obama = [embeddings(detector, embedder, examples / name)[0]
             for name in ("obama.jpg", "obama-240p.jpg", "obama-1080p.jpg")]
    biden = embeddings(detector, embedder, examples / "biden.jpg")[0]
    together = embeddings(detector, embedder, examples / "obama_and_biden.jpg")
    assert len(together) == 2
    for reference in obama:
        assert all(float(reference @ other) >= MATCH_THRESHOLD for other in obama)
        assert float(reference @ biden) < MATCH_THRESHOLD
    # in the group photo each face matches its own person and not the other one
    for face in together:
        to_obama, to_biden = float(face @ obama[0]), float(face @ biden)
        assert max(to_obama, to_biden) >= MATCH_THRESHOLD > min(to_obama, to_biden)
    assert {float(f @ obama[0]) >= MATCH_THRESHOLD for f in together} == {True, False}


def test_strangers_do_not_match_the_enrolled_people(detector: FaceDetector, embedder: FaceEmbedder,
                                                    examples: Path) -> None:
    enrolled = [embeddings(detector, embedder, examples / name)[0] for name in ("obama.jpg", "biden.jpg")]
    strangers = [v for name in ("alex-lacamoire.png", "lin-manuel-miranda.png", "kit_with_rose.jpg")
                 for v in embeddings(detector, embedder, examples / name)]
    assert len(strangers) >= 3
    assert max(float(s @ e) for s in strangers for e in enrolled) < MATCH_THRESHOLD


@pytest.mark.parametrize(("size", "reason"), [
    (None, "no embedding.size"), ("128", "no embedding.size"), (0, "no embedding.size"),
    (64, "embedding.size is 64, but face_embedding_sface.tflite gives 128 numbers"),
])
def test_a_manifest_entry_with_a_wrong_embedding_size_is_refused(manifest: Manifest, size: object,
                                                                  reason: str) -> None:
    spec = manifest.spec("", "face_embedding")
    embedding = {key: value for key, value in spec.extra["embedding"].items() if key != "size"}
    if size is not None:
        embedding["size"] = size
    broken = type(spec)(**{**spec.__dict__, "extra": {**spec.extra, "embedding": embedding}})
    with pytest.raises(ModelError, match=f"'face_embedding'.*{reason}"):
        FaceEmbedder(broken, TFLiteModel(spec.path, threads=1))


def test_a_manifest_entry_without_a_template_is_refused(manifest: Manifest) -> None:
    spec = manifest.spec("", "face_embedding")
    broken = type(spec)(**{**spec.__dict__, "extra": {}})
    with pytest.raises(ModelError, match="face_embedding.*embedding.template"):
        FaceEmbedder(broken, TFLiteModel(spec.path, threads=1))
