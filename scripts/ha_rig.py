"""The processes of the real-Home-Assistant check (scripts/ha_check.py) and bounded waiting on them.

- :class:`HomeAssistant`: ``hass`` in the Debian 13 root (``chroot``), its config in the work folder,
  headless on a free loopback port, with ``--skip-pip`` (everything it imports was installed when the root
  was built, so it never reaches out); one console log per start.
- :class:`Appliance`: ``todayfeeling run --source demo`` from the project's venv with a generated music
  library and a config file that keeps its files in the work folder; one log per start.
- mosquitto and the MQTT probe are the tests' own (``tests/broker.py``).

scripts/ha-check.sh runs all of this in a private network namespace and mounts the work folder into the
root at :data:`ROOT_WORKDIR`.
"""

from __future__ import annotations

import math
import os
import re
import signal
import struct
import subprocess
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ha_api import ApiError, RestClient

ROOT_WORKDIR = "/run/ha-check"  # where the work folder appears inside the root
HOST = "127.0.0.1"
MOODS = ("anger", "fear", "happiness", "sadness", "surprise", "neutral")


class CheckFailed(AssertionError):
    """A check's expectation did not hold (the message says what was seen instead)."""


def wait_until(mismatch: Callable[[], str | None], timeout: float, what: str, interval: float = 0.25) -> float:
    """Poll ``mismatch`` (None: satisfied, else what is wrong) until it is satisfied; the seconds it took.

    An :class:`ApiError` counts as a mismatch (Home Assistant restarting). After ``timeout`` seconds
    :class:`CheckFailed` says ``what`` was expected and the last mismatch.
    """
    started = time.monotonic()
    while True:
        try:
            problem = mismatch()
        except ApiError as err:
            problem = str(err)
        if problem is None:
            return time.monotonic() - started
        if time.monotonic() - started >= timeout:
            raise CheckFailed(f"{what}: not within {timeout:.0f} s; last seen: {problem}")
        time.sleep(interval)


def _stop_process(process: subprocess.Popen[bytes], sig: int, timeout: float) -> int:
    """Send ``sig``, wait up to ``timeout`` s, then SIGKILL; the exit status (negative: killed by a signal)."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait(10)


class HomeAssistant:
    """Home Assistant in ``root``, configured in ``workdir/ha``; :attr:`api` is its REST client."""

    STOP_TIMEOUT = 60.0

    def __init__(self, root: Path, workdir: Path, port: int) -> None:
        self.root = root
        self.config_dir = workdir / "ha"
        self.api = RestClient(HOST, port)
        self.logs: list[Path] = []
        self._workdir = workdir
        self._process: subprocess.Popen[bytes] | None = None
        self.config_dir.mkdir()
        (self.config_dir / "configuration.yaml").write_text(
            "homeassistant:\n  name: Today Feeling check\n  time_zone: UTC\n  country: DE\n"
            "  unit_system: metric\n  latitude: 0\n  longitude: 0\n  elevation: 0\n"
            f"http:\n  server_host: {HOST}\n  server_port: {port}\n")

    @property
    def version(self) -> str:
        sites = self.root / "opt/ha/lib"
        found = next(sites.glob("python3*/site-packages/homeassistant-*.dist-info"), None)
        return found.name.split("-")[1].removesuffix(".dist") if found else "?"

    def start(self, timeout: float = 180.0) -> float:
        """Start ``hass`` and wait until it is ready (:meth:`wait_ready`); the seconds that took."""
        assert self._process is None or self._process.poll() is not None, "Home Assistant already running"
        log = self._workdir / f"home-assistant-{len(self.logs) + 1}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            self._process = subprocess.Popen(
                ["chroot", str(self.root), "/usr/bin/env", "-i", "PATH=/opt/ha/bin:/usr/bin:/bin", "HOME=/root",
                 "LANG=C.UTF-8", "TZ=UTC", "/opt/ha/bin/hass", "-c", f"{ROOT_WORKDIR}/ha", "--skip-pip"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        return self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 180.0) -> float:
        """Wait until the API answers: before onboarding its onboarding view, after it the core RUNNING."""
        def ready() -> str | None:
            if self._process is None or self._process.poll() is not None:
                status = None if self._process is None else self._process.returncode
                raise CheckFailed(f"Home Assistant exited with status {status}; see {self.logs[-1].name}")
            if self.api.token:
                config = self.api.request("GET", "/api/config")
                return None if config.get("state") == "RUNNING" else f"state {config.get('state')}"
            self.api.request("GET", "/api/onboarding", auth=False)
            return None

        return wait_until(ready, timeout, "Home Assistant answers on its API", interval=0.5)

    def stop(self) -> int:
        """SIGTERM and wait (SIGKILL after :attr:`STOP_TIMEOUT`); the exit status."""
        if self._process is None:
            return 0
        status = _stop_process(self._process, signal.SIGTERM, self.STOP_TIMEOUT)
        self._process = None
        return status

    def log_records(self) -> list[LogRecord]:
        """Every record of every start's log, in order."""
        return [record for log in self.logs if log.exists() for record in parse_log(log.read_text(errors="replace"))]


