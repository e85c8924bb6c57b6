"""The real appliance process for tests: started as `python -m todayfeeling run`, watched from the outside.

``start_daemon`` (a fixture; tests/conftest.py loads this module as a plugin) starts one with a config file
and keeps its log in tmp_path; every process still running when the test ends is killed. ``notify_socket``
stands in for systemd's notification socket.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.broker import Broker
from tests.emulation import hang_guard


class Daemon:
    """A running appliance process and its log file."""

    def __init__(self, process: subprocess.Popen, log: Path) -> None:
        self.process = process
        self.log = log

    def log_text(self) -> str:
        return self.log.read_text()

    def wait_for_log(self, text: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + hang_guard(timeout)
        while text not in self.log_text():
            assert self.process.poll() is None or time.monotonic() < deadline, f"daemon exited; log:\n{self.log_text()}"
            assert time.monotonic() < deadline, f"{text!r} not logged; log:\n{self.log_text()}"
            time.sleep(0.05)

    def wait(self, timeout: float = 20.0) -> int:
        return self.process.wait(hang_guard(timeout))

    def stop(self) -> None:
        """SIGTERM, as systemd stops it, and a clean exit."""
        self.process.send_signal(signal.SIGTERM)
        assert self.wait(20) == 0, self.log_text()


class NotifySocket:
    """systemd's side of ``NOTIFY_SOCKET``: a datagram socket read all the time, as systemd reads it.

    A socket read only while a test waits fills up (a network namespace allows 10 queued datagrams, and the
    watchdog pings twice a second), and the daemon's next notification, such as STOPPING=1, is dropped.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(str(path))
        self._socket.settimeout(0.2)
        self._messages: list[str] = []
        self._changed = threading.Condition()
        self._open = True
        self._reader = threading.Thread(target=self._read, name="notify-socket", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while self._open:
            try:
                message = self._socket.recv(4096).decode()
            except TimeoutError:
                continue
            with self._changed:
                self._messages.append(message)
                self._changed.notify_all()

    def wait_for(self, until: Callable[[list[str]], bool], timeout: float = 20.0) -> list[str]:
        """Every message received so far, once ``until`` holds for them (or the hang guard's time is up)."""
        with self._changed:
            self._changed.wait_for(lambda: until(self._messages), hang_guard(timeout))
            return list(self._messages)

    def wait_for_status(self, until: Callable[[str], bool], timeout: float = 20.0) -> str:
        """The first STATUS= text for which ``until`` holds (AssertionError naming those seen if none does)."""
        def statuses(messages: list[str]) -> list[str]:
            return [line[7:] for m in messages for line in m.splitlines() if line.startswith("STATUS=")]
        seen = statuses(self.wait_for(lambda got: any(until(s) for s in statuses(got)), timeout))
        found = [s for s in seen if until(s)]
        assert found, f"no such STATUS among {seen}"
        return found[0]

    def close(self) -> None:
        self._open = False
        self._reader.join()
        self._socket.close()


@pytest.fixture()
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    """A stand-in for systemd's notification socket; pass ``NOTIFY_SOCKET=str(it.path)`` to the daemon."""
    listener = NotifySocket(tmp_path / "notify.sock")
    yield listener
    listener.close()


def write_config(path: Path, broker: Broker, music: Path, tmp_path: Path, extra: str = "") -> Path:
    path.write_text(f"""
[device]
id = "e2e"
name = "E2E speaker"

[mqtt]
host = "{broker.host}"
port = {broker.port}
keepalive = 2
stats_interval = 1.0
discovery_delay = 0.2
publish_track = true

[music]
dir = "{music}"
switch = "immediate"
fade_ms = 100

[history]
db = "{tmp_path / 'history.sqlite3'}"

[inference]
threads = 1
{extra}
""")
    return path


@pytest.fixture()
def start_daemon(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def start(config: Path, *args: str, env: dict[str, str] | None = None) -> Daemon:
        log = tmp_path / f"daemon{len(started)}.log"
        environment = {**os.environ, "SDL_AUDIODRIVER": "dummy", "PYTHONUNBUFFERED": "1", **(env or {})}
        with log.open("w") as sink:
            process = subprocess.Popen([sys.executable, "-m", "todayfeeling", "run", "--config", str(config), *args],
                                       stdout=sink, stderr=subprocess.STDOUT, env=environment)
        daemon = Daemon(process, log)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait(10)
