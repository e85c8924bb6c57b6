"""The MQTT section of the config, command validation and the payload guard, without a broker."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from todayfeeling.config import ConfigError, MqttConfig, load_config, parse_section
from todayfeeling.mqtt.commands import (
    MAX_COMMAND_BYTES,
    Command,
    InvalidCommand,
    PlayerAction,
    Refresh,
    SetMusicMode,
    SetPrivacy,
    SetVolume,
    parse_command,
)
from todayfeeling.mqtt.payloads import PayloadError, publishable
from todayfeeling.mqtt.topics import Topics
from todayfeeling.vocabulary import MusicMode, PlayerCommand

TOPICS = Topics.for_device("todayfeeling", "kitchen", "homeassistant")


def test_config_file_section(tmp_path: Path):
    file = tmp_path / "config.toml"
    file.write_text('[mqtt]\nhost = "broker.lan"\nport = 8883\nusername = "pi"\npassword = "pw"\ntls = true\n'
                    'ca_file = "/etc/ssl/ca.pem"\nkeepalive = 30\nevent_queue_size = 16\n')
    mqtt = load_config(file).mqtt
    assert (mqtt.host, mqtt.port, mqtt.username, mqtt.tls, mqtt.keepalive) == ("broker.lan", 8883, "pi", True, 30)
    assert mqtt.ca_file == Path("/etc/ssl/ca.pem") and mqtt.event_queue_size == 16
    assert load_config(None).mqtt == MqttConfig()


@pytest.mark.parametrize(("table", "reason"), [
    ({"username": "pi"}, "password is required"),
    ({"password": "pw"}, "username is empty"),
    ({"ca_file": "/ca.pem"}, "need tls = true"),
    ({"tls": True, "cert_file": "/c.pem"}, "given together"),
    ({"port": 0}, "port"),
    ({"keepalive": 0}, "keepalive"),
    ({"topic_prefix": "home/#"}, "topic_prefix"),
    ({"discovery_prefix": ""}, "discovery_prefix"),
    ({"reconnect_min_delay": 5.0, "reconnect_max_delay": 1.0}, "reconnect delays"),
    ({"event_queue_size": 0}, "event_queue_size"),
    ({"stats_interval": 0.0}, "stats_interval"),
    ({"hostname": "x"}, "unknown key"),
])
def test_config_rejects_bad_values(table: dict, reason: str):
    with pytest.raises(ConfigError, match=reason):
        parse_section(MqttConfig, table, "config.toml", "mqtt.")


def test_device_id_must_be_one_topic_level():
    for bad in ("", "a/b", "room+1", "#"):
        with pytest.raises(ValueError, match="topic level"):
            Topics.for_device("todayfeeling", bad, "homeassistant")


@pytest.mark.parametrize(("topic", "payload", "expected"), [
    (TOPICS.privacy_set, b"ON", SetPrivacy(True)),
    (TOPICS.privacy_set, b" off\n", SetPrivacy(False)),
    (TOPICS.privacy_set, b"true", SetPrivacy(True)),  # JSON's booleans, as the module says (were refused)
    (TOPICS.privacy_set, b"false", SetPrivacy(False)),
    (TOPICS.privacy_set, b"yes", None),
    (TOPICS.privacy_set, b'{"value": true}', SetPrivacy(True)),
    (TOPICS.music_mode_set, b"Uplift", SetMusicMode(MusicMode.UPLIFT)),
    (TOPICS.music_mode_set, b'"off"', SetMusicMode(MusicMode.OFF)),
    (TOPICS.volume_set, b"0", SetVolume(0)),
    (TOPICS.volume_set, b"100", SetVolume(100)),
    (TOPICS.volume_set, b"42.6", SetVolume(43)),
    (TOPICS.volume_set, b'{"value": 7}', SetVolume(7)),
    (TOPICS.player_cmd, b"next", PlayerAction(PlayerCommand.NEXT)),
    (TOPICS.device_cmd, b"refresh", Refresh()),
])
def test_valid_commands(topic: str, payload: bytes, expected: Command | None):
    if expected is None:
        with pytest.raises(InvalidCommand):
            parse_command(TOPICS, topic, payload)
    else:
        assert parse_command(TOPICS, topic, payload) == expected


@pytest.mark.parametrize(("topic", "payload", "reason"), [
    (TOPICS.volume_set, b"100.5", "outside"),
    (TOPICS.volume_set, b"-0.6", "outside"),
    (TOPICS.volume_set, b"inf", "outside"),
    (TOPICS.volume_set, b"true", "volume"),
    (TOPICS.volume_set, b'{"value": true}', "volume"),
    (TOPICS.volume_set, b"[50]", "single value"),
    (TOPICS.volume_set, b'{"volume": 50}', "value"),
    (TOPICS.volume_set, b'{"value": 5', "broken JSON"),
    (TOPICS.music_mode_set, b"shuffle", "expected one of"),
    (TOPICS.player_cmd, b"x" * (MAX_COMMAND_BYTES + 1), "larger than"),
    (TOPICS.player_cmd, "pause".encode("utf-16"), "not UTF-8"),
    (TOPICS.player_cmd, b"   ", "empty"),
    (f"{TOPICS.base}/unknown", b"next", "not a command topic"),
])
def test_invalid_commands(topic: str, payload: bytes, reason: str):
    with pytest.raises(InvalidCommand, match=reason):
        parse_command(TOPICS, topic, payload)


def test_retained_commands_are_refused():
    with pytest.raises(InvalidCommand, match="retained"):
        parse_command(TOPICS, TOPICS.player_cmd, b"next", retained=True)


def test_publishable_makes_plain_json():
    value = publishable({"fps": np.float32(9.5), "faces": np.int64(1), "nan": math.nan, "ok": True,
                         "ms": {"detect": 1.25}, "moods": ("happiness", "none")})
    assert value == {"fps": 9.5, "faces": 1, "nan": None, "ok": True, "ms": {"detect": 1.25},
                     "moods": ["happiness", "none"]}
    assert json.loads(json.dumps(value, allow_nan=False)) == value


@pytest.mark.parametrize("value", [
    {"frame": "x"}, {"Embedding": []}, {"person_id": 3}, {"crop": None},
    {"faces": list(range(200))}, {"data": b"\x89PNG"}, {"box": np.arange(4)}, {"text": "y" * 600},
    {1: "non-text key"}, {"when": object()},
])
def test_publishable_refuses_private_or_binary_data(value: dict):
    with pytest.raises(PayloadError):
        publishable(value)
