"""The appliance's main loop in a real process: its signal handlers, reloads and shutdown.

The end-to-end tests (test_daemon_e2e.py) drive `todayfeeling run` from the outside; these run small
scripts against :class:`~todayfeeling.daemon.Appliance` to reach moments that are hard to hit from outside.
"""

from __future__ import annotations

import subprocess
import sys
import threading

from todayfeeling import daemon
from todayfeeling.camera.demo import DemoSource
from todayfeeling.config import defaults
from todayfeeling.daemon import Appliance
from todayfeeling.inference.manifest import Manifest
from todayfeeling.inference.pipeline import FacePipeline

SIGNAL_WHILE_LOCKED = """
import os, signal
from todayfeeling.commands.run import install_signal_handlers
from todayfeeling.config import defaults
from todayfeeling.daemon import Appliance
from todayfeeling.inference.pipeline import FacePipeline

config = defaults()
reloads = []
appliance = Appliance(config, None, FacePipeline.from_config(config.inference),
                      reload_config=lambda: reloads.append(1) or config)
install_signal_handlers(appliance)
with appliance._lock:  # the main loop holds it for a moment on every frame
    os.kill(os.getpid(), signal.SIGHUP)  # the handler runs in this thread, right here
    os.kill(os.getpid(), signal.SIGUSR1)
appliance._wake.wait(10)
for _ in range(100):
    appliance._apply_requests()  # what the main loop does next
    if reloads and appliance._privacy:
        break
    appliance._wake.wait(0.1)
print("reloaded" if reloads else "not reloaded", "privacy" if appliance._privacy else "no privacy")
"""


def test_a_signal_while_the_main_loop_holds_its_lock_neither_deadlocks_nor_is_lost() -> None:
    done = subprocess.run([sys.executable, "-c", SIGNAL_WHILE_LOCKED], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["reloaded", "privacy"]


def test_a_privacy_command_waiting_for_the_main_loop_is_released_by_a_stop(monkeypatch, models_dir) -> None:
    # The MQTT worker waits in set_privacy until the main loop applied it; a stop must end that wait at
    # once, or MqttPublisher.stop() (which joins the worker) holds up the shutdown.
    monkeypatch.setattr(daemon, "PRIVACY_WAIT_S", 3600.0)
    config = defaults()
    appliance = Appliance(config, DemoSource(Manifest(models_dir), empty=True),
                          FacePipeline.from_config(config.inference))
    answers: list[bool] = []
    worker = threading.Thread(target=lambda: answers.append(appliance.set_privacy(True)))
    worker.start()
    appliance.request_stop()
    worker.join(30)
    assert not worker.is_alive()
    assert answers == [False]  # the loop never applied it

