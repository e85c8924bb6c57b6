#!/usr/bin/env python3
"""Measure the daemon's CPU use and resident memory over minutes, from outside the process.

Runs `todayfeeling run` on a source (default: the demo camera with a face in view, then an empty room) and
samples /proc/<pid>/stat and /proc/<pid>/status once a second after a warm-up:

    python scripts/measure_daemon.py --seconds 120              # active (demo face) and idle (empty room)
    python scripts/measure_daemon.py --source /dev/video0 --seconds 300 --json

CPU is given in percent of one core; memory as the mean and peak VmRSS.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from todayfeeling.memory import current_rss_mb

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def measure(source: str, seconds: float, warmup: float, extra: list[str]) -> dict:
    """Run the daemon on ``source`` and return its CPU and memory figures."""
    command = [sys.executable, "-m", "todayfeeling", "run", "--no-mqtt", "--source", source, *extra]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(warmup)
        start_cpu, start = cpu_seconds(process.pid), time.monotonic()
        samples = []
        while time.monotonic() - start < seconds:
            time.sleep(1.0)
            samples.append(current_rss_mb(process.pid) or 0.0)
        used = cpu_seconds(process.pid) - start_cpu
        elapsed = time.monotonic() - start
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    return {"source": source, "seconds": round(elapsed, 1), "cpu_percent_of_one_core": round(100 * used / elapsed, 2),
            "rss_mb_mean": round(sum(samples) / len(samples), 1), "rss_mb_peak": round(max(samples), 1)}


def main() -> None:
    """Measure each source in turn and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", action="append", help="source(s) to measure (default: demo, demo:empty)")
    parser.add_argument("--seconds", type=float, default=60.0, help="measuring time per source")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring")
    parser.add_argument("--json", action="store_true")
    args, extra = parser.parse_known_args()
    for source in args.source or ["demo", "demo:empty"]:
        result = measure(source, args.seconds, args.warmup, extra)
        if args.json:
            print(json.dumps(result))
        else:
            print(f"{source:>12}: {result['cpu_percent_of_one_core']:5.1f} % of one core, "
                  f"RSS mean {result['rss_mb_mean']} MiB, peak {result['rss_mb_peak']} MiB "
                  f"over {result['seconds']} s")


if __name__ == "__main__":
    main()
