"""Mood history on the device: a small SQLite store of mood changes, and summaries per day/week/month.

One row per mood change of the household (the room's mood: ``person`` NULL) or of one enrolled person:
when it began (Unix seconds), the mood, the tracker's confidence, and how long it lasted. Each one's
ongoing mood is saved by :meth:`MoodHistory.checkpoint` (the daemon calls it about once a minute), so a
power cut loses at most that much. Rows older than the retention are pruned; :meth:`MoodHistory.forget`
deletes a person's rows and :meth:`MoodHistory.rename` moves them to another name. A person's rows are found
by their name matched as the people database matches names (:func:`~todayfeeling.text.name_key`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Literal

from todayfeeling.config.settings import HistoryConfig
from todayfeeling.text import name_key
from todayfeeling.vocabulary import EMOTIONS, MOODS

log = logging.getLogger(__name__)

Period = Literal["day", "week", "month"]
_DAY = 86400.0
CLOCK_STEP_S = 10.0  # the wall clock moving this much more or less than the monotonic clock was set, not run

_SCHEMA = """
CREATE TABLE IF NOT EXISTS mood_changes (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,            -- when the mood began, Unix seconds
    mood TEXT NOT NULL,
    confidence REAL NOT NULL,
    duration REAL NOT NULL,      -- seconds; of the ongoing mood: up to its last checkpoint
    person TEXT                  -- the enrolled person whose mood it is; NULL: the household (the room)
);
CREATE INDEX IF NOT EXISTS mood_changes_ts ON mood_changes (ts);
"""
_PERSON_COLUMN = "ALTER TABLE mood_changes ADD COLUMN person TEXT"  # histories made before people existed
_PERSON_INDEX = "CREATE INDEX IF NOT EXISTS mood_changes_person ON mood_changes (person, ts)"


class HistoryError(RuntimeError):
    """The history database cannot be opened or read."""


@dataclass(frozen=True)
class MoodSpan:
    """One stored mood change."""

    ts: float
    mood: str
    confidence: float
    duration: float
    person: str | None = None


@dataclass
class _Row:
    """A mood change held in memory until it is saved (``rowid`` None: not in the database yet)."""

    ts: float
    mood: str
    confidence: float
    person: str | None = None
    duration: float = 0.0
    rowid: int | None = None
    dirty: bool = True


class WallClock:
    """Unix time for the history that notices the clock being set: each step (see :data:`CLOCK_STEP_S`) goes
    to ``on_step`` before the new time is used, so a mood that began before it does not last the step too."""

    def __init__(self, on_step: Callable[[float], None], wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._on_step = on_step
        self._wall, self._monotonic = wall, monotonic
        self._last = (wall(), monotonic())

    def now(self) -> float:
        """The wall clock's time (Unix seconds), after handing on a step since the last call."""
        wall, monotonic = self._wall(), self._monotonic()
        step = (wall - self._last[0]) - (monotonic - self._last[1])
        self._last = (wall, monotonic)
        if abs(step) >= CLOCK_STEP_S:
            self._on_step(step)
        return wall


