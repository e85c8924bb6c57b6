"""The MQTT link against a real mosquitto broker: contract topics, discovery, reconnects, commands, auth, TLS."""

from __future__ import annotations

import json
import logging
import os
import signal
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from tests.broker import WAIT, Broker, MqttProbe, make_certificates
from tests.emulation import hang_guard
from todayfeeling.config import MqttConfig
from todayfeeling.mqtt.client import MqttPublisher
from todayfeeling.mqtt.payloads import FORBIDDEN_KEYS, MAX_ITEMS, PayloadError
from todayfeeling.vocabulary import MOODS, EventType, MusicMode, names

DEVICE = "kitchen"
BASE = f"todayfeeling/{DEVICE}"
STATE = {"mood": "happiness", "confidence": 0.81, "since": "2026-11-25T20:00:00+00:00", "faces": 1,
         "privacy": False}
PLAYER = {"state": "playing", "playlist": "happiness", "track": "sunny.ogg", "volume": 60, "mode": "follow"}
STATS = {"uptime_s": 12, "backend": {"preferred": "edgetpu", "actual": "cpu", "reason": "no Edge TPU found",
                                    "degraded": True},
         "ms": {"detect": 11.5, "classify": 3.2}, "fps": 9.6, "cpu_temp_c": 51.2}


class FakeDaemon:
    """The daemon's side of the command interface, with the quirks of real hardware.

    Volume is capped at 80 (a limit set by the installer); the ``fixed`` mode is refused (no playlist
    chosen yet); ``fail`` makes the next setter raise.
    """

    def __init__(self) -> None:
        self.privacy = False
        self.mode = "follow"
        self.volume = 60
        self.fail = False
        self.calls: list[tuple[str, object]] = []
        self._changed = threading.Condition()

    def _record(self, call: str, value: object) -> None:
        with self._changed:
            self.calls.append((call, value))
            self._changed.notify_all()
        if self.fail:
            raise RuntimeError("the speaker is unplugged")

    def set_privacy(self, on: bool) -> bool:
        self._record("privacy", on)
        self.privacy = on
        return self.privacy

    def set_music_mode(self, mode: str) -> str:
        self._record("music_mode", mode)
        if mode != "fixed":
            self.mode = mode
        return self.mode

    def set_volume(self, volume: int) -> int:
        self._record("volume", volume)
        self.volume = min(volume, 80)
        return self.volume

    def player_command(self, command: str) -> None:
        self._record("player", command)

    def refresh(self) -> None:
        self._record("refresh", None)

    def wait_calls(self, count: int) -> list[tuple[str, object]]:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.calls) >= count, WAIT), self.calls
            return list(self.calls)


def link_config(broker: Broker, **overrides: object) -> MqttConfig:
    """A config for ``broker`` with test-sized delays."""
    values: dict[str, object] = {"host": broker.host, "port": broker.port, "keepalive": 5,
                                 "reconnect_min_delay": 0.05, "reconnect_max_delay": 0.5,
                                 "discovery_delay": 0.1, "state_interval": 0}
    values.update(overrides)
    return MqttConfig(**values)


@pytest.fixture
def start_link() -> Iterator[Callable[..., MqttPublisher]]:
    """Start publishers (``start_link(broker, handler=..., **config)``); each is stopped after the test."""
    links: list[MqttPublisher] = []

    def start(broker: Broker, handler: FakeDaemon | None = None, seed: bool = True,
              people: list[str] | None = None, **config: object) -> MqttPublisher:
        link = MqttPublisher(link_config(broker, **config), DEVICE, "Kitchen", handler or FakeDaemon(),
                             people=people)
        if seed:
            link.publish_privacy(False)
            link.publish_music_mode("follow")
            link.publish_player_state(PLAYER)
        links.append(link)
        link.start()
        return link

    yield start
    for link in links:
        link.stop()


def payload_json(message) -> dict:
    value = json.loads(message.payload)
    assert_plain(value)
    return value


def assert_plain(value: object, where: str = "payload") -> None:
    """Only small plain JSON: no binary, no long lists (embeddings), no private keys."""
    if isinstance(value, dict):
        assert len(value) <= MAX_ITEMS, where
        for key, item in value.items():
            assert key.lower() not in FORBIDDEN_KEYS, f"{where}.{key}"
            assert_plain(item, f"{where}.{key}")
    elif isinstance(value, list):
        assert len(value) <= MAX_ITEMS, where
        for item in value:
            assert_plain(item, where)
    else:
        assert value is None or isinstance(value, (bool, int, float, str)), f"{where}: {type(value)}"
        assert not isinstance(value, str) or len(value) <= 512, where