@dataclass(frozen=True)
class LogRecord:
    """One record of Home Assistant's log: its level, logger and text (a traceback included)."""

    level: str
    logger: str
    text: str


_RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ (?P<level>[A-Z]+) \([^)]*\) \[(?P<logger>[^\]]+)\] ")


def parse_log(text: str) -> list[LogRecord]:
    """Home Assistant's console log split into records; lines without a timestamp continue the record."""
    records: list[LogRecord] = []
    for line in text.splitlines():
        start = _RECORD_START.match(line)
        if start:
            records.append(LogRecord(start["level"], start["logger"], line))
        elif records:
            last = records[-1]
            records[-1] = LogRecord(last.level, last.logger, last.text + "\n" + line)
    return records


class Appliance:
    """``todayfeeling run`` on the demo camera against the broker on ``broker_port``."""

    STOP_TIMEOUT = 20.0

    def __init__(self, venv: Path, workdir: Path, broker_port: int, device_id: str, extra_config: str = "") -> None:
        self.device_id = device_id
        self.logs: list[Path] = []
        self._workdir = workdir
        self._executable = venv / "bin" / "todayfeeling"
        self._broker_port = broker_port
        self._process: subprocess.Popen[bytes] | None = None
        self.music = workdir / "music"
        write_music(self.music)
        self.state_dir = workdir / "appliance-state"
        self.state_dir.mkdir()
        self.config_file = workdir / "appliance.toml"
        self.config_file.write_text(f'[history]\ndb = "{self.state_dir / "history.sqlite3"}"\n'
                                    f'[daemon]\nstate_dir = "{self.state_dir}"\n' + extra_config)

    def start(self) -> None:
        assert not self.running, "appliance already running"
        log = self._workdir / f"appliance-{len(self.logs) + 1}.log"
        self.logs.append(log)
        # STATE_DIRECTORY is where systemd's StateDirectory= points the service
        env = {**os.environ, "SDL_AUDIODRIVER": "dummy", "STATE_DIRECTORY": str(self.state_dir)}
        with log.open("wb") as out:
            self._process = subprocess.Popen(
                [str(self._executable), "run", "--config", str(self.config_file), "--source", "demo",
                 "--mqtt", f"{HOST}:{self._broker_port}", "--device-id", self.device_id, "--music", str(self.music)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Send ``sig`` (SIGKILL after :attr:`STOP_TIMEOUT`) and wait; the exit status."""
        if self._process is None:
            return 0
        if sig == signal.SIGKILL:
            self._process.send_signal(signal.SIGCONT)
        status = _stop_process(self._process, sig, self.STOP_TIMEOUT)
        self._process = None
        return status

    def freeze(self) -> None:
        """SIGSTOP: the process and its connection hang, as on a frozen or cut-off unit."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def log_tail(self, lines: int = 20) -> str:
        if not self.logs or not self.logs[-1].exists():
            return ""
        return "\n".join(self.logs[-1].read_text(errors="replace").splitlines()[-lines:])


def write_music(folder: Path, tracks_per_mood: int = 2, seconds: float = 30.0, rate: int = 16000) -> None:
    """A library with ``tracks_per_mood`` quiet sine-tone WAV files in each mood's folder."""
    for mood_index, mood in enumerate(MOODS):
        (folder / mood).mkdir(parents=True)
        for track in range(tracks_per_mood):
            period = 40 + 7 * (mood_index * tracks_per_mood + track)  # samples per cycle: 400 Hz and below
            cycle = b"".join(struct.pack("<h", round(3000 * math.sin(2 * math.pi * i / period))) for i in range(period))
            with wave.open(str(folder / mood / f"{mood}-{track + 1}.wav"), "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(rate)
                out.writeframes(cycle * round(seconds * rate / period))
