"""Settings of the MQTT link (the ``[mqtt]`` section of config.toml)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class MqttConfig:
    """Where the broker is, how to authenticate, and how the device shows up on it.

    The device's topics live under ``<topic_prefix>/<device id>``; Home Assistant discovery goes under
    ``<discovery_prefix>/…``. Intervals are in seconds; ``state_interval = 0`` turns the periodic
    republication of the state off.
    """

    enabled: bool = True
    host: str = "localhost"
    port: int = 1883
    client_id: str = ""  # empty: "todayfeeling-<device id>"
    username: str = ""  # empty: anonymous
    password: str = ""
    tls: bool = False
    ca_file: Path | None = None  # None with tls: the system's trusted CAs
    cert_file: Path | None = None  # client certificate, for brokers that require one
    key_file: Path | None = None
    tls_insecure: bool = False  # accept any broker certificate (self-signed setups): encrypted, not authenticated
    keepalive: int = 60
    reconnect_min_delay: float = 1.0
    reconnect_max_delay: float = 60.0
    topic_prefix: str = "todayfeeling"
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    discovery_delay: float = 5.0  # after Home Assistant announces itself online, before republishing
    state_interval: float = 300.0
    stats_interval: float = 30.0
    event_queue_size: int = 256  # events kept while the broker is unreachable; older ones are dropped and counted

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("host must not be empty")
        if not 1 <= self.port <= 65535:
            raise ValueError("port must be between 1 and 65535")
        if self.username and not self.password:
            raise ValueError("password is required when username is set")
        if self.password and not self.username:
            raise ValueError("password is set but username is empty")
        if not self.tls and any((self.ca_file, self.cert_file, self.key_file, self.tls_insecure)):
            raise ValueError("ca_file, cert_file, key_file and tls_insecure need tls = true")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be given together")
        if not 1 <= self.keepalive <= 65535:
            raise ValueError("keepalive must be between 1 and 65535 seconds")
        if not 0 < self.reconnect_min_delay <= self.reconnect_max_delay:
            raise ValueError("reconnect delays must satisfy 0 < reconnect_min_delay <= reconnect_max_delay")
        for name in ("topic_prefix", "discovery_prefix"):
            value = getattr(self, name)
            if not value or any(c in value for c in "+#\0") or value.startswith("/") or value.endswith("/"):
                raise ValueError(f"{name} must be a non-empty topic without wildcards or outer slashes")
        if self.discovery_delay < 0:
            raise ValueError("discovery_delay must not be negative")
        if self.state_interval < 0:
            raise ValueError("state_interval must not be negative (0 turns it off)")
        if self.stats_interval <= 0:
            raise ValueError("stats_interval must be positive")
        if self.event_queue_size < 1:
            raise ValueError("event_queue_size must be at least 1")
