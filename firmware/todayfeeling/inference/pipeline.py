"""One frame in, faces with their emotions out: detector → aligner → classifier, timed per stage."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from todayfeeling.emotions import EMOTIONS
from todayfeeling.inference.align import align_face
from todayfeeling.inference.config import InferenceConfig
from todayfeeling.inference.emotion import EmotionClassifier
from todayfeeling.inference.faces import Face, FaceDetector
from todayfeeling.inference.manifest import Manifest
from todayfeeling.inference.runtime import Backend, TFLiteModel


@dataclass(frozen=True)
class FaceEmotion:
    """A face in the frame and what it shows."""

    face: Face
    probabilities: np.ndarray  # over EMOTIONS

    @property
    def emotion(self) -> str:
        """The most likely emotion."""
        return EMOTIONS[int(np.argmax(self.probabilities))]

    def as_dict(self) -> dict:
        """The face as the `todayfeeling detect --json` contract writes it."""
        return {
            "box": [round(v) for v in self.face.box],
            "score": round(self.face.score, 3),
            "emotion": self.emotion,
            "probabilities": {e: round(float(p), 4) for e, p in zip(EMOTIONS, self.probabilities, strict=True)},
        }


@dataclass
class FrameResult:
    """Every face of one frame, largest first, and the milliseconds each stage took."""

    faces: list[FaceEmotion]
    ms: dict[str, float] = field(default_factory=dict)


class FacePipeline:
    """The vision stages wired together; ``process(frame)`` for camera frames, ``classify_crop`` for crops."""

    def __init__(self, detector: FaceDetector, classifier: EmotionClassifier) -> None:
        self.detector = detector
        self.classifier = classifier

    @classmethod
    def from_config(cls, config: InferenceConfig, manifest: Manifest | None = None) -> FacePipeline:
        """Load both models as configured (raises ModelError with a fix when a model is missing)."""
        manifest = manifest or Manifest(config.models_dir)
        face_spec = manifest.spec(config.face_model, "face_detector")
        emotion_spec = manifest.spec(config.emotion_model, "emotion")

        def load(path: Path) -> TFLiteModel:
            return TFLiteModel(path, threads=config.threads, backend=config.backend,
                               edgetpu_device=config.edgetpu_device)

        detector = FaceDetector(face_spec, load(face_spec.path), min_score=config.min_face_score,
                                min_size=config.min_face_size, max_faces=config.max_faces)
        classifier = EmotionClassifier(emotion_spec, load(emotion_spec.path), flip_average=config.flip_average)
        return cls(detector, classifier)

    @property
    def backends(self) -> dict[str, Backend]:
        """The backend each model runs on, by stage."""
        return {"detector": self.detector.model.backend, "classifier": self.classifier.model.backend}

    @property
    def backend(self) -> Backend:
        """One backend for the whole pipeline: the Edge TPU only when every stage that wants it has it."""
        backends = list(self.backends.values())
        degraded = [b for b in backends if b.degraded]
        if degraded:
            return degraded[0]
        preferred = "edgetpu" if any(b.preferred == "edgetpu" for b in backends) else "cpu"
        return Backend(preferred, "edgetpu" if preferred == "edgetpu" else "cpu")

    def process(self, frame_bgr: np.ndarray) -> FrameResult:
        """Detect, align and classify every face of a BGR frame."""
        start = time.perf_counter()
        faces = self.detector.detect(frame_bgr)
        detected = time.perf_counter()
        size, gray = self.classifier.size, self.classifier.gray
        crops = [align_face(frame_bgr, f.right_eye, f.left_eye, size, gray) for f in faces]
        aligned = time.perf_counter()
        results = [FaceEmotion(f, self.classifier.classify(c)) for f, c in zip(faces, crops, strict=True)]
        done = time.perf_counter()
        return FrameResult(results, {"detect": _ms(start, detected), "align": _ms(detected, aligned),
                                     "classify": _ms(aligned, done)})

    def classify_crop(self, image: np.ndarray) -> FrameResult:
        """Treat the whole image as one already-cropped face."""
        start = time.perf_counter()
        probabilities = self.classifier.classify(self.classifier.prepare(image))
        height, width = image.shape[:2]
        face = Face((0.0, 0.0, float(width), float(height)), 1.0, np.zeros((6, 2), np.float32))
        return FrameResult([FaceEmotion(face, probabilities)], {"classify": _ms(start, time.perf_counter())})


def _ms(start: float, end: float) -> float:
    return round((end - start) * 1000.0, 3)
