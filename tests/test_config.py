"""Config files: defaults, real TOML parsing, and errors that name the file, the key and the reason."""

from __future__ import annotations

import re
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
    assert re.fullmatch(r"todayfeeling-[0-9a-f]{6}", config.device.id)  # derived from this machine
    assert defaults().device.id == config.device.id  # and stable


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
    ("[inference]\nthreads = 0\n", "inference.threads", "must be between 1 and 64, got 0"),
    ("[inference]\nthreads = 100000\n", "inference.threads", "must be between 1 and 64, got 100000"),
    ("[inference]\nmin_face_score = 1.5\n", "inference.min_face_score", "must be between 0 and 1, got 1.5"),
    ('[camera]\nsource = " "\n', "camera.source", "must not be empty"),
    ("[camera]\nheight = 8\n", "camera.height", "must be at least 16 pixels, got 8"),
    ("[daemon]\nactive_fps = 0\n", "daemon.active_fps", "must be positive, got 0.0"),
    ("[music]\nvolume = 101\n", "music.volume", "must be between 0 and 100, got 101"),
    ('[music]\nlow_moods = ["calm"]\n', "music.low_moods", "unknown mood 'calm'"),
    ("[mqtt]\nport = 0\n", "mqtt.port", "must be between 1 and 65535, got 0"),
    ("[history]\ncheckpoint_s = 0\n", "history.checkpoint_s", "must be positive, got 0.0"),
    ("[mqtt]\nusername = \"pi\"\n", "mqtt", "password is required when username is set"),  # two keys: the section
    ("[inference]\nflip_average = 1\n", "inference.flip_average", "expected true or false"),
    ("device = 3\n", "device", "expected a table"),
    ("[device\n", "<file>", "not valid TOML"),
    ('[device]\nid = "kitchen/2"\n', "device.id", "'kitchen/2' must be 1-64 letters, digits"),
    ('[device]\nid = "living room"\n', "device.id", "it is an MQTT topic level"),
    ('[device]\nid = "-x"\n', "device.id", "starting with a letter or digit"),
    ('[device]\nname = " "\n', "device.name", "must not be empty"),
    ("[tracking]\nmax_missed = -1\n", "tracking.max_missed", "must not be negative"),
    ("[tracking]\nsmoothing = 1.0\n", "tracking.smoothing", "must be at least 0 and below 1, got 1.0"),
    ('[tracking]\nenabled = "yes"\n', "tracking.enabled", "expected true or false"),
    ("[tracking]\nfull_detect_every = 0\n", "tracking.full_detect_every", "must be at least 1, got 0"),
    ('[tracking]\nregion_model = " "\n', "tracking.region_model", "must name a face detector"),
    ("[tracking]\nregion_scale = 0.5\n", "tracking.region_scale", "must be at least 1 (the face itself), got 0.5"),
    ("[tracking]\nmax_regions = 0\n", "tracking.max_regions", "must be at least 1, got 0"),
    ('[music]\ndir = "~nosuchuser/Music"\n', "music.dir", "no home folder for '~nosuchuser' on this machine"),
    ('[music]\ndir = ""\n', "music.dir", "expected a path, got an empty string"),
    ("[inference]\nmin_face_size = -5\n", "inference.min_face_size", "must not be negative, got -5"),
    ("[camera]\nrotate = false\n", "camera.rotate", "must be one of 0, 90, 180, 270, got False"),
    ("[camera]\nrotate = 90.0\n", "camera.rotate", "must be one of 0, 90, 180, 270, got 90.0"),
])
def test_bad_config_names_file_key_and_reason(tmp_path: Path, text: str, key: str, reason: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.file == str(path)
    assert caught.value.key == key
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{path}: {key}: ")


def test_an_empty_string_leaves_an_optional_setting_unset(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, '[inference]\nmodels_dir = ""\n[mqtt]\ntls = true\nca_file = ""\n'
                                          '[music.people.Mina]\nmode = ""\n'))
    assert config.inference.models_dir is None  # as the example config says: empty, the installed models
    assert config.mqtt.ca_file is None  # the system's trusted CAs
    assert config.music.people["Mina"].mode is None  # the household's mode


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")


def test_a_section_that_is_not_a_table_is_a_config_error_with_flags_too(tmp_path: Path) -> None:
    path = _write(tmp_path, "music = 3\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {"music": {"dir": "/srv/music"}})  # `run --music` overrides the same section
    assert (caught.value.key, caught.value.file) == ("music", str(path))
    assert "expected a table" in caught.value.reason


def test_a_bad_flag_is_named_as_the_command_line_and_a_bad_file_value_as_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, '[device]\nid = "kitchen"\n'), {"device": {"id": "a/b"}})  # run --device-id
    assert (caught.value.file, caught.value.key) == ("the command line", "device.id")
    assert str(caught.value).startswith("the command line: device.id: 'a/b' must be")
    path = _write(tmp_path, '[device]\nid = "kitchen"\n[inference]\nthreads = "two"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, {"device": {"id": "hall"}})
    assert (caught.value.file, caught.value.key) == (str(path), "inference.threads")


@pytest.mark.parametrize(("flags", "message"), [
    ({"music": {"volume": 500}}, "the command line: music.volume: must be between 0 and 100, got 500"),  # --volume
    ({"inference": {"threads": 0}}, "the command line: inference.threads: must be between 1 and 64, got 0"),
])
def test_a_bad_flag_checked_by_its_section_is_named_as_the_command_line(
        tmp_path: Path, flags: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, "[music]\nvolume = 40\n[inference]\nthreads = 2\n"), flags)
    assert str(caught.value) == message


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes('[device]\nname = "Café"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


def test_reading_the_config_loads_nothing_heavy(tmp_path: Path) -> None:
    """Nor do the MQTT topic names, which the people database uses to refuse two names of one topic."""
    import subprocess
    import sys

    path = _write(tmp_path, '[device]\nid = "kitchen"\n[music]\nmode = "uplift"\n')
    probe = (f"import sys, pathlib; from todayfeeling.config import load_config; "
             f"load_config(pathlib.Path({str(path)!r})); from todayfeeling.mqtt.topics import person_key; "
             "print(sorted(m for m in ('numpy', 'cv2', 'paho', 'pygame', 'ai_edge_litert') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
