"""The configuration: every section's settings (:mod:`.settings`) and reading them from a file (:mod:`.loader`).

Importing this package loads nothing heavier than the standard library.
"""

from todayfeeling.config.loader import (
    DEFAULT_CONFIG_PATH,
    ConfigError,
    config_file,
    defaults,
    load_config,
    load_toml,
    parse_section,
)
from todayfeeling.config.settings import (
    STATE_DIR,
    AppConfig,
    CameraConfig,
    DaemonConfig,
    DeviceConfig,
    HistoryConfig,
    InferenceConfig,
    MoodConfig,
    MqttConfig,
    MusicConfig,
    PeopleConfig,
    PlaylistChoice,
    TrackingConfig,
)

__all__ = [
    "DEFAULT_CONFIG_PATH", "STATE_DIR", "AppConfig", "CameraConfig", "ConfigError", "DaemonConfig", "DeviceConfig",
    "HistoryConfig", "InferenceConfig", "MoodConfig", "MqttConfig", "MusicConfig", "PeopleConfig", "PlaylistChoice",
    "TrackingConfig", "config_file", "defaults", "load_config", "load_toml", "parse_section",
]
