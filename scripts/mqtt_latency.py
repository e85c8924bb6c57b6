#!/usr/bin/env python3
"""Measure publish→receive latency of the device's MQTT link on a local broker.

Each round calls ``MqttPublisher.publish_event`` (or ``publish_state``) and waits until a separate
subscriber receives the message; the time between the call and the subscriber's callback is one sample.
Rounds run one at a time, so this is latency, not throughput.

    .venv/bin/python scripts/mqtt_latency.py                 # starts its own mosquitto on a free port
    .venv/bin/python scripts/mqtt_latency.py --port 1883     # an already running broker
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for tests.broker, the same mosquitto launcher the tests use

from tests.broker import Broker  # noqa: E402
from todayfeeling.config import MqttConfig  # noqa: E402
from todayfeeling.mqtt.client import MqttPublisher  # noqa: E402

DEVICE = "latency"


class NoCommands:
    def set_privacy(self, on: bool) -> bool:
        return on

    def set_music_mode(self, mode: str) -> str:
        return mode

    def set_volume(self, volume: int) -> int:
        return volume

    def player_command(self, command: str) -> None:
        pass

    def refresh(self) -> None:
        pass


def measure(host: str, port: int, rounds: int, kind: str) -> list[float]:
    """Milliseconds from the publish call to the subscriber's callback, per round."""
    link = MqttPublisher(MqttConfig(host=host, port=port, discovery=False), DEVICE, "Latency", NoCommands())
    topic = link.topics.event if kind == "event" else link.topics.state
    arrived: dict[int, float] = {}
    got = threading.Condition()

    def on_message(client, userdata, message) -> None:
        received = time.perf_counter()
        body = json.loads(message.payload)
        with got:
            arrived[body["n"]] = received
            got.notify_all()

    def publish(n: int) -> None:
        if kind == "event":
            link.publish_event("face_arrived", faces=1, n=n)
        else:
            link.publish_state({"mood": "happiness", "confidence": 0.8, "faces": 1, "n": n})

    subscriber = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="latency-probe")
    subscribed = threading.Event()
    subscriber.on_message = on_message
    subscriber.on_subscribe = lambda *args: subscribed.set()
    subscriber.connect(host, port)
    subscriber.loop_start()
    subscriber.subscribe(topic, qos=1)
    subscribed.wait(10)
    samples = []
    link.start()
    try:
        # Round -1 is sent before the link is up: it arrives with the flush after the connection, so
        # waiting for it waits for the link. Rounds -20..-2 warm up.
        for n in [-1, *range(-20, -1), *range(rounds)]:
            sent = time.perf_counter()
            publish(n)
            with got:
                if not got.wait_for(lambda n=n: n in arrived, timeout=5):
                    raise SystemExit(f"message {n} never arrived")
            if n >= 0:
                samples.append((arrived[n] - sent) * 1000)
    finally:
        link.stop()
        subscriber.disconnect()
        subscriber.loop_stop()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, help="an existing broker; default: start mosquitto on a free port")
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--kind", choices=("event", "state"), default="event")
    args = parser.parse_args()
    broker = None
    with tempfile.TemporaryDirectory() as folder:
        if args.port is None:
            broker = Broker(Path(folder))
            broker.start()
        try:
            samples = measure(args.host, args.port or broker.port, args.rounds, args.kind)
        finally:
            if broker is not None:
                broker.stop()
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(0.95 * len(samples)))]
    print(f"{args.kind}: {len(samples)} messages, QoS 1, median {statistics.median(samples):.3f} ms, "
          f"p95 {p95:.3f} ms, max {samples[-1]:.3f} ms")


if __name__ == "__main__":
    main()
