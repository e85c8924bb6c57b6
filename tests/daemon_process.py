"""The real appliance process for tests: started as `python -m todayfeeling run`, watched from the outside.

``start_daemon`` (a fixture; tests/conftest.py loads this module as a plugin) starts one with a config file
and keeps its log in tmp_path; every process still running when the test ends is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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
