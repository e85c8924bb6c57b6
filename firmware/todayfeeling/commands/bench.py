"""`todayfeeling bench`: per-stage latency, frames per second, CPU, memory and start-up of the pipeline."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from todayfeeling.benchmark import BenchError, BenchOptions, format_report, run_benchmark
from todayfeeling.commands.common import add_model_arguments, command_config, inference_overrides
from todayfeeling.config.settings import MAX_THREADS
from todayfeeling.inference.manifest import ModelError
from todayfeeling.people.database import PeopleError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `bench` sub-command."""
    parser = subparsers.add_parser(
        "bench", help="measure latency per stage, fps, CPU, memory and start-up on this machine",
        description="Benchmark the vision pipeline and mood tracker on a video, a folder of frames, or (by "
                    "default) a generated 640x480 frame with one face.")
    parser.add_argument("source", nargs="?", type=Path, metavar="SOURCE", help="video file or folder of frames")
    parser.add_argument("--frames", type=int, default=100, help="frames measured per pass (default: 100)")
    parser.add_argument("--threads-max", type=int, default=os.cpu_count() or 1,
                        help="measure with 1..N TFLite threads (default: the number of cores); "
                             "--threads N measures N only")
    parser.add_argument("--startup-runs", type=int, default=3,
                        help="fresh processes timed from launch to first result (default: 3; 0 to skip)")
    parser.add_argument("--no-idle", action="store_true", help="skip the nobody-in-view measurement")
    parser.add_argument("--no-tracking", action="store_true",
                        help="the full-frame detector on every frame (default: faces tracked as [tracking] says)")
    parser.add_argument("--people-db", type=Path, metavar="PATH",
                        help="recognise each face track against this people database as the daemon does "
                             "([people] recheck_s), and report the cost per recognition")
    parser.add_argument("--json", action="store_true", help="one JSON object with every number")
    add_model_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the report; exit 2 when the source or a model cannot be used."""
    if (args.frames < 1 or not 1 <= args.threads_max <= MAX_THREADS or not 1 <= (args.threads or 1) <= MAX_THREADS
            or args.startup_runs < 0):
        print(f"todayfeeling: --frames must be at least 1, --threads and --threads-max 1 to {MAX_THREADS}, "
              "--startup-runs at least 0",
              file=sys.stderr)
        return 2
    if args.people_db is not None and not args.people_db.is_file():
        print(f"todayfeeling: {args.people_db}: no such people database", file=sys.stderr)
        return 2
    thread_counts = (args.threads,) if args.threads else tuple(range(1, args.threads_max + 1))
    config = command_config(args, inference_overrides(args))
    options = BenchOptions(source=args.source, frames=args.frames, thread_counts=thread_counts,
                           startup_runs=args.startup_runs, idle=not args.no_idle, idle_fps=config.daemon.idle_fps,
                           cli_options=tuple(_startup_options(args, thread_counts[0])),
                           tracking=None if args.no_tracking else config.tracking, people_db=args.people_db,
                           recheck_s=config.people.recheck_s)
    try:
        report = run_benchmark(config.inference, options, progress=lambda message: print(message, file=sys.stderr))
    except (BenchError, ModelError, PeopleError) as err:
        print(f"todayfeeling: {err}", file=sys.stderr)
        return 2
    print(json.dumps(report) if args.json else format_report(report))
    return 0


def _startup_options(args: argparse.Namespace, threads: int) -> list[str]:
    """The model options for the start-up child, so it loads what the benchmark measured."""
    options = ["--threads", str(threads)]
    for flag, value in (("--config", args.config), ("--models", args.models),
                        ("--emotion-model", args.emotion_model), ("--backend", args.backend)):
        if value is not None:
            options += [flag, str(value)]
    return options
