"""The device's MQTT link: connection, availability, state/event publishing, commands and discovery.

Three threads meet here. paho's network thread only records facts (connected, lost, acknowledged,
a message arrived) and hands them to the *worker* thread, which runs commands, flushes the backlog after
a (re)connect, republishes discovery when Home Assistant comes online and republishes the state every
``state_interval``. The daemon's threads call the ``publish_*`` methods, which never wait on the network
(the daemon publishes stats every ``stats_interval`` itself: it owns the figures).

While the broker is unreachable, retained topics are coalesced (only the newest value of each is kept)
and events wait in a bounded queue; on reconnect the worker publishes discovery, ``online``, every
retained value and then the queued events, oldest first. Before that flush it waits (briefly) until
messages that were in flight when the link dropped have been re-delivered by paho, so an old state can
never land after a newer one.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import logging
import queue
import socket
import ssl
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from todayfeeling import __version__
from todayfeeling.config.settings import MqttConfig
from todayfeeling.machine import board, machine_tag
from todayfeeling.mqtt.commands import (
    Command,
    CommandHandler,
    InvalidCommand,
    PlayerAction,
    Refresh,
    SetMusicMode,
    SetPrivacy,
    SetVolume,
    command_parsers,
    parse_command,
)
from todayfeeling.mqtt.discovery import (
    PERSON_PREFIX,
    RETIRED_ENTITIES,
    DeviceInfo,
    DiscoveryMessage,
    discovery_messages,
    node_id,
    person_entity,
)
from todayfeeling.mqtt.health import LinkHealth, instance_announcement, other_instance, shown_machine
from todayfeeling.mqtt.payloads import PayloadError, publishable, timestamp
from todayfeeling.mqtt.topics import Topics, person_key
from todayfeeling.text import printable
from todayfeeling.vocabulary import EventType, MusicMode, names

log = logging.getLogger(__name__)

ONLINE = "online"
OFFLINE = "offline"
FLUSH_WAIT = 5.0  # seconds a reconnect flush waits for re-delivery of messages in flight at the drop
STOP_TIMEOUT = 5.0  # seconds a clean stop waits for the worker, and for ``offline`` to be acknowledged
MAX_INSTANCE_BYTES = 256  # an ``…/instance`` announcement is about 60 bytes; anything longer is ignored
MAX_DISCOVERY_BYTES = 8192  # an entity's discovery config is under 2 kB; anything longer is not checked

# Items of the worker's inbox (besides Command).
_LINK_UP = "link-up"
_HA_ONLINE = "ha-online"
_STOP = "stop"


class MqttPublisher:
    """The daemon's handle on MQTT; every public method is thread-safe and returns without network waits."""

    def __init__(
        self,
        config: MqttConfig,
        device_id: str,
        device_name: str,
        handler: CommandHandler,
        retired_entities: tuple[tuple[str, str], ...] = RETIRED_ENTITIES,
        area: str = "",
        people: Sequence[str] | None = None,
    ) -> None:
        """``handler`` carries out commands; ``retired_entities`` are deleted from Home Assistant; ``area`` is the
        device's suggested area there; ``people`` (None: per-person publishing off) are the enrolled names whose
        moods may be published, each with a sensor."""
        self._config = config
        self.topics = Topics.for_device(config.topic_prefix, device_id, config.discovery_prefix)
        self._info = DeviceInfo(device_id, device_name, area, board())
        self._retired = retired_entities
        self._node = node_id(device_id)
        self._people: list[str] | None = list(people) if people is not None else None
        self._discovery: list[DiscoveryMessage] = self._discovery_messages()
        self._handler = handler
        # A refused command republishes the state in effect, so an optimistic controller is put right.
        self._dispatch: dict[type, Callable[[Any], None]] = {
            SetPrivacy: lambda c: self._result(self.topics.privacy_state, c.on, handler.set_privacy(c.on),
                                               self.publish_privacy),
            SetMusicMode: lambda c: self._result(self.topics.music_mode_state, c.mode,
                                                 handler.set_music_mode(c.mode), self.publish_music_mode),
            SetVolume: lambda c: self._publish_volume(handler.set_volume(c.volume)),
            PlayerAction: lambda c: handler.player_command(c.command),
            Refresh: lambda c: self._refresh(),
        }
        self._lock = threading.Lock()  # guards everything below; paho is called with it held, never the reverse
        self._connected = False  # a successful CONNACK, and not lost since
        self._live = False  # connected and backlog flushed: publish straight away
        self._stopped = False
        self._retained: dict[str, tuple[bytes, int]] = {}  # topic -> newest (payload, qos)
        self._events: deque[bytes] = deque()
        self._unacked: set[int] = set()  # message ids of QoS 1 publications not yet acknowledged
        self._seq = itertools.count(1)
        self._last_state: dict[str, Any] | None = None
        self._last_player: dict[str, Any] | None = None
        self._connections = 0
        self._events_dropped = 0
        self._refused = False  # paho's network thread: the last attempt's CONNACK was a refusal
        self._pending_volume: int | None = None  # set by a volume command until the player's state shows it
        self._player_volume: Any = None  # the volume of the player's own newest state
        self._started = time.time()
        self._instance = instance_announcement(machine_tag(), self._started)
        self.health = LinkHealth(f"{config.host}:{config.port}", self._client_id())
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._client = self._make_client()
        self._worker = threading.Thread(target=self._run_worker, name="mqtt-worker", daemon=True)

    # ----------------------------------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Connect in the background (retrying forever with backoff) and start the worker."""
        cfg = self._config
        log.info("MQTT: connecting to %s:%d as %s%s", cfg.host, cfg.port, self._client_id(),
                 " over TLS" if cfg.tls else "")
        if cfg.username and not cfg.tls and not is_loopback(cfg.host):
            log.warning("MQTT: the username and password go to %s unencrypted; set [mqtt] tls = true if the "
                        "broker offers TLS", cfg.host)
        self._client.connect_async(cfg.host, cfg.port, cfg.keepalive)
        self._client.loop_start()
        self._worker.start()

    def stop(self) -> None:
        """Deliver what is pending, publish ``offline`` (waiting for the broker's acknowledgement), disconnect."""
        self._inbox.put(_STOP)
        if self._worker.is_alive():
            self._worker.join(STOP_TIMEOUT)
            if self._worker.is_alive():  # stuck (a bug): stop anyway rather than hang the daemon's shutdown
                log.warning("MQTT: the publishing worker did not finish within %.0f s", STOP_TIMEOUT)
        with self._lock:
            connected = self._connected
            if connected and not self._live:
                self._flush()  # stopping right after a (re)connect still delivers the newest state
            elif not connected and self._events:
                log.warning("MQTT: stopping while the broker is unreachable; %d queued events are lost",
                            len(self._events))
            self._stopped = True
            self._live = False
        if connected:
            info = self._client.publish(self.topics.availability, OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(STOP_TIMEOUT)
            except (RuntimeError, ValueError) as err:
                log.warning("MQTT: could not publish offline before stopping: %s", err)
        self._client.disconnect()
        self._client.loop_stop()
        log.info("MQTT: stopped")

    @property
    def connected(self) -> bool:
        """True while the link is up and the backlog has been delivered."""
        with self._lock:
            return self._live

    @property
    def problem(self) -> str | None:
        """What is wrong with the link (broker unreachable, refused, TLS, another device with this id), or None."""
        return self.health.problem

    # ------------------------------------------------------------------------------------ publishing
    def publish_state(self, state: Mapping[str, Any]) -> None:
        """The room's state (mood, confidence, since, faces, privacy): retained, stamped with seq and ts."""
        fields = _as_object(publishable(state, "state"), "state")
        with self._lock:
            self._last_state = fields
            self._keep_retained(self.topics.state, self._stamped(fields), qos=1)

    def publish_event(self, event_type: str, **fields: Any) -> None:
        """A momentary event (never retained); queued in order while the broker is unreachable."""
        if event_type not in names(EventType):
            raise PayloadError(f"unknown event type {event_type!r} (known: {', '.join(names(EventType))})")
        body = publishable({"event_type": event_type, **fields}, "event", people=self._people is not None)
        with self._lock:
            payload = self._stamped(body)
            if self._live:
                self._send(self.topics.event, payload, qos=1, retain=False)
                return
            if len(self._events) >= self._config.event_queue_size:
                self._events.popleft()
                self._events_dropped += 1
                if self._events_dropped == 1 or self._events_dropped % 100 == 0:
                    log.warning("MQTT: event queue full while offline; %d oldest events dropped so far",
                                self._events_dropped)
            self._events.append(payload)

    def publish_player_state(self, player: Mapping[str, Any]) -> None:
        """The player's state (state, playlist, track, volume, mode): retained.

        A volume command's result is published at once (:meth:`_publish_volume`); until the player's own
        state shows that volume, a state it sent before it ran the command carries the newer volume, so
        ``volume`` never goes back to an older value.
        """
        fields = _as_object(publishable(player, "player"), "player")
        with self._lock:
            self._player_volume = fields.get("volume")
            if self._pending_volume is not None:
                if fields.get("volume") == self._pending_volume:
                    self._pending_volume = None
                else:
                    fields["volume"] = self._pending_volume
            self._last_player = fields
            self._keep_retained(self.topics.player_state, _json(fields), qos=1)

    def publish_privacy(self, on: bool) -> None:
        """Whether the camera is off for privacy: retained ``ON``/``OFF``."""
        if not isinstance(on, bool):
            raise PayloadError(f"privacy must be a bool, got {on!r}")
        with self._lock:
            self._keep_retained(self.topics.privacy_state, b"ON" if on else b"OFF", qos=1)

    def publish_music_mode(self, mode: str) -> None:
        """The music mode (follow, uplift, fixed, off): retained."""
        if mode not in names(MusicMode):
            raise PayloadError(f"unknown music mode {mode!r} (known: {', '.join(names(MusicMode))})")
        with self._lock:
            self._keep_retained(self.topics.music_mode_state, mode.encode(), qos=1)

    def set_people(self, people: Sequence[str]) -> None:
        """The enrolled people changed (per-person publishing on): sensors of new people appear, those of
        people removed are deleted from Home Assistant and their retained mood cleared from the broker, now if
        the link is up, else on reconnect."""
        if self._people is None:
            return
        with self._lock:
            keys = {person_key(name) for name in people}
            gone = sorted(name for name in self._people if person_key(name) not in keys)
            self._people = list(people)
            self._discovery = self._discovery_messages()
            for name in gone:
                self._keep_retained(self.topics.person_state(name), b"", qos=1)
            if self._live:
                for name in gone:
                    self._send(self._person_config_topic(person_key(name)), b"", qos=1, retain=True)
                self._publish_discovery()

    def publish_person_state(self, name: str, state: Mapping[str, Any]) -> None:
        """One person's mood (``…/people/<key>/state``, retained); only with per-person publishing on."""
        if self._people is None:
            raise PayloadError("per-person publishing is off: no person's mood is published")
        fields = _as_object(publishable({**state, "person": name}, "person state", people=True), "person state")
        with self._lock:
            self._keep_retained(self.topics.person_state(name), _json({**fields, "ts": timestamp()}), qos=1)

    def publish_stats(self, stats: Mapping[str, Any]) -> None:
        """Health figures, retained at QoS 0, with the link's own counters added.

        Expected keys: ``uptime_s``, ``backend`` (``preferred``, ``actual``, ``reason``, ``degraded``),
        ``ms`` (per stage), ``fps``, ``cpu_temp_c`` (None when unknown). ``version``, ``reconnects``,
        ``events_dropped`` and ``ts`` are filled in here.
        """
        fields = _as_object(publishable(stats, "stats"), "stats")
        fields.setdefault("version", __version__)
        with self._lock:
            fields["reconnects"] = max(self._connections - 1, 0)
            fields["events_dropped"] = self._events_dropped
            fields["ts"] = timestamp()
            self._keep_retained(self.topics.stats, _json(fields), qos=0)

    def republish(self) -> None:
        """Publish discovery, ``online`` and every retained value again (if the link is up)."""
        with self._lock:
            if self._live:
                self._publish_all()

    # ------------------------------------------------------------------------------ under self._lock
    def _stamped(self, fields: dict[str, Any]) -> bytes:
        return _json({**fields, "seq": next(self._seq), "ts": timestamp()})

    def _keep_retained(self, topic: str, payload: bytes, qos: int) -> None:
        if self._retained.get(topic) == (payload, qos):
            return  # the broker has it already (a reconnect republishes everything anyway)
        self._retained[topic] = (payload, qos)
        if self._live:
            self._send(topic, payload, qos, retain=True)

    def _send(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if qos:
            self._unacked.add(info.mid)

    def _publish_discovery(self) -> None:
        for message in self._discovery:
            payload = b"" if message.config is None else _json(message.config)
            self._send(message.topic, payload, qos=1, retain=True)

    def _publish_all(self) -> None:
        self._publish_discovery()
        self._send(self.topics.availability, ONLINE.encode(), qos=1, retain=True)
        self._send(self.topics.instance, _json(self._instance), qos=1, retain=True)
        for topic, (payload, qos) in self._retained.items():
            self._send(topic, payload, qos, retain=True)

    def _flush(self) -> None:
        """After a (re)connect: everything retained, then the queued events in order; then go live."""
        self._publish_all()
        while self._events:
            self._send(self.topics.event, self._events.popleft(), qos=1, retain=False)
        self._live = True
        log.info("MQTT: online")

    # ------------------------------------------------------------------------- paho's network thread
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self._refused = True
            self.health.failed(f"the broker refused the login: {reason}")
            return
        self.health.connected()
        subscriptions = [(topic, 1) for topic in (*command_parsers(self.topics), self.topics.instance)]
        if self._config.discovery:
            subscriptions.append((self.topics.ha_status, 1))
            # our own entities, as the broker holds them: sensors of people no longer enrolled are deleted
            subscriptions.append((f"{self._config.discovery_prefix}/+/{self._node}/+/config", 1))
        client.subscribe(subscriptions)
        with self._lock:
            self._connected = True
            self._connections += 1
        self._inbox.put(_LINK_UP)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        # paho calls this from inside its `except OSError` around the attempt: the error is the current one
        error = sys.exc_info()[1]
        self.health.failed(_reason(error, self._config.tls) if error is not None else "the connection attempt failed")

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        with self._lock:
            was_connected = self._connected
            self._connected = False
            self._live = False
            stopped = self._stopped
        refused, self._refused = self._refused, False
        if stopped or (refused and not was_connected):
            return  # a refused login was reported by _on_connect
        self.health.lost(str(reason), accepted=was_connected)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        # Called with paho's message lock held: hand the id over, never take self._lock here.
        self._inbox.put(mid)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        # Anyone on the broker can send anything: an exception escaping here would end paho's network thread
        # (no commands, no reconnect, and nothing to say so), so no message may raise.
        try:
            self._handle_message(message)
        except Exception:
            log.exception("MQTT: a message on %s could not be handled; ignored", printable(message.topic))

    def _handle_message(self, message: mqtt.MQTTMessage) -> None:
        if message.topic == self.topics.instance:
            self._check_instance(message.payload)
            return
        if message.topic.startswith(f"{self._config.discovery_prefix}/") and message.topic.endswith("/config"):
            if not message.retain:
                self._check_node_owner(message.payload)
            orphan = person_entity(message.topic, self._node)
            if orphan is not None:
                self._delete_if_gone(orphan, message.payload)
            return  # our own entities' configs, as the broker holds them
        if message.topic == self.topics.ha_status:
            if message.payload == ONLINE.encode():
                self._inbox.put(_HA_ONLINE)
            return
        try:
            command = parse_command(self.topics, message.topic, message.payload, retained=bool(message.retain))
        except InvalidCommand as err:
            log.warning("MQTT: ignored command on %s: %s", message.topic, err)
            return
        self._inbox.put(command)

    def _delete_if_gone(self, key: str, payload: bytes | bytearray) -> None:
        with self._lock:
            wanted = {PERSON_PREFIX + person_key(name) for name in self._people or ()}
            if payload and key not in wanted:
                log.info("MQTT: deleting Home Assistant's sensor %s (that person is no longer published)", key)
                self._send(self._person_config_topic(key.removeprefix(PERSON_PREFIX)), b"", qos=1, retain=True)

    def _person_config_topic(self, key: str) -> str:
        return f"{self._config.discovery_prefix}/sensor/{self._node}/{PERSON_PREFIX}{key}/config"

    def _discovery_messages(self) -> list[DiscoveryMessage]:
        if not self._config.discovery:
            return []
        return discovery_messages(self.topics, self._config.discovery_prefix, self._info, self._retired, self._people)

    def _check_instance(self, payload: bytes | bytearray) -> None:
        if len(payload) > MAX_INSTANCE_BYTES:
            return  # not an announcement (and deep nesting could exhaust the JSON parser's recursion)
        try:
            announced = json.loads(payload)
        except ValueError:
            return
        if isinstance(announced, dict) and other_instance(announced, self._instance):
            self.health.duplicate(
                f"another appliance uses the device id of this one ({self.topics.base}; machine "
                f"{shown_machine(announced)}, this one {self._instance['machine']}): give each its own "
                "[device] id, or leave it empty for one derived from the machine")

    def _check_node_owner(self, payload: bytes | bytearray) -> None:
        """A config published now (not a retained copy, which may be this device's own under an id it had
        before) on this device's Home Assistant node by a device with another id: two ids that differ only
        in case or punctuation (``Kitchen``, ``kitchen``; ``kitchen-2``, ``kitchen.2``) share one node, and
        each appliance would keep taking the other's entities."""
        if not payload or len(payload) > MAX_DISCOVERY_BYTES:
            return
        try:
            config = json.loads(payload)
        except ValueError:
            return
        device = config.get("device") if isinstance(config, dict) else None
        owner = device.get("serial_number") if isinstance(device, dict) else None
        if isinstance(owner, str) and owner != self._info.id:
            self.health.duplicate(
                f"another appliance (device id {printable(owner)[:64]!r}) uses this one's Home Assistant device "
                f"{self._node}: device ids that differ only in case or punctuation share it; make them differ "
                "in a letter or digit")

    # ----------------------------------------------------------------------------------- worker thread
    def _run_worker(self) -> None:
        cfg = self._config
        now = time.monotonic()
        next_state = now + cfg.state_interval if cfg.state_interval else None
        discovery_at: float | None = None
        flush_by: float | None = None  # set while a reconnect flush is pending
        while True:
            deadlines = [t for t in (next_state, discovery_at, flush_by) if t is not None]
            timeout = max(min(deadlines) - time.monotonic(), 0.0) if deadlines else None
            try:
                item = self._inbox.get(timeout=timeout)
            except queue.Empty:
                item = None
            now = time.monotonic()
            if item == _STOP:
                return
            if isinstance(item, int):
                with self._lock:
                    self._unacked.discard(item)
            elif item == _LINK_UP:
                flush_by = now + FLUSH_WAIT
            elif item == _HA_ONLINE:
                discovery_at = now + cfg.discovery_delay
            elif isinstance(item, Command):
                self._execute(item)
            if flush_by is not None and self._flush_when_ready(force=now >= flush_by):
                flush_by = None
            if discovery_at is not None and now >= discovery_at:
                discovery_at = None
                log.info("MQTT: Home Assistant came online; republishing discovery and state")
                self.republish()
            if next_state is not None and now >= next_state:
                next_state = now + cfg.state_interval
                self._republish_state()

    def _flush_when_ready(self, force: bool) -> bool:
        """Flush once nothing from before the drop is still being re-delivered; False while waiting.

        A link that dropped again ends the wait too: its next connection starts a new one.
        """
        with self._lock:
            if not self._connected:
                return True
            if self._unacked and not force:
                return False
            if self._unacked:
                log.warning("MQTT: %d messages from before the reconnect still unacknowledged; going on",
                            len(self._unacked))
                self._unacked.clear()
            self._flush()
            return True

    def _republish_state(self) -> None:
        with self._lock:
            state = self._last_state if self._live else None
        if state is not None:
            self.publish_state(state)

    def _execute(self, command: Command) -> None:
        """Run one command through the daemon and publish the state that really resulted."""
        log.info("MQTT: command %s", command)
        try:
            self._dispatch[type(command)](command)
        except Exception:
            log.exception("MQTT: command %s failed; republishing the current state", command)
            self.republish()

    def _result(self, topic: str, asked: Any, applied: Any, publish: Callable[[Any], None]) -> None:
        if applied != asked:
            with self._lock:
                self._retained.pop(topic, None)  # publish it again even though it did not change
        publish(applied)

    def _refresh(self) -> None:
        self._handler.refresh()
        self.republish()

    def _publish_volume(self, volume: int) -> None:
        """The newest player state with ``volume``, in one step: a state the player's thread publishes
        meanwhile is never overwritten by an older one."""
        with self._lock:
            # The player may have stated it already (it ran the command first, or had that volume): then no
            # state of its is older than the command, and waiting for one would hold this volume for good.
            self._pending_volume = None if self._player_volume == volume else volume
            self._last_player = {**(self._last_player or {}), "volume": volume}
            self._keep_retained(self.topics.player_state, _json(self._last_player), qos=1)

    # ------------------------------------------------------------------------------------------- setup
    def _client_id(self) -> str:
        return self._config.client_id or client_id_for(self.topics.base.rsplit("/", 1)[-1])

    def _make_client(self) -> mqtt.Client:
        cfg = self._config
        client = new_client(cfg, self._client_id())
        client.will_set(self.topics.availability, OFFLINE, qos=1, retain=True)
        # paho's stub says int; it takes any number of seconds (the tests use fractions)
        client.reconnect_delay_set(cfg.reconnect_min_delay, cfg.reconnect_max_delay)  # type: ignore[arg-type]
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client


def new_client(cfg: MqttConfig, client_id: str) -> mqtt.Client:
    """A paho client set up as the config says: MQTT 3.1.1, clean session, credentials, TLS."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311,
                         clean_session=True)
    if cfg.username:
        client.username_pw_set(cfg.username, cfg.password)
    if cfg.tls:
        client.tls_set_context(_tls_context(cfg))
    return client


def check_broker(cfg: MqttConfig, client_id: str, timeout: float = 5.0) -> str | None:
    """Connect and log in as the appliance would (TLS and credentials included) and disconnect again;
    what went wrong, or None when the broker accepted. Uses ``<client_id>-check`` so a running appliance
    is not disconnected by it."""
    try:
        client = new_client(cfg, f"{client_id}-check")
    except ValueError as err:  # TLS files that cannot be used
        return str(err)
    answer: list[str | None] = []
    client.on_connect = lambda c, userdata, flags, reason, properties: answer.append(
        f"the broker refused the login: {reason}" if reason.is_failure else None)
    try:
        client.connect(cfg.host, cfg.port, keepalive=max(5, int(timeout) + 1))
    except (OSError, ValueError) as err:
        return _reason(err, cfg.tls)
    deadline = time.monotonic() + timeout
    try:
        while not answer and time.monotonic() < deadline:
            if client.loop(timeout=0.2) != mqtt.MQTT_ERR_SUCCESS and not answer:
                return "the broker closed the connection before accepting it (a TLS port without tls = true?)"
    finally:
        client.disconnect()
    if not answer:
        return f"no answer from the broker within {timeout:g} s"
    return answer[0]


def _tls_context(cfg: MqttConfig) -> ssl.SSLContext:
    """A client TLS context from the config; unreadable files are a clear ValueError at construction."""
    try:
        context = ssl.create_default_context(cafile=str(cfg.ca_file) if cfg.ca_file else None)
        if cfg.cert_file and cfg.key_file:
            context.load_cert_chain(str(cfg.cert_file), str(cfg.key_file))
    except (OSError, ssl.SSLError) as err:
        raise ValueError(f"mqtt TLS files cannot be used: {err}") from None
    if cfg.tls_insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def client_id_for(device_id: str) -> str:
    """The default MQTT client id of a device: its id, prefixed with ``todayfeeling-`` unless it has that."""
    return device_id if device_id.startswith("todayfeeling") else f"todayfeeling-{device_id}"


def _reason(error: BaseException, tls: bool) -> str:
    """A connection error in words: the OS's or the TLS library's reason."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS: the broker's certificate is not trusted ({error.verify_message})"
    if isinstance(error, ssl.SSLError):
        return f"TLS handshake failed ({error.reason or error}; a plain MQTT port with tls = true?)"
    if tls and isinstance(error, (ConnectionResetError, BrokenPipeError)):
        return (f"TLS handshake failed ({error.strerror or error}: the broker dropped it; a plain MQTT port with "
                "tls = true?)")
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine (credentials sent there never cross a network)."""
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _as_object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(f"{what} must be an object, got {type(value).__name__}")
    return value
