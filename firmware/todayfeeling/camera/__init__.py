"""Frame sources: the Pi camera, V4L2/USB cameras, the demo camera, video files, folders of images, one image.

:func:`make_source` is the one place a source spec (``auto``, ``demo``, ``demo:empty``, ``picamera``,
``/dev/videoN``, a camera index, a path) becomes a :class:`FrameSource`; ``run``, ``doctor``, ``detect`` and
``bench`` all use it. Live cameras come wrapped in :class:`ResilientSource`, so an unplugged or stalled
camera is reconnected while the daemon keeps running.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import cv2

from todayfeeling.camera.base import CameraDevice, CameraError, Frame, FrameSource, SourceStatus
from todayfeeling.camera.demo import DemoSource
from todayfeeling.camera.files import ImageFileSource, ImageFolderSource, VideoFileSource
from todayfeeling.camera.picamera import PiCameraSource, load_picamera2, picamera_present
from todayfeeling.camera.resilient import ResilientSource
from todayfeeling.camera.v4l2 import CaptureFactory, OpenCvCameraSource, parse_device, video_devices
from todayfeeling.config.settings import CameraConfig
from todayfeeling.inference.manifest import Manifest
from todayfeeling.media import IMAGE_SUFFIXES

__all__ = [
    "CameraDevice", "CameraError", "DemoSource", "Frame", "FrameSource", "ImageFileSource", "ImageFolderSource",
    "OpenCvCameraSource", "PiCameraSource", "ResilientSource", "SourceStatus", "VideoFileSource", "find_camera",
    "make_source",
]

log = logging.getLogger(__name__)

DEMO_SPECS = ("demo", "demo:empty")


def find_camera(config: CameraConfig, picamera_module: ModuleType | None = None,
                devices: list[str] | None = None,
                capture_factory: CaptureFactory = cv2.VideoCapture, quiet: bool = False) -> str | None:
    """What ``auto`` means on this machine: ``"picamera"``, the first /dev/video* that delivers a frame,
    or None (logged, unless ``quiet``) when there is no camera.
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
    log.log(logging.DEBUG if quiet else logging.WARNING, "no camera found: no Pi camera (picamera2 %s) and no V4L2 "
            "camera that delivers frames", "not installed" if module is None else "sees none")
    return None


def make_source(spec: str, config: CameraConfig, *, manifest: Manifest | None = None,
                on_status: Callable[[SourceStatus], None] | None = None,
                picamera_module: ModuleType | None = None,
                capture_factory: CaptureFactory = cv2.VideoCapture, folder_fps: float | None = None,
                demo_fallback: bool = True) -> FrameSource:
    """The source named by ``spec``, not yet opened.

    ``auto`` is the Pi camera, else the first V4L2 camera that delivers frames, else (with a warning) the
    demo camera; without ``demo_fallback`` (the service) it is a live source that looks for a camera until
    one comes, as an unplugged camera is reconnected. ``demo`` and ``demo:empty`` are the demo camera (its
    picture comes from ``manifest``, by default the installed models). A path is a folder of images, an image
    or a video file (read as fast as they are asked for: the daemon paces them); a folder's images are
    ``folder_fps`` (default: the camera's ``fps``) a second of media time. Raises :class:`CameraError` for a
    spec that names nothing usable.
    """
    if spec == "auto":
        found = find_camera(config, picamera_module, capture_factory=capture_factory)
        if found is None and not demo_fallback:  # a demo face's moods would reach the smart home as real
            log.warning("no camera yet: looking for one until it comes")
            return _resilient(lambda: _first_camera(config, picamera_module, capture_factory), "camera (auto)",
                              config, on_status)
        spec = found or "demo"
        if spec == "demo":
            log.warning("no camera on this machine: running on the demo source (a picture drifting in view)")
    if spec in DEMO_SPECS:
        return DemoSource(manifest or Manifest(), config.width, config.height, empty=spec == "demo:empty")
    if spec == "picamera" or spec.startswith("picamera:"):
        number = spec.partition(":")[2] or "0"
        if not number.isdigit():
            raise CameraError(f"{spec}: a Pi camera is picamera or picamera:N")
        return _resilient(lambda: PiCameraSource(config, int(number), picamera_module), f"picamera {number}",
                          config, on_status)
    path = Path(spec).expanduser()
    if path.is_dir():
        return ImageFolderSource(path, folder_fps or config.fps)
    if path.is_file():  # a device node is not a regular file
        return ImageFileSource(path) if path.suffix.lower() in IMAGE_SUFFIXES else VideoFileSource(path)
    if spec.isdigit() or spec.startswith("/dev/"):
        device = parse_device(spec)
        return _resilient(lambda: OpenCvCameraSource(device, config, capture_factory),
                          f"camera {device}", config, on_status)
    raise CameraError(f"{spec}: no such camera, video file or folder")


def _first_camera(config: CameraConfig, picamera_module: ModuleType | None,
                  capture_factory: CaptureFactory) -> CameraDevice:
    """The camera ``auto`` finds now; :class:`CameraError` while there is none (the caller retries)."""
    found = find_camera(config, picamera_module, capture_factory=capture_factory, quiet=True)
    if found is None:
        raise CameraError("no camera found (no Pi camera, no V4L2 camera that delivers frames)")
    if found == "picamera":
        return PiCameraSource(config, 0, picamera_module)
    return OpenCvCameraSource(found, config, capture_factory)  # a /dev/video* path, as find_camera probed it


def _resilient(make: Callable[[], CameraDevice], name: str, config: CameraConfig,
               on_status: Callable[[SourceStatus], None] | None) -> ResilientSource:
    return ResilientSource(make, name, retry_initial=config.retry_initial, retry_max=config.retry_max,
                           on_status=on_status)
