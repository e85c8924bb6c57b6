"""The music library on real files: folders, sub-folders, M3U playlists, skips; shuffling; the config."""

from __future__ import annotations

import os
import random
import time
from collections import Counter

import pytest

from tests.audio_files import music_folder, write_track
from todayfeeling.config import ConfigError, MusicConfig, PlaylistChoice, parse_section
from todayfeeling.music.library import Library
from todayfeeling.music.shuffle import Shuffler


def test_folders_sub_folders_and_playlists_are_followed_and_bad_entries_skipped(tmp_path):
    root = music_folder(tmp_path / "music", {"happiness": ["a.ogg", "sub/b.wav", "sub/deeper/c.flac", "d.mp3"],
                                             "shared": ["x.ogg"], "sadness": []})
    (root / "happiness" / "cover.jpg").write_bytes(b"\xff\xd8")
    (root / "happiness" / ".hidden.ogg").write_bytes(b"")
    (root / "happiness" / "mix.m3u").write_text(
        "#EXTM3U\n#EXTINF:1,x\n../shared/x.ogg\nsub\\b.wav\nmissing.ogg\n\nhttp://radio.example/stream\n",
        encoding="utf-8")
    (root / "sadness" / "liste.m3u8").write_text(f"{root / 'shared' / 'x.ogg'}\n", encoding="utf-8")

    library = Library(root)
    names = [track.relative_to(root).as_posix() for track in library.tracks("happiness")]
    assert names == ["happiness/a.ogg", "happiness/d.mp3", "shared/x.ogg", "happiness/sub/b.wav",
                     "happiness/sub/deeper/c.flac"]  # b.wav listed twice, kept once
    assert [t.name for t in library.tracks("sadness")] == ["x.ogg"]  # an absolute entry
    assert library.tracks("anger") == [] and library.tracks("no_such_folder") == []
    reasons = {(skip.path.name, skip.reason.split(" (")[0].split(":")[0]) for skip in library.skipped}
    assert reasons == {("cover.jpg", "not a supported audio file"), ("missing.ogg", "missing"),
                       ("mix.m3u", "entry 'http")}


def test_bad_marks_last_until_the_file_changes_or_a_rescan_and_new_files_are_found_at_once(tmp_path):
    root = music_folder(tmp_path, {"neutral": ["a.wav", "b.wav"]})
    library = Library(root)
    bad = library.tracks("neutral")[0]
    library.mark_bad(bad, "Not an Ogg Vorbis audio stream")
    assert library.tracks("neutral") == [root / "neutral" / "b.wav"]
    assert [(s.path, s.reason) for s in library.skipped] == [(bad, "Not an Ogg Vorbis audio stream")]
    write_track(root / "neutral" / "c.wav")  # copied in while the appliance runs: no restart, no rescan
    assert [t.name for t in library.tracks("neutral")] == ["b.wav", "c.wav"]
    library.rescan()
    assert [t.name for t in library.tracks("neutral")] == ["a.wav", "b.wav", "c.wav"]
    assert library.skipped == []


def test_a_missing_music_folder_is_an_empty_library(tmp_path, caplog):
    library = Library(tmp_path / "nowhere")
    assert library.tracks("happiness") == []
    assert "does not exist" in caplog.text


def test_shuffle_plays_every_track_once_before_any_repeat(tmp_path):
    root = music_folder(tmp_path, {"happiness": [f"{i}.wav" for i in range(5)]}, seconds=0.05)
    shuffler = Shuffler(Library(root), {}, random.Random(7))
    drawn = [shuffler.draw("happiness").name for _ in range(15)]
    for round_start in (0, 5, 10):
        assert sorted(drawn[round_start:round_start + 5]) == [f"{i}.wav" for i in range(5)]
    assert all(a != b for a, b in zip(drawn, drawn[1:], strict=False))  # not even across rounds
    assert shuffler.draw("sadness") is None


def test_preferences_draw_folders_by_weight(tmp_path):
    root = music_folder(tmp_path, {"calm_piano": ["p1.wav", "p2.wav"], "sadness": ["s1.wav"]}, seconds=0.05)
    preferences = {"sadness": [PlaylistChoice("calm_piano", 3), PlaylistChoice("sadness", 1)]}
    shuffler = Shuffler(Library(root), preferences, random.Random(1))
    folders = Counter(shuffler.draw("sadness").parent.name for _ in range(400))
    assert 0.65 < folders["calm_piano"] / 400 < 0.85
    assert Shuffler(Library(root), {"sadness": [PlaylistChoice("empty_folder")]}).draw("sadness") is None


