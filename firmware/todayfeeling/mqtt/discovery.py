"""Home Assistant MQTT discovery: one device with every entity, built from the topic contract.

One retained config per entity on ``<discovery_prefix>/<component>/todayfeeling_<device>/<key>/config``.
Entity ids are suggested with ``default_entity_id`` (``<component>.<device>_<key>``; the older
``object_id`` is deprecated). An entity that is no longer offered is listed in :data:`RETIRED_ENTITIES`
and its config is published empty (retained), which makes Home Assistant delete it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from todayfeeling import __version__
from todayfeeling.mqtt.topics import Topics, person_key, slug
from todayfeeling.vocabulary import MOODS, Backend, EventType, MusicMode, PlayerCommand, PlayerState, names

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


MOOD_EVENTS = (EventType.MOOD_CHANGED, EventType.FACE_ARRIVED, EventType.FACE_LEFT)
"""The events an automation wants, on the "Mood event" entity (the logbook shows each)."""
DIAGNOSTIC_EVENTS = (EventType.DETECTOR_FALLBACK, EventType.DETECTOR_RECOVERED)
"""Health events, on a diagnostic entity of their own; ``playback_started`` is no Home Assistant event (the
player sensor shows what plays), though it stays on ``…/event`` for other MQTT users."""


def _only(events: tuple[EventType, ...]) -> str:
    """A value template that passes the events of ``events`` and hands Home Assistant an empty string (which
    it ignores quietly) for the others on the shared ``…/event`` topic."""
    return "{{ value if value_json.event_type in %s else '' }}" % [event.value for event in events]


PERSON_EVENTS = (EventType.PERSON_ARRIVED, EventType.PERSON_LEFT)
"""Added to the "Mood event" entity only while per-person publishing is on."""
PERSON_PREFIX = "person_"  # the key of a person's mood sensor: person_<person_key(name)>


def entities(topics: Topics, people: Sequence[str] | None = None) -> tuple[Entity, ...]:
    """Every entity of the device, wired to the contract's topics; with ``people`` (per-person publishing on)
    a mood sensor per enrolled person too."""
    button_icons = {PlayerCommand.PLAY: "mdi:play", PlayerCommand.PAUSE: "mdi:pause",
                    PlayerCommand.NEXT: "mdi:skip-next", PlayerCommand.STOP: "mdi:stop"}
    # What the camera says is unknowable while it is off: these entities are unavailable in privacy mode (the
    # privacy switch tells why), so "nobody present" automations never fire on a privacy switch.
    automation_events = MOOD_EVENTS + (PERSON_EVENTS if people is not None else ())
    seen_by_the_camera = {
        "availability": [{"topic": topics.availability, "payload_available": "online",
                          "payload_not_available": "offline"},
                         {"topic": topics.privacy_state, "payload_available": "OFF", "payload_not_available": "ON"}],
        "availability_mode": "all",
    }
    return (
        Entity("sensor", "mood", "Mood", {
            **seen_by_the_camera, "device_class": "enum", "options": list(MOODS), "icon": "mdi:emoticon-outline",
            "state_topic": topics.state, "value_template": "{{ value_json.mood }}",
            "json_attributes_topic": topics.state,
            "json_attributes_template": "{{ {'since': value_json.since} | tojson }}",
        }),
        Entity("sensor", "confidence", "Mood confidence", {
            **seen_by_the_camera, "state_class": "measurement", "unit_of_measurement": "%",
            "suggested_display_precision": 0, "icon": "mdi:gauge",
            "state_topic": topics.state, "value_template": "{{ (value_json.confidence * 100) | round(1) }}",
        }),
        Entity("binary_sensor", "presence", "Presence", {
            **seen_by_the_camera, "device_class": "occupancy", "state_topic": topics.state,
            "value_template": "{{ 'ON' if (value_json.faces | int(0)) > 0 else 'OFF' }}",
            "payload_on": "ON", "payload_off": "OFF",
        }),
        Entity("event", "mood_event", "Mood event", {
            "state_topic": topics.event, "event_types": list(automation_events),
            "value_template": _only(automation_events), "icon": "mdi:emoticon-happy-outline",
        }),
        Entity("switch", "privacy", "Privacy", {
            "command_topic": topics.privacy_set, "state_topic": topics.privacy_state,
            "payload_on": "ON", "payload_off": "OFF", "state_on": "ON", "state_off": "OFF",
            "icon": "mdi:eye-off-outline",
        }),
        Entity("sensor", "player", "Player", {
            "device_class": "enum", "options": list(names(PlayerState)), "icon": "mdi:music",
            "state_topic": topics.player_state, "value_template": "{{ value_json.state }}",
            "json_attributes_topic": topics.player_state,
            "json_attributes_template": "{{ {'playlist': value_json.playlist, 'track': value_json.track, "
                                        "'fallback_from': value_json.fallback_from, 'mode': value_json.mode} "
                                        "| tojson }}",
        }),
        Entity("select", "music_mode", "Music mode", {
            "command_topic": topics.music_mode_set, "state_topic": topics.music_mode_state,
            "options": list(names(MusicMode)), "icon": "mdi:playlist-music",
        }),
        Entity("number", "volume", "Volume", {
            "command_topic": topics.volume_set, "state_topic": topics.player_state,
            "value_template": "{{ value_json.volume }}", "min": 0, "max": 100, "step": 1, "mode": "slider",
            "unit_of_measurement": "%", "icon": "mdi:volume-high",
        }),
        *(Entity("button", command.value, command.value.capitalize(), {
            "command_topic": topics.player_cmd, "payload_press": command.value, "icon": button_icons[command],
        }) for command in PlayerCommand),
        Entity("event", "diagnostic_event", "Diagnostic event", {
            **_DIAGNOSTIC, "state_topic": topics.event, "event_types": list(DIAGNOSTIC_EVENTS),
            "value_template": _only(DIAGNOSTIC_EVENTS), "icon": "mdi:chip",
        }),
        Entity("sensor", "backend", "Inference backend", {
            **_DIAGNOSTIC, "device_class": "enum", "options": list(names(Backend)), "icon": "mdi:chip",
            "state_topic": topics.stats, "value_template": "{{ value_json.backend.actual }}", "qos": 0,
        }),
        Entity("binary_sensor", "degraded", "Degraded", {
            **_DIAGNOSTIC, "device_class": "problem", "state_topic": topics.stats,
            "value_template": "{{ 'ON' if value_json.backend.degraded else 'OFF' }}",
            "payload_on": "ON", "payload_off": "OFF", "qos": 0,
        }),
        Entity("sensor", "problem", "Problem", {
            **_DIAGNOSTIC, "icon": "mdi:alert-circle-outline", "state_topic": topics.stats,
            "value_template": "{{ (value_json.problems | join('; ') if value_json.problems else 'none')[:250] }}",
            "qos": 0,
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
        Entity("sensor", "started", "Started", {
            **_DIAGNOSTIC, "device_class": "timestamp", "state_topic": topics.stats,
            "value_template": "{{ value_json.started }}", "qos": 0,
        }),
        Entity("sensor", "camera", "Camera", {
            **_DIAGNOSTIC, "icon": "mdi:cctv", "state_topic": topics.stats,
            "value_template": "{{ value_json.camera[:250] }}", "qos": 0,
        }),
        Entity("sensor", "reconnects", "MQTT reconnects", {
            **_DIAGNOSTIC, "state_class": "total_increasing", "icon": "mdi:lan-disconnect",
            "state_topic": topics.stats, "value_template": "{{ value_json.reconnects }}", "qos": 0,
        }),
        Entity("sensor", "events_dropped", "Events dropped", {
            **_DIAGNOSTIC, "state_class": "total_increasing", "icon": "mdi:tray-remove",
            "state_topic": topics.stats, "value_template": "{{ value_json.events_dropped }}", "qos": 0,
        }),
        *(Entity("sensor", PERSON_PREFIX + person_key(name), f"Mood of {name}", {
            **seen_by_the_camera, "device_class": "enum", "options": list(MOODS), "icon": "mdi:account-heart",
            "state_topic": topics.person_state(name), "value_template": "{{ value_json.mood }}",
            "json_attributes_topic": topics.person_state(name),
            "json_attributes_template": "{{ {'confidence': value_json.confidence, 'since': value_json.since, "
                                        "'present': value_json.present} | tojson }}",
        }) for name in people or ()),
    )


def node_id(device_id: str) -> str:
    """The device's node in discovery topics: ``<prefix>/<component>/<node>/<key>/config``."""
    return f"todayfeeling_{slug(device_id)}"


