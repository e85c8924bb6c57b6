"""Reading ``config.toml``: which file a command reads, and checking it against the typed sections.

The sections are the frozen dataclasses of :mod:`todayfeeling.config.settings`; this module parses a TOML
file into them, checking every key and value against their type hints. Unknown keys and bad values are
rejected with the file, the key and the reason, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from todayfeeling.config.settings import AppConfig, SettingError

DEFAULT_CONFIG_PATH = Path("/etc/todayfeeling/config.toml")
"""The device's config file, read by every command when no ``--config`` is given and it exists."""


COMMAND_LINE = "the command line"  # where a flag's value comes from, in a ConfigError


class ConfigError(ValueError):
    """A config file that cannot be used: says which file, which key and why."""

    def __init__(self, file: str | Path | None, key: str, reason: str) -> None:
        self.file = str(file) if file is not None else "<defaults>"
        self.key = key
        self.reason = reason
        super().__init__(f"{self.file}: {key}: {reason}")


def parse_section(cls: type, table: dict[str, Any], file: str | Path | None, prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a TOML table, checking every key and value against its type hints."""
    if not isinstance(table, dict):
        raise ConfigError(file, prefix.rstrip(".") or "<root>", f"expected a table, got {_kind(table)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    values: dict[str, Any] = {}
    for key, raw in table.items():
        if key not in fields:
            known = ", ".join(sorted(fields)) or "none"
            raise ConfigError(file, prefix + key, f"unknown key (known keys: {known})")
        values[key] = _coerce(hints[key], raw, file, prefix + key)
    try:
        section = cls(**values)
    except SettingError as err:  # a section's check of one of its keys (__post_init__)
        raise ConfigError(file, prefix + err.key, err.reason) from None
    except ValueError as err:  # a section's own cross-field check (__post_init__)
        raise ConfigError(file, prefix.rstrip(".") or "<root>", str(err)) from None
    return section


def _coerce(hint: Any, raw: Any, file: str | Path | None, key: str) -> Any:
    origin = get_origin(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return parse_section(hint, raw, file, key + ".")
    if isinstance(hint, type) and issubclass(hint, enum.StrEnum):
        words = [member.value for member in hint]
        if raw not in words:
            raise ConfigError(file, key, f"must be one of {', '.join(map(repr, words))}, got {raw!r}")
        return hint(raw)
    if origin is Literal:
        allowed = get_args(hint)
        if not any(raw == value and type(raw) is type(value) for value in allowed):  # false == 0, 90.0 == 90
            raise ConfigError(file, key, f"must be one of {', '.join(map(repr, allowed))}, got {raw!r}")
        return raw
    if origin in (Union, types.UnionType):
        options = get_args(hint)
        if (raw is None or raw == "") and type(None) in options:  # TOML has no null: "" is how a file says unset
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _coerce(option, raw, file, key)
            except ConfigError as err:
                errors.append(err.reason)
        raise ConfigError(file, key, " or ".join(errors))
    if origin in (list, tuple):
        if not isinstance(raw, list):
            raise ConfigError(file, key, f"expected a list, got {_kind(raw)}")
        item_hint = get_args(hint)[0] if get_args(hint) else Any
        items = [_coerce(item_hint, item, file, f"{key}[{i}]") for i, item in enumerate(raw)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(raw, dict):
            raise ConfigError(file, key, f"expected a table, got {_kind(raw)}")
        _, value_hint = get_args(hint) or (str, Any)
        return {str(k): _coerce(value_hint, v, file, f"{key}.{k}") for k, v in raw.items()}
    if hint is Any:
        return raw
    if hint is bool:
        if not isinstance(raw, bool):
            raise ConfigError(file, key, f"expected true or false, got {_kind(raw)}")
        return raw
    if hint is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ConfigError(file, key, f"expected a whole number, got {_kind(raw)}")
        return raw
    if hint is float:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise ConfigError(file, key, f"expected a number, got {_kind(raw)}")
        if not math.isfinite(raw):  # TOML allows nan and inf; no setting means them
            raise ConfigError(file, key, f"expected a finite number, got {raw!r}")
        return float(raw)
    if hint is str:
        if not isinstance(raw, str):
            raise ConfigError(file, key, f"expected a string, got {_kind(raw)}")
        return raw
    if hint is Path:
        if not isinstance(raw, str):
            raise ConfigError(file, key, f"expected a path string, got {_kind(raw)}")
        if not raw:
            raise ConfigError(file, key, "expected a path, got an empty string")
        try:
            return Path(raw).expanduser()
        except RuntimeError:  # ~name of a user this machine does not have
            raise ConfigError(file, key, f"{raw!r}: no home folder for {raw.split('/')[0]!r} on this machine") from None
    raise TypeError(f"config type {hint!r} of {key} is not supported")  # a programming error, not user input


def _kind(value: Any) -> str:
    names = {bool: "a boolean", int: "a whole number", float: "a number", str: "a string",
             list: "a list", dict: "a table"}
    shown = repr(value) if not isinstance(value, (list, dict)) else ""
    return f"{names.get(type(value), type(value).__name__)} {shown}".strip()


def load_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file, turning syntax errors and unreadable files into :class:`ConfigError`."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as err:
        raise ConfigError(path, "<file>", f"cannot read: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(path, "<file>", f"not UTF-8 text: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(path, "<file>", f"not valid TOML: {err}") from None


def config_file(explicit: Path | None = None) -> Path | None:
    """Which config file a command reads: ``explicit`` (``--config``), else the device's
    :data:`DEFAULT_CONFIG_PATH` when it exists, else None (the defaults)."""
    if explicit is not None:
        return explicit
    return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.is_file() else None


def load_config(path: Path | None = None, overrides: dict[str, dict[str, Any]] | None = None) -> AppConfig:
    """Load the config file at ``path`` (defaults only when None) and apply per-section ``overrides``.

    Overrides come from command-line flags and are validated like the file's own values.
    """
    table = load_toml(path) if path is not None else {}
    for section, values in (overrides or {}).items():
        current = table.get(section, {})
        if not isinstance(current, dict):
            raise ConfigError(path, section, f"expected a table, got {_kind(current)}")
        merged = dict(current)
        merged.update(values)
        table[section] = merged
    try:
        config: AppConfig = parse_section(AppConfig, table, path)
    except ConfigError as err:  # a bad flag is not the file's fault: name where the value came from
        section, _, key = err.key.partition(".")
        if key in (overrides or {}).get(section, {}):
            raise ConfigError(COMMAND_LINE, err.key, err.reason) from None
        raise
    return config


def defaults() -> AppConfig:
    """The configuration with every default."""
    return load_config(None)
