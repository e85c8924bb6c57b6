"""Config files: defaults, real TOML parsing, and errors that name the file, the key and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from todayfeeling.config import ConfigError, defaults, load_config


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_defaults_need_no_file() -> None:
    config = defaults()
    assert config.inference.face_model == "face_full_range"
    assert config.device.id == "todayfeeling"


def test_values_from_the_file_and_overrides(tmp_path: Path) -> None:
    path = _write(tmp_path, '[device]\nid = "kitchen"\n[inference]\nthreads = 1\nmodels_dir = "~/models"\n')
    config = load_config(path, {"inference": {"backend": "cpu"}})
    assert config.device.id == "kitchen"
    assert config.inference.threads == 1 and config.inference.backend == "cpu"
    assert config.inference.models_dir == Path("~/models").expanduser()


@pytest.mark.parametrize(("text", "key", "reason"), [
    ("[inference]\nthreds = 2\n", "inference.threds", "unknown key"),
    ("[infrence]\n", "infrence", "unknown key"),
    ('[inference]\nthreads = "two"\n', "inference.threads", "expected a whole number, got a string 'two'"),
    ('[inference]\nbackend = "gpu"\n', "inference.backend", "must be one of 'auto', 'cpu', 'edgetpu'"),
    ("[inference]\nthreads = 0\n", "inference", "threads must be at least 1"),
    ("[inference]\nflip_average = 1\n", "inference.flip_average", "expected true or false"),
    ("device = 3\n", "device", "expected a table"),
    ("[device\n", "<file>", "not valid TOML"),
])
def test_bad_config_names_file_key_and_reason(tmp_path: Path, text: str, key: str, reason: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.file == str(path)
    assert caught.value.key == key
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{path}: {key}: ")


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")


def test_a_section_that_is_not_a_table_is_a_config_error_with_flags_too(tmp_path: Path) -> None:
    path = _write(tmp_path, "music = 3\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {"music": {"dir": "/srv/music"}})  # `run --music` overrides the same section
    assert (caught.value.key, caught.value.file) == ("music", str(path))
    assert "expected a table" in caught.value.reason


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes('[device]\nname = "Café"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)
