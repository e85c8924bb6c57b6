"""The demo camera: what the appliance watches on a machine with no camera.

It shows the demo picture from the models folder (a public-domain NASA portrait, fetched with the models)
drifting slowly across a 640x480 frame, so the whole pipeline — detection, mood, music, MQTT — runs and can
be watched without hardware. :func:`demo_frame` is the same picture centred, the frame ``bench`` measures.
"""

from __future__ import annotations

import logging
import math
import time

import cv2
import numpy as np

from todayfeeling.camera.base import CameraError, Frame, SourceStatus
from todayfeeling.inference.manifest import Manifest, ModelError

log = logging.getLogger(__name__)

DEMO_PICTURE = "demo_face"  # its manifest entry
BACKGROUND = 96  # grey level of the room around the picture


def demo_picture(manifest: Manifest, width: int, height: int) -> np.ndarray:
    """The demo picture (BGR) scaled to fit a ``width`` x ``height`` frame; ModelError when it is missing
    and CameraError when it cannot be read."""
    path = manifest.spec(DEMO_PICTURE, "demo").path
    picture = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if picture is None:
        raise CameraError(f"the demo picture {path} is not readable; run models/fetch_models.py")
    scale = min(height / picture.shape[0], width / picture.shape[1])  # fit, whatever its shape
    size = (max(1, int(picture.shape[1] * scale)), max(1, int(picture.shape[0] * scale)))
    return cv2.resize(picture, size, interpolation=cv2.INTER_AREA)


def place(picture: np.ndarray | None, width: int, height: int, x: int) -> np.ndarray:
    """A grey ``width`` x ``height`` frame with ``picture`` (if any) at column ``x``, vertically centred."""
    frame = np.full((height, width, 3), BACKGROUND, np.uint8)
    if picture is not None:
        ph, pw = picture.shape[:2]
        y = (height - ph) // 2
        frame[y:y + ph, x:x + pw] = picture
    return frame


def demo_frame(manifest: Manifest, width: int = 640, height: int = 480) -> np.ndarray:
    """The demo picture centred in a frame: one real face, always the same pixels."""
    picture = demo_picture(manifest, width, height)
    return place(picture, width, height, (width - picture.shape[1]) // 2)


class DemoSource:
    """An endless, live-like source made from the demo picture (an empty grey room when ``empty`` or when
    the picture is not installed). It holds no device: ``release`` and ``acquire`` only stop and restart
    its frames."""

    is_finite = False
    name = "demo"

    def __init__(self, manifest: Manifest, width: int = 640, height: int = 480, empty: bool = False) -> None:
        self._manifest = manifest
        self._empty = empty
        self._size = (width, height)
        self._picture: np.ndarray | None = None
        self._index = 0
        self._state = "closed"

    @property
    def status(self) -> SourceStatus:
        """``ok`` while open, ``released`` in privacy mode, else ``closed``."""
        return SourceStatus(self._state)

    def open(self) -> None:
        """Load the demo picture, scaled to fit the frame's height."""
        self._state = "ok"
        if self._empty:
            return
        try:
            self._picture = demo_picture(self._manifest, *self._size)
        except (ModelError, CameraError) as err:
            log.warning("demo camera shows an empty room: %s", err)

    def read(self, timeout: float = 1.0) -> Frame | None:
        """The next frame: the picture shifted a little further along a slow circle (None while released)."""
        if self._state != "ok":
            return None
        width, height = self._size
        x = 0
        if self._picture is not None:
            x = int((width - self._picture.shape[1]) / 2 * (1 + math.cos(self._index * 0.05)))
        self._index += 1
        return Frame(place(self._picture, width, height, x), time.monotonic(), self._index - 1, "demo")

    def release(self) -> None:
        """Stop delivering frames (privacy)."""
        if self._state == "ok":
            self._state = "released"

    def acquire(self) -> None:
        """Deliver frames again."""
        if self._state == "released":
            self._state = "ok"

    def close(self) -> None:
        """Forget the picture."""
        self._picture = None
        self._state = "closed"
