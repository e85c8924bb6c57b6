"""The demo camera: what the appliance watches on a machine with no camera.

It shows the demo picture from the models folder (a public-domain NASA portrait, fetched with the models)
drifting slowly across a 640x480 frame, so the whole pipeline — detection, mood, music, MQTT — runs and can
be watched without hardware.
"""

from __future__ import annotations

import logging
import math
import time

import cv2
import numpy as np

from todayfeeling.camera.base import Frame
from todayfeeling.inference.manifest import Manifest, ModelError

log = logging.getLogger(__name__)

DEMO_PICTURE = "demo_face"  # its manifest entry


class DemoSource:
    """An endless, live-like source made from the demo picture (an empty grey room when ``empty`` or when
    the picture is not installed)."""

    is_finite = False
    name = "demo"

    def __init__(self, manifest: Manifest, width: int = 640, height: int = 480, empty: bool = False) -> None:
        self._manifest = manifest
        self._empty = empty
        self._size = (width, height)
        self._picture: np.ndarray | None = None
        self._index = 0

    def open(self) -> None:
        """Load the demo picture, scaled to fit the frame's height."""
        width, height = self._size
        if self._empty:
            return
        try:
            picture = cv2.imread(str(self._manifest.spec(DEMO_PICTURE, "demo").path), cv2.IMREAD_COLOR)
        except ModelError as err:
            log.warning("demo camera shows an empty room: %s", err)
            picture = None
        if picture is not None:
            scale = min(height / picture.shape[0], width / picture.shape[1])  # fit, whatever its shape
            size = (max(1, int(picture.shape[1] * scale)), max(1, int(picture.shape[0] * scale)))
            picture = cv2.resize(picture, size, interpolation=cv2.INTER_AREA)
        self._picture = picture

    def read(self, timeout: float = 0.0) -> Frame | None:
        """The next frame: the picture shifted a little further along a slow circle."""
        width, height = self._size
        frame = np.full((height, width, 3), 96, np.uint8)
        if self._picture is not None:
            ph, pw = self._picture.shape[:2]
            phase = self._index * 0.05
            x = int((width - pw) / 2 + math.cos(phase) * (width - pw) / 2)
            y = int((height - ph) / 2)
            frame[y:y + ph, x:x + pw] = self._picture
        self._index += 1
        return Frame(frame, time.monotonic(), self._index - 1, "demo")

    def close(self) -> None:
        """Forget the picture."""
        self._picture = None
