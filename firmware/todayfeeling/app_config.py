"""The whole configuration: one section per stage, each defined beside the code it configures."""

from __future__ import annotations

from dataclasses import dataclass, field

from todayfeeling.camera.base import CameraConfig
from todayfeeling.daemon_config import DaemonConfig
from todayfeeling.history import HistoryConfig
from todayfeeling.inference.config import InferenceConfig
from todayfeeling.mood import MoodConfig
from todayfeeling.mqtt.config import MqttConfig
from todayfeeling.music.config import MusicConfig


@dataclass(frozen=True)
class DeviceConfig:
    """Who the appliance is on the network."""

    id: str = "todayfeeling"
    name: str = "Today Feeling"


@dataclass(frozen=True)
class AppConfig:
    """Every section of ``config.toml``; a missing section takes its defaults."""

    device: DeviceConfig = field(default_factory=DeviceConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    history: HistoryConfig = field(default_factory=HistoryConfig)
    mood: MoodConfig = field(default_factory=MoodConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    music: MusicConfig = field(default_factory=MusicConfig)
