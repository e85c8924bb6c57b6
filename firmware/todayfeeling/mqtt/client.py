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

import itertools
import json
import logging
import queue
import ssl
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from todayfeeling import __version__
from todayfeeling.mqtt.commands import Command, CommandHandler, InvalidCommand, parse_command
from todayfeeling.mqtt.config import MqttConfig
from todayfeeling.mqtt.discovery import RETIRED_ENTITIES, DiscoveryMessage, discovery_messages
from todayfeeling.mqtt.payloads import EVENT_TYPES, MUSIC_MODES, PayloadError, publishable, timestamp
from todayfeeling.mqtt.topics import Topics

log = logging.getLogger(__name__)

ONLINE = "online"
OFFLINE = "offline"
FLUSH_WAIT = 5.0  # seconds a reconnect flush waits for re-delivery of messages in flight at the drop
STOP_TIMEOUT = 5.0  # seconds a clean stop waits for the worker, and for ``offline`` to be acknowledged

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
    ) -> None:
        """``handler`` carries out commands; ``retired_entities`` are deleted from Home Assistant."""
        self._config = config
        self.topics = Topics.for_device(config.topic_prefix, device_id, config.discovery_prefix)
        self._discovery: list[DiscoveryMessage] = (
            discovery_messages(self.topics, config.discovery_prefix, device_id, device_name, retired_entities)
            if config.discovery else []
        )
        self._handler = handler
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
        self._last_refusal: str | None = None  # logged once per streak of identical refusals
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._client = self._make_client()
        self._worker = threading.Thread(target=self._run_worker, name="mqtt-worker", daemon=True)

    # ----------------------------------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Connect in the background (retrying forever with backoff) and start the worker."""
        cfg = self._config
        log.info("MQTT: connecting to %s:%d as %s", cfg.host, cfg.port, self._client_id())
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

    # ------------------------------------------------------------------------------------ publishing
    def publish_state(self, state: Mapping[str, Any]) -> None:
        """The room's state (mood, confidence, since, faces, privacy): retained, stamped with seq and ts."""
        fields = _as_object(publishable(state, "state"), "state")
        with self._lock:
            self._last_state = fields
            self._keep_retained(self.topics.state, self._stamped(fields), qos=1)

    def publish_event(self, event_type: str, **fields: Any) -> None:
        """A momentary event (never retained); queued in order while the broker is unreachable."""
        if event_type not in EVENT_TYPES:
            raise PayloadError(f"unknown event type {event_type!r} (known: {', '.join(EVENT_TYPES)})")
        body = publishable({"event_type": event_type, **fields}, "event")
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
        """The player's state (state, playlist, track, volume, mode): retained."""
        fields = _as_object(publishable(player, "player"), "player")
        with self._lock:
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
        if mode not in MUSIC_MODES:
            raise PayloadError(f"unknown music mode {mode!r} (known: {', '.join(MUSIC_MODES)})")
        with self._lock:
            self._keep_retained(self.topics.music_mode_state, mode.encode(), qos=1)

    def publish_stats(self, stats: Mapping[str, Any]) -> None:
        """Health figures, retained at QoS 0, with the link's own counters added.

        Expected keys: ``uptime_s``, ``backend`` (``preferred``, ``actual``, ``reason``; ``degraded`` is
        derived when missing: an Edge TPU preferred but the CPU in use), ``ms`` (per stage), ``fps``,
        ``cpu_temp_c`` (None when unknown). ``version``, ``reconnects``, ``events_dropped`` and ``ts`` are
        filled in here.
        """
        fields = _as_object(publishable(stats, "stats"), "stats")
        backend = fields.get("backend")
        if isinstance(backend, dict) and "degraded" not in backend:
            backend["degraded"] = backend.get("preferred") == "edgetpu" and backend.get("actual") != "edgetpu"
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
        self._retained[topic] = (payload, qos)
        if self._live:
            self._send(topic, payload, qos, retain=True)

    def _send(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if qos:
            self._unacked.add(info.mid)

    def _publish_all(self) -> None:
        for message in self._discovery:
            payload = b"" if message.config is None else _json(message.config)
            self._send(message.topic, payload, qos=1, retain=True)
        self._send(self.topics.availability, ONLINE.encode(), qos=1, retain=True)
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
            refusal = str(reason)
            level = logging.DEBUG if refusal == self._last_refusal else logging.WARNING
            self._last_refusal = refusal
            log.log(level, "MQTT: broker refused the connection: %s (retrying)", refusal)
            return
        self._last_refusal = None
        subscriptions = [(topic, 1) for topic in self.topics.commands]
        if self._config.discovery:
            subscriptions.append((self.topics.ha_status, 1))
        client.subscribe(subscriptions)
        with self._lock:
            self._connected = True
            self._connections += 1
        self._inbox.put(_LINK_UP)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        with self._lock:
            was_connected = self._connected
            self._connected = False
            self._live = False
            stopped = self._stopped
        if was_connected and not stopped:
            log.warning("MQTT: connection lost (%s); reconnecting", reason)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        # Called with paho's message lock held: hand the id over, never take self._lock here.
        self._inbox.put(mid)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
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
        log.info("MQTT: command %s = %r", command.kind, command.value)
        try:
            if command.kind == "privacy":
                self.publish_privacy(self._handler.set_privacy(command.value))
            elif command.kind == "music_mode":
                self.publish_music_mode(self._handler.set_music_mode(command.value))
            elif command.kind == "volume":
                self._publish_volume(self._handler.set_volume(command.value))
            elif command.kind == "player":
                self._handler.player_command(command.value)
            else:  # device: refresh
                self.republish()
        except Exception:
            log.exception("MQTT: command %s = %r failed; republishing the current state", command.kind,
                          command.value)
            self.republish()

    def _publish_volume(self, volume: int) -> None:
        """The newest player state with ``volume``, in one step: a state the player's thread publishes
        meanwhile is never overwritten by an older one."""
        with self._lock:
            self._last_player = {**(self._last_player or {}), "volume": volume}
            self._keep_retained(self.topics.player_state, _json(self._last_player), qos=1)

    # ------------------------------------------------------------------------------------------- setup
    def _client_id(self) -> str:
        return self._config.client_id or f"todayfeeling-{self.topics.base.rsplit('/', 1)[-1]}"

    def _make_client(self) -> mqtt.Client:
        cfg = self._config
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self._client_id(),
                             protocol=mqtt.MQTTv311, clean_session=True)
        client.will_set(self.topics.availability, OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(cfg.reconnect_min_delay, cfg.reconnect_max_delay)
        if cfg.username:
            client.username_pw_set(cfg.username, cfg.password)
        if cfg.tls:
            client.tls_set_context(_tls_context(cfg))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client


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


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _as_object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(f"{what} must be an object, got {type(value).__name__}")
    return value
