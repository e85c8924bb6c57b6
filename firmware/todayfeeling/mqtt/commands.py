"""Commands from the smart home: parsing and validation, and the interface the daemon implements.

A command payload is plain text (``ON``, ``uplift``, ``55``, ``next``) or JSON (``"ON"``, ``true``,
``55``, ``{"value": 55}``). Anything else — too big, not UTF-8, broken JSON, unknown words, a volume out of
range, or a retained message (a stale command left on the broker) — raises :class:`InvalidCommand`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from todayfeeling.mqtt.payloads import MUSIC_MODES, PLAYER_COMMANDS
from todayfeeling.mqtt.topics import Topics

MAX_COMMAND_BYTES = 256
DEVICE_COMMANDS: tuple[str, ...] = ("refresh",)


class CommandHandler(Protocol):
    """What the daemon does on a command; each setter returns the state really in effect afterwards.

    Called from the MQTT worker thread (never paho's network thread), one command at a time. A setter that
    cannot apply the request returns the unchanged state (or raises); the state topic then shows that.
    """

    def set_privacy(self, on: bool) -> bool: ...

    def set_music_mode(self, mode: str) -> str: ...

    def set_volume(self, volume: int) -> int: ...

    def player_command(self, command: str) -> None: ...


CommandKind = Literal["privacy", "music_mode", "volume", "player", "device"]


@dataclass(frozen=True)
class Command:
    """A validated command: what to change and to which value."""

    kind: CommandKind
    value: bool | str | int


class InvalidCommand(ValueError):
    """A command message that is ignored, with the reason."""


def parse_command(topics: Topics, topic: str, payload: bytes, retained: bool = False) -> Command:
    """Validate one command message from ``topic``."""
    if retained:
        raise InvalidCommand("retained command ignored (command topics must never be retained)")
    value = _payload_value(payload)
    if topic == topics.privacy_set:
        return Command("privacy", _switch(value))
    if topic == topics.music_mode_set:
        return Command("music_mode", _word(value, MUSIC_MODES))
    if topic == topics.volume_set:
        return Command("volume", _volume(value))
    if topic == topics.player_cmd:
        return Command("player", _word(value, PLAYER_COMMANDS))
    if topic == topics.device_cmd:
        return Command("device", _word(value, DEVICE_COMMANDS))
    raise InvalidCommand(f"not a command topic: {topic}")


def _payload_value(payload: bytes) -> Any:
    if len(payload) > MAX_COMMAND_BYTES:
        raise InvalidCommand(f"payload of {len(payload)} bytes is larger than {MAX_COMMAND_BYTES}")
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise InvalidCommand("payload is not UTF-8 text") from None
    if not text:
        raise InvalidCommand("empty payload")
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


def _word(value: Any, allowed: tuple[str, ...]) -> str:
    if isinstance(value, str) and value.lower() in allowed:
        return value.lower()
    raise InvalidCommand(f"expected one of {', '.join(allowed)}, got {value!r}")


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
