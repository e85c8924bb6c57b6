"""The Raspberry Pi camera through picamera2, using its cheap low-resolution (lores) stream.

picamera2 exists only on the Pi (apt ``python3-picamera2``; the venv sees it through
``--system-site-packages``), so it is imported lazily through :func:`load_picamera2`, the narrow point
tests replace with a stand-in module.
"""

from __future__ import annotations

import importlib
import logging
import time
from types import ModuleType
from typing import Any

import cv2

from todayfeeling.camera.base import CameraError, Frame, rotated
from todayfeeling.config.settings import CameraConfig

log = logging.getLogger(__name__)

# The lores stream must be YUV420 on a Pi 4 (its ISP gives no RGB there); the Pi 5 accepts it too.
LORES_FORMAT = "YUV420"


def load_picamera2() -> ModuleType | None:
    """The picamera2 module, or None where it is not installed."""
    try:
        return importlib.import_module("picamera2")
    except ImportError:
        return None
    except Exception as err:  # a broken libcamera install raises all sorts of things at import
        log.warning("picamera2 is installed but cannot be imported: %s", err)
        return None


def picamera_present(module: ModuleType | None) -> bool:
    """Whether libcamera sees at least one camera through ``module``."""
    if module is None:
        return False
    try:
        return bool(module.Picamera2.global_camera_info())
    except Exception as err:  # libcamera errors are not a documented exception type
        log.warning("cannot list Pi cameras: %s", err)
        return False


def yuv420_to_bgr(yuv: Any, width: int) -> Any:
    """BGR pixels of a planar YUV420 array shaped ``(height * 3 / 2, stride)``, cropped to ``width``.

    picamera2's YUV420 is I420 (the U plane before V). OpenCV's ``COLOR_YUV420p2BGR`` is an alias of
    ``COLOR_YUV2BGR_YV12`` (V before U) and would swap the chroma planes, so the I420 code is used.
    """
    return cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420)[:, :width]


class PiCameraSource:
    """A Pi camera (CSI) configured with a main stream and a lores stream; frames come from lores (a CameraDevice)."""

    def __init__(self, config: CameraConfig, camera_num: int = 0,
                 module: ModuleType | None = None) -> None:
        self.name = f"picamera {camera_num}"
        self._config = config
        self._camera_num = camera_num
        self._module = module
        self._camera: Any = None
        self._index = 0

    def open(self) -> None:
        """Configure and start the camera; CameraError when picamera2 or the camera is missing."""
        module = self._module or load_picamera2()
        if module is None:
            raise CameraError("picamera2 is not installed (apt install python3-picamera2)")
        config = self._config
        try:
            camera = module.Picamera2(self._camera_num)
        except Exception as err:  # libcamera raises RuntimeError/IndexError when no camera is attached
            raise CameraError(f"cannot open the Pi camera {self._camera_num}: {err}") from err
        try:
            camera.configure(camera.create_video_configuration(
                main={"size": (max(config.picamera_main_width, config.width),
                               max(config.picamera_main_height, config.height))},
                lores={"size": (config.width, config.height), "format": LORES_FORMAT},
                buffer_count=4,
                controls={"FrameRate": config.fps},
            ))
            camera.start()
        except Exception as err:
            camera.close()
            raise CameraError(f"cannot start the Pi camera {self._camera_num}: {err}") from err
        self._camera = camera
        self._index = 0

    def read(self) -> Frame:
        """The next lores frame as BGR; CameraError when none comes within ``read_timeout``."""
        if self._camera is None:
            raise CameraError(f"{self.name} is not open")
        try:
            job = self._camera.capture_array("lores", wait=False)
            yuv = self._camera.wait(job, timeout=self._config.read_timeout)
        except TimeoutError:
            raise CameraError(f"{self.name}: no frame for {self._config.read_timeout:g} s") from None
        except Exception as err:
            raise CameraError(f"{self.name}: capture failed: {err}") from err
        image = rotated(yuv420_to_bgr(yuv, self._config.width), self._config.rotate)
        frame = Frame(image, time.monotonic(), self._index)
        self._index += 1
        return frame

    def close(self) -> None:
        """Stop and close the camera, freeing it for other processes."""
        if self._camera is None:
            return
        camera, self._camera = self._camera, None
        try:
            camera.stop()
        finally:
            camera.close()  # frees the device for other processes (privacy mode relies on it)