def online(probe: MqttProbe) -> None:
    probe.wait_for(lambda m: m.topic == f"{BASE}/availability" and m.payload == b"online")


# ------------------------------------------------------------------------------------------------ discovery
REQUIRED = {  # per platform, from the Home Assistant MQTT integration's schemas
    "sensor": {"state_topic"},
    "binary_sensor": {"state_topic"},
    "event": {"state_topic", "event_types"},
    "switch": {"command_topic", "state_topic"},
    "select": {"command_topic", "options"},
    "number": {"command_topic", "min", "max"},
    "button": {"command_topic", "payload_press"},
}


EXPECTED = {  # every entity, by key: its platform
    "mood": "sensor", "confidence": "sensor", "presence": "binary_sensor", "mood_event": "event",
    "privacy": "switch", "player": "sensor", "music_mode": "select", "volume": "number",
    "play": "button", "pause": "button", "next": "button", "stop": "button",
    "diagnostic_event": "event", "backend": "sensor", "degraded": "binary_sensor", "problem": "sensor",
    "fps": "sensor", "cpu_temperature": "sensor", "started": "sensor", "camera": "sensor",
    "reconnects": "sensor", "events_dropped": "sensor",
}


def test_discovery_describes_one_device_with_every_entity(mosquitto, probe_factory, start_link):
    probe = probe_factory(mosquitto, "homeassistant/#", f"{BASE}/availability")
    start_link(mosquitto)
    online(probe)
    late = probe_factory(mosquitto, "homeassistant/#")
    configs = {m.topic: m for m in late.wait_for(lambda m: m.topic.endswith("/config"), count=len(EXPECTED))}
    entities = {}
    for topic, message in configs.items():
        assert message.retain and message.qos == 1
        prefix, component, node, key, last = topic.split("/")
        assert (prefix, node, last) == ("homeassistant", "todayfeeling_kitchen", "config")
        config = payload_json(message)
        entities[key] = (component, config)
    assert {key: component for key, (component, _) in entities.items()} == EXPECTED
    devices = {json.dumps(config["device"], sort_keys=True) for _, config in entities.values()}
    assert len(devices) == 1
    device = json.loads(devices.pop())
    assert device["identifiers"] == ["todayfeeling_kitchen"] and device["name"] == "Kitchen"
    assert device["serial_number"] == "kitchen" and device["hw_version"]  # the board (here: the host)
    assert len({config["unique_id"] for _, config in entities.values()}) == len(entities)
    camera_seen = {"mood", "confidence", "presence"}
    for key, (component, config) in entities.items():
        assert REQUIRED[component] <= config.keys(), key
        assert "object_id" not in config
        assert config["default_entity_id"] == f"{component}.kitchen_{key}"
        assert config["unique_id"] == f"todayfeeling_kitchen_{key}"
        if key in camera_seen:  # unavailable while the camera is off: privacy is not an empty room
            assert "availability_topic" not in config and config["availability_mode"] == "all"
            assert config["availability"] == [
                {"topic": f"{BASE}/availability", "payload_available": "online", "payload_not_available": "offline"},
                {"topic": f"{BASE}/privacy/state", "payload_available": "OFF", "payload_not_available": "ON"}]
        else:
            assert config["availability_topic"] == f"{BASE}/availability"
            assert (config["payload_available"], config["payload_not_available"]) == ("online", "offline")
        assert config["origin"]["name"] == "todayfeeling"
        assert config["name"]

    def of(key: str) -> dict:
        return entities[key][1]

    assert of("mood")["device_class"] == "enum" and of("mood")["options"] == list(MOODS)
    assert len(MOODS) == 7 and "state_class" not in of("mood") and "unit_of_measurement" not in of("mood")
    assert of("mood")["state_topic"] == f"{BASE}/state"
    assert of("presence")["device_class"] == "occupancy" and "value_json.faces" in of("presence")["value_template"]
    assert of("mood_event")["state_topic"] == f"{BASE}/event"
    assert of("mood_event")["event_types"] == ["mood_changed", "face_arrived", "face_left"]
    assert of("diagnostic_event")["event_types"] == ["detector_fallback", "detector_recovered"]
    assert set(of("mood_event")["event_types"]) | set(of("diagnostic_event")["event_types"]) | {
        "playback_started", "person_arrived", "person_left"} == set(names(EventType))  # person_*: when published
    for key in ("mood_event", "diagnostic_event"):  # the other events on the shared topic render empty
        assert "value_json.event_type in" in of(key)["value_template"] and "else ''" in of(key)["value_template"]
    assert of("confidence")["state_class"] == "measurement" and of("confidence")["unit_of_measurement"] == "%"
    assert of("player")["device_class"] == "enum" and of("player")["options"] == ["playing", "paused", "stopped"]
    assert of("player")["state_topic"] == f"{BASE}/player/state"
    assert of("privacy")["command_topic"] == f"{BASE}/privacy/set"
    assert of("privacy")["state_topic"] == f"{BASE}/privacy/state"
    assert (of("privacy")["payload_on"], of("privacy")["payload_off"]) == ("ON", "OFF")
    assert of("music_mode")["command_topic"] == f"{BASE}/music_mode/set"
    assert of("music_mode")["state_topic"] == f"{BASE}/music_mode/state"
    assert of("music_mode")["options"] == list(names(MusicMode)) == ["follow", "uplift", "fixed", "off"]
    assert of("volume")["command_topic"] == f"{BASE}/volume/set"
    assert of("volume")["state_topic"] == f"{BASE}/player/state"
    assert (of("volume")["min"], of("volume")["max"], of("volume")["step"]) == (0, 100, 1)
    for command in ("play", "pause", "next", "stop"):
        assert of(command)["command_topic"] == f"{BASE}/player/cmd" and of(command)["payload_press"] == command
    diagnostics = {key for key, (_, config) in entities.items() if config.get("entity_category") == "diagnostic"}
    assert diagnostics == {"backend", "degraded", "problem", "fps", "cpu_temperature", "started", "camera",
                           "reconnects", "events_dropped", "diagnostic_event"}
    for key in diagnostics - {"diagnostic_event"}:
        assert of(key)["state_topic"] == f"{BASE}/stats"
    assert of("started")["device_class"] == "timestamp"
    assert of("reconnects")["state_class"] == of("events_dropped")["state_class"] == "total_increasing"
    assert of("degraded")["device_class"] == "problem"
    assert of("cpu_temperature")["device_class"] == "temperature"
    assert of("cpu_temperature")["unit_of_measurement"] == "°C"
    # Home Assistant hears about the entities before it hears that they are available.
    order = [m.topic for m in probe.messages]
    assert max(order.index(t) for t in configs) < order.index(f"{BASE}/availability")


