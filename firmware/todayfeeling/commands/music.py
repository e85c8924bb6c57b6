"""`todayfeeling music`: look at the music library per mood, or play a mood's music from the terminal.

    todayfeeling music list [--check] [--music DIR] [--config FILE]
    todayfeeling music play MOOD [--volume N] [--music DIR] [--config FILE]

(``--music`` and ``--config`` may also stand before ``list``/``play``.)

``list`` shows each mood's track count (with its preferred folders and where an empty mood falls back to)
and every skipped file; ``--check`` also opens each track to find corrupt ones. ``play`` plays MOOD's
playlist (a mood, or any folder of the library) as the appliance would, one line per track, until Ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from todayfeeling.commands.common import add_config_argument, command_config, handle_signal
from todayfeeling.config import MusicConfig
from todayfeeling.config.settings import library_folder_problem
from todayfeeling.text import printable
from todayfeeling.vocabulary import EMOTIONS, MusicMode, PlayerState


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `music` sub-command."""
    parser = subparsers.add_parser("music", help="list the music library per mood, or play a mood's music")
    _add_library_options(parser)
    parser.set_defaults(music=None, config=None)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="tracks per mood, fallbacks and skipped files")
    listing.add_argument("--check", action="store_true", help="open every track to find corrupt ones")
    _add_library_options(listing)
    listing.set_defaults(handler=list_library)
    play = actions.add_parser("play", help="play a mood's playlist until Ctrl-C (to set up speakers)")
    _add_library_options(play)
    play.add_argument("mood", metavar="MOOD", help=f"one of {', '.join(EMOTIONS)}, or a folder of the library")
    play.add_argument("--volume", type=int, help="0-100 (default: [music] volume)")
    play.set_defaults(handler=play_mood)


def _add_library_options(parser: argparse.ArgumentParser) -> None:
    """--music and --config, before or after the action (a value given after it wins)."""
    parser.add_argument("--music", type=Path, metavar="DIR", default=argparse.SUPPRESS,
                        help="music library (default: [music] dir)")
    add_config_argument(parser, default=argparse.SUPPRESS)


def _music_config(args: argparse.Namespace, **overrides: Any) -> MusicConfig | None:
    values: dict[str, Any] = {"dir": str(args.music)} if args.music else {}
    values.update({key: value for key, value in overrides.items() if value is not None})
    config = command_config(args, {"music": values}).music
    found = _is_folder(config.dir)
    if found is None:
        return None
    if not found:
        print(f"todayfeeling: no music library at {config.dir}", file=sys.stderr)
        return None
    return config


def _is_folder(path: Path) -> bool | None:
    """Whether ``path`` is a folder; None, with the reason on stderr, when this user may not look at it."""
    try:
        return path.is_dir()
    except OSError as err:
        print(f"todayfeeling: {path}: cannot read: {err.strerror or err} (run as the todayfeeling user?)",
              file=sys.stderr)
        return None


def list_library(args: argparse.Namespace) -> int:
    """Print the library per mood; exit 1 when nothing at all is playable or ``--check`` could not check."""
    from todayfeeling.music.library import Library
    from todayfeeling.music.player import MIXER_ERRORS, check_tracks

    config = _music_config(args)
    if config is None:
        return 1
    library = Library(config.dir)
    playlists = {mood: config.preferences.get(mood) or [] for mood in EMOTIONS}
    folders = sorted({mood for mood in EMOTIONS} | {c.folder for choices in playlists.values() for c in choices})
    checked = True
    if args.check:
        try:
            check_tracks(sorted({t for folder in folders for t in library.tracks(folder)}), library.mark_bad)
        except MIXER_ERRORS as err:
            print(f"todayfeeling: cannot open the tracks to check them: {err}", file=sys.stderr)
            checked = False
    counts = {mood: sum(len(library.tracks(c.folder)) for c in choices) if choices else len(library.tracks(mood))
              for mood, choices in playlists.items()}
    playable = [mood for mood in ("neutral", *EMOTIONS) if counts[mood]]
    print(f"music library {config.dir}\n  {'mood':<10} {'tracks':>6}")
    for mood in EMOTIONS:
        notes = []
        if playlists[mood]:
            notes.append("plays " + ", ".join(f"{c.folder} ×{c.weight:g}" for c in playlists[mood]))
        if not counts[mood]:
            notes.append(f"falls back to {playable[0]}" if playable else "nothing to fall back to")
        print(f"  {mood:<10} {counts[mood]:>6}" + (f"  ({'; '.join(notes)})" if notes else ""))
    skipped = library.skipped
    if skipped:
        print(f"skipped ({len(skipped)}):")
        for skip in skipped:
            print(f"  {printable(skip.path)}: {printable(skip.reason)}")
    return 0 if playable and checked else 1


def play_mood(args: argparse.Namespace) -> int:
    """Play MOOD's music, a line per track, until Ctrl-C; exit 1 when it has nothing playable."""
    from todayfeeling.music.player import NO_AUDIO_DEVICE
    from todayfeeling.music.service import MusicService

    config = _music_config(args, volume=args.volume)
    if config is None:
        return 1
    outside = library_folder_problem(args.mood)
    if outside:
        print(f"todayfeeling: {outside}", file=sys.stderr)
        return 2
    if args.mood not in EMOTIONS:
        found = _is_folder(config.dir / args.mood)
        if found is None:
            return 1
        if not found:
            print(f"todayfeeling: {args.mood!r} is neither a mood ({', '.join(EMOTIONS)}) nor a folder of "
                  f"{config.dir}", file=sys.stderr)
            return 2
    stopped = threading.Event()
    started = threading.Event()

    def show(state: dict[str, Any]) -> None:
        if state["state"] == PlayerState.STOPPED:
            if started.is_set():
                print("stopped" + (f": {state['error']}" if state["error"] else ""), flush=True)
                stopped.set()
            return
        started.set()
        fallback = f" (fallback from {state['fallback_from']})" if state["fallback_from"] else ""
        print(f"{state['state']} {state['playlist']}: {state['track']}{fallback} at volume {state['volume']}",
              flush=True)

    previous = handle_signal(signal.SIGTERM, stopped.set)  # `kill`, systemd: stop like Ctrl-C
    service = MusicService(replace(config, mode=MusicMode.OFF, fixed_playlist=args.mood))
    service.add_listener(show)
    service.set_mode("fixed")
    service.player.sync()
    try:
        state = service.state()
        if state["state"] == PlayerState.STOPPED:
            error = state["error"] or ""
            if error.startswith(NO_AUDIO_DEVICE):
                print(f"todayfeeling: cannot open the audio output: {error.removeprefix(NO_AUDIO_DEVICE + ': ')} "
                      "(speakers connected? `aplay -l`; the user in the audio group?)", file=sys.stderr)
            else:
                print(f"todayfeeling: nothing playable for {args.mood} in {config.dir}", file=sys.stderr)
            return 1
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        service.close()
    return 0 if service.state()["error"] is None else 1
