"""V4L2/USB cameras through OpenCV."""

from __future__ import annotations

import glob
import math
import os
import re
import time
from collections.abc import Callable
from typing import Any

import cv2

from todayfeeling.camera.base import CameraError, Frame, OpenCvCapture, rotated
from todayfeeling.config.settings import CameraConfig

# The narrow point tests replace: something that opens a device like ``cv2.VideoCapture(device, api)``.
CaptureFactory = Callable[[Any, int], Any]


def video_devices() -> list[str]:
    """The /dev/videoN nodes of this machine, in number order."""
    found = glob.glob("/dev/video[0-9]*")
    return sorted(found, key=lambda path: int(re.sub(r"\D", "", path) or 0))


def parse_device(spec: str) -> str | int:
    """``/dev/video2`` stays a path; ``2`` becomes the index 2."""
    return int(spec) if spec.isdigit() else spec


class OpenCvCameraSource(OpenCvCapture):
    """A live V4L2 camera (USB webcam, HDMI grabber …) read through OpenCV's V4L2 backend (a CameraDevice)."""

    def __init__(self, device: str | int, config: CameraConfig,
                 capture_factory: CaptureFactory = cv2.VideoCapture) -> None:
        self.device = device
        self.name = f"camera {device}"
        self._config = config
        self._factory = capture_factory
        self._index = 0

    def open(self) -> None:
        """Open the device and ask for the configured size and rate; CameraError when it cannot."""
        # OpenCV's V4L2 backend ignores CAP_PROP_READ_TIMEOUT_MSEC: a stalled camera blocks a read for
        # this many seconds (default 10), read once per process at the first capture.
        os.environ.setdefault("OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT", str(max(1, math.ceil(self._config.read_timeout))))
        capture = self._factory(self.device, cv2.CAP_V4L2)
        if not capture.isOpened():
            capture.release()
            raise CameraError(f"{self.device}: cannot open (unplugged, busy or not a capture device?)")
        # Requests, not guarantees: a camera picks its nearest mode and ignores what it lacks.
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, self._config.width)
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self._config.height)
        capture.set(cv2.CAP_PROP_FPS, self._config.fps)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep frames fresh when the daemon samples slowly
        self._capture = capture
        self._index = 0

    def read(self) -> Frame:
        """The next frame; CameraError when the camera delivers none."""
        image = self._next_image()
        if image is None:
            raise CameraError(f"{self.device}: no frame (camera unplugged or stalled)")
        frame = Frame(rotated(image, self._config.rotate), time.monotonic(), self._index)
        self._index += 1
        return frame

    def close(self) -> None:
        """Release the device (again: harmless)."""
        self._release_capture()
