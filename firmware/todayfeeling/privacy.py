"""The local privacy lock: the camera stays off, and nothing from the network can turn it on.

Locked when ``[daemon] privacy_lock = true`` or when the lock file ``<state_dir>/privacy.lock`` exists.
The file is made and removed by ``todayfeeling privacy lock|unlock`` on the device itself (the state
directory belongs to the service user: root or that user alone can change it), never over MQTT. A running
appliance looks for it every second.
"""

from __future__ import annotations

from pathlib import Path

from todayfeeling.config.settings import DaemonConfig

LOCK_FILE = "privacy.lock"


def lock_file(config: DaemonConfig) -> Path:
    """Where the lock file of this configuration lives."""
    return config.state_dir / LOCK_FILE


def locked(config: DaemonConfig) -> str | None:
    """Why privacy is locked on (the config or the lock file), or None when it is not."""
    if config.privacy_lock:
        return "[daemon] privacy_lock = true"
    path = lock_file(config)
    return f"{path} exists (todayfeeling privacy unlock removes it)" if path.exists() else None
