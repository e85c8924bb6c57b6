"""Resident memory, the one way it is measured: the current size (``VmRSS``) and the peak (``ru_maxrss``).

Both in MiB. ``current_rss_mb`` reads ``/proc/<pid>/status``, so it works for any process of this machine
(the daemon's stats, ``scripts/measure_daemon.py``); ``peak_rss_mb`` converts a ``ru_maxrss`` (this
process's by default; a child's from ``os.wait4``), which is KiB on Linux and bytes on macOS.
"""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path


def current_rss_mb(pid: int | None = None) -> float | None:
    """Resident memory of process ``pid`` (default: this one) now; None where /proc cannot tell."""
    try:
        status = Path(f"/proc/{pid or os.getpid()}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def peak_rss_mb(maxrss: int | None = None) -> float:
    """The peak resident memory of ``maxrss`` (a ``ru_maxrss``; default: this process's) in MiB."""
    if maxrss is None:
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024, 1)
