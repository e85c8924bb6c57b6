"""What every frame source shares: the frame, the interface, the error and the camera settings."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import cv2
import numpy as np


class CameraError(RuntimeError):
    """A source that cannot open or cannot deliver a frame (a retry may succeed for live cameras)."""


@dataclass(frozen=True)
class Frame:
    """One picture: BGR uint8 pixels, the monotonic time it was taken, and where it came from."""

    image: np.ndarray
    ts: float
    index: int
    label: str = ""  # the image file of a folder source, else empty


class FrameSource(Protocol):
    """A camera, a video file or a folder of images.

    ``read()`` returns the next frame, or None when a finite source has ended; a live source that fails
    raises :class:`CameraError` (``ResilientSource`` turns that, and any other error of a driver library,
    into reconnecting with backoff).
    """

    name: str
    is_finite: bool

    def open(self) -> None: ...

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class CameraConfig:
    """The ``[camera]`` section: which camera and how it delivers frames."""

    source: str = "auto"  # auto, picamera, /dev/videoN, a camera index, a video file or a folder of images
    width: int = 640  # inference frame size: the Pi camera's lores stream, or the USB camera's capture size
    height: int = 480
    fps: float = 15.0  # frames per second asked of a live camera; the daemon samples from them
    rotate: Literal[0, 90, 180, 270] = 0  # degrees clockwise, for a camera mounted sideways or upside down
    read_timeout: float = 5.0  # seconds without a frame before a live camera counts as stalled
    retry_initial: float = 1.0  # first reconnect delay in seconds; doubles per failed attempt
    retry_max: float = 30.0  # cap of the reconnect delay
    picamera_main_width: int = 1280  # the Pi camera's main stream (not used for inference, only configured)
    picamera_main_height: int = 960

    def __post_init__(self) -> None:
        if self.width < 16 or self.height < 16:
            raise ValueError("width and height must be at least 16 pixels")
        if self.fps <= 0 or self.read_timeout <= 0:
            raise ValueError("fps and read_timeout must be positive")
        if not 0 < self.retry_initial <= self.retry_max:
            raise ValueError("retry_initial must be positive and not above retry_max")
        if self.picamera_main_width < self.width or self.picamera_main_height < self.height:
            raise ValueError("the picamera main stream must not be smaller than width x height")


_ROTATIONS = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def rotated(image: np.ndarray, degrees: int) -> np.ndarray:
    """``image`` turned clockwise by 0, 90, 180 or 270 degrees."""
    return cv2.rotate(image, _ROTATIONS[degrees]) if degrees else image


class OpenCvCapture:
    """What the sources read through OpenCV share: the next image of an opened capture, and releasing it."""

    name: str
    _capture: Any = None

    def _next_image(self) -> np.ndarray | None:
        """The capture's next image, or None when it gave none (the end of a file, a camera that failed)."""
        if self._capture is None:
            raise CameraError(f"{self.name} is not open")
        ok, image = self._capture.read()
        return image if ok and image is not None else None

    def close(self) -> None:
        """Release the capture (again: harmless)."""
        if self._capture is not None:
            self._capture.release()
            self._capture = None


@dataclass
class Pacer:
    """Spaces frames of a finite source ``1/fps`` seconds apart (None: as fast as they are pulled)."""

    fps: float | None = None
    _next: float = field(default=0.0, init=False)

    def wait(self) -> float:
        """Sleep until the next frame is due; returns the frame's (monotonic) time."""
        now = time.monotonic()
        if not self.fps:
            return now
        if self._next > now:
            time.sleep(self._next - now)
            now = self._next
        self._next = now + 1.0 / self.fps
        return now
