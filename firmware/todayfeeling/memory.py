"""Resident memory, the one way it is measured: the current size (``VmRSS``) and the peak (``VmHWM``).

Both in MiB, read from ``/proc/<pid>/status``, so ``current_rss_mb`` works for any process of this machine (the
daemon's stats, ``scripts/measure_daemon.py``). The peak is this process's own: ``ru_maxrss`` is not, as Linux
carries the parent's peak into a child across fork and exec (a small program started by a 400 MB one reports
400 MB), so it is only the fallback where /proc has no ``VmHWM``.
"""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path


def current_rss_mb(pid: int | None = None) -> float | None:
    """Resident memory of process ``pid`` (default: this one) now; None where /proc cannot tell."""
    return _status_mb(pid, "VmRSS:")


def peak_rss_mb() -> float:
    """The peak resident memory of this process since it started, in MiB."""
    peak = _status_mb(None, "VmHWM:")
    if peak is not None:
        return peak
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return round(maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024, 1)


def _status_mb(pid: int | None, field: str) -> float | None:
    try:
        status = Path(f"/proc/{pid or os.getpid()}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith(field):
            return round(int(line.split()[1]) / 1024, 1)
    return None
