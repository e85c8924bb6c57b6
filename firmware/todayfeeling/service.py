"""systemd integration: READY, STATUS, WATCHDOG, RELOADING and STOPPING notifications.

Writes the datagrams of sd_notify(3) to ``$NOTIFY_SOCKET`` itself, never waiting: a manager that does not
read them (its queue full) costs a dropped status, not a frozen appliance. (systemd-python's sd_notify, from
libsystemd 252 as on Bookworm, blocks on a full queue while holding Python's lock, which froze every thread of
the daemon.) Without ``$NOTIFY_SOCKET`` (not started by systemd) every call is a no-op, so the daemon runs
unchanged in a terminal, a test or a container.

The watchdog is fed only from the daemon's main loop through :meth:`ServiceNotifier.tick`: a loop that
hangs stops the pings and systemd restarts the service after ``WatchdogSec``.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

Sender = Callable[[str], bool]


def socket_sender(environ: Mapping[str, str] = os.environ) -> Sender:
    """A sender writing one datagram to ``$NOTIFY_SOCKET`` (a path, or ``@name``: abstract namespace) without
    waiting; a full queue raises :class:`BlockingIOError`."""

    def send(message: str) -> bool:
        address = environ.get("NOTIFY_SOCKET", "")
        if not address:
            return False
        if address.startswith("@"):
            address = "\0" + address[1:]
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.send(message.encode(), socket.MSG_DONTWAIT)
        return True

    return send


def watchdog_interval(environ: Mapping[str, str] = os.environ, pid: int | None = None) -> float | None:
    """Seconds between watchdog pings (half of ``$WATCHDOG_USEC``), or None when no watchdog is asked for.

    Like sd_watchdog_enabled(3): ``$WATCHDOG_PID``, when set, must be this process.
    """
    usec = environ.get("WATCHDOG_USEC", "")
    watchdog_pid = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if watchdog_pid and watchdog_pid != str(os.getpid() if pid is None else pid):
        return None
    return int(usec) / 2 / 1_000_000


class ServiceNotifier:
    """Tells systemd how the service is doing; every method is safe to call without systemd."""

    def __init__(self, sender: Sender | None = None, environ: Mapping[str, str] = os.environ,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._send_raw = sender or socket_sender(environ)
        self._enabled = bool(environ.get("NOTIFY_SOCKET"))
        self._clock = clock
        self._interval = watchdog_interval(environ) if self._enabled else None
        self._last_ping: float | None = None
        self._status = ""
        self._failing: str | None = None  # why the last notification could not be sent

    @property
    def enabled(self) -> bool:
        """Whether a service manager listens (``$NOTIFY_SOCKET`` is set)."""
        return self._enabled

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between pings, or None; the main loop must call :meth:`tick` at least this often."""
        return self._interval

    def ready(self, status: str = "") -> None:
        """Start-up is done (systemd considers the service started only now)."""
        self._send("READY=1" + (f"\nSTATUS={status}" if status else ""))
        if status:
            self._status = status

    def status(self, text: str) -> None:
        """A one-line status for ``systemctl status`` (sent only when it changed)."""
        if text != self._status:
            self._status = text
            self._send(f"STATUS={text}")

    def reloading(self) -> None:
        """A config reload begins; call :meth:`ready` when it is done."""
        monotonic_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self._send(f"RELOADING=1\nMONOTONIC_USEC={monotonic_usec}")

    def stopping(self) -> None:
        """Shutdown begins."""
        self._send("STOPPING=1")

    def tick(self) -> None:
        """Call from every main-loop iteration: pings the watchdog at half its interval."""
        if self._interval is None:
            return
        now = self._clock()
        if self._last_ping is None or now - self._last_ping >= self._interval:
            self._last_ping = now
            self._send("WATCHDOG=1")

    def _send(self, message: str) -> None:
        if not self._enabled:
            return
        try:
            self._send_raw(message)
        except OSError as err:  # a notify failure must never take the appliance down
            reason = "its queue is full" if isinstance(err, BlockingIOError) else str(err)
            if reason != self._failing:  # once per reason, not once per message
                log.warning("cannot notify systemd (%s): %s", message.split("=")[0], reason)
                self._failing = reason
            return
        if self._failing is not None:
            log.info("notifying systemd works again")
            self._failing = None
