"""A real mosquitto broker for tests, and a probe client that records what it sees.

Loaded for every test module by ``pytest_plugins`` in tests/conftest.py. Fixtures:

- ``mosquitto``: an anonymous broker on a free 127.0.0.1 port, stopped after the test.
- ``broker_factory(users=..., certificates=..., require_client_cert=...)``: brokers with
  username/password (``users={"name": "password"}``) and/or TLS; all stopped after the test.
- ``tls_certificates``: a CA, a server certificate for 127.0.0.1/localhost and a client certificate,
  generated once per session with the ``openssl`` command.
- ``probe_factory(broker, *topic_filters)``: a connected :class:`MqttProbe` subscribed to the filters.

A :class:`Broker` can be stopped and started again on the same port (``stop()``, ``start()``),
suspended (``freeze()``) and killed (``crash()``), which is how reconnects are tested. Without
``persistence=True`` a restart loses retained messages and sessions, like a broker that crashed.
Its log is in ``broker.log_lines`` (``wait_for_log(text)`` waits for a line).
"""

from __future__ import annotations

import getpass
import shutil
import signal
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.emulation import hang_guard

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
HOST = "127.0.0.1"
WAIT = hang_guard(10.0)  # seconds any condition in these helpers may take before the test fails


@dataclass(frozen=True)
class Certificates:
    """PEM files of a throw-away PKI: the CA, the broker's certificate and a client certificate."""

    ca_file: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_certificates(folder: Path) -> Certificates:
    """Generate a CA and certificates signed by it (server: IP 127.0.0.1 and DNS localhost)."""
    folder.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=Test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                       "extendedKeyUsage=serverAuth\n")
    (folder / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name in ("server", "client"):
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext")
    return Certificates(folder / "ca.crt", folder / "server.crt", folder / "server.key",
                        folder / "client.crt", folder / "client.key")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class Broker:
    """One mosquitto process with a generated config in ``folder``."""

    def __init__(self, folder: Path, users: dict[str, str] | None = None, certificates: Certificates | None = None,
                 require_client_cert: bool = False, persistence: bool = False) -> None:
        self.folder = folder
        self.host = HOST
        self.port = free_port()
        self.users = users or {}
        self.certificates = certificates
        self.persistence = persistence
        self.log_lines: list[str] = []
        self._log_changed = threading.Condition()
        self._process: subprocess.Popen[str] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        # "user": as root, mosquitto would switch to the mosquitto user, who cannot read the test's files.
        lines = [f"listener {self.port} {HOST}", f"user {getpass.getuser()}", "log_dest stderr",
                 "log_type error", "log_type warning", "log_type notice", "log_type information",
                 f"allow_anonymous {'false' if self.users else 'true'}"]
        if persistence:  # retained messages and persistent sessions survive a stop()/start()
            lines += ["persistence true", f"persistence_location {folder}/"]
        else:
            lines.append("persistence false")
        if self.users:
            password_file = folder / "passwords"
            password_file.touch(mode=0o600)
            for user, password in self.users.items():
                subprocess.run([MOSQUITTO_PASSWD, "-b", str(password_file), user, password], check=True,
                               capture_output=True)
            lines.append(f"password_file {password_file}")
        if certificates:
            lines += [f"cafile {certificates.ca_file}", f"certfile {certificates.server_cert}",
                      f"keyfile {certificates.server_key}",
                      f"require_certificate {'true' if require_client_cert else 'false'}"]
        self.config_file = folder / "mosquitto.conf"
        self.config_file.write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        """Start mosquitto and return once it says it is running."""
        assert self._process is None, "broker already running"
        process = subprocess.Popen([MOSQUITTO, "-c", str(self.config_file)], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        running = threading.Event()

        def read_log() -> None:
            for line in process.stderr:
                with self._log_changed:
                    self.log_lines.append(line.rstrip())
                    self._log_changed.notify_all()
                if " running" in line:
                    running.set()
            running.set()  # exited: stop waiting

        threading.Thread(target=read_log, name=f"mosquitto-{self.port}-log", daemon=True).start()
        if not running.wait(WAIT) or process.poll() is not None:
            process.kill()
            process.wait()
            raise RuntimeError("mosquitto did not start:\n" + "\n".join(self.log_lines))
        self._process = process

    def stop(self) -> None:
        """Stop mosquitto (SIGTERM) and wait for it to exit."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(WAIT)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def freeze(self) -> None:
        """Suspend mosquitto (SIGSTOP): connections stay open, nothing is answered."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def crash(self) -> None:
        """Kill mosquitto (SIGKILL), frozen or not: connections drop, nothing is saved."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def wait_for_log(self, text: str, timeout: float = WAIT) -> str:
        """The first log line containing ``text``, waiting for it to be written."""
        def find() -> str | None:
            return next((line for line in self.log_lines if text in line), None)

        with self._log_changed:
            self._log_changed.wait_for(lambda: find() is not None, timeout)
            line = find()
        assert line is not None, f"broker never logged {text!r}; log:\n" + "\n".join(self.log_lines)
        return line

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None


@dataclass(frozen=True)
class Received:
    """One message as the probe saw it."""

    topic: str
    payload: bytes
    retain: bool
    qos: int

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8")


class MqttProbe:
    """A plain paho client that records every message on its subscriptions and can publish.

    It reconnects by itself (quickly) and subscribes again unless the broker kept its session;
    ``persistent=True`` asks for such a session, so QoS 1 messages wait in the broker while it is away.
    """

    def __init__(self, broker: Broker, *topic_filters: str, username: str = "", password: str = "",
                 tls_context: ssl.SSLContext | None = None, persistent: bool = False) -> None:
        self.messages: list[Received] = []
        self._changed = threading.Condition()
        self._topic_filters = topic_filters
        self._subscribed = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{id(self)}",
                                   clean_session=not persistent)
        self._client.reconnect_delay_set(0.05, 0.5)
        if username:
            self._client.username_pw_set(username, password)
        if tls_context is not None:
            self._client.tls_set_context(tls_context)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *args: self._subscribed.set()
        self._client.connect(broker.host, broker.port, keepalive=30)
        self._client.loop_start()
        if topic_filters:
            assert self._subscribed.wait(WAIT), "probe could not subscribe"

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        if self._topic_filters and not reason.is_failure and not flags.session_present:
            client.subscribe([(topic, 1) for topic in self._topic_filters])

    def _on_message(self, client, userdata, message) -> None:
        with self._changed:
            self.messages.append(Received(message.topic, bytes(message.payload), bool(message.retain), message.qos))
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[Received], bool], timeout: float = WAIT, count: int = 1) -> list[Received]:
        """The first ``count`` recorded messages matching ``predicate``, waiting for them to arrive."""
        with self._changed:
            found = self._changed.wait_for(
                lambda: len([m for m in self.messages if predicate(m)]) >= count, timeout)
            matches = [m for m in self.messages if predicate(m)]
        assert found, f"expected {count} matching messages, got {len(matches)}; all: {self.messages}"
        return matches[:count]

    def on(self, topic: str, timeout: float = WAIT, count: int = 1) -> list[Received]:
        """The first ``count`` messages on ``topic``."""
        return self.wait_for(lambda m: m.topic == topic, timeout, count)

    def last(self, topic: str) -> Received | None:
        """The newest message seen on ``topic`` so far."""
        with self._changed:
            return next((m for m in reversed(self.messages) if m.topic == topic), None)

    def clear(self) -> None:
        with self._changed:
            self.messages.clear()

    def publish(self, topic: str, payload: bytes | str, retain: bool = False, qos: int = 1) -> None:
        """Publish and wait until the broker has it."""
        self._client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(WAIT)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture(scope="session")
def tls_certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A CA with a server and a client certificate, shared by the whole session."""
    return make_certificates(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    """Start brokers with options (see :class:`Broker`); each is stopped after the test."""
    brokers: list[Broker] = []

    def start(**options) -> Broker:
        broker = Broker(tmp_path / f"broker{len(brokers)}", **options)
        brokers.append(broker)
        broker.start()
        return broker

    yield start
    for broker in brokers:
        broker.stop()


@pytest.fixture
def mosquitto(broker_factory: Callable[..., Broker]) -> Broker:
    """An anonymous broker on a free loopback port."""
    return broker_factory()


@pytest.fixture
def probe_factory() -> Iterator[Callable[..., MqttProbe]]:
    """Connect probes (``probe_factory(broker, "topic/#", ...)``); each is closed after the test."""
    probes: list[MqttProbe] = []

    def connect(broker: Broker, *topic_filters: str, **options) -> MqttProbe:
        probe = MqttProbe(broker, *topic_filters, **options)
        probes.append(probe)
        return probe

    yield connect
    for probe in probes:
        probe.close()