class MoodHistory:
    """The writer the daemon uses; it never raises after it is made, and loses nothing a retry can save.

    Changes are kept in memory until they are written: a database that is locked by another process, a full
    disk or a folder that cannot be written to leaves them waiting (at most ``MAX_WAITING``), and the next
    record or checkpoint tries again; :attr:`problem` says what is wrong meanwhile. A database that is not
    one (corrupt, or another file) is moved aside as ``<name>.corrupt-<time>`` — kept, never deleted — and
    a new one is started. Files are created owner-only (0600, in a 0700 folder when it is made here).
    """

    MAX_WAITING = 10_000  # unsaved changes kept in memory while the database cannot be written

    def __init__(self, path: Path, retention_days: int = 365, busy_timeout_s: float = 0.25) -> None:
        self.path = Path(path)
        self.retention_days = retention_days
        self._busy_timeout_s = busy_timeout_s  # how long a write waits for another process's lock
        self._db: sqlite3.Connection | None = None
        self._rows: list[_Row] = []  # unsaved changes, oldest first; the last may be the ongoing mood
        self._ongoing: dict[str | None, _Row] = {}  # per person's name_key (None: the household)
        self._dropped = 0
        self._last_prune = 0.0
        self.problem: str | None = None
        self._save("open")
        if self._db is not None:
            self.prune(time.time())

    @classmethod
    def from_config(cls, config: HistoryConfig, busy_timeout_s: float = 0.25) -> MoodHistory:
        """The history configured in ``[history]``; a command a person waits for may wait longer for a lock
        (``busy_timeout_s``) than the daemon's loop, which keeps its changes in memory meanwhile."""
        return cls(config.db, config.retention_days, busy_timeout_s)

    def record(self, mood: str, confidence: float, at: float, person: str | None = None) -> None:
        """The mood of ``person`` (None: the household) changed to ``mood`` at Unix time ``at``: their ongoing
        row ends, a new one begins."""
        if mood not in MOODS:
            raise ValueError(f"unknown mood {mood!r}")
        self._finish(at, person)
        row = self._ongoing[_key(person)] = _Row(at, mood, float(confidence), person)
        self._keep(row)
        self._save("record")

    def checkpoint(self, at: float) -> None:
        """Save how long the ongoing mood has lasted until ``at`` (and anything still waiting); prunes old rows
        once a day."""
        for row in self._ongoing.values():
            row.duration, row.dirty = max(0.0, at - row.ts), True
            self._keep(row)
        self._save("checkpoint")
        if self._db is not None and at - self._last_prune >= _DAY:
            self.prune(at)

    def close(self, at: float | None = None) -> None:
        """End every ongoing mood at ``at`` (default: now), save, and close the database."""
        for row in list(self._ongoing.values()):
            self._finish(time.time() if at is None else at, row.person)
        self._save("close")
        if self._rows:
            log.error("mood history: %d changes could not be saved to %s: %s", len(self._rows), self.path,
                      self.problem)
        if self._db is not None:
            self._db.close()
            self._db = None

    def prune(self, now: float) -> int:
        """Delete the rows that ended before the retention; returns how many. An ongoing mood is never deleted
        (a 60-hour absence with a retention of one day once lost all of it, the last day too)."""
        self._last_prune = now
        db = self._db
        if db is None:
            return 0
        ongoing = [row.rowid for row in self._ongoing.values() if row.rowid is not None]
        try:
            with db:
                count = db.execute(f"DELETE FROM mood_changes WHERE ts + duration < ? AND id NOT IN "
                                   f"({', '.join('?' * len(ongoing))})",
                                   (now - self.retention_days * _DAY, *ongoing)).rowcount
        except sqlite3.Error as err:
            log.warning("mood history: prune failed: %s", err)
            return 0
        if count:
            log.info("mood history: pruned %d rows older than %d days", count, self.retention_days)
        return count

    # -- in memory ---------------------------------------------------------------------------------------------

    def clock_stepped(self, step: float) -> None:
        """The wall clock was set by ``step`` seconds (NTP on a board without a real-time clock, at boot): the
        ongoing moods' start moves with it, so their duration stays the time that passed, not the step."""
        log.info("mood history: the clock was set by %+.0f s; ongoing moods keep their real duration", step)
        for row in self._ongoing.values():
            row.ts, row.dirty = row.ts + step, True

    def end(self, person: str, at: float) -> None:
        """``person`` is no longer followed under that name (renamed): their ongoing row ends at ``at``."""
        self._finish(at, person)
        self._save("end")

    def forget(self, person: str) -> int:
        """Delete every row of ``person`` (in any case), saved or waiting; returns how many were saved."""
        self._ongoing = {key: row for key, row in self._ongoing.items() if key != _key(person)}
        self._rows = [row for row in self._rows if not _same(row.person, person)]
        return self._change(f"forget {person!r}", "DELETE FROM mood_changes WHERE name_key(person) = ?",
                            (name_key(person),))

    def rename(self, old: str, new: str) -> int:
        """The rows of ``old`` (in any case), saved or waiting, become ``new``'s; returns how many were saved."""
        for row in self._rows:
            if _same(row.person, old):
                row.person, row.dirty = new, True
        return self._change(f"rename {old!r}", "UPDATE mood_changes SET person = ? WHERE name_key(person) = ?",
                            (new, name_key(old)))

    def _change(self, what: str, statement: str, params: tuple[str, ...]) -> int:
        """Run one writing statement in a transaction; the rows it changed, HistoryError saying what failed."""
        db = self._db
        if db is None:
            raise HistoryError(f"{self.path}: cannot {what} now: {self.problem}")
        try:
            with db:
                return db.execute(statement, params).rowcount
        except sqlite3.Error as err:
            raise HistoryError(f"{self.path}: cannot {what}: {_describe(err, self.path)}") from err

    def _finish(self, at: float, person: str | None) -> None:
        row = self._ongoing.pop(_key(person), None)
        if row is not None:
            row.duration, row.dirty = max(0.0, at - row.ts), True
            self._keep(row)

    def _keep(self, row: _Row) -> None:
        if row not in self._rows:
            self._rows.append(row)
        while len(self._rows) > self.MAX_WAITING:
            self._rows.pop(0)
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 1000 == 0:
                log.error("mood history: %d unsaved changes dropped (the database has been unusable too long)",
                          self._dropped)

    # -- on disk ------------------------------------------------------------------------------------------------

    def _save(self, what: str) -> None:
        """Write every waiting change in one transaction; on failure keep them and say why."""
        inserted: list[_Row] = []
        try:
            db = self._db or self._connect()
            with db:  # one transaction: committed, or rolled back as a whole
                for row in self._rows:
                    if self._write(db, row):
                        inserted.append(row)
        except sqlite3.DatabaseError as err:
            for row in inserted:  # the rowids the rolled-back transaction handed out are void
                row.rowid = None
            self._failed(what, err)
            return
        for row in self._rows:
            row.dirty = False
        ongoing = list(self._ongoing.values())
        self._rows = [row for row in self._rows if any(row is other for other in ongoing)]
        if self.problem is not None:
            log.info("mood history: %s is usable again; every waiting change is saved", self.path)
            self.problem = None

    @staticmethod
    def _write(db: sqlite3.Connection, row: _Row) -> bool:
        """Write one changed row; True when it was inserted (it got its rowid now)."""
        if not row.dirty:
            return False
        if row.rowid is not None:
            db.execute("UPDATE mood_changes SET ts = ?, duration = ? WHERE id = ?", (row.ts, row.duration, row.rowid))
            return False
        row.rowid = db.execute(
            "INSERT INTO mood_changes (ts, mood, confidence, duration, person) VALUES (?, ?, ?, ?, ?)",
            (row.ts, row.mood, row.confidence, row.duration, row.person)).lastrowid
        return True

    def _connect(self) -> sqlite3.Connection:
        """Open (or create) the database; a file that is no database is moved aside and a new one made."""
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as err:
            raise sqlite3.OperationalError(f"cannot create {self.path.parent}: {err.strerror or err}") from None
        try:
            db = _connect_checked(self.path, self._busy_timeout_s)
        except sqlite3.DatabaseError as err:
            if not _is_corrupt(err):
                raise
            kept = self._move_aside()
            log.error("mood history: %s is not a usable database (%s); kept it as %s and started a new one",
                      self.path, err, kept)
            for row in self._rows:  # everything in memory goes into the new one
                row.rowid, row.dirty = None, True
            db = _connect_checked(self.path, self._busy_timeout_s)
        _owner_only(self.path)
        self._db = db
        return db

    def _move_aside(self) -> Path:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        kept = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            part = Path(f"{self.path}{suffix}")
            if part.exists():
                part.replace(Path(f"{kept}{suffix}"))
        return kept

    def _failed(self, what: str, err: sqlite3.DatabaseError) -> None:
        if _is_corrupt(err) and self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None  # the next save moves the file aside and starts afresh
        reason = _describe(err, self.path)
        waiting = f" ({len(self._rows)} change{'s' if len(self._rows) != 1 else ''} waiting)" if self._rows else ""
        if reason != self.problem:
            log.warning("mood history: %s failed: %s%s; retrying at the next change or checkpoint", what, reason,
                        waiting)
        self.problem = reason


