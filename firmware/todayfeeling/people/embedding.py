"""Face embeddings with SFace: a face aligned to SFace's five-point template, 128 numbers of unit length.

SFace was trained on faces warped so that the eyes, nose tip and mouth corners land on a fixed 112 x 112
template (OpenCV's ``FaceRecognizerSF.alignCrop``; the template is in the model's manifest entry). BlazeFace
gives the eyes, the nose tip and the mouth *centre* (no corners), so the mouth centre is matched with the
midpoint of the template's two mouth corners, and the similarity transform (rotation, uniform scale, shift)
is the least-squares fit of those four points (Umeyama). ``scripts/measure_verification.py`` measures that
this alignment verifies faces as well as OpenCV's own five-point one (models/README.md).

Two embeddings of the same person have a high cosine similarity (their dot product, both being unit length).
"""

from __future__ import annotations

import cv2
import numpy as np

from todayfeeling.inference.align import warp
from todayfeeling.inference.faces import Face
from todayfeeling.inference.manifest import Manifest, ModelError, ModelSpec
from todayfeeling.inference.runtime import TFLiteModel

KIND = "face_embedding"
MATCH_THRESHOLD = 0.45  # cosine similarity; chosen on development identities (models/README.md, "Face embedding")


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2x3 similarity that maps the ``source`` points onto ``target`` with least squared error (Umeyama)."""
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    centred_source, centred_target = source - source_mean, target - target_mean
    covariance = centred_target.T @ centred_source / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.diag([1.0, -1.0 if np.linalg.det(u) * np.linalg.det(vt) < 0 else 1.0])
    rotation = u @ sign @ vt
    variance = float((centred_source**2).sum() / len(source))
    scale = float(np.trace(np.diag(singular) @ sign)) / max(variance, 1e-12)
    shift = target_mean - scale * rotation @ source_mean
    return np.hstack([scale * rotation, shift[:, None]])


def model_id(spec: ModelSpec) -> str:
    """What a people database records as the model that made its templates: manifest name and sha256."""
    return f"{spec.name}:{spec.extra.get('sha256', '')}"


def embedding_size(spec: ModelSpec) -> int:
    """How many numbers the model's embedding has (the manifest's ``embedding.size``); ModelError without one."""
    entry = spec.extra.get("embedding")
    size = entry.get("size") if isinstance(entry, dict) else None
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ModelError(f"manifest entry {spec.name!r} has no embedding.size (a positive whole number)")
    return size


class FaceEmbedder:
    """SFace on a detected face: ``embed(frame, face)`` → unit-length embedding (float32)."""

    def __init__(self, spec: ModelSpec, model: TFLiteModel) -> None:
        self.spec = spec
        self.model = model
        self.size = spec.input_shape[1]
        try:
            template = np.asarray(spec.extra["embedding"]["template"], np.float64)
        except (KeyError, TypeError):
            raise ModelError(f"manifest entry {spec.name!r} has no embedding.template") from None
        if template.shape != (5, 2):
            raise ModelError(f"manifest entry {spec.name!r}: embedding.template must be 5 points, not "
                             f"{template.shape}")
        # BlazeFace's right eye, left eye, nose tip, mouth centre → template eyes, nose, mid-mouth-corners
        self.template = np.vstack([template[:3], template[3:].mean(axis=0)])
        self.model_id = model_id(spec)
        self.embedding_size = embedding_size(spec)
        given = int(np.prod(model.output_shapes[0]))
        if given != self.embedding_size:
            raise ModelError(f"manifest entry {spec.name!r}: embedding.size is {self.embedding_size}, but "
                             f"{spec.path.name} gives {given} numbers")

    @classmethod
    def from_manifest(cls, manifest: Manifest, name: str = "", threads: int = 2) -> FaceEmbedder:
        """The manifest's face-embedding model (its default unless ``name`` is given), on the CPU."""
        spec = manifest.spec(name, KIND)
        return cls(spec, TFLiteModel(spec.path, threads=threads))

    def alignment(self, face: Face) -> np.ndarray:
        """The 2x3 transform from frame pixels to the model's input crop for this face."""
        return similarity_transform(face.keypoints[:4], self.template)

    def align(self, frame_bgr: np.ndarray, face: Face) -> np.ndarray:
        """The face as the model's ``size`` x ``size`` BGR crop."""
        return warp(frame_bgr, self.alignment(face), self.size)

    def embed_crop(self, crop_bgr: np.ndarray) -> np.ndarray:
        """The unit-length embedding of an already aligned BGR crop."""
        rgb = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2RGB).astype(np.float32)
        tensor = (rgb * self.spec.norm_scale + self.spec.norm_offset)[None]
        vector = self.model.run(tensor)[0].reshape(-1)
        norm = float(np.linalg.norm(vector))
        if norm < 1e-6:
            raise ValueError("the embedding model gave an all-zero embedding")
        return (vector / norm).astype(np.float32)

    def embed(self, frame_bgr: np.ndarray, face: Face) -> np.ndarray:
        """The unit-length embedding of one detected face in a BGR frame."""
        return self.embed_crop(self.align(frame_bgr, face))
