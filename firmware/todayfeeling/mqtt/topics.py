"""The device's MQTT topics (the contract in DESIGN.md), derived from the prefix and the device id."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SLUG_RUN = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """Lower-case ``text`` with every run of other characters turned into one underscore."""
    return _SLUG_RUN.sub("_", text.lower()).strip("_")


@dataclass(frozen=True)
class Topics:
    """Every topic the device publishes to or listens on."""

    base: str
    ha_status: str

    @classmethod
    def for_device(cls, prefix: str, device_id: str, discovery_prefix: str) -> Topics:
        """Topics under ``<prefix>/<device_id>``; the id must be a single, wildcard-free topic level."""
        if not device_id or any(c in device_id for c in "/+#\0"):
            raise ValueError(f"device id {device_id!r} cannot be an MQTT topic level (no '/', '+', '#')")
        return cls(base=f"{prefix}/{device_id}", ha_status=f"{discovery_prefix}/status")

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def state(self) -> str:
        return f"{self.base}/state"

    @property
    def event(self) -> str:
        return f"{self.base}/event"

    @property
    def player_state(self) -> str:
        return f"{self.base}/player/state"

    @property
    def privacy_state(self) -> str:
        return f"{self.base}/privacy/state"

    @property
    def music_mode_state(self) -> str:
        return f"{self.base}/music_mode/state"

    @property
    def stats(self) -> str:
        return f"{self.base}/stats"

    @property
    def privacy_set(self) -> str:
        return f"{self.base}/privacy/set"

    @property
    def music_mode_set(self) -> str:
        return f"{self.base}/music_mode/set"

    @property
    def volume_set(self) -> str:
        return f"{self.base}/volume/set"

    @property
    def player_cmd(self) -> str:
        return f"{self.base}/player/cmd"

    @property
    def device_cmd(self) -> str:
        """Device-level commands (``refresh``: republish everything)."""
        return f"{self.base}/cmd"

    @property
    def commands(self) -> tuple[str, ...]:
        """Every command topic, subscribed on each (re)connect."""
        return (self.privacy_set, self.music_mode_set, self.volume_set, self.player_cmd, self.device_cmd)