def test_retired_entity_is_deleted_with_an_empty_retained_config(mosquitto, probe_factory):
    old = "homeassistant/sensor/todayfeeling_kitchen/brightness/config"
    probe = probe_factory(mosquitto, "homeassistant/#")
    probe.publish(old, json.dumps({"name": "Brightness"}), retain=True)
    link = MqttPublisher(link_config(mosquitto), DEVICE, "Kitchen", FakeDaemon(),
                         retired_entities=(("sensor", "brightness"),))
    link.start()
    try:
        probe.wait_for(lambda m: m.topic == old and m.payload == b"")
    finally:
        link.stop()
    late = probe_factory(mosquitto, "homeassistant/#")
    late.on("homeassistant/sensor/todayfeeling_kitchen/mood/config")
    assert late.last(old) is None  # nothing retained any more


def test_home_assistant_coming_online_gets_discovery_and_state_again(mosquitto, probe_factory, start_link):
    probe = probe_factory(mosquitto, "homeassistant/+/+/+/config", f"{BASE}/state")
    link = start_link(mosquitto, discovery_delay=0.2)
    link.publish_state(STATE)
    probe.on(f"{BASE}/state")
    configs = len([m for m in probe.messages if m.topic.endswith("/config")])
    probe.clear()
    probe.publish("homeassistant/status", "online")
    probe.wait_for(lambda m: m.topic.endswith("/config"), count=configs)
    assert payload_json(probe.on(f"{BASE}/state")[0])["mood"] == "happiness"


