"""A live camera that survives being unplugged or stalling: reconnects with capped exponential backoff."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from todayfeeling.camera.base import CameraError, Frame, FrameSource
from todayfeeling.text import one_line

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceStatus:
    """How the camera is doing, for the log, MQTT stats and systemd STATUS."""

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


class ResilientSource:
    """Wraps a live source made by ``make_source``; never raises on camera faults.

    ``read(timeout)`` waits at most ``timeout`` seconds and returns a frame, or None when none came (the
    camera is reconnecting or released): the caller's loop keeps running (MQTT, watchdog) meanwhile.
    Failed reads close the device and reopen it after 1 s, 2 s, 4 s … up to ``retry_max``; the delay
    resets once a frame arrives. ``release()`` frees the device entirely (privacy), ``acquire()`` takes
    it back. ``release``/``acquire``/``close`` may be called from another thread.
    """

    is_finite = False

    def __init__(self, make_source: Callable[[], FrameSource], name: str, *, retry_initial: float = 1.0,
                 retry_max: float = 30.0, on_status: Callable[[SourceStatus], None] | None = None) -> None:
        self.name = name
        self._make_source = make_source
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._on_status = on_status
        self._source: FrameSource | None = None
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
                if self._source is None and time.monotonic() >= self._next_attempt:
                    self._try_open()
                if self._source is not None:
                    return self._read_frame()
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
            self._close_source()
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
            self._close_source()
            self._set_status(SourceStatus("closed", reconnects=self._status.reconnects))

    def _try_open(self) -> None:
        try:
            source = self._make_source()
            source.open()
        except Exception as err:  # CameraError, or a driver library's own error: retried all the same
            self._failed(_reason(err))
            return
        self._source = source

    def _read_frame(self) -> Frame | None:
        try:
            frame = self._source.read()
            if frame is None:
                raise CameraError("the camera stream ended")
        except Exception as err:
            self._close_source()
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

    def _close_source(self) -> None:
        if self._source is None:
            return
        source, self._source = self._source, None
        try:
            source.close()
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
