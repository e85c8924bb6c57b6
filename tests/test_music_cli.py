"""`todayfeeling music list|play` as real processes on a generated library."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.audio_files import music_folder, todayfeeling_without_mixer, write_corrupt
from tests.emulation import hang_guard
from todayfeeling.cli import main

ENV = {**os.environ, "SDL_AUDIODRIVER": "dummy"}


def todayfeeling(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "todayfeeling", *args], capture_output=True, text=True,
                          env=ENV, timeout=hang_guard(60), **kwargs)


def test_list_shows_tracks_per_mood_preferences_fallbacks_and_skipped_files(tmp_path):
    root = music_folder(tmp_path / "music", {"happiness": ["a.ogg", "sub/b.wav"], "neutral": ["n.flac"],
                                             "calm_piano": ["p.mp3"], "sadness": ["s.ogg"]}, seconds=0.2)
    write_corrupt(root / "happiness" / "broken.ogg")
    (root / "sadness" / "mix.m3u").write_text("gone.ogg\n")
    config = tmp_path / "config.toml"
    config.write_text(f'[music]\ndir = "{root}"\n[music.preferences]\n'
                      'sadness = [{folder = "calm_piano", weight = 2}, {folder = "sadness"}]\n')

    result = todayfeeling("music", "--config", str(config), "list", "--check")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"music library {root}",
        "  mood       tracks",
        "  anger           0  (falls back to neutral)",
        "  fear            0  (falls back to neutral)",
        "  happiness       2",
        "  sadness         2  (plays calm_piano ×2, sadness ×1)",
        "  surprise        0  (falls back to neutral)",
        "  neutral         1",
        "skipped (2):",
        f"  {root / 'sadness' / 'gone.ogg'}: missing (listed in mix.m3u)",
        f"  {root / 'happiness' / 'broken.ogg'}: Not an Ogg Vorbis audio stream",
    ]


def test_list_of_a_missing_or_empty_library_fails_clearly(tmp_path):
    result = todayfeeling("music", "--music", str(tmp_path / "nowhere"), "list")
    assert (result.returncode, result.stderr.strip()) == (1, f"todayfeeling: no music library at {tmp_path}/nowhere")
    result = todayfeeling("music", "--music", str(tmp_path), "list")
    assert result.returncode == 1 and "nothing to fall back to" in result.stdout


def test_play_plays_the_moods_music_until_ctrl_c(tmp_path):
    root = music_folder(tmp_path / "music", {"neutral": ["n1.ogg", "n2.wav"]}, seconds=0.3)
    process = subprocess.Popen([sys.executable, "-m", "todayfeeling", "music", "--music", str(root),
                                "play", "sadness", "--volume", "30"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        lines = [process.stdout.readline().strip() for _ in range(3)]  # three tracks: it goes on by itself
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=hang_guard(30))
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert all(line.startswith("playing neutral: n") and line.endswith("(fallback from sadness) at volume 30")
               for line in lines), lines
    assert lines[0] != lines[1] != lines[2], lines  # a line per track, never one twice
    assert out.splitlines()[-1] == "stopped"


def test_play_refuses_what_is_neither_a_mood_nor_a_folder(tmp_path: Path):
    music_folder(tmp_path, {"neutral": ["n.ogg"]}, seconds=0.2)
    result = todayfeeling("music", "--music", str(tmp_path), "play", "jazz")
    assert result.returncode == 2 and "'jazz' is neither a mood" in result.stderr
    (tmp_path / "neutral" / "n.ogg").unlink()
    result = todayfeeling("music", "--music", str(tmp_path), "play", "neutral")
    assert result.returncode == 1 and "nothing playable for neutral" in result.stderr


def test_a_library_the_user_may_not_look_into_is_a_clear_error(tmp_path: Path, monkeypatch, capsys) -> None:
    root = music_folder(tmp_path / "state" / "music", {"neutral": ["n.ogg"]}, seconds=0.2)
    locked = {tmp_path / "state", root / "private"}  # mode 0700, another user's (tests may run as root)
    look = Path.stat

    def stat(path: Path, **kwargs):
        if locked & set(path.parents):
            raise PermissionError(13, "Permission denied", str(path))
        return look(path, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    assert main(["music", "--music", str(root), "list"]) == 1
    assert capsys.readouterr().err == (f"todayfeeling: {root}: cannot read: Permission denied "
                                       "(run as the todayfeeling user?)\n")
    locked.remove(tmp_path / "state")
    assert main(["music", "--music", str(root), "play", "private/jazz"]) == 1
    assert capsys.readouterr().err == (f"todayfeeling: {root / 'private' / 'jazz'}: cannot read: Permission denied "
                                       "(run as the todayfeeling user?)\n")


def test_a_bad_volume_flag_is_named_as_the_command_line(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[music]\nvolume = 40\n")
    result = todayfeeling("music", "--config", str(config), "--music", str(tmp_path), "play", "neutral",
                          "--volume", "500")
    assert (result.returncode, result.stderr) == (
        2, "todayfeeling: config error: the command line: music.volume: must be between 0 and 100, got 500\n")


def test_music_list_reads_the_devices_config_file_and_takes_its_options_after_the_action(tmp_path, monkeypatch,
                                                                                          capsys):
    from todayfeeling.cli import main
    from todayfeeling.config import loader

    root = music_folder(tmp_path / "music", {"happiness": ["a.wav", "b.wav"]}, seconds=0.2)
    device_config = tmp_path / "config.toml"
    device_config.write_text(f'[music]\ndir = "{root}"\n')
    monkeypatch.setattr(loader, "DEFAULT_CONFIG_PATH", device_config)
    assert main(["music", "list"]) == 0
    assert f"music library {root}" in capsys.readouterr().out
    other = music_folder(tmp_path / "other", {"neutral": ["n.wav"]}, seconds=0.2)
    assert main(["music", "list", "--music", str(other)]) == 0  # the option after the action
    out = capsys.readouterr().out
    assert f"music library {other}" in out and "neutral         1" in out


def test_check_without_a_mixer_fails_clearly_and_still_lists(tmp_path: Path):
    root = music_folder(tmp_path / "music", {"neutral": ["n.ogg"]}, seconds=0.2)
    result = subprocess.run(todayfeeling_without_mixer("music", "--music", str(root), "list", "--check"),
                            capture_output=True, text=True, env=ENV, timeout=hang_guard(60))
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1
    assert any(line.startswith("todayfeeling: cannot open the tracks to check them: mixer module not available")
               for line in result.stderr.splitlines()), result.stderr
    assert "  neutral         1" in result.stdout.splitlines()
