"""Finite sources: a video file and a folder of images played as frames in name order."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2

from todayfeeling.camera.base import CameraError, Frame, OpenCvCapture, Pacer
from todayfeeling.media import IMAGE_SUFFIXES

log = logging.getLogger(__name__)


class ImageFolderSource:
    """Every image under a folder (recursively), in name order; unreadable files are logged and skipped."""

    is_finite = True

    def __init__(self, folder: Path, fps: float | None = None) -> None:
        self.folder = Path(folder)
        self.name = f"folder {self.folder}"
        self._pacer = Pacer(fps)
        self._paths: list[Path] = []
        self._next = 0
        self._index = 0

    def open(self) -> None:
        if not self.folder.is_dir():
            raise CameraError(f"{self.folder}: not a folder")
        self._paths = sorted(p for p in self.folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self._paths:
            raise CameraError(f"{self.folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        self._next = self._index = 0

    def read(self) -> Frame | None:
        while self._next < len(self._paths):
            path = self._paths[self._next]
            self._next += 1
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                log.warning("skipping %s: not a readable image", path)
                continue
            frame = Frame(image, self._pacer.wait(), self._index, str(path.relative_to(self.folder)))
            self._index += 1
            return frame
        return None

    def close(self) -> None:
        self._paths = []


class VideoFileSource(OpenCvCapture):
    """The frames of a video file (any container and codec OpenCV's FFmpeg reads)."""

    is_finite = True

    def __init__(self, path: Path, fps: float | None = None) -> None:
        self.path = Path(path)
        self.name = f"video {self.path}"
        self._pacer = Pacer(fps)
        self._index = 0

    def open(self) -> None:
        if not self.path.is_file():
            raise CameraError(f"{self.path}: no such file")
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            raise CameraError(f"{self.path}: not a video OpenCV can read")
        self._capture = capture
        self._index = 0

    def read(self) -> Frame | None:
        image = self._next_image()
        if image is None:
            return None
        frame = Frame(image, self._pacer.wait(), self._index)
        self._index += 1
        return frame
