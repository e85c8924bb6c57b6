"""An Edge TPU unplugged while the appliance runs: CPU at once, an event, a diagnostic flag, and recovery.

The Edge TPU cannot exist on a build machine, so it is faked at the narrowest point: the delegate loader and
the interpreter made with the delegate (which runs the CPU model and fails while "unplugged"). Everything
else is real: the models, the runtime's fallback, the daemon, MQTT over a real mosquitto.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.broker import Broker, MqttProbe
from todayfeeling.camera.demo import DemoSource
from todayfeeling.config import AppConfig, load_config
from todayfeeling.daemon import Appliance
from todayfeeling.inference import runtime
from todayfeeling.inference.manifest import Manifest
from todayfeeling.inference.pipeline import FacePipeline
from todayfeeling.mqtt.client import MqttPublisher
from todayfeeling.text import MAX_REASON

BASE = "todayfeeling/tpu"


class FakeEdgeTpu:
    """A Coral that can be unplugged and plugged back in."""

    def __init__(self) -> None:
        self.plugged = True
        self.invoke_error = "Failed to invoke: USB device disconnected"
        self.real_interpreter = runtime.Interpreter

    def load_delegate(self, library: str, options: dict[str, Any] | None = None) -> object:
        if not self.plugged:
            raise ValueError(f"Failed to load delegate from {library}")
        return object()

    def interpreter(self, model_path: str, experimental_delegates: list | None = None, **kwargs: Any) -> Any:
        interpreter = self.real_interpreter(model_path=model_path, **kwargs)
        if not experimental_delegates:
            return interpreter
        tpu = self
        real_invoke = interpreter.invoke

        class OnTheTpu:
            def __getattr__(self, name: str) -> Any:
                return getattr(interpreter, name)

            def invoke(self) -> None:
                if not tpu.plugged:
                    raise RuntimeError(tpu.invoke_error)
                real_invoke()

        return OnTheTpu()


@contextmanager
def running(config: AppConfig, pipeline: FacePipeline, models: Path) -> Iterator[Appliance]:
    """The appliance on the demo camera, publishing to the configured broker, run in a thread; it must keep
    running until the block ends, then stop cleanly."""
    appliance = Appliance(config, DemoSource(Manifest(models)), pipeline,
                          mqtt_factory=lambda app: MqttPublisher(config.mqtt, "tpu", "TPU test", app))
    runner = threading.Thread(target=appliance.run)
    runner.start()
    try:
        yield appliance
        assert runner.is_alive(), "the main loop ended early"
    finally:
        appliance.request_stop()
        runner.join(15)
    assert not runner.is_alive()


@pytest.fixture()
def tpu(monkeypatch: pytest.MonkeyPatch) -> FakeEdgeTpu:
    fake = FakeEdgeTpu()
    monkeypatch.setattr(runtime, "Interpreter", fake.interpreter)
    monkeypatch.setattr(runtime, "load_edgetpu_delegate", fake.load_delegate)
    return fake


@pytest.fixture()
def models_with_twin(tmp_path: Path, models_dir: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    manifest = Manifest(models_dir)
    for name in ("manifest.json", "demo_astronaut.png"):
        shutil.copy(models_dir / name, folder / name)
    for spec in (manifest.spec("face_full_range", "face_detector"), manifest.spec("", "emotion")):
        shutil.copy(spec.path, folder / spec.path.name)
    detector = folder / manifest.spec("face_full_range", "face_detector").path.name
    shutil.copy(detector, runtime.edgetpu_twin(detector))  # stands in for the compiled model
    return folder


def test_unplugged_edge_tpu_falls_back_to_cpu_and_recovers(
        tmp_path: Path, tpu: FakeEdgeTpu, models_with_twin: Path, mosquitto: Broker,
        probe_factory: Callable[..., MqttProbe]) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text(f"""
[device]
id = "tpu"
[mqtt]
host = "{mosquitto.host}"
port = {mosquitto.port}
stats_interval = 0.2
[inference]
models_dir = "{models_with_twin}"
edgetpu_device = "usb"
[daemon]
edgetpu_retry_s = 0.2
idle_fps = 20
active_fps = 20
[history]
enabled = false
""")
    config = load_config(config_file)
    pipeline = FacePipeline.from_config(config.inference)
    assert pipeline.backends["detector"].actual == "edgetpu"
    assert pipeline.backends["classifier"].actual == "cpu"  # it has no compiled twin: the CPU by choice
    probe = probe_factory(mosquitto, f"{BASE}/#")

    with running(config, pipeline, models_with_twin) as appliance:
        probe.wait_for(lambda m: m.topic == f"{BASE}/stats" and json.loads(m.payload)["backend"]["actual"] == "edgetpu")
        tpu.plugged = False
        fallback = probe.wait_for(lambda m: m.topic == f"{BASE}/event"
                                  and json.loads(m.payload)["event_type"] == "detector_fallback")[0]
        assert "USB device disconnected" in json.loads(fallback.payload)["reason"]
        probe.wait_for(lambda m: m.topic == f"{BASE}/stats" and json.loads(m.payload)["backend"]["degraded"])
        frames_on_cpu = appliance.frames
        probe.wait_for(lambda m: m.topic == f"{BASE}/stats"
                       and json.loads(m.payload)["frames_processed"] > frames_on_cpu + 3)  # it kept going
        tpu.plugged = True
        probe.wait_for(lambda m: m.topic == f"{BASE}/event"
                       and json.loads(m.payload)["event_type"] == "detector_recovered")
        probe.wait_for(lambda m: m.topic == f"{BASE}/stats" and m.payload and
                       json.loads(m.payload)["backend"] == {"preferred": "edgetpu", "actual": "edgetpu",
                                                            "reason": "", "degraded": False})
    assert pipeline.backend.actual == "edgetpu"


def test_a_long_multi_line_edge_tpu_error_is_published_short_and_the_daemon_goes_on(
        tpu: FakeEdgeTpu, models_with_twin: Path, mosquitto: Broker,
        probe_factory: Callable[..., MqttProbe]) -> None:
    # TFLite's errors name every failing node; on the wire a reason stays one short line (a payload's text
    # is at most 512 characters), and nothing about it may stop the daemon.
    tpu.invoke_error = "\n".join(f"edgetpu/src/cpp/driver: USB transfer error 2; Node number {n} "
                                  "(EdgeTpuDelegateForCustomOp) failed to invoke." for n in range(12))
    config = load_config(None, {"device": {"id": "tpu"}, "inference": {"models_dir": str(models_with_twin)},
                                "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "stats_interval": 0.2},
                                "daemon": {"idle_fps": 20.0, "active_fps": 20.0}, "history": {"enabled": False}})
    pipeline = FacePipeline.from_config(config.inference)
    probe = probe_factory(mosquitto, f"{BASE}/#")
    with running(config, pipeline, models_with_twin):  # and the main loop must still run at the end
        probe.wait_for(lambda m: m.topic == f"{BASE}/stats")
        tpu.plugged = False
        fallback = probe.wait_for(lambda m: m.topic == f"{BASE}/event"
                                  and json.loads(m.payload)["event_type"] == "detector_fallback")[0]
        reason = json.loads(fallback.payload)["reason"]
        assert reason.startswith("Edge TPU failed while running: edgetpu/src/cpp/driver: USB transfer error 2")
        assert "\n" not in reason and len(reason) <= MAX_REASON
        probe.wait_for(lambda m: m.topic == f"{BASE}/stats" and json.loads(m.payload)["backend"]["degraded"])
