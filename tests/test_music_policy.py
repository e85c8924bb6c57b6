"""The music modes as pure decisions."""

from __future__ import annotations

import pytest

from todayfeeling.config import MusicConfig
from todayfeeling.music.policy import MusicPolicy


def plays(policy: MusicPolicy, tracks: int) -> list[str | None]:
    return [policy.next_playlist() for _ in range(tracks)]


def test_follow_plays_the_mood_and_ignores_none():
    policy = MusicPolicy(MusicConfig())
    assert policy.upcoming() is None  # nobody seen yet: nothing to play
    assert policy.on_mood("happiness") is True
    assert plays(policy, 2) == ["happiness", "happiness"]
    assert policy.on_mood("none") is False and policy.on_mood("happiness") is False
    assert policy.on_mood("fear") is True and policy.upcoming() == "fear"


def test_uplift_steps_from_a_low_mood_toward_happier_playlists():
    policy = MusicPolicy(MusicConfig(mode="uplift", uplift_tracks_per_step=2))
    policy.on_mood("sadness")
    assert plays(policy, 6) == ["sadness", "sadness", "neutral", "neutral", "happiness", "happiness"]
    policy.on_mood("anger")  # a new low mood starts over from where the room is
    assert plays(policy, 3) == ["anger", "anger", "neutral"]
    policy.on_mood("none")
    assert plays(policy, 3) == ["neutral", "happiness", "happiness"]
    policy.on_mood("surprise")  # not low: followed
    assert plays(policy, 2) == ["surprise", "surprise"]


def test_uplift_from_a_mood_that_is_itself_a_step_does_not_repeat_it():
    policy = MusicPolicy(MusicConfig(mode="uplift", low_moods=["sadness", "neutral"], uplift_tracks_per_step=1))
    policy.on_mood("neutral")
    assert plays(policy, 3) == ["neutral", "happiness", "happiness"]


def test_fixed_ignores_the_mood_and_off_plays_nothing_but_remembers_it():
    policy = MusicPolicy(MusicConfig(mode="fixed", fixed_playlist="party"))
    assert policy.upcoming() == "party"
    assert policy.on_mood("sadness") is False
    policy.set_mode("off")
    assert policy.on_mood("happiness") is False and plays(policy, 1) == [None]
    policy.set_mode("follow")
    assert policy.upcoming() == "happiness"
    with pytest.raises(ValueError, match="unknown music mode 'loud'"):
        policy.set_mode("loud")
