"""systemd notifications received on a REAL AF_UNIX datagram socket posing as systemd's NOTIFY_SOCKET.

The notifier writes the datagrams itself, never waiting (a manager that does not read costs a status, not a
frozen daemon).
"""

from __future__ import annotations

import os
import socket
import tempfile
import uuid
from pathlib import Path

import pytest

from todayfeeling.service import ServiceNotifier, socket_sender, watchdog_interval


@pytest.fixture
def notify_socket(monkeypatch):
    """A bound datagram socket; $NOTIFY_SOCKET points at it. Yields a function returning what arrived."""
    folder = Path(tempfile.mkdtemp(prefix="tf-notify-"))  # short: AF_UNIX paths are limited to 108 bytes
    path = folder / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)

    def received() -> list[str]:
        messages = []
        while True:
            try:
                messages.append(sock.recv(4096).decode())
            except BlockingIOError:
                return messages

    yield received
    sock.close()
    path.unlink()
    folder.rmdir()


def test_ready_status_stopping_arrive_exactly(notify_socket):
    notifier = ServiceNotifier()
    assert notifier.enabled and notifier.watchdog_interval is None
    notifier.ready("starting: backend cpu")
    notifier.status("mood happiness, 4.8 fps, backend cpu")
    notifier.status("mood happiness, 4.8 fps, backend cpu")  # unchanged: not sent again
    notifier.status("camera reconnecting: no frame (attempt 2)")
    notifier.stopping()
    assert notify_socket() == [
        "READY=1\nSTATUS=starting: backend cpu",
        "STATUS=mood happiness, 4.8 fps, backend cpu",
        "STATUS=camera reconnecting: no frame (attempt 2)",
        "STOPPING=1",
    ]


def test_reloading_carries_the_monotonic_time(notify_socket):
    notifier = ServiceNotifier()
    notifier.reloading()
    notifier.ready()
    reloading, ready = notify_socket()
    first, second = reloading.split("\n")
    assert first == "RELOADING=1" and second.startswith("MONOTONIC_USEC=") and int(second[15:]) > 0
    assert ready == "READY=1"


def test_watchdog_pings_at_half_the_interval(notify_socket, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")  # WatchdogSec=2: ping every second
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    now = [100.0]  # a clock the test moves: the pacing is checked without sleeping
    notifier = ServiceNotifier(clock=lambda: now[0])
    assert notifier.watchdog_interval == 1.0

    pings_after = []
    for step in (0.0, 0.25, 0.5, 0.25, 0.25, 0.5, 0.25, 5.0):  # main-loop iterations at these gaps
        now[0] += step
        notifier.tick()
        pings_after.append(len(notify_socket()))
    # the first tick pings; later ones only once a second has passed since the last ping
    assert pings_after == [1, 0, 0, 1, 0, 0, 1, 1]


def test_a_stuck_loop_sends_no_ping(notify_socket, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    now = [0.0]
    notifier = ServiceNotifier(clock=lambda: now[0])
    notifier.tick()
    now[0] += 60  # time passes but the loop never calls tick(): nothing is sent on its own
    assert notify_socket() == ["WATCHDOG=1"]


def test_abstract_namespace_socket(monkeypatch):
    name = f"todayfeeling-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    try:
        ServiceNotifier().ready()
        assert sock.recv(4096) == b"READY=1"
    finally:
        sock.close()


def test_without_systemd_everything_is_a_no_op(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    sent = []
    notifier = ServiceNotifier(lambda message: sent.append(message) or True)
    notifier.ready("x")
    notifier.tick()
    notifier.stopping()
    assert not notifier.enabled and notifier.watchdog_interval is None and sent == []


def test_a_vanished_socket_is_logged_not_raised(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone.sock"))
    ServiceNotifier(socket_sender()).ready()
    assert "cannot notify systemd (READY)" in caplog.text


def test_watchdog_for_another_process_is_ignored():
    env = {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}
    assert watchdog_interval(env, pid=4242) is None
    assert watchdog_interval(env, pid=1) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None


def test_a_manager_that_does_not_read_never_blocks_the_daemon(notify_socket, caplog):
    """A full queue (the manager does not read) drops the message and says so once, not once per message."""
    caplog.set_level("INFO", logger="todayfeeling.service")
    notifier = ServiceNotifier()
    for step in range(500):  # far more than an unread AF_UNIX datagram queue holds
        notifier.status(f"mood happiness, step {step}")
    arrived = notify_socket()
    assert 0 < len(arrived) < 500 and arrived[0] == "STATUS=mood happiness, step 0"
    assert caplog.text.count("cannot notify systemd (STATUS): its queue is full") == 1
    notifier.stopping()  # read now: the next one arrives, and the log says it works again
    assert notify_socket() == ["STOPPING=1"] and "notifying systemd works again" in caplog.text
