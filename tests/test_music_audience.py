"""Whose mood and taste the music follows with several people: the policies, mixed tastes, no jumpy switching,
and the music service playing one listener's folders with their own mode (real files, pygame's dummy audio)."""

from __future__ import annotations

import pytest

from tests.audio_files import music_folder
from todayfeeling.config import ConfigError, MusicConfig, PlaylistChoice, load_config, parse_section
from todayfeeling.config.settings import PersonTaste
from todayfeeling.music.audience import HOUSEHOLD, Audience, Listener, Taste, unknown_names
from todayfeeling.music.service import MusicService
from todayfeeling.vocabulary import MusicMode

TASTES = {
    "Mina": PersonTaste(mode=MusicMode.UPLIFT, preferences={"sadness": [PlaylistChoice("calm_piano")]}),
    "Jo": PersonTaste(preferences={"sadness": [PlaylistChoice("blues", 3), PlaylistChoice("sadness", 1)]}),
}


def audience(**settings: object) -> Audience:
    return Audience(MusicConfig(people=TASTES, audience_hold_s=10.0, **settings))  # type: ignore[arg-type]


def test_the_household_policy_follows_the_room_and_mixes_everyones_taste_equally() -> None:
    choice = audience().choose(0.0, "sadness", 0.7, [Listener("Mina", "happiness", 0.9, 0.0),
                                                     Listener("Jo", "sadness", 0.8, 5.0)])
    assert (choice.mood, choice.taste.who, choice.taste.mode) == ("sadness", HOUSEHOLD, None)
    shares = {c.folder: c.weight for c in choice.taste.preferences["sadness"]}
    assert shares == {"calm_piano": 1.0, "blues": 0.75, "sadness": 0.25}  # each listener's share adds up to 1
    assert {c.folder: c.weight for c in choice.taste.preferences["happiness"]} == {"happiness": 2.0}


def test_without_listeners_the_household_plays_its_own_taste() -> None:
    config = MusicConfig(preferences={"anger": [PlaylistChoice("ambient")]}, audience="longest")
    choice = Audience(config).choose(0.0, "anger", 0.6, [])
    assert choice.taste == Taste(HOUSEHOLD, {"anger": [PlaylistChoice("ambient")]})


def test_longest_follows_the_first_to_arrive_and_a_newcomer_does_not_take_over() -> None:
    policy = audience(audience="longest")
    mina = Listener("Mina", "sadness", 0.8, arrived=100.0)
    policy.choose(100.0, "sadness", 0.8, [mina])
    for now in (111.0, 130.0):  # Mina is the choice after the hold
        choice = policy.choose(now, "neutral", 0.5, [mina, Listener("Jo", "happiness", 0.9, arrived=125.0)])
    assert (choice.taste.who, choice.mood, choice.taste.mode) == ("Mina", "sadness", MusicMode.UPLIFT)
    assert choice.taste.preferences["sadness"] == [PlaylistChoice("calm_piano")]


def test_people_coming_and_going_never_switch_whose_music_before_the_hold() -> None:
    policy = audience(audience="priority", priority=["jo", "Mina"])
    mina, jo = Listener("Mina", "sadness", 0.8, 0.0), Listener("Jo", "anger", 0.9, 50.0)
    assert policy.choose(0.0, "sadness", 0.8, [mina]).taste.who == HOUSEHOLD  # nobody yet for 10 s
    assert policy.choose(10.0, "sadness", 0.8, [mina]).taste.who == "Mina"
    assert policy.choose(50.0, "anger", 0.9, [mina, jo]).taste.who == "Mina"  # Jo comes first by priority...
    assert policy.choose(55.0, "anger", 0.9, [mina]).taste.who == "Mina"  # ... steps out for a moment ...
    assert policy.choose(57.0, "anger", 0.9, [mina, jo]).taste.who == "Mina"  # ... and back: the hold restarts
    choice = policy.choose(67.5, "anger", 0.9, [mina, jo])
    assert (choice.taste.who, choice.mood) == ("Jo", "anger")
    gone = policy.choose(70.0, "neutral", 0.5, [mina])  # Jo left: their last mood holds until the switch
    assert (gone.taste.who, gone.mood) == ("Jo", "anger")
    assert policy.choose(80.0, "neutral", 0.5, [mina]).taste.who == "Mina"


