"""The product's words, each list defined once: emotions and moods, music modes, player commands, backends,
event types and device commands.

Everything that names one of them (the settings, MQTT payloads and commands, Home Assistant discovery,
argparse choices, the music policy) derives from these enums. They are ``StrEnum``s, so a member *is* its
string: it compares equal to ``"anger"``, formats as ``anger`` and serialises to JSON as ``"anger"``.
Nothing heavy is imported here.
"""

from __future__ import annotations

from enum import StrEnum


def names(vocabulary: type[StrEnum]) -> tuple[str, ...]:
    """The values of a vocabulary as plain strings, in order (for argparse choices and messages)."""
    return tuple(member.value for member in vocabulary)


class Emotion(StrEnum):
    """The six emotions of the original product, in the fixed order every model output is mapped onto."""

    ANGER = "anger"
    FEAR = "fear"
    HAPPINESS = "happiness"
    SADNESS = "sadness"
    SURPRISE = "surprise"
    NEUTRAL = "neutral"


EMOTIONS: tuple[str, ...] = names(Emotion)
"""The six emotion names in order (plain strings, for array indexing and text)."""

NO_MOOD = "none"
"""The mood when nobody is in view or the camera is off."""

MOODS: tuple[str, ...] = (*EMOTIONS, NO_MOOD)
"""Every value the room's mood can take."""


class MusicMode(StrEnum):
    """What the music does with the mood (see ``music/policy.py``)."""

    FOLLOW = "follow"
    UPLIFT = "uplift"
    FIXED = "fixed"
    OFF = "off"


class PlayerCommand(StrEnum):
    """What the listener can tell the player (``…/player/cmd``, the four Home Assistant buttons)."""

    PLAY = "play"
    PAUSE = "pause"
    NEXT = "next"
    STOP = "stop"


class PlayerState(StrEnum):
    """What the player is doing (``…/player/state``'s ``state``)."""

    PLAYING = "playing"
    PAUSED = "paused"
    STOPPED = "stopped"


class Backend(StrEnum):
    """Where a model runs."""

    CPU = "cpu"
    EDGETPU = "edgetpu"


class BackendChoice(StrEnum):
    """Where the models should run (``[inference] backend``): ``auto`` takes the Edge TPU when it can."""

    AUTO = "auto"
    CPU = "cpu"
    EDGETPU = "edgetpu"


class EventType(StrEnum):
    """The ``event_type`` of a ``…/event`` message."""

    MOOD_CHANGED = "mood_changed"
    FACE_ARRIVED = "face_arrived"
    FACE_LEFT = "face_left"
    PLAYBACK_STARTED = "playback_started"
    DETECTOR_FALLBACK = "detector_fallback"
    DETECTOR_RECOVERED = "detector_recovered"
    PERSON_ARRIVED = "person_arrived"  # only with [people] publish = true
    PERSON_LEFT = "person_left"


class DeviceCommand(StrEnum):
    """Commands on ``…/cmd``: ``refresh`` republishes discovery and every state, and rescans the music."""

    REFRESH = "refresh"
