"""`todayfeeling privacy lock|unlock|status`: the local privacy lock, which MQTT cannot undo."""

from __future__ import annotations

import argparse
import sys

from todayfeeling.commands.common import add_config_argument, command_config
from todayfeeling.privacy import lock_file, locked


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `privacy` sub-command."""
    parser = subparsers.add_parser(
        "privacy", help="lock the camera off on this device (MQTT cannot undo it), unlock, or show the lock",
        description="The lock keeps the camera off: a running appliance turns privacy on within a second and "
                    "refuses every request to turn it off until it is unlocked here.")
    parser.add_argument("action", choices=("lock", "unlock", "status"))
    add_config_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Make or remove the lock file, or show the lock; exit 1 when the lock file cannot be changed."""
    config = command_config(args).daemon
    path = lock_file(config)
    try:
        if args.action == "lock":
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            path.touch(mode=0o600)
        elif args.action == "unlock":
            path.unlink(missing_ok=True)
    except OSError as err:
        print(f"todayfeeling: cannot {args.action} privacy: {path}: {err.strerror or err} (run as root or the "
              "todayfeeling user)", file=sys.stderr)
        return 1
    reason = locked(config)
    print(f"privacy locked: {reason}" if reason else "privacy not locked")
    if args.action == "unlock" and reason:
        print("todayfeeling: still locked by the config; set [daemon] privacy_lock = false", file=sys.stderr)
        return 1
    return 0
