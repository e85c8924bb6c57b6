"""Finding and reading the images and videos that `detect`, `eval` and `bench` take as input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})


class MediaError(Exception):
    """A path that cannot be read as an image, a video or a folder of them."""


def is_media(path: Path) -> bool:
    """An image or video by its suffix."""
    return path.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES


def expand(path: Path) -> list[Path]:
    """A file as itself, a folder as its images and videos (recursively, in name order)."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and is_media(p))
        if not files:
            raise MediaError("no images or videos in this folder")
        return files
    if not path.exists():
        raise MediaError("no such file or folder")
    return [path]


def read_image(path: Path) -> np.ndarray:
    """A BGR uint8 image; MediaError when the file is not a readable image."""
    data = np.fromfile(str(path), np.uint8) if path.is_file() else None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
    if image is None:
        raise MediaError("not a readable image")
    return image


def read_frames(path: Path) -> Iterator[tuple[int | None, np.ndarray]]:
    """(frame index, BGR frame) for a video, or (None, image) once for an image."""
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        yield None, read_image(path)
        return
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise MediaError("not a readable video")
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            yield index, frame
            index += 1
        if index == 0:
            raise MediaError("video has no readable frames")
    finally:
        capture.release()
