"""MQTT: the device's topics, Home Assistant discovery, availability and commands (see DESIGN.md).

The daemon builds one :class:`MqttPublisher` from ``MqttConfig`` (:mod:`todayfeeling.config.settings`),
implements :class:`CommandHandler`, calls ``start()``, then the ``publish_*`` methods from its loop, and
``stop()`` on the way out.
"""

from todayfeeling.mqtt.client import MqttPublisher
from todayfeeling.mqtt.commands import CommandHandler
from todayfeeling.mqtt.payloads import PayloadError

__all__ = ["CommandHandler", "MqttPublisher", "PayloadError"]
