"""Finding and reading the images and videos that `detect`, `eval`, `bench` and the file sources take as input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from todayfeeling import MAX_IMAGE_PIXELS

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
    """A BGR uint8 image; MediaError when the file is not a readable image or is larger than
    :data:`~todayfeeling.MAX_IMAGE_PIXELS` (refused before it is decoded)."""
    try:
        data = np.fromfile(str(path), np.uint8) if path.is_file() else None
    except OSError as err:
        raise MediaError(f"cannot read: {err.strerror or err}") from None
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
    except cv2.error:  # OpenCV's size check (the only error imdecode raises rather than returning None)
        raise MediaError(f"image larger than {MAX_IMAGE_PIXELS // 1_000_000} megapixels: not decoded") from None
    if image is None:
        raise MediaError("not a readable image")
    return image
