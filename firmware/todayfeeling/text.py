"""Safe texts: one-line reasons for MQTT and systemd (library errors can be long and multi-line), and file
names that cannot forge a log line or break JSON."""

from __future__ import annotations

import unicodedata
from os import PathLike

MAX_REASON = 200  # characters of a reason or error message in an event, a state or the stats


def name_key(name: str) -> str:
    """What a person's name is matched by (the people database, the mood history, the music config): the name
    without surrounding blanks, in composed form (NFC: "José" typed either way is one name), case-folded."""
    return unicodedata.normalize("NFC", name.strip()).casefold()


def one_line(text: str, limit: int = MAX_REASON) -> str:
    """``text`` on one line and at most ``limit`` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def printable(text: str | PathLike[str]) -> str:
    """``text`` (a file name, a path) with every unprintable character escaped: a newline in a file name
    cannot start a forged log line, and the bytes of a name that is not UTF-8 (decoded by Python as lone
    surrogates) show as ``\\xNN`` and survive being encoded as UTF-8 (JSON, MQTT)."""
    return "".join(char if char.isprintable() else _escaped(char) for char in str(text))


def _escaped(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for an undecodable byte
        return f"\\x{code - 0xDC00:02x}"
    return char.encode("unicode_escape").decode("ascii")
