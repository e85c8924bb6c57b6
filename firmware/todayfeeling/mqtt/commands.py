"""Commands from the smart home: typed values, parsed by a table of command topics.

A command payload is plain text (``ON``, ``uplift``, ``55``, ``next``) or JSON (``"ON"``, ``true``,
``55``, ``{"value": 55}``). Anything else — too big, not UTF-8, broken JSON, unknown words, a volume out of
range, or a retained message (a stale command left on the broker) — raises :class:`InvalidCommand`.
Each command topic has one parser (:func:`command_parsers`) that turns the value into one of the command
types below; the MQTT link dispatches those to the :class:`CommandHandler` by their type.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from todayfeeling.mqtt.topics import Topics
from todayfeeling.vocabulary import DeviceCommand, MusicMode, PlayerCommand, names

MAX_COMMAND_BYTES = 256


class CommandHandler(Protocol):
    """What the daemon does on a command; each setter returns the state really in effect afterwards.

    Called from the MQTT worker thread (never paho's network thread), one command at a time. A setter that
    cannot apply the request returns the unchanged state (or raises); the state topic then shows that.
    """

    def set_privacy(self, on: bool) -> bool: ...

    def set_music_mode(self, mode: MusicMode) -> MusicMode: ...

    def set_volume(self, volume: int) -> int: ...

    def player_command(self, command: PlayerCommand) -> None: ...

    def refresh(self) -> None: ...


@dataclass(frozen=True)
class SetPrivacy:
    """``…/privacy/set``: camera off (True) or on."""

    on: bool


@dataclass(frozen=True)
class SetMusicMode:
    """``…/music_mode/set``."""

    mode: MusicMode


@dataclass(frozen=True)
class SetVolume:
    """``…/volume/set``: 0-100."""

    volume: int


@dataclass(frozen=True)
class PlayerAction:
    """``…/player/cmd``: play, pause, next or stop."""

    command: PlayerCommand


@dataclass(frozen=True)
class Refresh:
    """``…/cmd refresh``: republish discovery and every state, and rescan the music library."""


Command = SetPrivacy | SetMusicMode | SetVolume | PlayerAction | Refresh


class InvalidCommand(ValueError):
    """A command message that is ignored, with the reason."""


Parser = Callable[[Any], Command]


def command_parsers(topics: Topics) -> dict[str, Parser]:
    """Each command topic with the parser of its value (the topics subscribed on every connect)."""
    return {
        topics.privacy_set: lambda value: SetPrivacy(_switch(value)),
        topics.music_mode_set: lambda value: SetMusicMode(_word(value, MusicMode)),
        topics.volume_set: lambda value: SetVolume(_volume(value)),
        topics.player_cmd: lambda value: PlayerAction(_word(value, PlayerCommand)),
        topics.device_cmd: lambda value: _device(_word(value, DeviceCommand)),
    }


def parse_command(topics: Topics, topic: str, payload: bytes | bytearray, retained: bool = False) -> Command:
    """Validate one command message from ``topic``."""
    if retained:
        raise InvalidCommand("retained command ignored (command topics must never be retained)")
    parser = command_parsers(topics).get(topic)
    if parser is None:
        raise InvalidCommand(f"not a command topic: {topic}")
    return parser(_payload_value(bytes(payload)))


def _payload_value(payload: bytes) -> Any:
    if len(payload) > MAX_COMMAND_BYTES:
        raise InvalidCommand(f"payload of {len(payload)} bytes is larger than {MAX_COMMAND_BYTES}")
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise InvalidCommand("payload is not UTF-8 text") from None
    if not text:
        raise InvalidCommand("empty payload")
    if text in ("true", "false"):  # JSON's booleans (Node-RED sends them as such)
        return text == "true"
    if text[0] not in '{["':
        return text
    try:
        value = json.loads(text)
    except ValueError as err:
        raise InvalidCommand(f"broken JSON: {err}") from None
    if isinstance(value, dict):
        if set(value) != {"value"}:
            raise InvalidCommand('a JSON object must be {"value": …}')
        value = value["value"]
    if isinstance(value, (dict, list)):
        raise InvalidCommand("expected a single value")
    return value


def _switch(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.upper() in ("ON", "OFF"):
        return value.upper() == "ON"
    raise InvalidCommand(f"expected ON or OFF, got {value!r}")


Word = TypeVar("Word", bound=StrEnum)


def _word(value: Any, vocabulary: type[Word]) -> Word:
    allowed = names(vocabulary)
    if isinstance(value, str) and value.lower() in allowed:
        return vocabulary(value.lower())
    raise InvalidCommand(f"expected one of {', '.join(allowed)}, got {value!r}")


def _device(command: DeviceCommand) -> Command:
    return {DeviceCommand.REFRESH: Refresh()}[command]


def _volume(value: Any) -> int:
    if isinstance(value, bool):
        raise InvalidCommand(f"expected a volume 0-100, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidCommand(f"expected a volume 0-100, got {value!r}") from None
    if not math.isfinite(number) or not 0 <= number <= 100:
        raise InvalidCommand(f"volume {value!r} is outside 0-100")
    return math.floor(number + 0.5)
