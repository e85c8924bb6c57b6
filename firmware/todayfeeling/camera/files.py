"""Finite sources: one image, a folder of images played as frames in name order, and a video file.

They deliver frames as fast as they are read; the daemon paces them (``run --fps``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np

from todayfeeling.camera.base import CameraError, FiniteSource, Frame, OpenCvCapture
from todayfeeling.media import IMAGE_SUFFIXES, MediaError, read_image

log = logging.getLogger(__name__)


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
        return None if image is None else Frame(image, time.monotonic(), 0, self.path.name)

    def _close(self) -> None:
        self._image = None


class ImageFolderSource(FiniteSource):
    """Every image under a folder (recursively), in name order; unreadable files are logged and skipped."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.name = f"folder {self.folder}"
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
            frame = Frame(image, time.monotonic(), self._index, str(path.relative_to(self.folder)))
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

    def _open(self) -> None:
        if not self.path.is_file():
            raise CameraError(f"{self.path}: no such file")
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            raise CameraError(f"{self.path}: not a video OpenCV can read")
        self._capture = capture
        self._index = 0

    def _next(self) -> Frame | None:
        image = self._next_image()
        if image is None:
            return None
        frame = Frame(image, time.monotonic(), self._index)
        self._index += 1
        return frame

    def _close(self) -> None:
        self._release_capture()
