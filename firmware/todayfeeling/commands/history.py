"""`todayfeeling history`: time spent in each mood per day, week or month, from the device's history."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import get_args

from todayfeeling.commands.common import add_config_argument, command_config
from todayfeeling.history import HistoryError, Period, PeriodSummary, read_spans, summarise
from todayfeeling.vocabulary import MOODS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `history` sub-command."""
    parser = subparsers.add_parser("history", help="time spent in each mood per day, week or month")
    parser.add_argument("--db", type=Path, help="history database (default: [history] db of the config)")
    add_config_argument(parser)
    parser.add_argument("--by", choices=get_args(Period), default="day", help="period (default: day)")
    parser.add_argument("--days", type=_days, help="only the last DAYS days (1 or more)")
    parser.add_argument("--person", metavar="NAME", help="an enrolled person's moods (default: the household's)")
    parser.add_argument("--plot", type=Path, metavar="FILE", help="also draw the periods as a PNG chart")
    parser.add_argument("--json", action="store_true", help="one JSON object per line, per period")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the summary; exit 1 when the history cannot be read."""
    db = args.db or command_config(args).history.db
    since = time.time() - args.days * 86400 if args.days is not None else None
    try:
        summaries = summarise(read_spans(db, since, args.person), args.by)
    except HistoryError as err:
        print(f"todayfeeling: {err}", file=sys.stderr)
        return 1
    if args.plot:
        from todayfeeling.history_chart import write_chart

        try:
            write_chart(args.plot, summaries, args.person or "Household", args.by)
        except OSError as err:
            print(f"todayfeeling: {err}", file=sys.stderr)
            return 1
        print(f"todayfeeling: wrote the chart to {args.plot}", file=sys.stderr)
    if args.json:
        for summary in summaries:
            print(json.dumps(summary.as_dict()))
    else:
        print(format_table(summaries))
    return 0


def format_table(summaries: list[PeriodSummary]) -> str:
    """A plain-text table: one row per period, one column per mood, the time seen (a mood) and in all."""
    if not summaries:
        return "no mood changes recorded in this range"
    header = ["period", *MOODS, "seen", "total"]
    rows = [[s.period, *(format_duration(s.seconds[m]) for m in MOODS), format_duration(s.seen),
             format_duration(s.total)] for s in summaries]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(width) if i else cell.ljust(width)
                               for i, (cell, width) in enumerate(zip(row, widths, strict=True)))
                     for row in [header, *rows])


def format_duration(seconds: float) -> str:
    """``-``, ``42s``, ``17m`` or ``3h05m``."""
    seconds = round(seconds)
    if seconds == 0:
        return "-"
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    return f"{minutes}m" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def _days(text: str) -> int:
    """``--days``: a whole number of days, 1 or more."""
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of days, got {text!r}") from None
    if days < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text!r}")
    return days
