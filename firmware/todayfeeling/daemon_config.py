"""Settings of the always-on loop (the ``[daemon]`` section of config.toml)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DaemonConfig:
    """The ``[daemon]`` section: how often frames are taken and health is reported."""

    idle_fps: float = 1.0  # frames per second while nobody is in view
    active_fps: float = 5.0  # frames per second while faces are present
    status_interval_s: float = 5.0  # systemd STATUS (MQTT stats: [mqtt] stats_interval)
    edgetpu_retry_s: float = 30.0  # how often a lost Edge TPU is tried again
    privacy: bool = False  # start with the camera off

    def __post_init__(self) -> None:
        if self.idle_fps <= 0 or self.active_fps <= 0:
            raise ValueError("idle_fps and active_fps must be positive")
        if self.status_interval_s <= 0 or self.edgetpu_retry_s <= 0:
            raise ValueError("status_interval_s and edgetpu_retry_s must be positive")