# ------------------------------------------------------------------------------------ state and events
def test_state_is_retained_for_late_subscribers_and_events_are_not(mosquitto, probe_factory, start_link):
    early = probe_factory(mosquitto, f"{BASE}/#")
    link = start_link(mosquitto)
    link.publish_state(STATE)
    link.publish_event("mood_changed", mood="happiness", previous="neutral")
    link.publish_stats(STATS)
    first_event = payload_json(early.on(f"{BASE}/event")[0])
    early.on(f"{BASE}/stats")
    late = probe_factory(mosquitto, f"{BASE}/#")
    state = late.on(f"{BASE}/state")[0]
    assert state.retain and state.qos == 1
    body = payload_json(state)
    assert {k: body[k] for k in STATE} == STATE
    assert isinstance(body["seq"], int) and datetime.fromisoformat(body["ts"]).tzinfo is not None
    assert late.on(f"{BASE}/player/state")[0].retain
    assert payload_json(late.on(f"{BASE}/player/state")[0]) == PLAYER
    assert late.on(f"{BASE}/privacy/state")[0].payload == b"OFF"
    assert late.on(f"{BASE}/music_mode/state")[0].payload == b"follow"
    assert late.on(f"{BASE}/availability")[0].payload == b"online"
    stats = payload_json(late.on(f"{BASE}/stats")[0])
    assert stats["backend"]["degraded"] is True and stats["reconnects"] == 0 and stats["events_dropped"] == 0
    assert stats["version"] and stats["fps"] == 9.6
    # A new event reaches the late subscriber, the old one never does.
    link.publish_event("face_left", faces=0)
    second = payload_json(late.on(f"{BASE}/event")[0])
    assert second["event_type"] == "face_left" and not late.on(f"{BASE}/event")[0].retain
    assert [payload_json(m)["seq"] for m in late.messages if m.topic == f"{BASE}/event"] == [second["seq"]]
    assert first_event["event_type"] == "mood_changed" and first_event["seq"] < second["seq"]
    for message in early.messages + late.messages:
        if message.payload[:1] == b"{":
            payload_json(message)


def test_nothing_private_or_binary_can_be_published(mosquitto, probe_factory, start_link):
    probe = probe_factory(mosquitto, f"{BASE}/#")
    link = start_link(mosquitto)
    online(probe)
    private = [
        {**STATE, "image": "data:image/jpeg;base64,AAAA"},
        {**STATE, "embedding": [0.1, 0.2]},
        {**STATE, "identity": "Alice"},
        {**STATE, "faces": [0.0] * 128},
        {**STATE, "crop_jpeg": b"\xff\xd8\xff"},
        {**STATE, "box": np.zeros((4,), dtype=np.float32)},
        {**STATE, "note": "x" * 10_000},
    ]
    for state in private:
        with pytest.raises(PayloadError):
            link.publish_state(state)
    with pytest.raises(PayloadError):
        link.publish_event("face_arrived", person="Alice")
    with pytest.raises(PayloadError):
        link.publish_event("somebody_waved")
    link.publish_state({**STATE, "confidence": np.float32(0.5), "faces": np.int64(2)})
    body = payload_json(probe.on(f"{BASE}/state")[0])
    assert body["confidence"] == 0.5 and body["faces"] == 2
    assert len([m for m in probe.messages if m.topic == f"{BASE}/state"]) == 1


def test_clean_stop_delivers_the_last_state_then_offline(mosquitto, probe_factory, start_link):
    probe = probe_factory(mosquitto, f"{BASE}/availability", f"{BASE}/state")
    link = start_link(mosquitto)
    online(probe)
    link.publish_state({**STATE, "mood": "none", "faces": 0})
    link.stop()
    probe.wait_for(lambda m: m.payload == b"offline")
    assert [m.topic for m in probe.messages][-2:] == [f"{BASE}/state", f"{BASE}/availability"]
    assert probe_factory(mosquitto, f"{BASE}/availability").on(f"{BASE}/availability")[0].payload == b"offline"


KILLED_CLIENT = textwrap.dedent("""
    import sys, threading
    from todayfeeling.config import MqttConfig
    from todayfeeling.mqtt.client import MqttPublisher

    class Daemon:
        def set_privacy(self, on): return on
        def set_music_mode(self, mode): return mode
        def set_volume(self, volume): return volume
        def player_command(self, command): pass
        def refresh(self): pass

    link = MqttPublisher(MqttConfig(host="127.0.0.1", port=int(sys.argv[1]), keepalive=2, discovery=False),
                         "kitchen", "Kitchen", Daemon())
    link.publish_state({"mood": "none", "faces": 0})
    link.start()
    threading.Event().wait()
""")


