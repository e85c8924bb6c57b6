"""MQTT: the device's topics, Home Assistant discovery, availability and commands (see DESIGN.md).

The daemon builds one :class:`~todayfeeling.mqtt.client.MqttPublisher` from ``MqttConfig``
(:mod:`todayfeeling.config.settings`), implements :class:`~todayfeeling.mqtt.commands.CommandHandler`, calls
``start()``, then the ``publish_*`` methods from its loop, and ``stop()`` on the way out.

This package file imports nothing: :mod:`todayfeeling.mqtt.topics` (names and keys, used by the people
database too) stays free of paho, which only :mod:`todayfeeling.mqtt.client` loads.
"""
