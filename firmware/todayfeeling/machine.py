"""Facts about the machine the appliance runs on: a stable tag derived from its machine id, and the board.

Standard library only (the settings use :func:`machine_tag` for the default device id).
"""

from __future__ import annotations

import functools
import hashlib
import socket
from pathlib import Path

MACHINE_ID_FILES = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))
BOARD_FILES = (Path("/proc/device-tree/model"), Path("/sys/firmware/devicetree/base/model"))


@functools.cache
def machine_tag() -> str:
    """Six hex digits that stay the same across restarts of this machine and differ between machines.

    A hash of systemd's machine id (``/etc/machine-id``, made once when the OS is installed), else of the
    host name; the machine id itself is never shown or published.
    """
    for path in MACHINE_ID_FILES:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text:
            return hashlib.sha256(f"todayfeeling:{text}".encode()).hexdigest()[:6]
    return hashlib.sha256(f"todayfeeling:{socket.gethostname()}".encode()).hexdigest()[:6]


def board() -> str:
    """The board's model (``Raspberry Pi 5 Model B Rev 1.0``), else the host name."""
    for path in BOARD_FILES:
        try:
            model = path.read_bytes().rstrip(b"\0").decode("utf-8", "replace").strip()
        except OSError:
            continue
        if model:
            return model
    return socket.gethostname()
