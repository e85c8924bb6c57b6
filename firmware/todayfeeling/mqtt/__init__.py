"""MQTT: the device's topics, Home Assistant discovery, availability and commands (see DESIGN.md).

The daemon builds one :class:`MqttPublisher` from :class:`MqttConfig`, implements :class:`CommandHandler`,
calls ``start()``, then the ``publish_*`` methods from its loop, and ``stop()`` on the way out.
"""

from todayfeeling.mqtt.client import MqttPublisher
from todayfeeling.mqtt.commands import CommandHandler
from todayfeeling.mqtt.config import MqttConfig
from todayfeeling.mqtt.payloads import EVENT_TYPES, MUSIC_MODES, PLAYER_COMMANDS, PayloadError

__all__ = ["EVENT_TYPES", "MUSIC_MODES", "PLAYER_COMMANDS", "CommandHandler", "MqttConfig", "MqttPublisher",
           "PayloadError"]