def test_last_will_announces_offline_when_the_process_is_killed(mosquitto, probe_factory, tmp_path):
    script = tmp_path / "client.py"
    script.write_text(KILLED_CLIENT)
    probe = probe_factory(mosquitto, f"{BASE}/availability")
    process = subprocess.Popen([sys.executable, str(script), str(mosquitto.port)])
    try:
        # a fresh interpreter, maybe on a busy CPU
        probe.wait_for(lambda m: m.payload == b"online", timeout=hang_guard(30))
        os.kill(process.pid, signal.SIGKILL)
        process.wait(WAIT)
        probe.wait_for(lambda m: m.payload == b"offline")  # after 1.5 × keepalive
    finally:
        process.kill()
        process.wait()
    late = probe_factory(mosquitto, f"{BASE}/availability")
    assert late.on(f"{BASE}/availability")[0].payload == b"offline"
    assert process.returncode == -signal.SIGKILL


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {WAIT} s"
        time.sleep(0.01)


def test_reconnect_after_broker_restart_delivers_newest_state_and_queued_events_in_order(
        broker_factory, probe_factory, start_link):
    broker = broker_factory(persistence=True)
    probe = probe_factory(broker, f"{BASE}/#", persistent=True)  # its session (and queue) survive the restart
    link = start_link(broker, event_queue_size=3)
    link.publish_state(STATE)
    before = payload_json(probe.on(f"{BASE}/state")[0])["seq"]
    broker.stop()
    wait_until(lambda: not link.connected, "the link noticing the broker is gone")  # else paho queues them
    probe.clear()
    link.publish_state({**STATE, "mood": "sadness"})
    link.publish_state({**STATE, "mood": "surprise"})
    for n in range(5):
        link.publish_event("face_arrived", faces=n)
    broker.start()
    online(probe)
    probe.wait_for(lambda m: m.topic == f"{BASE}/event" and payload_json(m)["faces"] == 4)
    # QoS 1 is at-least-once: a message the broker had not seen acknowledged may come again, same seq.
    events = _unique_by_seq(m for m in probe.messages if m.topic == f"{BASE}/event")
    assert [event["faces"] for event in events] == [2, 3, 4]
    assert [event["seq"] for event in events] == sorted(event["seq"] for event in events)
    states = _unique_by_seq(m for m in probe.messages if m.topic == f"{BASE}/state")
    assert [state["mood"] for state in states if state["seq"] > before] == ["surprise"]
    link.publish_stats(STATS)
    stats = payload_json(probe.on(f"{BASE}/stats")[0])
    assert (stats["reconnects"], stats["events_dropped"]) == (1, 2)
    assert link.connected


def test_messages_in_flight_when_the_broker_crashes_never_overwrite_newer_state(
        mosquitto, probe_factory, start_link):
    link = start_link(mosquitto)
    online(probe_factory(mosquitto, f"{BASE}/availability"))
    mosquitto.freeze()
    link.publish_state({**STATE, "mood": "sadness"})  # written to the socket, never acknowledged
    mosquitto.crash()
    link.publish_state({**STATE, "mood": "surprise"})  # newer, kept for the reconnect
    mosquitto.start()
    probe = probe_factory(mosquitto, f"{BASE}/state", f"{BASE}/event")
    probe.wait_for(lambda m: m.topic == f"{BASE}/state" and payload_json(m)["mood"] == "surprise")
    link.publish_event("face_left", faces=0)  # once this is through, everything before it is too
    probe.on(f"{BASE}/event")
    late = probe_factory(mosquitto, f"{BASE}/state")
    assert payload_json(late.on(f"{BASE}/state")[0])["mood"] == "surprise"


def _unique_by_seq(messages) -> list[dict]:
    unique: dict[int, dict] = {}
    for message in messages:
        body = payload_json(message)
        unique.setdefault(body["seq"], body)
    return list(unique.values())


