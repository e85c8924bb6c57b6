"""config/config.example.toml documents every key with its real default."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

from todayfeeling.config import AppConfig, defaults, load_config

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "config.example.toml"
OPTIONAL_PATHS = {("inference", "models_dir"), ("mqtt", "ca_file"), ("mqtt", "cert_file"), ("mqtt", "key_file"),
                  ("people", "db")}


def _keys(cls: type, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    keys: set[tuple[str, ...]] = set()
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[field.name]):
            keys |= _keys(hints[field.name], (*prefix, field.name))
        else:
            keys.add((*prefix, field.name))
    return keys


def _uncommented(text: str) -> str:
    return re.sub(r"^# (\w+ = )", r"\1", text, flags=re.MULTILINE)


def test_example_as_shipped_parses_to_the_defaults() -> None:
    assert load_config(EXAMPLE) == defaults()


def test_example_shows_every_key_with_its_default(tmp_path: Path) -> None:
    text = _uncommented(EXAMPLE.read_text())
    shown: set[tuple[str, ...]] = set()
    section: tuple[str, ...] = ()
    for line in text.splitlines():
        if header := re.fullmatch(r"\[([\w.]+)\]", line):
            section = tuple(header.group(1).split("."))
        elif key := re.match(r"(\w+) = ", line):
            shown.add((*section, key.group(1)))
    expected = {k for k in _keys(AppConfig) if k not in {("music", "preferences"), ("music", "people")}}
    assert shown == expected
    # Uncommented, the example sets every key to its default (paths that default to None are examples).
    for section_name, key in OPTIONAL_PATHS:  # the key's line in its own section (several sections have a db)
        text = re.sub(rf"^(\[{section_name}\]\n(?:(?!\[).*\n)*?){key} = .*$", r"\1", text, count=1,
                      flags=re.MULTILINE)
    uncommented = tmp_path / "config.toml"
    uncommented.write_text(text)
    assert load_config(uncommented) == defaults()
