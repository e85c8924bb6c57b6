"""The device's MQTT topics (the contract in DESIGN.md), derived from the prefix and the device id."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_SLUG_RUN = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """Lower-case ``text`` with every run of other characters turned into one underscore."""
    return _SLUG_RUN.sub("_", text.lower()).strip("_")


def person_key(name: str) -> str:
    """A person's key in topics and Home Assistant ids: the name's ASCII slug, or (for a name with no ASCII
    letter or digit, e.g. 美玲) ``p`` and six hex digits of its hash; the same name always gives the same key."""
    return slug(name) or "p" + hashlib.sha256(name.casefold().encode()).hexdigest()[:6]


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
    def instance(self) -> str:
        """Which appliance holds this device id (retained): how a second one with the same id is noticed."""
        return f"{self.base}/instance"

    def person_state(self, name: str) -> str:
        """A person's mood (retained; only with per-person publishing on)."""
        return f"{self.base}/people/{person_key(name)}/state"

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
