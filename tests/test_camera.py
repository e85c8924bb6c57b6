"""Frame sources: real image folders and video files on disk; fakes only at the device opener.

The Pi camera and V4L2 devices cannot exist here, so they are replaced at the narrowest point: the
``cv2.VideoCapture``-like factory and the picamera2 module. Everything above them (OpenCvCameraSource,
PiCameraSource, ResilientSource) is the real code.
"""

from __future__ import annotations

import logging
import os
import time
import types

import cv2
import numpy as np
import pytest

from todayfeeling import camera
from todayfeeling.camera import (
    CameraError,
    DemoSource,
    Frame,
    ImageFolderSource,
    ResilientSource,
    VideoFileSource,
    find_camera,
    make_source,
)
from todayfeeling.config import CameraConfig
from todayfeeling.inference.manifest import Manifest

CONFIG = CameraConfig(width=64, height=48, retry_initial=0.01, retry_max=0.04, picamera_main_width=128,
                      picamera_main_height=96)


def solid(value: int, width: int = 64, height: int = 48) -> np.ndarray:
    return np.full((height, width, 3), value, np.uint8)


# ---------------------------------------------------------------- finite sources


def test_folder_plays_images_in_name_order_and_skips_unreadable(tmp_path, caplog):
    (tmp_path / "sub").mkdir()
    cv2.imwrite(str(tmp_path / "b.png"), solid(20))
    cv2.imwrite(str(tmp_path / "a.png"), solid(10))
    cv2.imwrite(str(tmp_path / "sub" / "c.png"), solid(30))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    (tmp_path / "notes.txt").write_text("ignored")

    source = make_source(str(tmp_path), CONFIG)
    assert isinstance(source, ImageFolderSource) and source.is_finite
    source.open()
    frames = []
    with caplog.at_level(logging.WARNING):
        while (frame := source.read()) is not None:
            frames.append(frame)
    source.close()

    assert [f.label for f in frames] == ["a.png", "b.png", "sub/c.png"]
    assert [int(f.image[0, 0, 0]) for f in frames] == [10, 20, 30]
    assert [f.index for f in frames] == [0, 1, 2]
    assert all(f.image.dtype == np.uint8 and f.image.shape == (48, 64, 3) for f in frames)
    assert frames[0].ts <= frames[1].ts <= frames[2].ts
    assert "broken.png" in caplog.text


def test_folder_without_images_is_a_clear_error(tmp_path):
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(CameraError, match="no images"):
        ImageFolderSource(tmp_path, 15.0).open()


