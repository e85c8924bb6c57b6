"""Home Assistant MQTT discovery: one device with every entity, built from the topic contract.

One retained config per entity on ``<discovery_prefix>/<component>/todayfeeling_<device>/<key>/config``.
Entity ids are suggested with ``default_entity_id`` (``<component>.<device>_<key>``; the older
``object_id`` is deprecated). An entity that is no longer offered is listed in :data:`RETIRED_ENTITIES`
and its config is published empty (retained), which makes Home Assistant delete it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from todayfeeling import __version__
from todayfeeling.emotions import MOODS
from todayfeeling.mqtt.payloads import BACKENDS, EVENT_TYPES, MUSIC_MODES
from todayfeeling.mqtt.topics import Topics, slug

# (component, key) of entities earlier versions offered and this one does not; deleted at every start.
RETIRED_ENTITIES: tuple[tuple[str, str], ...] = ()

_DIAGNOSTIC = {"entity_category": "diagnostic"}


@dataclass(frozen=True)
class Entity:
    """One Home Assistant entity: its platform, a key unique within the device, and its options."""

    component: str
    key: str
    name: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DiscoveryMessage:
    """A retained config to publish; ``config`` None deletes the entity."""

    topic: str
    config: dict[str, Any] | None


def entities(topics: Topics) -> tuple[Entity, ...]:
    """Every entity of the device, wired to the contract's topics."""
    player_buttons = (("play", "mdi:play"), ("pause", "mdi:pause"), ("next", "mdi:skip-next"), ("stop", "mdi:stop"))
    return (
        Entity("sensor", "mood", "Mood", {
            "device_class": "enum", "options": list(MOODS), "icon": "mdi:emoticon-outline",
            "state_topic": topics.state, "value_template": "{{ value_json.mood }}",
            "json_attributes_topic": topics.state,
            "json_attributes_template":
                "{{ {'confidence': value_json.confidence, 'since': value_json.since} | tojson }}",
        }),
        Entity("binary_sensor", "presence", "Presence", {
            "device_class": "occupancy", "state_topic": topics.state,
            "value_template": "{{ 'ON' if (value_json.faces | int(0)) > 0 else 'OFF' }}",
            "payload_on": "ON", "payload_off": "OFF",
        }),
        Entity("event", "mood_event", "Mood event", {
            "state_topic": topics.event, "event_types": list(EVENT_TYPES), "icon": "mdi:emoticon-happy-outline",
        }),
        Entity("switch", "privacy", "Privacy", {
            "command_topic": topics.privacy_set, "state_topic": topics.privacy_state,
            "payload_on": "ON", "payload_off": "OFF", "state_on": "ON", "state_off": "OFF",
            "icon": "mdi:eye-off-outline",
        }),
        Entity("select", "music_mode", "Music mode", {
            "command_topic": topics.music_mode_set, "state_topic": topics.music_mode_state,
            "options": list(MUSIC_MODES), "icon": "mdi:playlist-music",
        }),
        Entity("number", "volume", "Volume", {
            "command_topic": topics.volume_set, "state_topic": topics.player_state,
            "value_template": "{{ value_json.volume }}", "min": 0, "max": 100, "step": 1, "mode": "slider",
            "unit_of_measurement": "%", "icon": "mdi:volume-high",
        }),
        *(Entity("button", command, command.capitalize(), {
            "command_topic": topics.player_cmd, "payload_press": command, "icon": icon,
        }) for command, icon in player_buttons),
        Entity("sensor", "backend", "Inference backend", {
            **_DIAGNOSTIC, "device_class": "enum", "options": list(BACKENDS), "icon": "mdi:chip",
            "state_topic": topics.stats, "value_template": "{{ value_json.backend.actual }}", "qos": 0,
        }),
        Entity("binary_sensor", "degraded", "Degraded", {
            **_DIAGNOSTIC, "device_class": "problem", "state_topic": topics.stats,
            "value_template": "{{ 'ON' if value_json.backend.degraded else 'OFF' }}",
            "payload_on": "ON", "payload_off": "OFF", "qos": 0,
        }),
        Entity("sensor", "fps", "Frame rate", {
            **_DIAGNOSTIC, "state_class": "measurement", "unit_of_measurement": "fps",
            "suggested_display_precision": 1, "icon": "mdi:speedometer",
            "state_topic": topics.stats, "value_template": "{{ value_json.fps }}", "qos": 0,
        }),
        Entity("sensor", "cpu_temperature", "CPU temperature", {
            **_DIAGNOSTIC, "device_class": "temperature", "state_class": "measurement",
            "unit_of_measurement": "°C", "suggested_display_precision": 1,
            "state_topic": topics.stats, "value_template": "{{ value_json.cpu_temp_c }}", "qos": 0,
        }),
    )


def discovery_messages(
    topics: Topics,
    discovery_prefix: str,
    device_id: str,
    device_name: str,
    retired: tuple[tuple[str, str], ...] = RETIRED_ENTITIES,
) -> list[DiscoveryMessage]:
    """Deletions of retired entities first, then the config of every current entity."""
    node = f"todayfeeling_{slug(device_id)}"
    device = {
        "identifiers": [node],
        "name": device_name,
        "manufacturer": "Today Feeling",
        "model": "Mood music appliance",
        "sw_version": __version__,
    }
    origin = {"name": "todayfeeling", "sw_version": __version__}
    messages = [DiscoveryMessage(f"{discovery_prefix}/{component}/{node}/{key}/config", None)
                for component, key in retired]
    for entity in entities(topics):
        config = {
            "name": entity.name,
            "unique_id": f"{node}_{entity.key}",
            "default_entity_id": f"{entity.component}.{slug(device_id)}_{entity.key}",
            "availability_topic": topics.availability,
            "payload_available": "online",
            "payload_not_available": "offline",
            "qos": 1,
            "device": device,
            "origin": origin,
            **entity.options,
        }
        messages.append(DiscoveryMessage(f"{discovery_prefix}/{entity.component}/{node}/{entity.key}/config", config))
    return messages