def _connect_checked(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=busy_timeout_s)
    _add_name_key(db)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # WAL keeps it consistent; spares the SD card
        db.executescript(_SCHEMA)
        if "person" not in {column[1] for column in db.execute("PRAGMA table_info(mood_changes)")}:
            db.execute(_PERSON_COLUMN)
        db.execute(_PERSON_INDEX)
        db.commit()
        verdict = db.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise sqlite3.DatabaseError(f"database disk image is malformed ({verdict})")
    except BaseException:
        db.close()
        raise
    return db


def _owner_only(path: Path) -> None:
    """The database and its WAL files readable by their owner only (moods are personal)."""
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):  # not there yet, or not ours: nothing to tighten
            os.chmod(f"{path}{suffix}", 0o600)


def _key(person: str | None) -> str | None:
    """A person's key among the ongoing moods (None: the household)."""
    return None if person is None else name_key(person)


def _same(person: str | None, name: str) -> bool:
    return person is not None and name_key(person) == name_key(name)


def _add_name_key(db: sqlite3.Connection) -> None:
    """``name_key(person)`` in SQL: NULL for the household's rows."""
    db.create_function("name_key", 1, lambda person: None if person is None else name_key(person),
                       deterministic=True)


def _is_corrupt(err: sqlite3.Error) -> bool:
    text = str(err)
    return "not a database" in text or "malformed" in text