def test_a_name_in_the_config_matches_the_enrolled_name_however_its_accent_was_typed() -> None:
    composed, decomposed = "Jos\u00e9", "Jose\u0301"  # what people.database keeps, and what some keyboards type
    config = MusicConfig(people={decomposed: PersonTaste(mode=MusicMode.UPLIFT)}, priority=[decomposed],
                         audience="priority", audience_hold_s=0.0)
    assert unknown_names(config, [composed]) == []
    choice = Audience(config).choose(0.0, "sadness", 0.7, [Listener("Mina", "sadness", 0.8, 0.0),
                                                           Listener(composed, "sadness", 0.8, 1.0)])
    assert (choice.taste.who, choice.taste.mode) == (composed, MusicMode.UPLIFT)
    with pytest.raises(ConfigError) as caught:
        parse_section(MusicConfig, {"people": {composed: {}, decomposed: {}}}, "c.toml", "music.")
    assert "is given twice" in caught.value.reason


def test_taste_config_is_checked_with_the_key_named(tmp_path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[music.people.Mina]\nmode = "uplift"\n[music.people.Mina.preferences]\n'
                    'sadness = [{ folder = "calm_piano", weight = 2 }]\n')
    taste = load_config(path).music.people["Mina"]
    assert taste.mode == MusicMode.UPLIFT and taste.preferences["sadness"] == [PlaylistChoice("calm_piano", 2)]
    for table, key in (({"people": {"Mina": {"preferences": {"joy": [{"folder": "x"}]}}}},
                        "music.people.Mina.preferences"),
                       ({"people": {"Mina": {"mode": "dance"}}}, "music.people.Mina.mode"),
                       ({"people": {"Mina": {}, "mina": {}}}, "music.people.Mina"),
                       ({"people": {"Mina": {"preferences": {"sadness": [{"folder": "../x"}]}}}},
                        "music.people.Mina.preferences.sadness[0].folder")):
        with pytest.raises(ConfigError) as caught:
            parse_section(MusicConfig, table, "c.toml", "music.")
        assert caught.value.key == key


def test_the_music_plays_a_listeners_own_folders_in_their_own_mode(tmp_path) -> None:
    root = music_folder(tmp_path / "music", {"sadness": ["sad.wav"], "calm_piano": ["piano.wav"],
                                             "neutral": ["calm.wav"], "happiness": ["joy.wav"]}, seconds=10.0)
    config = MusicConfig(dir=root, fade_ms=0, switch="immediate", uplift_tracks_per_step=1, people=TASTES)
    service = MusicService(config)
    try:
        service.on_mood("sadness", 0.9, Audience(config).taste_of("Mina"))
        service.player.sync()
        state = service.state()
        assert (state["state"], state["playlist"], state["track"], state["for"]) == \
            ("playing", "sadness", "piano.wav", "Mina")
        service.player.skip()  # Mina's mode is uplift: after one sad track, neutral
        service.player.sync()
        assert service.state()["playlist"] == "neutral"
        service.on_mood("sadness", 0.9)  # the household again: follow, its own folder
        service.player.sync()
        assert (service.state()["playlist"], service.state()["track"], service.state()["for"]) == \
            ("sadness", "sad.wav", HOUSEHOLD)
    finally:
        service.close(fade_ms=0)


def test_a_rename_that_only_changes_case_keeps_the_listener_and_follows_their_mood_at_once() -> None:
    # After `people rename Mina MINA` the music went on with her old mood for audience_hold_s, then took
    # "MINA" for a new listener (and could skip the track).
    audience = Audience(MusicConfig(audience="longest", audience_hold_s=20.0))
    for now in (0.0, 25.0):
        choice = audience.choose(now, "neutral", 0.5, [Listener("Mina", "happiness", 0.9, 0.0)])
    assert (choice.mood, choice.taste.who) == ("happiness", "Mina")
    choice = audience.choose(30.0, "neutral", 0.5, [Listener("MINA", "sadness", 0.9, 0.0)])
    assert (choice.mood, choice.taste.who) == ("sadness", "MINA")
