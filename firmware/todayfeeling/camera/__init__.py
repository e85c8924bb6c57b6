"""Frame sources: the Pi camera, V4L2/USB cameras, video files, folders of images, and ``auto``.

:func:`make_source` turns a ``--source`` value into a source; live cameras come wrapped in
:class:`ResilientSource`, so an unplugged or stalled camera is reconnected while the daemon keeps running.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import cv2

from todayfeeling.camera.base import CameraConfig, CameraError, Frame, FrameSource
from todayfeeling.camera.files import ImageFolderSource, VideoFileSource
from todayfeeling.camera.picamera import PiCameraSource, load_picamera2, picamera_present
from todayfeeling.camera.resilient import ResilientSource, SourceStatus
from todayfeeling.camera.v4l2 import CaptureFactory, OpenCvCameraSource, parse_device, video_devices

__all__ = [
    "CameraConfig", "CameraError", "Frame", "FrameSource", "ImageFolderSource", "OpenCvCameraSource",
    "PiCameraSource", "ResilientSource", "SourceStatus", "VideoFileSource", "find_camera", "make_source",
]

log = logging.getLogger(__name__)


def find_camera(config: CameraConfig, picamera_module: ModuleType | None = None,
                devices: list[str] | None = None,
                capture_factory: CaptureFactory = cv2.VideoCapture) -> str | None:
    """What ``auto`` means on this machine: ``"picamera"``, the first /dev/video* that delivers a frame,
    or None (logged) when there is no camera, so the caller can fall back to a demo source.
    """
    module = picamera_module if picamera_module is not None else load_picamera2()
    if picamera_present(module):
        return "picamera"
    for device in video_devices() if devices is None else devices:
        probe = OpenCvCameraSource(device, config, capture_factory)
        try:
            probe.open()
            probe.read()
        except CameraError as err:
            log.debug("auto: %s", err)
            continue
        finally:
            probe.close()
        return device
    log.warning("no camera found: no Pi camera (picamera2 %s) and no V4L2 camera that delivers frames",
                "not installed" if module is None else "sees none")
    return None


def make_source(spec: str, config: CameraConfig, *, fps: float | None = None,
                on_status: Callable[[SourceStatus], None] | None = None,
                picamera_module: ModuleType | None = None,
                capture_factory: CaptureFactory = cv2.VideoCapture) -> FrameSource | ResilientSource:
    """The source named by ``spec``: ``picamera``, ``/dev/videoN``, a camera index, a video file or a
    folder. ``fps`` paces finite sources (None: as fast as they are read). ``auto`` must be resolved
    first with :func:`find_camera`. Raises :class:`CameraError` for a spec that names nothing usable.
    """
    if spec == "auto":
        raise ValueError("resolve 'auto' with find_camera() first")
    path = Path(spec).expanduser()
    if spec == "picamera" or spec.startswith("picamera:"):
        num = int(spec.partition(":")[2] or 0)
        return _resilient(lambda: PiCameraSource(config, num, picamera_module), f"picamera {num}",
                          config, on_status)
    if spec.isdigit() or spec.startswith("/dev/"):
        device = parse_device(spec)
        return _resilient(lambda: OpenCvCameraSource(device, config, capture_factory),
                          f"camera {device}", config, on_status)
    if path.is_dir():
        return ImageFolderSource(path, fps)
    if path.is_file():
        return VideoFileSource(path, fps)
    raise CameraError(f"{spec}: no such camera, video file or folder")


def _resilient(make: Callable[[], FrameSource], name: str, config: CameraConfig,
               on_status: Callable[[SourceStatus], None] | None) -> ResilientSource:
    return ResilientSource(make, name, retry_initial=config.retry_initial, retry_max=config.retry_max,
                           on_status=on_status)