def test_periodic_state_republication(mosquitto, probe_factory, start_link):
    probe = probe_factory(mosquitto, f"{BASE}/state")
    link = start_link(mosquitto, state_interval=0.2)
    link.publish_state(STATE)
    first, second = probe.on(f"{BASE}/state", count=2)
    assert payload_json(second)["seq"] > payload_json(first)["seq"]
    assert payload_json(second)["mood"] == "happiness"


# ----------------------------------------------------------------------------------------------- commands
def test_each_command_reaches_the_daemon_and_the_real_result_is_published(mosquitto, probe_factory, start_link):
    daemon = FakeDaemon()
    probe = probe_factory(mosquitto, f"{BASE}/#")
    start_link(mosquitto, handler=daemon)
    probe.on(f"{BASE}/player/state")  # the last of the start-up publications
    probe.clear()

    probe.publish(f"{BASE}/privacy/set", "ON")
    assert probe.on(f"{BASE}/privacy/state")[0].payload == b"ON"
    probe.publish(f"{BASE}/music_mode/set", "uplift")
    assert probe.on(f"{BASE}/music_mode/state")[0].payload == b"uplift"
    probe.publish(f"{BASE}/music_mode/set", "fixed")  # refused by the daemon: state stays uplift
    assert probe.on(f"{BASE}/music_mode/state", count=2)[1].payload == b"uplift"
    probe.publish(f"{BASE}/volume/set", "55.0")
    assert payload_json(probe.on(f"{BASE}/player/state")[0]) == {**PLAYER, "volume": 55}
    probe.publish(f"{BASE}/volume/set", json.dumps({"value": 95}))  # capped at 80 by the daemon
    assert payload_json(probe.on(f"{BASE}/player/state", count=2)[1])["volume"] == 80
    for command in ("play", "pause", "next", "stop"):
        probe.publish(f"{BASE}/player/cmd", command)
    probe.publish(f"{BASE}/cmd", "refresh")
    probe.wait_for(lambda m: m.topic == f"{BASE}/availability")
    assert daemon.wait_calls(10) == [("privacy", True), ("music_mode", "uplift"), ("music_mode", "fixed"),
                                    ("volume", 55), ("volume", 95), ("player", "play"), ("player", "pause"),
                                    ("player", "next"), ("player", "stop"), ("refresh", None)]
    late = probe_factory(mosquitto, f"{BASE}/#")
    assert late.on(f"{BASE}/privacy/state")[0].payload == b"ON"
    assert payload_json(late.on(f"{BASE}/player/state")[0])["volume"] == 80


def test_a_failing_command_leaves_the_real_state_published(mosquitto, probe_factory, start_link):
    daemon = FakeDaemon()
    probe = probe_factory(mosquitto, f"{BASE}/privacy/state")
    start_link(mosquitto, handler=daemon)
    assert probe.on(f"{BASE}/privacy/state")[0].payload == b"OFF"
    daemon.fail = True
    probe.publish(f"{BASE}/privacy/set", "ON")
    republished = probe.on(f"{BASE}/privacy/state", count=2)[1]
    assert republished.payload == b"OFF"


def test_malformed_and_retained_commands_are_ignored(mosquitto, probe_factory, start_link, caplog):
    caplog.set_level(logging.WARNING, logger="todayfeeling.mqtt")
    daemon = FakeDaemon()
    probe = probe_factory(mosquitto, f"{BASE}/#")
    probe.publish(f"{BASE}/privacy/set", "ON", retain=True)  # stale, left on the broker by someone
    start_link(mosquitto, handler=daemon)
    online(probe)
    bad = [
        (f"{BASE}/volume/set", b'{"value": 5'),
        (f"{BASE}/volume/set", b"101"),
        (f"{BASE}/volume/set", b"-1"),
        (f"{BASE}/volume/set", b"loud"),
        (f"{BASE}/volume/set", b"nan"),
        (f"{BASE}/music_mode/set", b"party"),
        (f"{BASE}/music_mode/set", json.dumps({"mode": "uplift"}).encode()),
        (f"{BASE}/privacy/set", b"maybe"),
        (f"{BASE}/player/cmd", b"rewind"),
        (f"{BASE}/player/cmd", b"next" * 5000),
        (f"{BASE}/player/cmd", b"\xff\xfe"),
        (f"{BASE}/player/cmd", b""),
        (f"{BASE}/cmd", b"reboot"),
    ]
    for topic, payload in bad:
        probe.publish(topic, payload)
    probe.publish(f"{BASE}/player/cmd", "next")  # a good one after the bad ones: commands are handled in order
    assert daemon.wait_calls(1) == [("player", "next")]
    ignored = [r for r in caplog.records if "ignored command" in r.getMessage()]
    assert len(ignored) == len(bad) + 1
    assert "retained" in ignored[0].getMessage()
    late = probe_factory(mosquitto, f"{BASE}/privacy/state")
    assert late.on(f"{BASE}/privacy/state")[0].payload == b"OFF"


