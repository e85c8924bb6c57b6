"""What every frame source shares: the frame, the two contracts, the status, the error and small helpers.

Two contracts, one per level:

- :class:`FrameSource` is what the daemon, ``doctor``, ``detect`` and ``bench`` use: ``open``, ``read(timeout)``,
  ``release`` / ``acquire`` (privacy: give the camera up entirely, take it back), ``close`` and ``status``.
  Every source implements all of it; where a method has nothing to do (a video file has no device to give
  up) it does nothing.
- :class:`CameraDevice` is the narrow driver a live source wraps (a Pi camera, a V4L2 device): ``open``,
  ``read`` (a frame, or :class:`CameraError`) and ``close``. :class:`~todayfeeling.camera.resilient.ResilientSource`
  turns one into a :class:`FrameSource` that reconnects with backoff.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from todayfeeling.text import one_line


class CameraError(RuntimeError):
    """A source that cannot open or cannot deliver a frame (a retry may succeed for live cameras)."""


@dataclass(frozen=True)
class Frame:
    """One picture: BGR uint8 pixels, when it was taken, and where it came from."""

    image: np.ndarray
    ts: float  # a live source: time.monotonic() when captured; a finite one: seconds into the media
    index: int
    label: str = ""  # the image file of a folder source, else empty


@dataclass(frozen=True)
class SourceStatus:
    """How the source is doing, for the log, MQTT stats and systemd STATUS."""

    state: str  # "starting", "ok", "reconnecting", "released" (privacy) or "closed"
    reason: str = ""  # why it is reconnecting
    attempts: int = 0  # failed attempts since the camera went away
    reconnects: int = 0  # recoveries since start

    @property
    def text(self) -> str:
        """One line: ``ok``, ``reconnecting: <reason> (attempt n)``, ``released`` …"""
        if self.state == "reconnecting":
            return one_line(f"reconnecting: {self.reason} (attempt {self.attempts})")
        return self.state


class FrameSource(Protocol):
    """A camera, the demo camera, a video file, a folder of images or one image: what the daemon reads.

    ``read(timeout)`` returns the next frame. ``None`` from a finite source (``is_finite``) means it has
    ended; from a live source it means no frame came within ``timeout`` seconds (the camera is reconnecting
    or released), and the caller's loop goes on. ``release`` gives the device up entirely (privacy) until
    ``acquire``; both, and ``close``, may be called from another thread.
    """

    name: str
    is_finite: bool

    @property
    def status(self) -> SourceStatus: ...

    def open(self) -> None: ...

    def read(self, timeout: float = 1.0) -> Frame | None: ...

    def release(self) -> None: ...

    def acquire(self) -> None: ...

    def close(self) -> None: ...


class CameraDevice(Protocol):
    """The driver of one live camera: ``read`` returns a frame or raises :class:`CameraError`."""

    name: str

    def open(self) -> None: ...

    def read(self) -> Frame: ...

    def close(self) -> None: ...


class FiniteSource:
    """What the sources that end share: no device to release, a status that says whether they are open.

    Subclasses set ``name`` and implement ``_open``, ``_next`` (the next frame or None at the end) and
    ``_close``.
    """

    name: str
    is_finite = True
    _opened = False

    @property
    def status(self) -> SourceStatus:
        """``ok`` while open, else ``closed``."""
        return SourceStatus("ok" if self._opened else "closed")

    def open(self) -> None:
        """Open the file or folder; :class:`CameraError` when it cannot be read."""
        self._open()
        self._opened = True

    def read(self, timeout: float = 1.0) -> Frame | None:
        """The next frame, or None at the end (``timeout`` does not apply: reading never waits on a device)."""
        return self._next() if self._opened else None

    def release(self) -> None:
        """Nothing to give up: a file holds no camera."""

    def acquire(self) -> None:
        """Nothing to take back."""

    def close(self) -> None:
        """Release the file (again: harmless)."""
        self._opened = False
        self._close()

    def _open(self) -> None:
        raise NotImplementedError

    def _next(self) -> Frame | None:
        raise NotImplementedError

    def _close(self) -> None:
        """Nothing to release by default."""


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

    def _release_capture(self) -> None:
        """Release the capture (again: harmless)."""
        if self._capture is not None:
            self._capture.release()
            self._capture = None
