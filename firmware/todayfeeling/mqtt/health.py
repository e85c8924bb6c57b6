"""Why the MQTT link is not working, said so that a user sees it within seconds.

:class:`LinkHealth` is told every connection attempt's outcome (from paho's network thread) and keeps the
current problem for the log, systemd's status line and the stats:

- a failed attempt (nothing listens, TLS handshake, refused login) is logged at WARNING at once, again when
  the reason changes, and as a reminder every ``REMIND_S`` while it lasts; repeats go to DEBUG;
- a broker that closes the connection before accepting it (a plain client on a TLS port) is a failure too;
- a connection taken away again and again soon after it was made means another client uses the same client
  id (the broker drops the older one): logged at ERROR with the id;
- another appliance announcing itself on this device's topics (:func:`other_instance`) is logged at ERROR.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

REMIND_S = 300.0  # a lasting failure is logged again this often
FLAP_LIFETIME_S = 10.0  # a connection that lasted less than this and was then lost counts as taken over
FLAP_COUNT = 3  # ... this many times within FLAP_WINDOW_S: another client has the same client id
FLAP_WINDOW_S = 120.0
MACHINE_TAG = re.compile(r"[0-9a-f]{6}")  # what todayfeeling.machine.machine_tag makes


class LinkHealth:
    """The link's current problem (None while it works); thread-safe."""

    def __init__(self, where: str, client_id: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._where = where
        self._client_id = client_id
        self._clock = clock
        self._lock = threading.Lock()
        self._problem: str | None = "connecting"
        self._logged: tuple[str, float] | None = None  # the failure last logged at WARNING, and when
        self._connected_at: float | None = None
        self._takeovers: deque[float] = deque()
        self._duplicate: str | None = None

    @property
    def problem(self) -> str | None:
        """``None`` while connected and alone; else one line on what is wrong."""
        with self._lock:
            return self._duplicate or self._problem

    def failed(self, reason: str) -> None:
        """A connection attempt failed (TCP, TLS or the broker's refusal)."""
        now = self._clock()
        with self._lock:
            self._problem = f"cannot connect to {self._where}: {reason}"
            last = self._logged
            loud = last is None or last[0] != reason or now - last[1] >= REMIND_S
            if loud:
                self._logged = (reason, now)
        if loud:
            log.warning("MQTT: cannot connect to %s: %s (retrying)", self._where, reason)
        else:
            log.debug("MQTT: still cannot connect to %s: %s", self._where, reason)

    def connected(self) -> None:
        """The broker accepted the connection."""
        with self._lock:
            recovered = self._logged is not None
            self._problem, self._logged, self._connected_at = None, None, self._clock()
        if recovered:
            log.info("MQTT: connected to %s again", self._where)

    def lost(self, reason: str, accepted: bool) -> None:
        """The connection ended (``accepted``: after the broker had accepted it)."""
        if not accepted:
            self.failed(f"the broker closed the connection before accepting it ({reason}; a TLS port without "
                        "tls = true, or the wrong port?)")
            return
        now = self._clock()
        with self._lock:
            lived = now - self._connected_at if self._connected_at is not None else None
            self._connected_at = None
            self._problem = f"connection to {self._where} lost: {reason}"
            if lived is not None and lived < FLAP_LIFETIME_S:
                self._takeovers.append(now)
            while self._takeovers and now - self._takeovers[0] > FLAP_WINDOW_S:
                self._takeovers.popleft()
            flapping = len(self._takeovers) >= FLAP_COUNT
            if flapping:
                self._takeovers.clear()
        log.warning("MQTT: connection lost (%s); reconnecting", reason)
        if flapping:
            log.error("MQTT: the broker keeps closing the connection soon after accepting it: another client "
                      "probably uses the client id %r (two devices with the same [device] id?)", self._client_id)

    def duplicate(self, description: str) -> None:
        """Another appliance uses this device's id."""
        with self._lock:
            first = self._duplicate is None
            self._duplicate = description
        if first:
            log.error("MQTT: %s", description)


def instance_announcement(machine: str, started: float) -> dict[str, Any]:
    """What this process announces (retained) on ``…/instance``: which machine and process it is."""
    return {"machine": machine, "pid": os.getpid(), "started": round(started, 3)}


def shown_machine(announced: Mapping[str, Any]) -> str:
    """The machine tag of an announcement, for a message: six hex digits as :func:`machine_tag` makes them,
    anything else (the topic is open to every client of the broker) as ``unknown``."""
    machine = announced.get("machine")
    return machine if isinstance(machine, str) and MACHINE_TAG.fullmatch(machine) else "unknown"


def other_instance(announced: Mapping[str, Any], mine: Mapping[str, Any]) -> bool:
    """Whether an announcement on this device's topics comes from another appliance that is running: another
    machine, or another live process on this one (an earlier run of this process's machine is not one)."""
    if announced.get("machine") != mine["machine"]:
        return True
    pid = announced.get("pid")
    if pid == mine["pid"] or not isinstance(pid, int):
        return False
    try:  # a former run of this device has ended (its pid gone, or now another program's)
        return b"todayfeeling" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