# ----------------------------------------------------------------------------------- auth and TLS
def test_username_and_password(broker_factory, probe_factory, start_link):
    broker = broker_factory(users={"device": "s3cret", "admin": "admin-pw"})
    probe = probe_factory(broker, f"{BASE}/availability", username="admin", password="admin-pw")
    link = start_link(broker, username="device", password="s3cret")
    online(probe)
    assert link.connected


def test_wrong_password_is_refused_and_never_counts_as_connected(broker_factory, start_link):
    broker = broker_factory(users={"device": "s3cret"})
    link = start_link(broker, username="device", password="wrong", client_id="refused-client")
    broker.wait_for_log("disconnected, not authorised")
    assert not link.connected


def tls_context(certificates) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certificates.ca_file))
    context.load_cert_chain(str(certificates.client_cert), str(certificates.client_key))
    return context


def test_tls_with_a_client_certificate(broker_factory, probe_factory, start_link, tls_certificates):
    broker = broker_factory(certificates=tls_certificates, require_client_cert=True)
    probe = probe_factory(broker, f"{BASE}/availability", tls_context=tls_context(tls_certificates))
    link = start_link(broker, tls=True, ca_file=tls_certificates.ca_file, cert_file=tls_certificates.client_cert,
                      key_file=tls_certificates.client_key)
    online(probe)
    assert link.connected


def test_tls_insecure_accepts_a_certificate_it_cannot_verify(broker_factory, probe_factory, start_link,
                                                             tls_certificates):
    broker = broker_factory(certificates=tls_certificates)
    probe = probe_factory(broker, f"{BASE}/availability", tls_context=tls_context(tls_certificates))
    start_link(broker, tls=True, tls_insecure=True)
    online(probe)


def test_tls_refuses_a_broker_signed_by_another_ca(broker_factory, start_link, tls_certificates, tmp_path: Path):
    other = make_certificates(tmp_path / "other-pki")
    broker = broker_factory(certificates=tls_certificates)
    link = start_link(broker, tls=True, ca_file=other.ca_file, client_id="distrustful")
    broker.wait_for_log("OpenSSL Error")
    assert not link.connected


def test_unreadable_tls_files_are_a_clear_error(tmp_path: Path):
    config = MqttConfig(tls=True, ca_file=tmp_path / "missing.pem")
    with pytest.raises(ValueError, match="TLS files"):
        MqttPublisher(config, DEVICE, "Kitchen", FakeDaemon())


def test_a_player_state_older_than_a_volume_command_never_brings_the_old_volume_back(
        mosquitto, probe_factory, start_link):
    # The MQTT worker publishes a volume command's result at once; the player's thread may still send a state
    # it made before it ran the command. That state must not put the old volume back on the retained topic.
    daemon = FakeDaemon()
    link = start_link(mosquitto, daemon)
    probe = probe_factory(mosquitto, f"{BASE}/player/state")
    online_probe = probe_factory(mosquitto, f"{BASE}/availability")
    online(online_probe)
    probe.publish(f"{BASE}/volume/set", "44")
    probe.wait_for(lambda m: payload_json(m)["volume"] == 44)
    link.publish_player_state({**PLAYER, "volume": 33, "track": "next.ogg"})  # made before the command ran
    late = probe.wait_for(lambda m: payload_json(m)["track"] == "next.ogg")[0]
    assert payload_json(late)["volume"] == 44
    link.publish_player_state({**PLAYER, "volume": 44, "track": "next.ogg"})  # the player caught up
    link.publish_player_state({**PLAYER, "volume": 50, "track": "next.ogg"})  # a later change of its own
    assert payload_json(probe.wait_for(lambda m: payload_json(m)["volume"] == 50)[0])["track"] == "next.ogg"
    fresh = probe_factory(mosquitto, f"{BASE}/player/state")
    assert payload_json(fresh.on(f"{BASE}/player/state")[0])["volume"] == 50  # the retained copy is current


