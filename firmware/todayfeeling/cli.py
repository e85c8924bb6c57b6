"""The `todayfeeling` command line: one sub-command per module in ``todayfeeling.commands``."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from todayfeeling import __version__
from todayfeeling.config import ConfigError

# Each module has `register(subparsers)` that adds its parser with `set_defaults(handler=...)`;
# a handler takes the parsed arguments and returns the exit status.
COMMAND_MODULES = (
    "todayfeeling.commands.run",
    "todayfeeling.commands.detect",
    "todayfeeling.commands.doctor",
    "todayfeeling.commands.history",
    "todayfeeling.commands.eval",
    "todayfeeling.commands.bench",
    "todayfeeling.commands.music",
    "todayfeeling.commands.privacy",
    "todayfeeling.commands.people",
)


def build_parser() -> argparse.ArgumentParser:
    """The parser with every sub-command registered."""
    parser = argparse.ArgumentParser(prog="todayfeeling", description="Today Feeling: music for the room's mood.")
    parser.add_argument("--version", action="version", version=f"todayfeeling {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one sub-command and return its exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.handler(args) or 0)
    except ConfigError as err:
        print(f"todayfeeling: config error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `todayfeeling detect --json … | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own flush at exit must not fail
        return 141  # as a shell reports a command ended by SIGPIPE
