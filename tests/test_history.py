"""Mood history: a real SQLite file, the summaries, and the real `todayfeeling history` command."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.emulation import hang_guard
from todayfeeling.cli import main
from todayfeeling.config import ConfigError, HistoryConfig, loader, parse_section
from todayfeeling.history import HistoryError, MoodHistory, MoodSpan, WallClock, read_spans, summarise

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
    old.record("neutral", 0.5, now - 35 * 86400)  # lasts into the 30 days kept: kept whole
    old.record("surprise", 0.5, now - 5 * 86400)
    old.close(now - 5 * 86400 + 60)
    assert len(read_spans(db)) == 3
    MoodHistory(db, retention_days=30).close()  # pruning happens on open
    assert [s.mood for s in read_spans(db)] == ["neutral", "surprise"]
    assert [s.mood for s in read_spans(db, since=now - 10 * 86400)] == ["neutral", "surprise"]


def test_a_mood_going_on_for_longer_than_the_retention_is_not_pruned(tmp_path):
    """Sixty hours away with a retention of one day: the daily prune deleted the ongoing `none` row, and the
    checkpoints after it updated nothing, so all of it was lost (the last day too)."""
    db = tmp_path / "h.sqlite3"
    now = time.time()
    history = MoodHistory(db, retention_days=1)
    history.record("none", 0.0, now)
    for hour in range(1, 61):
        history.checkpoint(now + hour * 3600)
    history.record("happiness", 0.9, now + 60 * 3600)
    history.close(now + 61 * 3600)
    assert [(s.mood, s.duration) for s in read_spans(db)] == [("none", 60 * 3600.0), ("happiness", 3600.0)]


def test_a_rename_that_only_changes_case_ends_the_ongoing_mood_when_the_next_begins(tmp_path):
    """`people rename Mina MINA` keeps following her under the new spelling: her ongoing mood used to run on
    beside the new ones (1 h 50 min recorded for one hour)."""
    db = tmp_path / "h.sqlite3"
    t0 = 1_750_000_000.0
    history = MoodHistory(db)
    history.record("happiness", 0.9, t0, person="Mina")
    history.rename("Mina", "MINA")
    history.record("sadness", 0.8, t0 + 600, person="MINA")
    history.close(t0 + 3600)
    assert [(s.mood, s.duration) for s in read_spans(db, None, "MINA")] == [("happiness", 600.0), ("sadness", 3000.0)]


def test_the_last_days_count_a_mood_that_began_before_them_from_their_start(tmp_path):
    """`history --days 1` after a night of `none`: the night's part inside the window counts, cut at its start
    (it was left out whole, so the window showed far less time than the same day without --days)."""
    db = tmp_path / "h.sqlite3"
    history = MoodHistory(db)
    history.record("none", 0.0, T0)
    history.record("happiness", 0.9, T0 + 28 * 3600)
    history.close(T0 + 30 * 3600)
    since = T0 + 6 * 3600
    assert [(s.mood, s.ts, s.duration) for s in read_spans(db, since=since)] == [
        ("none", since, 22 * 3600.0), ("happiness", T0 + 28 * 3600, 2 * 3600.0)]
    assert [s.mood for s in read_spans(db, since=T0 + 29 * 3600)] == ["happiness"]  # the night ended before


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
        "period": "2026-11", "total": 10800.0, "seen": 9000.0, "dominant": "happiness",
        "seconds": {"anger": 0.0, "fear": 0.0, "happiness": 7200.0, "sadness": 1800.0, "surprise": 0.0,
                    "neutral": 0.0, "none": 1800.0},
        "shares": {"anger": 0.0, "fear": 0.0, "happiness": 0.8, "sadness": 0.2, "surprise": 0.0, "neutral": 0.0}}


def test_only_none_has_no_dominant_emotion():
    (day,) = summarise([MoodSpan(T0 + 60, "none", 1.0, 60)], "day", UTC)
    assert day.dominant is None


def history_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TZ": "UTC"}
    return subprocess.run([sys.executable, "-m", "todayfeeling", "history", *args], capture_output=True,
                          text=True, env=env, timeout=hang_guard(60))


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
                                "none", "seen", "total"]
    assert table[1].split() == ["2026-W48", "-", "-", "1h00m", "-", "-", "-", "-", "1h00m", "1h00m"]
    assert table[2].split() == ["2026-W49", "-", "-", "1h00m", "-", "-", "30m", "-", "1h30m", "1h30m"]


def test_history_command_reads_the_db_path_from_the_config(tmp_path):
    db = tmp_path / "from-config.sqlite3"
    MoodHistory(db).close()
    config = tmp_path / "config.toml"
    config.write_text(f'[history]\ndb = "{db}"\n')
    result = history_cli("--config", str(config), "--by", "month")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "no mood changes recorded in this range"


def test_history_command_days_counts_only_the_time_within_the_last_days(tmp_path):
    db = tmp_path / "h.sqlite3"
    now = time.time()
    history = MoodHistory(db)
    history.record("anger", 0.9, now - 10 * 86400)
    history.record("happiness", 0.9, now - 3600)
    history.close(now - 3000)
    result = history_cli("--db", str(db), "--json", "--by", "month", "--days", "2")
    totals = [json.loads(line)["seconds"] for line in result.stdout.splitlines()]
    assert sum(t["happiness"] for t in totals) == 600
    anger = sum(t["anger"] for t in totals)  # ten days of it, of which the last two minus an hour are inside
    assert 2 * 86400 - 3600 - 60 < anger <= 2 * 86400 - 3600


def test_history_command_without_a_database_says_so(tmp_path):
    result = history_cli("--db", str(tmp_path / "missing.sqlite3"))
    assert result.returncode == 1
    assert "no mood history yet" in result.stderr


def test_unreadable_database_is_a_clear_error(tmp_path):
    bogus = tmp_path / "bogus.sqlite3"
    bogus.write_text("this is not a database")
    with pytest.raises(HistoryError, match="cannot read the mood history"):
        read_spans(bogus)


def test_a_history_in_a_folder_the_user_may_not_look_into_is_a_clear_error(tmp_path, monkeypatch, capsys):
    db = tmp_path / "state" / "history.sqlite3"
    MoodHistory(db).close()
    look = Path.stat

    def stat(path: Path, **kwargs):  # as in the service's state folder, mode 0700 (tests may run as root)
        if db.parent in path.parents:
            raise PermissionError(13, "Permission denied", str(path))
        return look(path, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    assert main(["history", "--db", str(db)]) == 1
    assert capsys.readouterr().err == f"todayfeeling: {db}: cannot read: Permission denied\n"


def test_history_config_is_validated():
    assert parse_section(HistoryConfig, {"retention_days": 30}, "c.toml").retention_days == 30
    with pytest.raises(ConfigError, match="history.retention_days: must be at least 1, got 0"):
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
                          timeout=hang_guard(60))
    assert done.returncode == 0, done.stderr
    assert "mood history: record failed" in done.stderr
    assert [(s.mood, s.duration) for s in read_spans(db)][-1] == ("neutral", 60)
    assert "happiness" in [s.mood for s in read_spans(db)]


def test_history_reads_the_devices_config_file_like_the_service(tmp_path, monkeypatch, capsys):
    # Without --config, every command reads /etc/todayfeeling/config.toml when it exists (as `run` does).
    db = tmp_path / "kitchen.sqlite3"
    history = MoodHistory(db)
    history.record("happiness", 0.9, 1_000_000.0)
    history.close(1_000_060.0)
    device_config = tmp_path / "config.toml"
    device_config.write_text(f'[history]\ndb = "{db}"\n')
    monkeypatch.setattr(loader, "DEFAULT_CONFIG_PATH", device_config)
    assert main(["history", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sum(row["seconds"]["happiness"] for row in rows) == 60.0


def test_each_person_has_their_own_rows_and_forgetting_one_deletes_only_theirs(tmp_path):
    db = tmp_path / "h.sqlite3"
    history = MoodHistory(db)
    history.record("happiness", 0.9, utc("2026-11-30T10:00"))  # the household
    history.record("sadness", 0.7, utc("2026-11-30T10:00"), person="Mina")
    history.record("anger", 0.8, utc("2026-11-30T10:10"), person="Jo")
    history.record("neutral", 0.9, utc("2026-11-30T10:30"), person="Mina")  # only Mina's ongoing row ends
    history.checkpoint(utc("2026-11-30T11:00"))
    assert [(s.mood, s.duration) for s in read_spans(db)] == [("happiness", 3600)]
    assert [(s.mood, s.duration) for s in read_spans(db, person="mina")] == [("sadness", 1800), ("neutral", 1800)]
    assert [(s.mood, s.duration) for s in read_spans(db, person="Jo")] == [("anger", 3000)]
    assert history.forget("MINA") == 2
    history.close(utc("2026-11-30T11:00"))
    assert read_spans(db, person="Mina") == [] and len(read_spans(db, person="Jo")) == 1
    assert len(read_spans(db)) == 1


def test_a_persons_rows_are_found_renamed_and_forgotten_by_their_name_in_any_case_and_composition(tmp_path):
    db = tmp_path / "h.sqlite3"
    history = MoodHistory(db)
    history.record("happiness", 0.9, T0)  # the household
    history.record("sadness", 0.7, T0, person="ÉMILE")  # upper case beyond ASCII
    history.record("anger", 0.8, T0 + 60, person="E\u0301mile")  # decomposed: E and a combining accent
    history.record("neutral", 0.9, T0, person="Emil")  # another person
    history.close(T0 + 120)
    assert [s.mood for s in read_spans(db, person="émile")] == ["sadness", "anger"]
    history = MoodHistory(db)
    assert history.rename("Émile", "Mile") == 2
    assert read_spans(db, person="émile") == [] and len(read_spans(db, person="mile")) == 2
    assert history.forget("MILE") == 2
    history.close(T0 + 120)
    assert read_spans(db, person="Mile") == []
    assert [s.mood for s in read_spans(db, person="Emil")] == ["neutral"] and len(read_spans(db)) == 1


def test_a_running_appliance_ends_a_renamed_persons_mood_under_the_new_name_even_while_the_file_is_locked(
        tmp_path):
    """What the daemon does when `people rename` changed the database: end the ongoing row and rename the rows,
    including those still waiting for a locked file, so none is written back under the old name."""
    db = tmp_path / "h.sqlite3"
    history = MoodHistory(db, busy_timeout_s=0.05)
    history.record("sadness", 0.7, T0, person="Mina")
    history.checkpoint(T0 + 30)  # saved as ongoing
    blocker = sqlite3.connect(db)
    blocker.execute("BEGIN EXCLUSIVE")  # the anger row cannot be saved now
    history.record("anger", 0.8, T0 + 40, person="Mina")
    history.end("Mina", T0 + 60)
    with pytest.raises(HistoryError):
        history.rename("Mina", "Jo")  # the saved rows wait for the file; the waiting ones are renamed at once
    blocker.rollback()
    blocker.close()
    assert history.rename("Mina", "Jo") == 1
    history.close(T0 + 120)
    assert read_spans(db, person="Mina") == []
    assert [(s.mood, s.duration) for s in read_spans(db, person="Jo")] == [("sadness", 40.0), ("anger", 20.0)]


def test_a_clock_set_at_boot_moves_the_ongoing_mood_instead_of_lengthening_it(tmp_path):
    """A Pi without a real-time clock starts with the time it was switched off; NTP then sets it, here three
    days on. The mood that began before keeps its real duration, and starts at the corrected time."""
    db = tmp_path / "h.sqlite3"
    history = MoodHistory(db)
    wall, monotonic = [T0], [1000.0]
    clock = WallClock(history.clock_stepped, wall=lambda: wall[0], monotonic=lambda: monotonic[0])
    history.record("happiness", 0.9, clock.now())
    wall[0], monotonic[0] = T0 + 30, 1030.0
    history.checkpoint(clock.now())  # saved with 30 s so far
    step = 3 * 86400.0
    wall[0], monotonic[0] = T0 + step + 90, 1090.0  # 60 s later, and the clock set 3 days on
    history.record("sadness", 0.7, clock.now())
    wall[0], monotonic[0] = T0 + step + 95.5, 1095.0  # 5 s later, the clock slewed by half a second: no step
    history.close(clock.now())
    assert [(s.mood, s.ts - T0, s.duration) for s in read_spans(db)] == [
        ("happiness", step, 90.0), ("sadness", step + 90, 5.5)]


def test_a_history_from_before_people_gains_the_person_column_and_stays_the_households(tmp_path):
    db = tmp_path / "old.sqlite3"
    old = sqlite3.connect(db)
    old.executescript("CREATE TABLE mood_changes (id INTEGER PRIMARY KEY, ts REAL NOT NULL, mood TEXT NOT NULL, "
                      "confidence REAL NOT NULL, duration REAL NOT NULL);")
    old.execute("INSERT INTO mood_changes (ts, mood, confidence, duration) VALUES (?, 'happiness', 0.9, 60)", (T0,))
    old.commit()
    old.close()
    assert [s.mood for s in read_spans(db)] == ["happiness"] and read_spans(db, person="Mina") == []
    history = MoodHistory(db)
    history.record("fear", 0.6, T0 + 100, person="Mina")
    history.close(T0 + 160)
    assert [s.mood for s in read_spans(db)] == ["happiness"]
    assert [(s.mood, s.duration) for s in read_spans(db, person="Mina")] == [("fear", 60)]


def test_history_plot_draws_a_bar_per_week_with_the_moods_in_their_colours(tmp_path, capsys, monkeypatch):
    import cv2
    import numpy as np

    from todayfeeling.history_chart import COLOURS, STACK_ORDER
    from todayfeeling.vocabulary import EMOTIONS

    assert set(STACK_ORDER) == set(EMOTIONS) == set(COLOURS)
    db = tmp_path / "h.sqlite3"
    history = MoodHistory(db)
    history.record("happiness", 0.9, utc("2026-11-24T10:00"), person="Mina")  # week 48: 3 h happy, 1 h sad
    history.record("sadness", 0.7, utc("2026-11-24T13:00"), person="Mina")
    history.record("none", 1.0, utc("2026-11-24T14:00"), person="Mina")
    history.record("anger", 0.8, utc("2026-12-01T10:00"), person="Mina")  # week 49: 2 h angry
    history.close(utc("2026-12-01T12:00"))
    chart = tmp_path / "mina.png"
    assert main(["history", "--db", str(db), "--person", "Mina", "--by", "week", "--plot", str(chart),
                 "--json"]) == 0
    out, err = capsys.readouterr()
    weeks = [json.loads(line) for line in out.splitlines()]
    assert [(w["period"], w["shares"]["happiness"], w["shares"]["sadness"], w["shares"]["anger"]) for w in weeks
            if w["seen"]] == [("2026-W48", 0.75, 0.25, 0.0), ("2026-W49", 0.0, 0.0, 1.0)]
    assert f"wrote the chart to {chart}" in err
    image = cv2.imread(str(chart))
    assert image is not None and image.shape[1] > 400

    def share_of(colour: tuple[int, int, int]) -> float:  # pixels of the bars: the legend's 21x21 box aside
        return float(np.all(image == np.array(colour, np.uint8), axis=2).sum()) - 21 * 21

    # The week-48 bar is three parts happiness to one part sadness; week 49 is all anger.
    happy, sad, angry = (share_of(COLOURS[m]) for m in ("happiness", "sadness", "anger"))
    assert happy / sad == pytest.approx(3.0, rel=0.03) and angry == pytest.approx(happy + sad, rel=0.03)
    missing = main(["history", "--db", str(db), "--plot", str(tmp_path / "no" / "x.png")])
    assert missing == 1 and "does not exist" in capsys.readouterr().err
    for name in ("chart", "chart.xyz"):  # OpenCV knows no writer for them: refused before it is asked
        assert main(["history", "--db", str(db), "--plot", str(tmp_path / name)]) == 1
        assert capsys.readouterr().err == (f"todayfeeling: cannot write {tmp_path / name}: the chart is a PNG, so "
                                           "its name must end in .png\n")
        assert not (tmp_path / name).exists()

    def write_bytes(path: Path, data: bytes) -> int:  # a folder of another user's (tests may run as root)
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    assert main(["history", "--db", str(db), "--plot", str(chart)]) == 1
    assert capsys.readouterr().err == f"todayfeeling: cannot write {chart}: Permission denied\n"


def test_the_chart_legend_runs_as_the_bars_stack_and_labels_fit(capsys) -> None:
    import numpy as np

    from todayfeeling import history_chart
    from todayfeeling.history_chart import COLOURS, STACK_ORDER, mood_chart

    image = mood_chart([], "Zoë", "month")
    legend_x = image.shape[1] - history_chart._LEGEND + 20
    top_boxes = [tuple(int(v) for v in image[history_chart._TOP + 20 + row * 30, legend_x + 10]) for row in range(6)]
    assert top_boxes == [COLOURS[mood] for mood in STACK_ORDER]  # happiness on top, as in the bars (was upside down)
    assert np.all(image[:, legend_x - 5] == 255)  # "no mood recorded" stops short of the legend (ran over it)
    assert history_chart._short("2026-11", "month") == "Nov"  # "2026-11" ran into its neighbours
    assert (history_chart._drawable("Zoë"), history_chart._drawable("美玲")) == ("Zoe", "??")  # "Zo??" before
    with pytest.raises(SystemExit):
        main(["history", "--days", "0"])
    assert "--days: must be 1 or more, got '0'" in capsys.readouterr().err
