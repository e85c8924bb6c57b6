"""Mood history: a real SQLite file, the summaries, and the real `todayfeeling history` command."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from todayfeeling.config import ConfigError, parse_section
from todayfeeling.history import HistoryConfig, HistoryError, MoodHistory, MoodSpan, read_spans, summarise

T0 = datetime(2026, 11, 23, 22, 0, tzinfo=UTC).timestamp()  # Monday 22:00 UTC


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_mood_changes_are_stored_with_their_durations(tmp_path):
    db = tmp_path / "state" / "history.sqlite3"
    history = MoodHistory(db)
    history.record("happiness", 0.8, T0)
    history.record("sadness", 0.6, T0 + 600)
    history.checkpoint(T0 + 900)
    assert [(s.mood, s.duration) for s in read_spans(db)] == [("happiness", 600), ("sadness", 300)]

    history.record("none", 1.0, T0 + 1000)
    history.close(T0 + 1060)
    spans = read_spans(db)
    assert spans == [MoodSpan(T0, "happiness", 0.8, 600), MoodSpan(T0 + 600, "sadness", 0.6, 400),
                     MoodSpan(T0 + 1000, "none", 1.0, 60)]
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_new_run_never_stretches_the_previous_runs_mood(tmp_path):
    db = tmp_path / "h.sqlite3"
    first = MoodHistory(db)
    first.record("anger", 0.7, T0)
    first.checkpoint(T0 + 120)  # then the power goes: no close()
    second = MoodHistory(db)
    second.record("neutral", 0.9, T0 + 3600)
    second.close(T0 + 3660)
    assert [(s.mood, s.duration) for s in read_spans(db)] == [("anger", 120), ("neutral", 60)]


def test_retention_prunes_old_rows(tmp_path):
    db = tmp_path / "h.sqlite3"
    now = time.time()
    old = MoodHistory(db, retention_days=400)
    old.record("fear", 0.5, now - 40 * 86400)
    old.record("surprise", 0.5, now - 5 * 86400)
    old.close(now - 5 * 86400 + 60)
    assert len(read_spans(db)) == 2
    MoodHistory(db, retention_days=30).close()  # pruning happens on open
    assert [s.mood for s in read_spans(db)] == ["surprise"]
    assert [s.mood for s in read_spans(db, since=now - 10 * 86400)] == ["surprise"]


def test_unknown_mood_is_refused(tmp_path):
    history = MoodHistory(tmp_path / "h.sqlite3")
    with pytest.raises(ValueError, match="unknown mood"):
        history.record("joy", 0.9, T0)
    history.close()


def test_summaries_split_spans_at_period_boundaries():
    spans = [
        MoodSpan(utc("2026-11-29T23:00"), "happiness", 0.9, 7200),  # Sunday 23:00 → Monday 01:00
        MoodSpan(utc("2026-11-30T01:00"), "none", 1.0, 1800),
        MoodSpan(utc("2026-11-30T23:30"), "sadness", 0.7, 3600),  # crosses into December
    ]
    days = summarise(spans, "day", UTC)
    assert [d.period for d in days] == ["2026-11-29", "2026-11-30", "2026-12-01"]
    assert days[0].seconds["happiness"] == 3600 and days[1].seconds["happiness"] == 3600
    assert days[1].seconds["none"] == 1800 and days[1].seconds["sadness"] == 1800
    assert days[2].seconds["sadness"] == 1800 and days[2].total == 1800
    assert days[1].dominant == "happiness"

    weeks = summarise(spans, "week", UTC)
    assert [(w.period, w.seconds["happiness"]) for w in weeks] == [("2026-W48", 3600), ("2026-W49", 3600)]
    months = summarise(spans, "month", UTC)
    assert [(m.period, m.seconds["sadness"]) for m in months] == [("2026-11", 1800), ("2026-12", 1800)]
    assert months[0].as_dict() == {
        "period": "2026-11", "total": 10800.0, "dominant": "happiness",
        "seconds": {"anger": 0.0, "fear": 0.0, "happiness": 7200.0, "sadness": 1800.0, "surprise": 0.0,
                    "neutral": 0.0, "none": 1800.0}}


def test_only_none_has_no_dominant_emotion():
    (day,) = summarise([MoodSpan(T0 + 60, "none", 1.0, 60)], "day", UTC)
    assert day.dominant is None


def history_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TZ": "UTC"}
    return subprocess.run([sys.executable, "-m", "todayfeeling", "history", *args], capture_output=True,
                          text=True, env=env, timeout=60)


def test_history_command_prints_json_lines_and_a_table(tmp_path):
    db = tmp_path / "h.sqlite3"
    history = MoodHistory(db)
    history.record("happiness", 0.9, utc("2026-11-29T23:00"))
    history.record("neutral", 0.8, utc("2026-11-30T01:00"))
    history.close(utc("2026-11-30T01:30"))

    result = history_cli("--db", str(db), "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(d["period"], d["seconds"]["happiness"], d["seconds"]["neutral"]) for d in lines] == [
        ("2026-11-29", 3600.0, 0.0), ("2026-11-30", 3600.0, 1800.0)]

    table = history_cli("--db", str(db), "--by", "week").stdout.splitlines()
    assert table[0].split() == ["period", "anger", "fear", "happiness", "sadness", "surprise", "neutral",
                                "none", "total"]
    assert table[1].split() == ["2026-W48", "-", "-", "1h00m", "-", "-", "-", "-", "1h00m"]
    assert table[2].split() == ["2026-W49", "-", "-", "1h00m", "-", "-", "30m", "-", "1h30m"]


def test_history_command_reads_the_db_path_from_the_config(tmp_path):
    db = tmp_path / "from-config.sqlite3"
    MoodHistory(db).close()
    config = tmp_path / "config.toml"
    config.write_text(f'[history]\ndb = "{db}"\n')
    result = history_cli("--config", str(config), "--by", "month")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "no mood changes recorded in this range"


def test_history_command_days_keeps_only_recent_changes(tmp_path):
    db = tmp_path / "h.sqlite3"
    now = time.time()
    history = MoodHistory(db)
    history.record("anger", 0.9, now - 10 * 86400)
    history.record("happiness", 0.9, now - 3600)
    history.close(now - 3000)
    result = history_cli("--db", str(db), "--json", "--by", "month", "--days", "2")
    totals = [json.loads(line)["seconds"] for line in result.stdout.splitlines()]
    assert sum(t["happiness"] for t in totals) == 600 and sum(t["anger"] for t in totals) == 0


def test_history_command_without_a_database_says_so(tmp_path):
    result = history_cli("--db", str(tmp_path / "missing.sqlite3"))
    assert result.returncode == 1
    assert "no mood history yet" in result.stderr


def test_unreadable_database_is_a_clear_error(tmp_path):
    bogus = tmp_path / "bogus.sqlite3"
    bogus.write_text("this is not a database")
    with pytest.raises(HistoryError, match="cannot read the mood history"):
        read_spans(bogus)


def test_history_config_is_validated():
    assert parse_section(HistoryConfig, {"retention_days": 30}, "c.toml").retention_days == 30
    with pytest.raises(ConfigError, match="history: retention_days must be at least 1"):
        parse_section(HistoryConfig, {"retention_days": 0}, "c.toml", "history.")


FULL_DISK_SCRIPT = """
import logging, resource, sys
from pathlib import Path
from todayfeeling.history import MoodHistory
logging.basicConfig(level=logging.WARNING)
db = Path(sys.argv[1])
history = MoodHistory(db)
history.record("happiness", 0.8, 1000.0)
largest = max(path.stat().st_size for path in db.parent.iterdir())
resource.setrlimit(resource.RLIMIT_FSIZE, (largest, resource.RLIM_INFINITY))  # no file may grow: a full disk
history.record("sadness", 0.6, 1100.0)
history.checkpoint(1150.0)
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))  # space again
history.record("neutral", 0.9, 1200.0)
history.close(1260.0)
"""


def test_a_full_disk_is_logged_and_the_history_goes_on_afterwards(tmp_path):
    # A real process whose files may not grow (RLIMIT_FSIZE): SQLite's commit fails like on a full SD card.
    db = tmp_path / "h.sqlite3"
    done = subprocess.run([sys.executable, "-c", FULL_DISK_SCRIPT, str(db)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "mood history: record failed" in done.stderr
    assert [(s.mood, s.duration) for s in read_spans(db)][-1] == ("neutral", 60)
    assert "happiness" in [s.mood for s in read_spans(db)]
