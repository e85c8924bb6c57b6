"""Finite sources: one image, a folder of images played as frames in name order, and a video file.

They deliver frames as fast as they are read; the daemon paces them (``run --fps``). A frame's ``ts`` is its
time in the media, from 0: a video's frame rate, a folder's ``fps`` (the camera's rate, or ``run --fps``),
so the moods of a clip are the same on every machine, however fast it reads them.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import cv2
import numpy as np

from todayfeeling.camera.base import CameraError, FiniteSource, Frame, OpenCvCapture
from todayfeeling.media import IMAGE_SUFFIXES, MediaError, read_image

log = logging.getLogger(__name__)

DEFAULT_VIDEO_FPS = 25.0  # a video whose container gives no usable frame rate is taken to have this one


class ImageFileSource(FiniteSource):
    """One image as a source of one frame."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.name = f"image {self.path}"
        self._image: np.ndarray | None = None

    def _open(self) -> None:
        try:
            self._image = read_image(self.path)
        except MediaError as err:
            raise CameraError(f"{self.path}: {err}") from None

    def _next(self) -> Frame | None:
        image, self._image = self._image, None
        return None if image is None else Frame(image, 0.0, 0, self.path.name)

    def _close(self) -> None:
        self._image = None


class ImageFolderSource(FiniteSource):
    """Every image under a folder (recursively), in name order, ``fps`` images a second of media time;
    unreadable files are logged and skipped."""

    def __init__(self, folder: Path, fps: float) -> None:
        self.folder = Path(folder)
        self.name = f"folder {self.folder}"
        self.fps = fps
        self._paths: list[Path] = []
        self._next_path = 0
        self._index = 0

    def _open(self) -> None:
        if not self.folder.is_dir():
            raise CameraError(f"{self.folder}: not a folder")
        self._paths = sorted(p for p in self.folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self._paths:
            raise CameraError(f"{self.folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        self._next_path = self._index = 0

    def _next(self) -> Frame | None:
        while self._next_path < len(self._paths):
            path = self._paths[self._next_path]
            self._next_path += 1
            try:
                image = read_image(path)
            except MediaError as err:
                log.warning("skipping %s: %s", path, err)
                continue
            frame = Frame(image, self._index / self.fps, self._index, str(path.relative_to(self.folder)))
            self._index += 1
            return frame
        return None

    def _close(self) -> None:
        self._paths = []


class VideoFileSource(OpenCvCapture, FiniteSource):
    """The frames of a video file (any container and codec OpenCV's FFmpeg reads)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.name = f"video {self.path}"
        self._index = 0
        self._fps = DEFAULT_VIDEO_FPS

    def _open(self) -> None:
        if not self.path.is_file():
            raise CameraError(f"{self.path}: no such file")
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            raise CameraError(f"{self.path}: not a video OpenCV can read")
        self._capture = capture
        self._index = 0
        rate = capture.get(cv2.CAP_PROP_FPS)
        self._fps = rate if math.isfinite(rate) and 0 < rate <= 1000 else DEFAULT_VIDEO_FPS
        if self._fps != rate:
            log.warning("%s: no usable frame rate in the file (%r); taken as %g frames a second", self.path,
                        rate, self._fps)

    def _next(self) -> Frame | None:
        image = self._next_image()
        if image is None:
            return None
        frame = Frame(image, self._index / self._fps, self._index)
        self._index += 1
        return frame

    def _close(self) -> None:
        self._release_capture()