def _describe(err: sqlite3.Error, path: Path) -> str:
    """What is wrong, in words a user can act on."""
    text = str(err)
    if "locked" in text or "busy" in text:
        return f"{path} is locked by another process"
    if _is_corrupt(err):
        return f"{path} is corrupt (not a usable SQLite database)"
    if "unable to open" in text or "readonly" in text or "permission" in text.lower():
        return f"cannot open {path} for writing or reading (permissions? the service runs as the todayfeeling user)"
    return f"{path}: {text}"


HOUSEHOLD = None
"""``person`` for the household's (the room's) rows."""


def read_spans(path: Path, since: float | None = None, person: str | None = HOUSEHOLD) -> list[MoodSpan]:
    """The stored mood changes of ``person`` (in any case; None: the household) from ``since`` on, oldest
    first, read without writing to the file; a mood that began before ``since`` and lasted past it is cut to
    start there."""
    try:
        found = Path(path).is_file()
    except OSError as err:  # a folder the user may not look into: the state folder is the service user's
        raise HistoryError(f"{path}: cannot read: {err.strerror or err}") from None
    if not found:
        raise HistoryError(f"{path}: no mood history yet (the daemon creates it)")
    try:
        db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
        _add_name_key(db)
        try:
            columns = {column[1] for column in db.execute("PRAGMA table_info(mood_changes)")}
            params: tuple[float | str, ...] = (since if since is not None else float("-inf"),)
            if "person" not in columns:  # a history from before people: all of it is the household's
                who = "1" if person is None else "0"
            elif person is None:
                who = "person IS NULL"
            else:
                who, params = "name_key(person) = ?", (*params, name_key(person))
            rows = db.execute(f"SELECT ts, mood, confidence, duration FROM mood_changes WHERE ts + duration >= ? "
                              f"AND {who} ORDER BY ts", params).fetchall()
        finally:
            db.close()
    except sqlite3.Error as err:
        raise HistoryError(f"cannot read the mood history: {_describe(err, Path(path))}") from err
    start = since if since is not None else float("-inf")
    return [MoodSpan(max(ts, start), mood, confidence, ts + duration - max(ts, start), person)
            for ts, mood, confidence, duration in rows]


@dataclass
class PeriodSummary:
    """Seconds per mood within one day, ISO week or month."""

    period: str
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(MOODS, 0.0))

    @property
    def total(self) -> float:
        """Seconds recorded in the period, ``none`` included."""
        return sum(self.seconds.values())

    @property
    def seen(self) -> float:
        """Seconds with a mood (someone in view): the period's time without ``none``."""
        return sum(self.seconds[mood] for mood in EMOTIONS)

    @property
    def shares(self) -> dict[str, float]:
        """Each emotion's share of the time seen (all 0 when nobody was seen)."""
        seen = self.seen
        return {mood: (self.seconds[mood] / seen if seen else 0.0) for mood in EMOTIONS}

    @property
    def dominant(self) -> str | None:
        """The emotion seen longest (``none`` does not count), or None when no emotion was seen."""
        best = max(EMOTIONS, key=lambda mood: self.seconds[mood])
        return best if self.seconds[best] > 0 else None

    def as_dict(self) -> dict[str, Any]:
        """For ``history --json``."""
        return {"period": self.period, "seconds": {m: round(s, 1) for m, s in self.seconds.items()},
                "total": round(self.total, 1), "seen": round(self.seen, 1),
                "shares": {m: round(share, 4) for m, share in self.shares.items()}, "dominant": self.dominant}


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
