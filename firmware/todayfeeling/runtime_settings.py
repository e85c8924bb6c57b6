"""Settings changed while the appliance runs (over MQTT, by a signal or a command) that survive a restart.

Privacy, volume and music mode are written to ``<state_dir>/settings.json`` (owner-only, written to a
temporary file and renamed, so a power cut leaves the old file or the new one) each time they change, and
restored at start, before the camera is opened.

Precedence, per setting: each stored value remembers the config file's value at the time it was set. At
start, while the config file still says that, the stored value wins (what the household last chose); when
the config file says something else, someone changed the file on purpose, so **the file wins once** and the
stored value is forgotten. ``todayfeeling doctor`` shows both. A state file that cannot be read or is not
one of ours is reported and ignored, never fatal.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from todayfeeling.config.settings import AppConfig
from todayfeeling.private_file import write_private
from todayfeeling.vocabulary import MusicMode, names

log = logging.getLogger(__name__)

FILE_NAME = "settings.json"
VERSION = 1


@dataclass(frozen=True)
class Setting:
    """One runtime setting: how it reads from and writes to the config, and which values are valid."""

    key: str
    get: Callable[[AppConfig], Any]
    put: Callable[[AppConfig, Any], AppConfig]
    valid: Callable[[Any], bool]


SETTINGS: tuple[Setting, ...] = (
    Setting("privacy", lambda c: c.daemon.privacy,
            lambda c, v: replace(c, daemon=replace(c.daemon, privacy=v)), lambda v: isinstance(v, bool)),
    Setting("volume", lambda c: c.music.volume, lambda c, v: replace(c, music=replace(c.music, volume=v)),
            lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 100),
    Setting("music_mode", lambda c: c.music.mode.value,
            lambda c, v: replace(c, music=replace(c.music, mode=MusicMode(v))), lambda v: v in names(MusicMode)),
)
_BY_KEY = {setting.key: setting for setting in SETTINGS}


@dataclass(frozen=True)
class Stored:
    """A stored value and the config file's value when it was set."""

    value: Any
    config_value: Any


class RuntimeSettings:
    """The settings file of one state directory; written by the daemon's threads one change at a time."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / FILE_NAME
        self._file_config: AppConfig | None = None
        self._stored: dict[str, Stored] = {}

    def read(self) -> dict[str, Stored]:
        """What the file holds (valid entries only); an unusable file is logged and read as empty."""
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:  # RecursionError: nested too deep
            log.warning("runtime settings: ignoring %s: %s", self.path, err)
            return {}
        if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("settings"), dict):
            log.warning("runtime settings: ignoring %s: not a settings file of this version", self.path)
            return {}
        stored = {}
        for key, entry in data["settings"].items():
            setting = _BY_KEY.get(key)
            if setting and isinstance(entry, dict) and setting.valid(entry.get("value")):
                stored[key] = Stored(entry["value"], entry.get("config_value"))
            else:
                log.warning("runtime settings: ignoring %s in %s", key, self.path)
        return stored

    def restore(self, config: AppConfig) -> AppConfig:
        """``config`` (as read from the file, at start or after SIGHUP) with the stored values that still apply;
        remembers ``config`` as the file's values for later :meth:`remember` calls."""
        self._file_config = config
        self._stored = {}
        restored = config
        forgotten = False
        for key, stored in self.read().items():
            setting = _BY_KEY[key]
            if stored.config_value != setting.get(config):
                log.info("runtime settings: %s: the config file now says %r (it said %r when %r was set): the "
                         "file wins", key, setting.get(config), stored.config_value, stored.value)
                forgotten = True
                continue
            self._stored[key] = stored
            if stored.value != setting.get(config):
                log.info("runtime settings: %s = %r restored (the config file says %r)", key, stored.value,
                         setting.get(config))
            restored = setting.put(restored, stored.value)
        if forgotten:  # the file wins once: were the file to go back to its old value, the old setting must not
            self._write()
        return restored

    def remember(self, key: str, value: Any) -> None:
        """``key`` is now ``value``: store it with the config file's value (written at once)."""
        setting = _BY_KEY[key]
        config_value = setting.get(self._file_config) if self._file_config is not None else None
        stored = Stored(value, config_value)
        if self._stored.get(key) == stored:
            return
        self._stored[key] = stored
        self._write()

    def _write(self) -> None:
        data = {"version": VERSION, "settings": {key: {"value": s.value, "config_value": s.config_value}
                                                 for key, s in self._stored.items()}}
        try:
            write_private(self.path, json.dumps(data, indent=1))
        except OSError as err:
            log.warning("runtime settings: cannot write %s: %s (the change holds until a restart)", self.path,
                        err.strerror or err)
