"""The player and the music service on the real pygame mixer (SDL_AUDIODRIVER=dummy) and real audio files."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pygame
import pytest

from tests.audio_files import music_folder, write_corrupt, write_partial_copy, write_track
from todayfeeling.config import MusicConfig, PlaylistChoice
from todayfeeling.music import player as player_module
from todayfeeling.music.player import Player, Selection
from todayfeeling.music.service import MusicService

WAIT_S = 10.0  # generous: the machine may be busy; a passing test never waits this long


class Recorder:
    """Collects state dicts and waits for one that matches, in order."""

    def __init__(self) -> None:
        self.states: list[dict] = []
        self._seen = 0
        self._changed = threading.Condition()

    def __call__(self, state: dict) -> None:
        with self._changed:
            self.states.append(state)
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[dict], bool], what: str = "state") -> dict:
        """The first state after the last one waited for that matches ``predicate``."""
        def match():
            for i in range(self._seen, len(self.states)):
                if predicate(self.states[i]):
                    return i
            return None

        with self._changed:
            self._changed.wait_for(lambda: match() is not None, WAIT_S)
            index = match()
            assert index is not None, f"no {what} within {WAIT_S} s; states: {self.states[self._seen:]}"
            self._seen = index + 1
            return self.states[index]

    def playing(self, playlist: str | None = None, other_than: str | None = None) -> dict:
        return self.wait_for(lambda s: s["state"] == "playing" and playlist in (None, s["playlist"])
                             and s["track"] != other_than, f"playing {playlist or 'anything'}")


@pytest.fixture
def start(tmp_path):
    """Start a MusicService on a generated library; every one started is closed after the test."""
    services: list[MusicService] = []

    def start_service(layout: dict[str, list[str]], seconds: float = 0.4, **settings) -> tuple[MusicService,
                                                                                                Recorder]:
        root = music_folder(tmp_path / "music", layout, seconds)
        config = MusicConfig(dir=root, fade_ms=settings.pop("fade_ms", 50), **settings)
        recorder = Recorder()
        service = MusicService(config, rng=random.Random(3))
        service.add_listener(recorder)
        services.append(service)
        return service, recorder

    yield start_service
    for service in services:
        service.close(fade_ms=0)
    assert pygame.mixer.get_init() is None  # the mixer is released


def test_follow_plays_the_moods_tracks_one_after_another_without_repeats(start):
    service, states = start({"happiness": ["a.ogg", "b.wav", "c.flac"], "sadness": ["s.mp3"]}, seconds=0.3)
    service.on_mood("happiness", 0.6)
    played = [states.playing("happiness")["track"]]
    for _ in range(2):
        played.append(states.playing("happiness", other_than=played[-1])["track"])
    assert sorted(played) == ["a.ogg", "b.wav", "c.flac"]  # each once: the shuffle bag
    state = service.state()
    assert {k: state[k] for k in ("state", "playlist", "volume", "mode", "fallback_from")} == {
        "state": "playing", "playlist": "happiness", "volume": 60, "mode": "follow", "fallback_from": None}


def test_a_weak_new_mood_waits_for_the_end_of_the_track_a_strong_one_switches_at_once(start):
    service, states = start({"happiness": ["h.ogg"], "sadness": ["s1.ogg", "s2.ogg"], "anger": ["a.ogg"]},
                            seconds=1.5, strong_confidence=0.8)
    service.on_mood("happiness", 0.6)
    states.playing("happiness")
    started = time.monotonic()
    service.on_mood("sadness", 0.5)
    service.player.sync()
    assert service.state()["playlist"] == "happiness"
    states.playing("sadness")
    assert time.monotonic() - started >= 1.3  # the happiness track played to its end (1.5 s)

    switched = time.monotonic()
    service.on_mood("anger", 0.9)
    states.playing("anger")
    assert time.monotonic() - switched < 1.3  # cut short, not waiting for the sadness track to end
    assert [s["state"] for s in states.states] == ["playing"] * len(states.states)  # no silence between


def test_immediate_switching_fades_the_old_track_out_before_the_new_one(start):
    service, states = start({"happiness": ["h.ogg"], "fear": ["f.ogg"]}, seconds=5.0, switch="immediate",
                            fade_ms=400)
    service.on_mood("happiness", 0.3)
    states.playing("happiness")
    service.on_mood("fear", 0.3)
    service.player.sync()
    assert service.state()["playlist"] == "happiness" and pygame.mixer.music.get_busy()  # fading out
    states.playing("fear")


def test_corrupt_files_are_skipped_marked_and_never_stop_playback(start):
    service, states = start({"neutral": ["a.wav", "b.ogg"]}, seconds=0.3)
    write_corrupt(service.library.root / "neutral" / "broken.ogg")
    service.rescan()
    service.on_mood("neutral", 0.5)
    first = states.playing("neutral")["track"]
    second = states.playing("neutral", other_than=first)["track"]
    states.playing("neutral", other_than=second)  # a whole round of the bag: broken.ogg was tried
    assert {first, second} == {"a.wav", "b.ogg"}
    assert [(s.path.name, "Ogg" in s.reason) for s in service.library.skipped] == [("broken.ogg", True)]
    assert all(s["state"] == "playing" for s in states.states)


@pytest.mark.parametrize("suffix", [".flac", ".mp3"])
def test_a_partly_copied_track_is_skipped_when_it_falls_silent_and_the_next_plays_at_once(start, suffix):
    # Its header claims 10 s but it holds under 1 s: the player used to wait out the 10 s in silence.
    service, states = start({"neutral": ["w1.ogg", "w2.ogg"]}, seconds=1.5)
    cut = write_partial_copy(service.library.root / "neutral" / f"cut{suffix}", seconds=10.0, kept=0.1)
    service.rescan()
    service.on_mood("neutral", 0.5)
    states.wait_for(lambda s: s["track"] == cut.name, f"{cut.name} playing")
    began = time.monotonic()
    whole = states.playing("neutral", other_than=cut.name)["track"]
    assert time.monotonic() - began < 5.0  # within a check or two of its silence, not after 10 s
    states.playing("neutral", other_than=whole)  # the whole track played to its end without a complaint
    assert [(s.path, "its header claims" in s.reason) for s in service.library.skipped] == [(cut, True)]
    assert all(s["state"] == "playing" for s in states.states)


def test_a_track_that_falls_silent_at_once_alone_in_its_folder_is_not_restarted_for_ever(start, tmp_path):
    cut = write_partial_copy(tmp_path / "music" / "neutral" / "cut.flac", seconds=1.5, kept=0.3)  # 0.4 s
    service, states = start({}, mode="fixed", fade_ms=0)
    assert states.playing("neutral")["track"] == "cut.flac"
    assert states.wait_for(lambda s: s["state"] == "stopped", "stopped")["error"] == "no playable track"
    assert service.problem == "no playable track"
    assert [s.path for s in service.library.skipped] == [cut]


def test_nothing_playable_stops_with_an_error_at_once_but_the_off_mode_is_no_error(start, tmp_path):
    write_corrupt(tmp_path / "music" / "neutral" / "broken.ogg")
    service, _ = start({"happiness": []}, mode="fixed")
    service.player.sync()  # the fixed mode's first play has run
    assert (service.state()["state"], service.problem) == ("stopped", "no playable track")
    assert [s.path.name for s in service.library.skipped] == ["broken.ogg"]
    service.set_mode("off")
    service.command("play")  # nothing is wanted: the source has nothing, and that is no problem
    service.player.sync()
    assert (service.state()["state"], service.problem) == ("stopped", None)


@pytest.mark.parametrize("mode", ["fixed", "follow"])
def test_music_copied_in_after_nothing_was_playable_starts_on_a_rescan(start, mode):
    service, states = start({"neutral": []}, mode=mode)
    service.on_mood("neutral", 0.5)
    service.player.sync()
    assert service.state()["state"] == "stopped"  # nothing to play: the player stops
    write_track(service.library.root / "neutral" / "new.ogg", seconds=1.0)
    service.rescan()  # SIGHUP or MQTT `cmd refresh`
    assert states.playing("neutral")["track"] == "new.ogg"


@pytest.mark.parametrize("quiet", ["stopped by the listener", "mode off", "camera off"])
def test_a_rescan_does_not_start_music_that_is_not_wanted(start, quiet):
    service, _ = start({"neutral": []}, mode="off" if quiet == "mode off" else "fixed")
    if quiet == "stopped by the listener":
        service.command("stop")
    elif quiet == "camera off":
        service.set_privacy(True)  # on_privacy = "pause" by default
    write_track(service.library.root / "neutral" / "new.ogg", seconds=1.0)
    service.rescan()
    service.player.sync()
    assert service.state()["state"] == "stopped"


def test_music_found_while_the_camera_was_off_starts_when_it_is_back(start):
    service, states = start({"neutral": []}, mode="fixed")
    service.set_privacy(True)  # on_privacy = "pause": no music while the camera is off
    write_track(service.library.root / "neutral" / "new.ogg", seconds=1.0)
    service.rescan()
    service.player.sync()
    assert service.state()["state"] == "stopped"
    service.set_privacy(False)
    assert states.playing("neutral")["track"] == "new.ogg"


def test_an_empty_mood_falls_back_to_neutral_then_to_anything_and_says_so(start):
    service, states = start({"sadness": [], "neutral": ["n.ogg"], "surprise": ["s.wav"]}, seconds=0.3)
    write_corrupt(service.library.root / "sadness" / "only_broken.ogg")
    service.on_mood("sadness", 0.5)
    state = states.playing("neutral")
    assert state["fallback_from"] == "sadness" and state["track"] == "n.ogg"

    (service.library.root / "neutral" / "n.ogg").unlink()
    service.rescan()
    state = states.playing("surprise")
    assert (state["fallback_from"], state["track"]) == ("sadness", "s.wav")


def test_a_mood_of_many_broken_files_still_falls_back_to_neutral(start):
    # Each bad file leaves the library, so the player tries on until the fallback: it used to give up
    # after 50 in a row ("no playable track") with good music in neutral.
    service, states = start({"neutral": ["calm.wav"], "happiness": []}, seconds=0.3)
    for i in range(60):
        write_corrupt(service.library.root / "happiness" / "album" / f"{i:02}.ogg")
    service.on_mood("happiness", 0.9)
    state = states.playing("neutral")
    assert (state["fallback_from"], state["track"], state["error"]) == ("happiness", "calm.wav", None)


def test_the_mode_already_in_effect_neither_skips_the_track_nor_undoes_a_pause(start):
    service, states = start({"happiness": ["a.wav", "b.wav", "c.wav"]}, seconds=3.0)
    service.on_mood("happiness", 0.9)
    track = states.playing("happiness")["track"]
    service.set_mode("follow")  # Home Assistant's select set again, or an automation
    service.player.sync()
    assert (service.state()["state"], service.state()["track"]) == ("playing", track)
    service.command("pause")
    states.wait_for(lambda s: s["state"] == "paused")
    service.set_mode("follow")
    service.player.sync()
    assert (service.state()["state"], service.state()["track"]) == ("paused", track)


def test_a_playlist_entry_outside_the_folder_plays_and_a_missing_one_is_skipped(start):
    service, states = start({"shared": ["x.ogg"], "happiness": []}, seconds=0.3)
    (service.library.root / "happiness" / "list.m3u").write_text("../shared/x.ogg\nmissing.ogg\n")
    service.rescan()
    service.on_mood("happiness", 0.5)
    state = states.playing("happiness")
    assert (state["track"], state["fallback_from"]) == ("x.ogg", None)
    assert [s.path.name for s in service.library.skipped] == ["missing.ogg"]


def test_uplift_mode_steps_from_the_low_mood_toward_happier_playlists(start):
    service, states = start({"sadness": ["s.ogg"], "neutral": ["n.ogg"], "happiness": ["h1.ogg", "h2.wav"]},
                            seconds=0.3, mode="uplift", uplift_tracks_per_step=1)
    service.on_mood("sadness", 0.5)
    assert [states.playing(p)["playlist"] for p in ("sadness", "neutral", "happiness")] == [
        "sadness", "neutral", "happiness"]
    last = states.states[-1]["track"]
    assert states.playing("happiness", other_than=last)["mode"] == "uplift"


def test_fixed_mode_plays_its_playlist_at_once_and_ignores_moods(start):
    service, states = start({"party": ["p.ogg"], "sadness": ["s.ogg"]}, seconds=2.0, mode="fixed",
                            fixed_playlist="party", fade_ms=0)  # no fade: a switch would show at once
    assert states.playing("party")["mode"] == "fixed"
    service.on_mood("sadness", 0.99)
    service.player.sync()
    assert service.state()["playlist"] == "party"


def test_off_mode_plays_nothing_but_follows_again_when_switched_at_run_time(start):
    service, states = start({"happiness": ["h.ogg"], "neutral": ["n.ogg"]}, seconds=3.0, mode="off")
    service.on_mood("happiness", 0.9)
    service.player.sync()
    assert service.state()["state"] == "stopped" and pygame.mixer.get_init() is None
    service.set_mode("follow")
    assert states.playing("happiness")["mode"] == "follow"
    service.set_mode("fixed")  # fixed_playlist defaults to neutral: switched at once
    assert states.playing("neutral")["mode"] == "fixed"
    service.set_mode("off")
    assert states.wait_for(lambda s: s["state"] == "stopped")["mode"] == "off"
    with pytest.raises(ValueError, match="unknown music mode"):
        service.set_mode("shuffle")


def test_listener_commands_pause_resume_skip_stop_and_volume(start):
    service, states = start({"neutral": ["n1.ogg", "n2.wav"], "happiness": ["h.ogg"]}, seconds=3.0)
    service.on_mood("neutral", 0.5)
    track = states.playing("neutral")["track"]
    service.command("pause")
    assert states.wait_for(lambda s: s["state"] == "paused")["track"] == track
    service.on_mood("happiness", 0.99)  # the listener paused: a mood does not resume the music
    service.player.sync()
    assert service.state()["state"] == "paused"
    service.command("play")
    assert states.playing()["track"] == track  # resumed, not restarted elsewhere
    service.set_volume(140)
    assert states.wait_for(lambda s: s["volume"] == 100)["state"] == "playing"
    assert pygame.mixer.music.get_volume() == pytest.approx(1.0)
    service.set_volume(25)
    states.wait_for(lambda s: s["volume"] == 25)
    assert pygame.mixer.music.get_volume() == pytest.approx(0.25, abs=0.01)
    service.command("next")  # now the mood that came while paused
    assert states.playing("happiness")["volume"] == 25
    service.command("stop")
    assert states.wait_for(lambda s: s["state"] == "stopped")["track"] is None
    with pytest.raises(ValueError, match="unknown player command 'rewind'"):
        service.command("rewind")


def test_no_audio_device_is_reported_and_the_next_play_tries_again(tmp_path, monkeypatch):
    track = write_track(tmp_path / "t.ogg", seconds=2.0)
    bad: list[tuple[Path, str]] = []
    recorder = Recorder()
    player = Player(lambda: Selection(track, "neutral"), lambda path, reason: bad.append((path, reason)))
    player.add_listener(recorder)
    try:
        monkeypatch.setenv("SDL_AUDIODRIVER", "no_such_driver")
        player.play()
        player.sync()
        assert player.state()["state"] == "stopped" and "no audio device" in player.state()["error"]
        monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
        player.play()
        assert recorder.playing("neutral")["error"] is None
    finally:
        player.close(fade_ms=0)
    assert bad == []


def test_close_fades_out_releases_the_mixer_and_ends_the_thread(tmp_path):
    good, broken = write_track(tmp_path / "good.wav", seconds=5.0), write_corrupt(tmp_path / "broken.ogg")
    queue = [broken, good]
    bad: list[Path] = []
    player = Player(lambda: Selection(queue.pop(0), "neutral") if queue else None,
                    lambda path, reason: bad.append(path), volume=30, fade_ms=200)
    recorder = Recorder()
    player.add_listener(recorder)
    player.play()
    assert recorder.playing("neutral")["track"] == "good.wav"
    assert bad == [broken]
    player.close()
    assert recorder.wait_for(lambda s: s["state"] == "stopped")["track"] is None
    assert pygame.mixer.get_init() is None


def test_a_reloaded_config_changes_mode_volume_and_preferences_of_a_running_service(start):
    service, states = start({"neutral": ["n.ogg"], "calm_piano": ["p.wav"], "sadness": ["s.ogg"]}, seconds=0.3)
    service.on_mood("sadness", 0.5)
    states.playing("sadness")
    new = MusicConfig(dir=service.library.root, fade_ms=50, volume=20,
                      preferences={"sadness": [PlaylistChoice("calm_piano")]})
    service.reconfigure(new)
    state = states.playing("sadness", other_than="s.ogg")  # at the end of the track: the preferred folder
    assert (state["track"], state["volume"]) == ("p.wav", 20)
    service.reconfigure(replace(new, mode="fixed"))
    assert states.playing("neutral")["mode"] == "fixed"


def test_tracks_of_unknown_length_still_end_and_move_on(start, monkeypatch):
    monkeypatch.setattr(player_module, "soundfile", None)  # as without libsndfile: no lengths from headers
    monkeypatch.setattr(player_module, "UNKNOWN_LENGTH_CHECK_S", 0.1)
    service, states = start({"neutral": ["a.ogg", "b.ogg"]}, seconds=0.3)
    service.on_mood("neutral", 0.5)
    first = states.playing("neutral")["track"]
    assert states.playing("neutral", other_than=first)["track"] != first


def test_an_error_in_the_track_source_stops_the_player_which_plays_again_when_asked(tmp_path):
    track = write_track(tmp_path / "t.ogg", seconds=2.0)
    calls = []

    def flaky_source():
        calls.append(1)
        if len(calls) == 1:
            raise OSError("music folder on a USB stick that was pulled out")
        return Selection(track, "neutral")

    player, recorder = Player(flaky_source, lambda path, reason: None), Recorder()
    player.add_listener(recorder)
    try:
        player.play()
        player.sync()
        assert player.state()["error"] == "music folder on a USB stick that was pulled out"
        player.play()
        assert recorder.playing("neutral")["error"] is None
    finally:
        player.close(fade_ms=0)


def test_a_mixer_failing_between_commands_stops_the_player_which_plays_again_when_asked(tmp_path, monkeypatch):
    track = write_track(tmp_path / "t.ogg", seconds=2.0)
    real_get_busy, failures = pygame.mixer.music.get_busy, []

    def get_busy():
        if failures:
            failures.pop()
            raise pygame.error("audio device lost")
        return real_get_busy()

    monkeypatch.setattr(pygame.mixer.music, "get_busy", get_busy)
    player, recorder = Player(lambda: Selection(track, "neutral"), lambda path, reason: None), Recorder()
    player.add_listener(recorder)
    try:
        player.play()
        recorder.playing("neutral")
        failures.append(1)
        player.sync()  # after this command the player's loop asks the mixer how long it may sleep
        stopped = recorder.wait_for(lambda s: s["state"] == "stopped", "stopped after the mixer error")
        assert stopped["error"] == "audio device lost" and not failures
        player.play()
        assert recorder.playing("neutral")["error"] is None
    finally:
        player.close(fade_ms=0)


def test_none_and_a_repeated_mood_never_interrupt_the_uplift_path(start):
    service, states = start({"sadness": ["s.ogg"], "neutral": ["n.ogg"]}, seconds=3.0, mode="uplift",
                            switch="immediate", uplift_tracks_per_step=1, fade_ms=0)  # next step: neutral
    service.on_mood("sadness", 0.9)
    track = states.playing("sadness")["track"]
    for mood in ("none", "sadness"):
        service.on_mood(mood, 0.9)
        service.player.sync()
        assert (service.state()["playlist"], service.state()["track"]) == ("sadness", track)
    service.on_mood("happiness", 0.9)  # a real change: at once (no happiness music: neutral, saying so)
    state = states.playing("neutral")
    assert state["fallback_from"] == "happiness"


def test_listeners_hear_every_state_from_the_player_thread_so_in_order(start):
    # A mode change from another thread (an MQTT command) used to call the listeners from that thread with
    # a snapshot taken before the player ran the change: it could land after the newer state.
    service, states = start({"neutral": ["n.ogg"]}, seconds=3.0, fade_ms=0)
    threads: list[str] = []
    service.add_listener(lambda state: threads.append(threading.current_thread().name))
    service.on_mood("neutral", 0.5)
    states.playing("neutral")
    service.set_mode("off")
    service.player.sync()
    assert (states.states[-1]["state"], states.states[-1]["mode"]) == ("stopped", "off")
    assert set(threads) == {"music-player"}