def test_with_per_person_publishing_off_no_name_goes_out_and_old_person_sensors_are_deleted(
        mosquitto, probe_factory, start_link):
    old = "homeassistant/sensor/todayfeeling_kitchen/person_mina/config"
    setter = probe_factory(mosquitto, "homeassistant/#")
    setter.publish(old, json.dumps({"name": "Mood of Mina"}), retain=True)  # left by a run with publishing on
    setter.wait_for(lambda m: m.topic == old, timeout=10)  # stored: the link finds it retained, as after a restart
    probe = probe_factory(mosquitto, f"{BASE}/#", "homeassistant/#")  # before the link: a deletion is not retained
    link = start_link(mosquitto)
    probe.wait_for(lambda m: m.topic == old and m.payload == b"", timeout=10)
    with pytest.raises(PayloadError, match="never published"):
        link.publish_event("mood_changed", mood="sadness", person="Mina")
    with pytest.raises(PayloadError, match="per-person publishing is off"):
        link.publish_person_state("Mina", {"mood": "sadness"})
    fresh = probe_factory(mosquitto, "homeassistant/#")
    time.sleep(0.5)
    assert all(b"Mina" not in m.payload for m in fresh.messages)


def test_per_person_publishing_gives_each_person_a_sensor_and_removes_it_with_the_person(
        mosquitto, probe_factory, start_link):
    link = start_link(mosquitto, people=["Mina", "美玲"])
    probe = probe_factory(mosquitto, f"{BASE}/#", "homeassistant/#")
    online(probe)
    mina = "homeassistant/sensor/todayfeeling_kitchen/person_mina/config"
    hashed = [m.topic for m in probe.wait_for(lambda m: "/person_p" in m.topic)]
    config = payload_json(probe.on(mina)[0])
    assert config["name"] == "Mood of Mina" and config["state_topic"] == f"{BASE}/people/mina/state"
    assert config["availability_mode"] == "all"  # unavailable in privacy, like the room's mood
    event = payload_json(probe.on("homeassistant/event/todayfeeling_kitchen/mood_event/config")[0])
    assert {"person_arrived", "person_left"} <= set(event["event_types"])
    link.publish_person_state("Mina", {"mood": "happiness", "confidence": 0.9, "present": True})
    state = json.loads(probe.on(f"{BASE}/people/mina/state")[0].payload)  # a name, by the owner's choice
    assert (state["person"], state["mood"], state["present"]) == ("Mina", "happiness", True)
    link.publish_event("person_arrived", person="Mina")
    assert json.loads(probe.on(f"{BASE}/event")[0].payload)["person"] == "Mina"
    link.set_people(["Mina"])  # 美玲 was removed from the people database
    probe.wait_for(lambda m: m.topic == hashed[0] and m.payload == b"", timeout=10)
    assert probe.last(mina).payload != b""


def test_another_device_id_on_this_home_assistant_device_is_named(mosquitto, probe_factory, start_link):
    """Device ids that differ only in case or punctuation (``kitchen``, ``Kitchen``, ``kitchen.``) make one Home
    Assistant node id, so two appliances would keep replacing each other's entities. A config published on the
    node by another id is named as a problem; a retained one (possibly this device's own under an id it had
    before) is not."""
    node = "homeassistant/sensor/todayfeeling_kitchen"
    setter = probe_factory(mosquitto, "homeassistant/#")
    stale = {"name": "Mood", "device": {"identifiers": ["todayfeeling_kitchen"], "serial_number": "Kitchen"}}
    setter.publish(f"{node}/old_entity/config", json.dumps(stale), retain=True)
    setter.wait_for(lambda m: m.topic == f"{node}/old_entity/config", timeout=10)
    link = start_link(mosquitto)
    online(probe_factory(mosquitto, f"{BASE}/#"))
    time.sleep(0.5)  # the retained copy has arrived by now
    assert link.health.problem is None
    other = {"name": "Mood", "device": {"identifiers": ["todayfeeling_kitchen"], "serial_number": "KITCHEN"}}
    setter.publish(f"{node}/mood/config", json.dumps(other))
    wait_until(lambda: link.health.problem is not None, "the other appliance named")
    assert "device id 'KITCHEN'" in link.health.problem and "todayfeeling_kitchen" in link.health.problem