def test_music_config_parses_preferences_and_rejects_bad_values():
    table = {"mode": "uplift", "volume": 35, "fixed_playlist": "party",
             "preferences": {"sadness": [{"folder": "calm_piano", "weight": 2}, {"folder": "sadness"}]}}
    config = parse_section(MusicConfig, table, "c.toml", "music.")
    assert config.preferences == {"sadness": [PlaylistChoice("calm_piano", 2.0), PlaylistChoice("sadness", 1.0)]}
    assert (config.mode, config.volume, config.fixed_playlist) == ("uplift", 35, "party")
    bad = [({"mode": "loud"}, "music.mode: must be one of"),
           ({"volume": 101}, "music.volume: must be between 0 and 100, got 101"),
           ({"preferences": {"sad": [{"folder": "x"}]}}, "music.preferences: unknown mood 'sad'"),
           ({"preferences": {"sadness": [{"folder": "x", "weight": 0}]}},
            r"music.preferences.sadness\[0\].weight: must be positive, got 0"),
           ({"preferences": {"sadness": [{"folder": "x", "colour": 1}]}}, "unknown key"),
           ({"uplift_steps": ["calm"]}, "uplift_steps: unknown mood 'calm'")]
    for values, message in bad:
        with pytest.raises(ConfigError, match=message):
            parse_section(MusicConfig, values, "c.toml", "music.")


def test_a_bad_track_replaced_by_a_good_copy_gets_another_chance(tmp_path):
    root = music_folder(tmp_path, {"neutral": ["a.wav", "b.wav"]})
    library = Library(root)
    bad = library.tracks("neutral")[0]
    library.mark_bad(bad, "Not an Ogg Vorbis audio stream")
    assert bad not in library.tracks("neutral")
    time.sleep(0.01)  # a later modification time than the mark's
    write_track(bad, seconds=0.6)
    assert bad in library.tracks("neutral")
    assert library.skipped == []


def test_music_copied_into_an_empty_mood_folder_is_played_without_a_restart(tmp_path):
    root = music_folder(tmp_path, {"neutral": ["calm.wav"]})
    (root / "happiness" / "album").mkdir(parents=True)
    library = Library(root)
    assert library.tracks("happiness") == []
    write_track(root / "happiness" / "album" / "joy.wav")  # a sub-folder: its own time changes, not the mood's
    assert [t.name for t in library.tracks("happiness")] == ["joy.wav"]


def test_a_named_pipe_called_like_audio_is_skipped_not_handed_to_the_decoder(tmp_path):
    # pygame's load of a FIFO named a.mp3 waits for a writer for ever, freezing the whole appliance.
    root = music_folder(tmp_path, {"neutral": ["b.wav"]})
    os.mkfifo(root / "neutral" / "a.mp3")
    library = Library(root)
    assert [t.name for t in library.tracks("neutral")] == ["b.wav"]
    assert [(s.path.name, s.reason.split(" (")[0]) for s in library.skipped] == [("a.mp3", "not a regular file")]


def test_links_that_lead_nowhere_or_back_to_themselves_are_skipped(tmp_path):
    # A copy from a NAS or USB drive can leave both; a link loop crashed the scan, so the appliance did not start.
    root = music_folder(tmp_path, {"neutral": ["b.wav"]})
    (root / "neutral" / "x.mp3").symlink_to("y.mp3")
    (root / "neutral" / "y.mp3").symlink_to("x.mp3")
    (root / "neutral" / "gone.ogg").symlink_to(tmp_path / "unplugged" / "gone.ogg")
    library = Library(root)
    assert [t.name for t in library.tracks("neutral")] == ["b.wav"]
    assert sorted((s.path.name, s.reason.split(" (")[0]) for s in library.skipped) == [
        ("gone.ogg", "a broken link"), ("x.mp3", "a broken link"), ("y.mp3", "a broken link")]


def test_a_windows_playlist_in_cp1252_finds_names_with_curly_quotes_and_dashes(tmp_path):
    root = music_folder(tmp_path, {"happiness": ["Don’t Stop – Live.wav"]})
    (root / "neutral").mkdir()
    (root / "neutral" / "party.m3u").write_bytes("#EXTM3U\r\n..\\happiness\\Don’t Stop – Live.wav\r\n".encode("cp1252"))
    assert [t.name for t in Library(root).tracks("neutral")] == ["Don’t Stop – Live.wav"]


def test_an_album_a_playlist_lists_is_found_once_copied_in_without_a_rescan(tmp_path):
    root = music_folder(tmp_path, {"neutral": ["calm.wav"]})
    (root / "happiness").mkdir()
    (root / "happiness" / "party.m3u").write_text("../albums/Sunny/01.wav\n", encoding="utf-8")
    library = Library(root)
    assert library.tracks("happiness") == []  # the album is still being copied
    write_track(root / "albums" / "Sunny" / "01.wav")
    assert [t.name for t in library.tracks("happiness")] == ["01.wav"]
    assert library.skipped == []
