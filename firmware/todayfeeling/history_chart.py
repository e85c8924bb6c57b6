"""The mood history as a picture: one stacked bar per day, week or month, for a person or the household.

Each bar is the time someone was seen in that period, split into the six moods in their fixed colours
(happiness yellow, surprise orange, neutral grey, sadness blue, fear purple, anger red), with the time seen
under it; a period when nobody was seen is an empty frame. Drawn with OpenCV (already on the device), no
plotting library.
"""

from __future__ import annotations

import calendar
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from todayfeeling.history import Period, PeriodSummary

COLOURS: dict[str, tuple[int, int, int]] = {  # BGR
    "anger": (60, 40, 215), "fear": (160, 70, 130), "happiness": (40, 200, 250), "sadness": (200, 120, 40),
    "surprise": (40, 140, 245), "neutral": (170, 170, 170),
}
STACK_ORDER = ("happiness", "surprise", "neutral", "sadness", "fear", "anger")  # bright on top of dark
MAX_BARS = 31
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_INK, _GREY, _LIGHT = (40, 40, 40), (120, 120, 120), (225, 225, 225)
_HEIGHT, _TOP, _BOTTOM, _LEFT, _LEGEND = 520, 70, 90, 70, 170
_BAR, _GAP = 34, 14


def mood_chart(summaries: Sequence[PeriodSummary], who: str, by: Period) -> np.ndarray:
    """The chart of ``summaries`` (oldest first; the latest ``MAX_BARS`` are drawn) as a BGR image."""
    shown = list(summaries)[-MAX_BARS:]
    width = _LEFT + max(len(shown), 4 if shown else 9) * (_BAR + _GAP) + _GAP + _LEGEND  # room for "no mood"
    image = np.full((_HEIGHT, width, 3), 255, np.uint8)
    plot_bottom = _HEIGHT - _BOTTOM
    plot_height = plot_bottom - _TOP
    span = f"{shown[0].period} to {shown[-1].period}" if shown else "no periods"
    _text(image, f"{_drawable(who)}: mood by {by}", (16, 30), 0.75, _INK, 2)
    _text(image, f"share of the time seen, {span}", (16, 54), 0.48, _GREY)
    for share in (0.0, 0.25, 0.5, 0.75, 1.0):  # grid and axis labels
        y = int(plot_bottom - share * plot_height)
        cv2.line(image, (_LEFT - 6, y), (width - _LEGEND, y), _LIGHT, 1)
        _text(image, f"{share:.0%}", (14, y + 5), 0.45, _GREY)
    for index, summary in enumerate(shown):
        x = _LEFT + _GAP + index * (_BAR + _GAP)
        _bar(image, summary, x, plot_bottom, plot_height)
        _text(image, _short(summary.period, by), (x - 4, plot_bottom + 20), 0.42, _INK)
        _text(image, _duration(summary.seen), (x - 4, plot_bottom + 40), 0.4, _GREY)
    _text(image, "seen", (16, plot_bottom + 40), 0.4, _GREY)
    if not shown:
        _text(image, "no mood recorded in this range", (_LEFT + 20, _TOP + plot_height // 2), 0.6, _GREY)
    legend_x = width - _LEGEND + 20
    for row, mood in enumerate(STACK_ORDER):  # top to bottom as in the bars
        y = _TOP + 10 + row * 30
        cv2.rectangle(image, (legend_x, y), (legend_x + 20, y + 20), COLOURS[mood], -1)
        _text(image, mood, (legend_x + 30, y + 16), 0.5, _INK)
    return image


def write_chart(path: Path, summaries: Sequence[PeriodSummary], who: str, by: Period) -> None:
    """Write :func:`mood_chart` as a PNG; OSError when it cannot be written (not a .png name, no such folder,
    no permission, …)."""
    if path.suffix.lower() != ".png":
        raise OSError(f"cannot write {path}: the chart is a PNG, so its name must end in .png")
    if not path.parent.is_dir():
        raise OSError(f"cannot write {path}: folder {path.parent} does not exist")
    png = cv2.imencode(".png", mood_chart(summaries, who, by))[1]
    try:
        path.write_bytes(png.tobytes())
    except OSError as err:
        raise OSError(f"cannot write {path}: {err.strerror or err}") from None


def _bar(image: np.ndarray, summary: PeriodSummary, x: int, bottom: int, height: int) -> None:
    if summary.seen <= 0:
        cv2.rectangle(image, (x, bottom - height), (x + _BAR, bottom), _LIGHT, 1)
        _text(image, "not", (x + 4, bottom - 24), 0.35, _GREY)
        _text(image, "seen", (x + 2, bottom - 10), 0.35, _GREY)
        return
    shares = summary.shares
    level = float(bottom)
    for mood in STACK_ORDER[::-1]:  # anger at the bottom, happiness on top
        top = level - shares[mood] * height
        if int(round(level)) > int(round(top)):
            cv2.rectangle(image, (x, int(round(top))), (x + _BAR, int(round(level))), COLOURS[mood], -1)
        level = top
    cv2.rectangle(image, (x, bottom - height), (x + _BAR, bottom), _GREY, 1)


def _short(period: str, by: Period) -> str:
    """``2026-11-30`` → ``11-30``, ``2026-W48`` → ``W48``, ``2026-11`` → ``Nov`` (the years are in the
    subtitle): each fits its bar's width."""
    return period[5:] if by in ("day", "week") else calendar.month_abbr[int(period[5:7])]


def _drawable(text: str) -> str:
    """``text`` in the ASCII that OpenCV's font draws: accents dropped (Zoë → Zoe), other letters as ``?``."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return plain.encode("ascii", "replace").decode("ascii")


def _duration(seconds: float) -> str:
    """Short enough for a bar's width: ``-``, ``42m``, ``3h05``, ``27h``."""
    minutes = round(seconds / 60)
    if minutes == 0:
        return "-"
    if minutes < 60:
        return f"{minutes}m"
    return f"{minutes // 60}h{minutes % 60:02d}" if minutes < 600 else f"{round(minutes / 60)}h"


def _text(image: np.ndarray, text: str, origin: tuple[int, int], scale: float, colour: tuple[int, int, int],
          thickness: int = 1) -> None:
    cv2.putText(image, text, origin, _FONT, scale, colour, thickness, cv2.LINE_AA)