def test_video_file_delivers_every_frame_then_ends(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    assert writer.isOpened()
    for value in (40, 80, 120, 160, 200):
        writer.write(solid(value))
    writer.release()

    source = make_source(str(path), CONFIG)
    assert isinstance(source, VideoFileSource) and source.is_finite
    source.open()
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    source.close()

    assert len(frames) == 5
    assert [f.index for f in frames] == list(range(5))
    assert frames[0].image.shape == (48, 64, 3)
    # MJPG is lossy: the grey levels survive to within a few steps.
    assert [round(int(f.image.mean()) / 40) for f in frames] == [1, 2, 3, 4, 5]


def test_unreadable_video_and_missing_paths_are_clear_errors(tmp_path):
    bogus = tmp_path / "bogus.mp4"
    bogus.write_bytes(b"\x00" * 100)
    with pytest.raises(CameraError, match="not a video"):
        VideoFileSource(bogus).open()
    with pytest.raises(CameraError, match="no such camera, video file or folder"):
        make_source(str(tmp_path / "missing.mp4"), CONFIG)


# ---------------------------------------------------------------- V4L2 through a fake device opener


class FakeCapture:
    """Stands in for one ``cv2.VideoCapture``: opens or not, then delivers ``frames`` frames and stalls."""

    def __init__(self, opens: bool, frames: int | None, value: int) -> None:
        self.opens, self.left, self.value = opens, frames, value
        self.released = False
        self.props: dict[int, float] = {}

    def isOpened(self):  # noqa: N802 (OpenCV's name)
        return self.opens and not self.released

    def set(self, prop, value):
        self.props[prop] = value
        return True

    def read(self):
        if self.released or (self.left is not None and self.left <= 0):
            return False, None
        if self.left is not None:
            self.left -= 1
        return True, solid(self.value)

    def release(self):
        self.released = True


class FakeDevice:
    """The device opener: each call opens the next planned capture (``None`` frames: endless)."""

    def __init__(self, plan):
        self.plan = list(plan)
        self.opened: list[FakeCapture] = []
        self.calls: list[tuple] = []

    def __call__(self, device, api):
        self.calls.append((device, api))
        opens, frames = self.plan.pop(0) if self.plan else (True, None)
        capture = FakeCapture(opens, frames, value=len(self.calls))
        self.opened.append(capture)
        return capture


def read_until(source, predicate, limit=400):
    frames = []
    for _ in range(limit):
        frame = source.read(timeout=0.05)
        if frame is not None:
            frames.append(frame)
        if predicate(frames):
            return frames
    raise AssertionError(f"condition not reached; status {source.status}")


def test_camera_that_stops_delivering_is_reconnected_with_backoff():
    # unplugged at start, then 3 frames and a stall, then unplugged once more, then fine.
    device = FakeDevice([(False, None), (True, 3), (False, None), (True, None)])
    statuses = []
    source = make_source("/dev/video0", CONFIG, capture_factory=device, on_status=statuses.append)
    assert isinstance(source, ResilientSource) and not source.is_finite
    source.open()  # the missing camera is not an error
    assert source.status.state == "reconnecting" and "cannot open" in source.status.reason

    frames = read_until(source, lambda fs: len(fs) >= 5)
    source.close()

    assert [int(f.image[0, 0, 0]) for f in frames[:3]] == [2, 2, 2]  # the second capture's frames
    assert {int(f.image[0, 0, 0]) for f in frames[3:]} == {4}  # then the fourth capture's
    assert [s.text for s in statuses] == [
        "reconnecting: /dev/video0: cannot open (unplugged, busy or not a capture device?) (attempt 1)",
        "ok",
        "reconnecting: /dev/video0: no frame (camera unplugged or stalled) (attempt 1)",
        "reconnecting: /dev/video0: cannot open (unplugged, busy or not a capture device?) (attempt 2)",
        "ok",
        "closed",
    ]
    assert statuses[-2].reconnects == 2
    assert all(c.released for c in device.opened)  # no device handle leaked
    assert device.opened[1].props[cv2.CAP_PROP_FRAME_WIDTH] == 64
    assert device.calls[0] == ("/dev/video0", cv2.CAP_V4L2)


def test_a_driver_error_that_is_not_a_camera_error_is_retried_like_one():
    class FlakyDriver:
        """Raises the driver's own RuntimeError on the second read of the first opening."""

        openings = 0

        def open(self):
            FlakyDriver.openings += 1
            self.reads = 0

        def read(self):
            self.reads += 1
            if FlakyDriver.openings == 1 and self.reads == 2:
                raise RuntimeError("libcamera: dequeue timed out")
            return Frame(image=solid(FlakyDriver.openings), ts=time.monotonic(), index=self.reads)

        def close(self):
            pass

    statuses = []
    source = ResilientSource(FlakyDriver, "pi camera", retry_initial=0.01, on_status=statuses.append)
    source.open()
    frames = read_until(source, lambda fs: len(fs) >= 3)
    source.close()
    assert [int(f.image[0, 0, 0]) for f in frames[:3]] == [1, 2, 2]
    assert [s.text for s in statuses] == [
        "ok", "reconnecting: RuntimeError: libcamera: dequeue timed out (attempt 1)", "ok", "closed"]


def test_read_never_retries_before_the_backoff_delay():
    device = FakeDevice([(False, None)])
    config = CameraConfig(retry_initial=30.0, retry_max=60.0)
    source = make_source("2", config, capture_factory=device)
    source.open()
    for _ in range(3):
        assert source.read(timeout=0.01) is None
    assert len(device.calls) == 1 and device.calls[0][0] == 2  # an index, opened once
    assert source.status.attempts == 1


def test_release_frees_the_device_and_acquire_takes_it_back(monkeypatch):
    monkeypatch.delenv("OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT", raising=False)
    device = FakeDevice([])
    statuses = []
    source = make_source("/dev/video1", CONFIG, capture_factory=device, on_status=statuses.append)
    source.open()
    assert source.read(timeout=0.05) is not None
    # OpenCV's V4L2 backend bounds a stalled read by this variable, not by CAP_PROP_READ_TIMEOUT_MSEC.
    assert os.environ["OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT"] == "5"

    source.release()
    assert device.opened[0].released
    assert source.read(timeout=0.01) is None
    assert len(device.calls) == 1  # nothing touches the camera while released

    source.acquire()
    assert source.read(timeout=0.05) is not None
    assert len(device.calls) == 2 and not device.opened[1].released
    source.close()
    assert [s.state for s in statuses] == ["ok", "released", "starting", "ok", "closed"]
    assert statuses[-1].reconnects == 0  # a privacy pause is not a fault


# ---------------------------------------------------------------- picamera2 through a fake module


def i420_with_stride(bgr: np.ndarray, stride: int) -> np.ndarray:
    """What picamera2 returns for a YUV420 stream: (h * 3 / 2, stride) with padding on the right."""
    height, width = bgr.shape[:2]
    padded = np.zeros((height, stride, 3), np.uint8)
    padded[:, :width] = bgr
    return cv2.cvtColor(padded, cv2.COLOR_BGR2YUV_I420)


class FakePicamera2:
    cameras = [{"Model": "imx708"}]
    made: list[FakePicamera2] = []

    def __init__(self, camera_num=0):
        self.camera_num = camera_num
        self.calls: list[str] = []
        self.configured = None
        self.frames_left = 2
        FakePicamera2.made.append(self)

    @classmethod
    def global_camera_info(cls):
        return cls.cameras

    def create_video_configuration(self, **kwargs):
        return {"video": kwargs}

    def configure(self, config):
        self.configured = config

    def start(self):
        self.calls.append("start")

    def capture_array(self, name, wait=None):
        assert wait is False
        return ("job", name)

    def wait(self, job, timeout=None):
        self.calls.append(f"wait {job[1]} {timeout}")
        if self.frames_left == 0:
            raise TimeoutError
        self.frames_left -= 1
        image = np.zeros((48, 64, 3), np.uint8)
        image[:, :32] = (255, 0, 0)  # left half blue, right half red (BGR)
        image[:, 32:] = (0, 0, 255)
        return i420_with_stride(image, stride=128)

    def stop(self):
        self.calls.append("stop")

    def close(self):
        self.calls.append("close")


@pytest.fixture
def picamera2():
    FakePicamera2.made = []
    FakePicamera2.cameras = [{"Model": "imx708"}]
    return types.SimpleNamespace(Picamera2=FakePicamera2)


def test_a_frame_size_above_the_picamera_main_stream_widens_the_main_stream(picamera2):
    # a USB camera at 1920x1080 must not need Pi-camera keys; a Pi camera's main stream is at least that big
    config = CameraConfig(width=1920, height=1080)
    source = make_source("picamera", config, picamera_module=picamera2)
    source.open()
    source.close()
    assert FakePicamera2.made[0].configured["video"]["main"] == {"size": (1920, 1080)}


def test_picamera_uses_the_yuv420_lores_stream_and_converts_to_bgr(picamera2):
    statuses = []
    source = make_source("picamera", CONFIG, picamera_module=picamera2, on_status=statuses.append)
    source.open()
    frame = source.read(timeout=0.05)

    camera = FakePicamera2.made[0]
    assert camera.configured == {"video": {
        "main": {"size": (128, 96)}, "lores": {"size": (64, 48), "format": "YUV420"},
        "buffer_count": 4, "controls": {"FrameRate": 15.0}}}
    assert camera.calls[:2] == ["start", f"wait lores {CONFIG.read_timeout}"]
    assert frame.image.shape == (48, 64, 3) and frame.image.dtype == np.uint8  # stride padding cropped
    blue, red = frame.image[24, 10].astype(int), frame.image[24, 50].astype(int)
    assert blue[0] > 200 and blue[2] < 50 and red[2] > 200 and red[0] < 50

    # The camera stops delivering (wait times out): the device is closed and reopened.
    frames = read_until(source, lambda fs: len(FakePicamera2.made) >= 2 and fs)
    source.close()
    assert frames and camera.calls[-2:] == ["stop", "close"]
    assert [s.state for s in statuses] == ["ok", "reconnecting", "ok", "closed"]
    assert "no frame for 5 s" in statuses[1].reason


def test_picamera_missing_module_is_reported_not_raised():
    source = make_source("picamera", CONFIG, picamera_module=None)
    # Without picamera2 installed (this build machine), opening reports why and keeps retrying.
    source.open()
    assert source.status.state == "reconnecting"
    assert "picamera2 is not installed" in source.status.reason
    source.close()


# ---------------------------------------------------------------- auto


def test_auto_prefers_the_pi_camera(picamera2):
    assert find_camera(CONFIG, picamera_module=picamera2, devices=["/dev/video0"]) == "picamera"


def test_auto_takes_the_first_v4l2_camera_that_delivers(picamera2):
    FakePicamera2.cameras = []  # picamera2 installed, no camera on the CSI port
    device = FakeDevice([(False, None), (True, 0), (True, None)])
    chosen = find_camera(CONFIG, picamera_module=picamera2,
                         devices=["/dev/video0", "/dev/video1", "/dev/video2"], capture_factory=device)
    assert chosen == "/dev/video2"
    assert all(c.released for c in device.opened)  # probing leaves no device open


def test_auto_without_any_camera_says_so(picamera2, caplog):
    FakePicamera2.cameras = []
    with caplog.at_level(logging.WARNING):
        assert find_camera(CONFIG, picamera_module=picamera2, devices=[]) is None
    assert "no camera found" in caplog.text


def test_auto_without_any_camera_makes_the_demo_camera_and_says_so(picamera2, monkeypatch, caplog, models_dir):
    FakePicamera2.cameras = []
    monkeypatch.setattr(camera, "video_devices", lambda: [])
    with caplog.at_level(logging.WARNING):
        source = make_source("auto", CONFIG, picamera_module=picamera2, manifest=Manifest(models_dir))
    assert isinstance(source, DemoSource) and not source.is_finite
    assert "running on the demo source" in caplog.text


def test_auto_with_a_pi_camera_makes_a_reconnecting_pi_camera(picamera2):
    source = make_source("auto", CONFIG, picamera_module=picamera2)
    assert isinstance(source, ResilientSource) and source.name == "picamera 0"


@pytest.mark.parametrize("spec", ["demo", "demo:empty"])
def test_every_source_spec_is_made_in_one_place_and_keeps_the_contract(spec, tmp_path, models_dir):
    cv2.imwrite(str(tmp_path / "one.png"), solid(70))
    for made in (make_source(spec, CONFIG, manifest=Manifest(models_dir)), make_source(str(tmp_path), CONFIG),
                 make_source(str(tmp_path / "one.png"), CONFIG)):
        made.open()
        assert made.status.state == "ok"
        made.release()  # privacy: nothing to give up for these, and nothing breaks
        made.acquire()
        assert made.read(timeout=0.1) is not None
        made.close()
        assert made.status.state == "closed"


def test_camera_config_rejects_bad_values(tmp_path):
    from todayfeeling.config import ConfigError, parse_section

    section = parse_section(CameraConfig, {"source": "/dev/video2", "rotate": 180, "fps": 10}, "c.toml")
    assert section.source == "/dev/video2" and section.rotate == 180 and section.fps == 10.0
    with pytest.raises(ConfigError, match="camera.rotate: must be one of 0, 90, 180, 270"):
        parse_section(CameraConfig, {"rotate": 45}, "c.toml", "camera.")
    with pytest.raises(ConfigError, match="retry_initial must be positive"):
        parse_section(CameraConfig, {"retry_initial": 60.0}, "c.toml", "camera.")


def test_an_unreadable_image_given_as_the_source_is_named(tmp_path) -> None:
    # `run --source fake.jpg` said only "not a readable image", unlike every other source
    path = tmp_path / "fake.jpg"
    path.write_bytes(b"hello")
    with pytest.raises(CameraError, match=f"^{path}: not a readable image$"):
        make_source(str(path), CameraConfig()).open()