def person_entity(config_topic: str, node: str) -> str | None:
    """The key of a person's mood sensor whose discovery config is on ``config_topic`` (for this node), or
    None for every other topic: how sensors of people who are gone are found on the broker and deleted."""
    parts = config_topic.split("/")
    if len(parts) >= 5 and parts[-1] == "config" and parts[-3] == node and parts[-2].startswith(PERSON_PREFIX):
        return parts[-2]
    return None


@dataclass(frozen=True)
class DeviceInfo:
    """How the device shows on Home Assistant's device page."""

    id: str
    name: str
    area: str = ""  # suggested area; empty: none
    hardware: str = ""  # the board


def discovery_messages(
    topics: Topics,
    discovery_prefix: str,
    info: DeviceInfo,
    retired: tuple[tuple[str, str], ...] = RETIRED_ENTITIES,
    people: Sequence[str] | None = None,
) -> list[DiscoveryMessage]:
    """Deletions of retired entities first, then the config of every current entity (with a mood sensor per
    person in ``people`` when per-person publishing is on)."""
    device_id = info.id
    node = node_id(device_id)
    device = {
        "identifiers": [node],
        "name": info.name,
        "manufacturer": "Today Feeling",
        "model": "Mood music appliance",
        "serial_number": device_id,
        "sw_version": __version__,
        **({"hw_version": info.hardware} if info.hardware else {}),
        **({"suggested_area": info.area} if info.area else {}),
    }
    origin = {"name": "todayfeeling", "sw_version": __version__}
    messages = [DiscoveryMessage(f"{discovery_prefix}/{component}/{node}/{key}/config", None)
                for component, key in retired]
    for entity in entities(topics, people):
        availability = {} if "availability" in entity.options else {
            "availability_topic": topics.availability, "payload_available": "online",
            "payload_not_available": "offline"}
        config = {
            "name": entity.name,
            "unique_id": f"{node}_{entity.key}",
            "default_entity_id": f"{entity.component}.{slug(device_id)}_{entity.key}",
            **availability,
            "qos": 1,
            "device": device,
            "origin": origin,
            **entity.options,
        }
        messages.append(DiscoveryMessage(f"{discovery_prefix}/{entity.component}/{node}/{entity.key}/config", config))
    return messages
