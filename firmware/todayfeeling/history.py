"""Mood history on the device: a small SQLite store of mood changes, and summaries per day/week/month.

One row per mood change: when it began (Unix seconds), the mood, the tracker's confidence, and how long
it lasted. The ongoing mood's duration is saved by :meth:`MoodHistory.checkpoint` (the daemon calls it
about once a minute), so a power cut loses at most that much. Rows older than the retention are pruned.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Literal

from todayfeeling.emotions import EMOTIONS, MOODS

log = logging.getLogger(__name__)

DEFAULT_DB = Path("/var/lib/todayfeeling/history.sqlite3")
Period = Literal["day", "week", "month"]
_DAY = 86400.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS mood_changes (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,            -- when the mood began, Unix seconds
    mood TEXT NOT NULL,
    confidence REAL NOT NULL,
    duration REAL NOT NULL       -- seconds; of the ongoing mood: up to its last checkpoint
);
CREATE INDEX IF NOT EXISTS mood_changes_ts ON mood_changes (ts);
"""


@dataclass(frozen=True)
class HistoryConfig:
    """The ``[history]`` section."""

    enabled: bool = True
    db: Path = DEFAULT_DB
    retention_days: int = 365
    checkpoint_s: float = 60.0  # how often the ongoing mood's duration is saved

    def __post_init__(self) -> None:
        if self.retention_days < 1:
            raise ValueError("retention_days must be at least 1")
        if self.checkpoint_s <= 0:
            raise ValueError("checkpoint_s must be positive")


class HistoryError(RuntimeError):
    """The history database cannot be opened or read."""


@dataclass(frozen=True)
class MoodSpan:
    """One stored mood change."""

    ts: float
    mood: str
    confidence: float
    duration: float


class MoodHistory:
    """The writer the daemon uses. Write errors (a full disk …) are logged, never raised."""

    def __init__(self, path: Path, retention_days: int = 365) -> None:
        self.path = Path(path)
        self.retention_days = retention_days
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL keeps it consistent; spares the SD card
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as err:
            raise HistoryError(f"{self.path}: cannot open the mood history: {err}") from err
        self._open_id: int | None = None  # the ongoing mood's row, opened by this process
        self._open_ts = 0.0
        self._last_prune = 0.0
        self.prune(time.time())

    @classmethod
    def from_config(cls, config: HistoryConfig) -> MoodHistory:
        """The history configured in ``[history]``."""
        return cls(config.db, config.retention_days)

    def record(self, mood: str, confidence: float, at: float) -> None:
        """The mood changed to ``mood`` at Unix time ``at``: close the ongoing row, open a new one."""
        if mood not in MOODS:
            raise ValueError(f"unknown mood {mood!r}")
        with self._writing("record"):
            self._finish(at)
            cursor = self._db.execute(
                "INSERT INTO mood_changes (ts, mood, confidence, duration) VALUES (?, ?, ?, 0)",
                (at, mood, confidence))
            self._open_id, self._open_ts = cursor.lastrowid, at

    def checkpoint(self, at: float) -> None:
        """Save how long the ongoing mood has lasted until ``at``; prunes old rows once a day."""
        with self._writing("checkpoint"):
            self._finish(at, keep_open=True)
        if at - self._last_prune >= _DAY:
            self.prune(at)

    def close(self, at: float | None = None) -> None:
        """Close the ongoing mood at ``at`` (default: now) and the database."""
        with self._writing("close"):
            self._finish(time.time() if at is None else at)
        self._db.close()

    def prune(self, now: float) -> int:
        """Delete rows older than the retention; returns how many."""
        self._last_prune = now
        with self._writing("prune"):
            cursor = self._db.execute("DELETE FROM mood_changes WHERE ts < ?",
                                      (now - self.retention_days * _DAY,))
            if cursor.rowcount:
                log.info("mood history: pruned %d rows older than %d days", cursor.rowcount,
                         self.retention_days)
            return cursor.rowcount
        return 0

    def _finish(self, at: float, keep_open: bool = False) -> None:
        if self._open_id is None:
            return
        self._db.execute("UPDATE mood_changes SET duration = ? WHERE id = ?",
                         (max(0.0, at - self._open_ts), self._open_id))
        if not keep_open:
            self._open_id = None

    def _writing(self, what: str) -> _Transaction:
        return _Transaction(self._db, what)


class _Transaction:
    """Commits on success; on a database error rolls back and logs (the daemon goes on without it)."""

    def __init__(self, db: sqlite3.Connection, what: str) -> None:
        self._db, self._what = db, what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if error is None:
            try:
                self._db.commit()  # a full disk fails here: the WAL is written on commit
                return False
            except sqlite3.Error as commit_error:
                error = commit_error
        elif not isinstance(error, sqlite3.Error):
            return False
        with contextlib.suppress(sqlite3.Error):  # nothing left to undo
            self._db.rollback()
        log.warning("mood history: %s failed: %s", self._what, error)
        return True


def read_spans(path: Path, since: float | None = None) -> list[MoodSpan]:
    """Every stored mood change (from ``since`` on), oldest first, read without writing to the file."""
    if not Path(path).is_file():
        raise HistoryError(f"{path}: no mood history yet (the daemon creates it)")
    try:
        db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT ts, mood, confidence, duration FROM mood_changes WHERE ts >= ? "
                              "ORDER BY ts", (since if since is not None else float("-inf"),)).fetchall()
        finally:
            db.close()
    except sqlite3.Error as err:
        raise HistoryError(f"{path}: cannot read the mood history: {err} "
                           "(run as root or the todayfeeling user?)") from err
    return [MoodSpan(*row) for row in rows]


@dataclass
class PeriodSummary:
    """Seconds per mood within one day, ISO week or month."""

    period: str
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(MOODS, 0.0))

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    @property
    def dominant(self) -> str | None:
        """The emotion seen longest (``none`` does not count), or None when no emotion was seen."""
        best = max(EMOTIONS, key=lambda mood: self.seconds[mood])
        return best if self.seconds[best] > 0 else None

    def as_dict(self) -> dict:
        return {"period": self.period, "seconds": {m: round(s, 1) for m, s in self.seconds.items()},
                "total": round(self.total, 1), "dominant": self.dominant}


def summarise(spans: Iterable[MoodSpan], by: Period, tz: tzinfo | None = None) -> list[PeriodSummary]:
    """Time per mood per period, oldest first; spans crossing midnight are split between the periods.

    Periods are in local time (``tz`` None) or in ``tz``; weeks are ISO weeks (Monday first).
    """
    summaries: dict[str, PeriodSummary] = {}
    for span in spans:
        start, end = span.ts, span.ts + span.duration
        while start < end:
            key, boundary = _period(start, by, tz)
            piece_end = min(end, boundary)
            summaries.setdefault(key, PeriodSummary(key)).seconds[span.mood] += piece_end - start
            start = piece_end
    return [summaries[key] for key in sorted(summaries)]


def _period(ts: float, by: Period, tz: tzinfo | None) -> tuple[str, float]:
    """The period holding ``ts`` and the Unix time its successor begins."""
    moment = datetime.fromtimestamp(ts, tz)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if by == "day":
        return day.strftime("%Y-%m-%d"), (day + timedelta(days=1)).timestamp()
    if by == "week":
        year, week, weekday = moment.isocalendar()
        return f"{year}-W{week:02d}", (day + timedelta(days=8 - weekday)).timestamp()
    first = day.replace(day=1)
    following = first.replace(year=first.year + 1, month=1) if first.month == 12 else \
        first.replace(month=first.month + 1)
    return first.strftime("%Y-%m"), following.timestamp()
