#!/usr/bin/env python3
"""How much CPU the music player costs: process CPU time per second of wall time, per player state.

    python scripts/bench_player_cpu.py [--seconds 15] [--track-seconds 120]

Plays a generated tone through :class:`MusicService` and samples ``resource.getrusage`` (all threads of
the process, SDL's audio thread included) over ``--seconds`` in each state: stopped (mixer closed),
playing, paused. Without a sound card set ``SDL_AUDIODRIVER=dummy`` (the default here); on a Pi unset it
to measure the real ALSA output.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

from tests.audio_files import write_track  # noqa: E402
from todayfeeling.config import MusicConfig  # noqa: E402
from todayfeeling.music.service import MusicService  # noqa: E402


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(seconds: float) -> float:
    """Percent of one core used by this process over ``seconds`` of sleeping in the main thread."""
    cpu, wall = cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    return 100.0 * (cpu_seconds() - cpu) / (time.monotonic() - wall)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="sampling time per state")
    parser.add_argument("--track-seconds", type=float, default=120.0, help="length of the generated track")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_track(root / "neutral" / "tone.ogg", seconds=args.track_seconds)
        service = MusicService(MusicConfig(dir=root, fade_ms=0))
        print(f"audio driver: {os.environ['SDL_AUDIODRIVER']}; {args.seconds:g} s per state")
        print(f"stopped (mixer closed): {measure(args.seconds):6.2f} % of one core")
        service.on_mood("neutral", 0.9)
        service.player.sync()
        print(f"playing:                {measure(args.seconds):6.2f} % of one core")
        service.command("pause")
        service.player.sync()
        print(f"paused:                 {measure(args.seconds):6.2f} % of one core")
        service.command("stop")
        service.player.sync()
        print(f"stopped again:          {measure(args.seconds):6.2f} % of one core")
        service.close(fade_ms=0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
