"""The systemd unit: `systemd-analyze verify` (no warning at all), its sandbox score, and the contract
with the daemon and the installer (Type=notify, watchdog, user, paths).

The real ExecStart binary exists only on a provisioned Pi, so verify runs on a copy whose ExecStart
points at this checkout's own `todayfeeling` console script; every other line is checked as written.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.emulation import hang_guard

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "systemd" / "todayfeeling.service"
INSTALLED_BINARY = "/opt/todayfeeling/venv/bin/todayfeeling"
ANALYZE = shutil.which("systemd-analyze")

needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed")


def directives(text: str) -> dict[str, list[str]]:
    """``Key`` -> every value it is given (keys like DeviceAllow repeat)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.fixture
def testable_unit(tmp_path) -> Path:
    """A copy of the unit whose ExecStart binary exists on this machine."""
    binary = Path(sys.executable).with_name("todayfeeling")
    assert binary.is_file(), "the package's console script should be installed in this venv"
    text = UNIT.read_text()
    assert f"ExecStart={INSTALLED_BINARY} " in text
    copy = tmp_path / "todayfeeling.service"
    copy.write_text(text.replace(f"ExecStart={INSTALLED_BINARY} ", f"ExecStart={binary} "))
    return copy


def analyze(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([ANALYZE, *args], capture_output=True, text=True, timeout=hang_guard(120))


@needs_analyze
def test_systemd_analyze_verify_is_clean(testable_unit):
    result = analyze("verify", str(testable_unit))
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # not even a warning


@needs_analyze
def test_verify_would_catch_a_mistake(testable_unit):
    # The check above is meaningful: a misspelt directive is reported.
    testable_unit.write_text(testable_unit.read_text().replace("ProtectHome=yes", "ProtectHomes=yes"))
    assert "Unknown key 'ProtectHomes'" in analyze("verify", str(testable_unit)).stderr


@needs_analyze
def test_sandbox_exposure_stays_low(testable_unit):
    result = analyze("security", "--offline=true", str(testable_unit))
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 3.0  # "OK" band; 2.1 when written. A lost sandbox line raises it.


def test_unit_keeps_its_contract_with_the_daemon_and_the_installer():
    unit = directives(UNIT.read_text())
    one = {key: values[-1] for key, values in unit.items()}
    assert one["Type"] == "notify" and one["NotifyAccess"] == "main"
    assert one["WatchdogSec"] == "30" and one["Restart"] == "on-failure"
    assert one["ExecStart"] == f"{INSTALLED_BINARY} run --config /etc/todayfeeling/config.toml"
    assert one["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert one["User"] == "todayfeeling"
    assert set(one["SupplementaryGroups"].split()) == {"video", "audio", "plugdev"}
    assert one["StateDirectory"] == one["ConfigurationDirectory"] == "todayfeeling"
    assert one["StandardOutput"] == "journal"
    for hardening in ("ProtectHome", "NoNewPrivileges", "PrivateTmp", "ProtectKernelTunables",
                      "ProtectControlGroups", "RestrictNamespaces", "LockPersonality"):
        assert one[hardening] == "yes", hardening
    assert one["ProtectSystem"] == "strict"
    assert "PrivateDevices" not in one  # it would hide the camera and the sound card
    assert one["DevicePolicy"] == "closed"
    allowed = {value.split()[0] for value in unit["DeviceAllow"]}
    assert {"char-video4linux", "char-alsa", "char-usb_device", "char-apex"} <= allowed
    assert "SDL_AUDIODRIVER=alsa" in unit["Environment"]
    assert "TODAYFEELING_MODELS=/opt/todayfeeling/models" in unit["Environment"]
    assert one["WantedBy"] == "multi-user.target"
