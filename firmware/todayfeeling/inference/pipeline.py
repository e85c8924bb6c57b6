"""One frame in, faces with their emotions out: detector → tracks → aligner → classifier, timed per stage.

``process`` reads one frame on its own (an image); ``follow`` reads consecutive frames of a camera or video,
giving every face its track id and smoothing its probabilities along the track (``tracks.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from todayfeeling.config.settings import InferenceConfig, TrackingConfig
from todayfeeling.inference.align import align_face
from todayfeeling.inference.emotion import EmotionClassifier
from todayfeeling.inference.faces import Face, FaceDetector
from todayfeeling.inference.manifest import Manifest, ModelSpec
from todayfeeling.inference.regions import TrackedDetection
from todayfeeling.inference.runtime import BackendStatus, TFLiteModel
from todayfeeling.inference.tracks import FaceTracks
from todayfeeling.mood import FaceObservation
from todayfeeling.vocabulary import EMOTIONS, Backend


@dataclass(frozen=True)
class FaceEmotion:
    """A face in the frame and what it shows; ``track`` is its track id when frames are followed."""

    face: Face
    probabilities: np.ndarray  # over EMOTIONS; smoothed along the track when there is one
    track: int | None = None

    @property
    def emotion(self) -> str:
        """The most likely emotion."""
        return EMOTIONS[int(np.argmax(self.probabilities))]

    def as_dict(self) -> dict[str, Any]:
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

    def observations(self) -> list[FaceObservation]:
        """The faces as the mood tracker takes them."""
        return [FaceObservation(dict(zip(EMOTIONS, map(float, f.probabilities), strict=True)), f.face.box,
                                f.face.score) for f in self.faces]


class FacePipeline:
    """The vision stages wired together: ``follow(frame)`` for camera and video frames, ``process(frame)`` for
    a single image, ``classify_crop`` for crops. ``tracking`` None: ``follow`` is ``process``."""

    def __init__(self, detector: FaceDetector, classifier: EmotionClassifier,
                 tracking: TrackedDetection | None = None) -> None:
        self.detector = detector
        self.classifier = classifier
        self.tracking = tracking

    @classmethod
    def from_config(cls, config: InferenceConfig, manifest: Manifest | None = None,
                    tracking: TrackingConfig | None = None) -> FacePipeline:
        """Load both models as configured (raises ModelError with a fix when a model is missing); with
        ``tracking`` (enabled), ``follow`` tracks the faces."""
        manifest = manifest or Manifest(config.models_dir)
        face_spec = manifest.spec(config.face_model, "face_detector")
        emotion_spec = manifest.spec(config.emotion_model, "emotion")

        def load(path: Path) -> TFLiteModel:
            return TFLiteModel(path, threads=config.threads, backend=config.backend,
                               edgetpu_device=config.edgetpu_device)

        def detector(spec: ModelSpec) -> FaceDetector:
            return FaceDetector(spec, load(spec.path), min_score=config.min_face_score,
                                min_size=config.min_face_size, max_faces=config.max_faces)

        classifier = EmotionClassifier(emotion_spec, load(emotion_spec.path), flip_average=config.flip_average)
        full = detector(face_spec)
        if tracking is None or not tracking.enabled:
            return cls(full, classifier)
        region = detector(manifest.spec(tracking.region_model, "face_detector"))
        return cls(full, classifier, TrackedDetection(full, region, FaceTracks(tracking), tracking))

    @property
    def tracks(self) -> FaceTracks | None:
        """The faces followed by ``follow``; None when frames are not tracked."""
        return self.tracking.tracks if self.tracking is not None else None

    @property
    def models(self) -> dict[str, TFLiteModel]:
        """The model of each stage."""
        models = {"detector": self.detector.model, "classifier": self.classifier.model}
        if self.tracking is not None:
            models["region_detector"] = self.tracking.region.model
        return models

    @property
    def backends(self) -> dict[str, BackendStatus]:
        """The backend each model runs on, by stage."""
        return {stage: model.backend for stage, model in self.models.items()}

    @property
    def backend(self) -> BackendStatus:
        """One backend for the whole pipeline: the Edge TPU only when every stage that wants it has it."""
        backends = list(self.backends.values())
        degraded = [b for b in backends if b.degraded]
        if degraded:
            return degraded[0]
        preferred = Backend.EDGETPU if any(b.preferred == Backend.EDGETPU for b in backends) else Backend.CPU
        return BackendStatus(preferred, preferred)

    def retry_edgetpu(self) -> BackendStatus:
        """Try the Edge TPU again for every stage that fell back to the CPU; the pipeline's backend after."""
        for model in self.models.values():
            model.retry_edgetpu()
        return self.backend

    def process(self, frame_bgr: np.ndarray) -> FrameResult:
        """Detect, align and classify every face of a BGR frame on its own (no tracks)."""
        return self._read(frame_bgr, None)

    def follow(self, frame_bgr: np.ndarray) -> FrameResult:
        """Like ``process``, for the next frame of a camera or video: each face carries its track id and its
        probabilities are averaged along its track."""
        return self._read(frame_bgr, self.tracking)

    def reset_tracks(self) -> None:
        """Forget the faces followed so far (the camera was off): the next frame starts new tracks."""
        if self.tracking is not None:
            self.tracking.reset()

    def _read(self, frame_bgr: np.ndarray, tracking: TrackedDetection | None) -> FrameResult:
        start = time.perf_counter()
        ids: list[int | None]
        if tracking is None:
            faces = self.detector.detect(frame_bgr)
            ids = [None] * len(faces)
        else:
            faces, tracked = tracking.detect(frame_bgr)
            ids = list(tracked)
        detected = time.perf_counter()
        size, gray = self.classifier.size, self.classifier.gray
        crops = [align_face(frame_bgr, f.right_eye, f.left_eye, size, gray) for f in faces]
        aligned = time.perf_counter()
        results = []
        for face, crop, track in zip(faces, crops, ids, strict=True):
            probabilities = self.classifier.classify(crop)
            if tracking is not None and track is not None:
                probabilities = tracking.tracks.smooth(track, probabilities)
            results.append(FaceEmotion(face, probabilities, track))
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
