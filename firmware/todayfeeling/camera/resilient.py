"""A live camera that survives being unplugged or stalling: reconnects with capped exponential backoff."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from todayfeeling.camera.base import CameraDevice, CameraError, Frame, SourceStatus

log = logging.getLogger(__name__)


class ResilientSource:
    """A :class:`~todayfeeling.camera.base.FrameSource` around a live :class:`CameraDevice`; never raises on
    camera faults.

    ``read(timeout)`` waits at most ``timeout`` seconds and returns a frame, or None when none came (the
    camera is reconnecting or released): the caller's loop keeps running (MQTT, watchdog) meanwhile.
    Failed reads close the device and reopen it after 1 s, 2 s, 4 s … up to ``retry_max``; the delay
    resets once a frame arrives. ``release()`` frees the device entirely (privacy), ``acquire()`` takes
    it back. ``release``/``acquire``/``close`` may be called from another thread.
    """

    is_finite = False

    def __init__(self, make_device: Callable[[], CameraDevice], name: str, *, retry_initial: float = 1.0,
                 retry_max: float = 30.0, on_status: Callable[[SourceStatus], None] | None = None) -> None:
        self.name = name
        self._make_device = make_device
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._on_status = on_status
        self._device: CameraDevice | None = None
        self._status = SourceStatus("starting")
        self._delay = retry_initial
        self._next_attempt = 0.0
        self._lock = threading.Lock()  # held while the device is touched
        self._wake = threading.Event()  # interrupts a wait when released, acquired or closed
        self._released = False
        self._closed = False

    @property
    def status(self) -> SourceStatus:
        """The current status (a frozen snapshot)."""
        return self._status

    def open(self) -> None:
        """Try the camera at once; a missing camera is not an error, it is retried by ``read``."""
        with self._lock:
            self._closed = False
            self._try_open()

    def read(self, timeout: float = 1.0) -> Frame | None:
        """The next frame, or None after waiting at most ``timeout`` seconds without one."""
        deadline = time.monotonic() + timeout
        with self._lock:
            if not (self._released or self._closed):
                if self._device is None and time.monotonic() >= self._next_attempt:
                    self._try_open()
                if self._device is not None:
                    return self._read_frame(self._device)
            wait = deadline - time.monotonic()
            if not (self._released or self._closed):
                wait = min(wait, self._next_attempt - time.monotonic())
        self._wake.wait(max(0.0, wait))
        self._wake.clear()
        return None

    def release(self) -> None:
        """Close the device so nothing (not even another process) is kept from it; frames stop."""
        self._wake.set()
        with self._lock:
            self._released = True
            self._close_device()
            self._set_status(SourceStatus("released", reconnects=self._status.reconnects))

    def acquire(self) -> None:
        """Take the camera back after ``release``: the next ``read`` opens it."""
        with self._lock:
            self._released = False
            self._next_attempt = 0.0
            self._delay = self._retry_initial
            self._set_status(SourceStatus("starting", reconnects=self._status.reconnects))
        self._wake.set()

    def close(self) -> None:
        """Close the device for good (until ``open``)."""
        self._wake.set()
        with self._lock:
            self._closed = True
            self._close_device()
            self._set_status(SourceStatus("closed", reconnects=self._status.reconnects))

    def _try_open(self) -> None:
        try:
            device = self._make_device()
            device.open()
        except Exception as err:  # CameraError, or a driver library's own error: retried all the same
            self._failed(_reason(err))
            return
        self._device = device

    def _read_frame(self, device: CameraDevice) -> Frame | None:
        try:
            frame = device.read()
        except Exception as err:
            self._close_device()
            self._failed(_reason(err))
            return None
        if self._status.state != "ok":
            recovered = self._status.state == "reconnecting"
            reconnects = self._status.reconnects + int(recovered)
            self._set_status(SourceStatus("ok", reconnects=reconnects))
        self._delay = self._retry_initial
        return frame

    def _failed(self, reason: str) -> None:
        attempts = self._status.attempts + 1 if self._status.state == "reconnecting" else 1
        self._next_attempt = time.monotonic() + self._delay
        log.debug("%s: next attempt in %.1f s", self.name, self._delay)
        self._delay = min(self._delay * 2, self._retry_max)
        self._set_status(SourceStatus("reconnecting", reason, attempts, self._status.reconnects))

    def _close_device(self) -> None:
        if self._device is None:
            return
        device, self._device = self._device, None
        try:
            device.close()
        except Exception as err:  # a vanished device may fail even to close; it is gone either way
            log.warning("%s: error while closing: %s", self.name, err)

    def _set_status(self, status: SourceStatus) -> None:
        if status == self._status:
            return
        self._status = status
        if status.state == "reconnecting":
            log.warning("%s: %s", self.name, status.text)
        else:
            log.info("%s: %s", self.name, status.text)
        if self._on_status is not None:
            self._on_status(status)


def _reason(err: Exception) -> str:
    """Why the camera failed, for the status line: our own errors as they are, others with their type."""
    return str(err) if isinstance(err, CameraError) else f"{type(err).__name__}: {err}"
