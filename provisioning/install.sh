#!/usr/bin/env bash
# Turn a fresh Raspberry Pi OS (Trixie or Bookworm, Lite) or a plain Debian 13/12 arm64 into the Today Feeling
# appliance, or remove it again.
#
#   sudo provisioning/install.sh [--with-mosquitto] [--with-edgetpu]     install or upgrade (idempotent)
#   sudo provisioning/install.sh --uninstall [--purge]                   remove (keeps user data unless --purge)
#   provisioning/install.sh --dry-run ...                                print every action, change nothing
#   provisioning/install.sh --root DIR ...                               lay the files out under DIR (tests)
#
# See provisioning/README.md for what goes where and why.
set -euo pipefail

SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVICE=todayfeeling
SERVICE_USER=todayfeeling
MOODS=(anger fear happiness sadness surprise neutral)
# libsndfile1: track lengths (soundfile on aarch64); libglib2.0-0: pygame's bundled fluidsynth links
# libglib-2.0 and libgthread-2.0, without which pygame has no mixer; procps: /bin/kill, which the unit's
# ExecReload runs (a minimal Debian lacks both); espeak-ng: the spoken prompts of `people add --camera`
# (rendered offline; without it they are text only).
APT_PACKAGES=(python3 python3-venv python3-picamera2 alsa-utils libsdl2-2.0-0
              libsdl2-mixer-2.0-0 libsndfile1 libglib2.0-0 procps espeak-ng)
# Packages that only some apt sources offer: left out, with a message, where none does.
declare -A OPTIONAL_PACKAGES=(
    [python3-picamera2]="the Pi camera library comes from the Raspberry Pi archive (archive.raspberrypi.com), \
which Raspberry Pi OS has and a plain Debian lacks. Installing without it: a USB camera (/dev/videoN), a video \
file or a folder of images works ([camera] source); add that archive and re-run for a Pi camera"
    [libedgetpu1-std]="the Edge TPU runtime comes from Coral's apt repository (packages.cloud.google.com). \
Installing without it: the models run on the CPU; re-run with --with-edgetpu once \
\`apt-cache policy libedgetpu1-std\` shows a candidate"
)
PYTHON="${PYTHON:-/usr/bin/python3}"
CORAL_KEY_URL="https://packages.cloud.google.com/apt/doc/apt-key.gpg"
CORAL_REPO="https://packages.cloud.google.com/apt coral-edgetpu-stable main"
# Exists only while systemd runs as init (sd_booted(3)): not in a chroot, a container or an image being built.
SYSTEMD_RUN_DIR="${SYSTEMD_RUN_DIR:-/run/systemd/system}"

ROOT=""
DRY_RUN=0
UNINSTALL=0
PURGE=0
WITH_MOSQUITTO=0
WITH_EDGETPU=0
SKIP_PIP=0
SKIP_MODELS=0

usage() {
    cat <<'EOF'
Usage: install.sh [options]
  --with-mosquitto  also install the mosquitto broker (a standalone speaker without a home server)
  --with-edgetpu    also install the Coral Edge TPU runtime (libedgetpu1-std from Coral's apt repository)
  --uninstall       remove the service, the venv and the code; keep /etc/todayfeeling and /var/lib/todayfeeling
  --purge           with --uninstall: also remove the config, the history, the music and the service user
  --dry-run         print every action without doing it
  --root DIR        install into DIR instead of / (apt, users and systemctl are skipped; for tests)
  --skip-pip        create the venv but install nothing into it (tests; the venv is then not runnable)
  --skip-models     do not fetch the models (tests without network)
  -h, --help        this help
EOF
}

die() { echo "install.sh: $*" >&2; exit 1; }
note() { echo "install.sh: $*" >&2; }
step() { echo "==> $*"; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --with-mosquitto) WITH_MOSQUITTO=1 ;;
        --with-edgetpu) WITH_EDGETPU=1 ;;
        --uninstall) UNINSTALL=1 ;;
        --purge) PURGE=1 ;;
        --dry-run) DRY_RUN=1 ;;
        --root) [[ $# -ge 2 ]] || die "--root needs a directory"; ROOT="$(realpath -m "$2")"; shift ;;
        --skip-pip) SKIP_PIP=1 ;;
        --skip-models) SKIP_MODELS=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
done
[[ $PURGE -eq 0 || $UNINSTALL -eq 1 ]] || die "--purge only goes with --uninstall"
if [[ $DRY_RUN -eq 0 && -z "$ROOT" && $(id -u) -ne 0 ]]; then
    die "run as root (sudo), or use --dry-run / --root DIR"
fi
if [[ $DRY_RUN -eq 0 && -z "$ROOT" ]] && ! command -v systemctl >/dev/null; then
    die "systemctl not found: the appliance runs as a systemd service (install systemd first)"
fi

PREFIX="$ROOT/opt/todayfeeling"
VENV="$PREFIX/venv"
CODE="$PREFIX/src"
MODELS="$PREFIX/models"
CONFIG_DIR="$ROOT/etc/todayfeeling"
STATE_DIR="$ROOT/var/lib/todayfeeling"
UNIT_DIR="$ROOT/etc/systemd/system"
# A checkout inside $PREFIX (other than the installed copy, $CODE) would be deleted by --uninstall, .git and
# uncommitted work with it.
case "$SRC_DIR/" in
    "$(realpath -m "$PREFIX")/"*)
        [[ "$SRC_DIR" == "$(realpath -m "$CODE")" ]] ||
            die "the checkout $SRC_DIR is inside $PREFIX, which the installer owns (--uninstall removes it): clone it elsewhere" ;;
esac

# run CMD...: a change to this machine's files, shown in --dry-run.
run() {
    if [[ $DRY_RUN -eq 1 ]]; then
        echo "[dry-run] $*"
    else
        "$@"
    fi
}

# system CMD...: a change outside the file tree (packages, users, services): skipped in --root mode.
system() {
    if [[ -n "$ROOT" ]]; then
        echo "[skipped in --root mode] $*"
    else
        run "$@"
    fi
}

# now CMD...: a systemctl call that acts on the running system (daemon-reload, start, restart, stop). Where
# systemd is not running as init (a chroot, a container, an image being built) it is skipped with the reason:
# `systemctl enable` has linked the unit, so the service starts at the next boot.
now() {
    if [[ -z "$ROOT" && ! -d "$SYSTEMD_RUN_DIR" ]]; then
        echo "[skipped: systemd is not running here] $*"
    else
        system "$@"
    fi
}

# write_file PATH: stdin into PATH (shown, not written, in --dry-run).
write_file() {
    if [[ $DRY_RUN -eq 1 ]]; then
        echo "[dry-run] write $1"
        cat >/dev/null
    else
        cat >"$1"
    fi
}

install_packages() {
    step "apt packages"
    local packages=("${APT_PACKAGES[@]}")
    if [[ $WITH_MOSQUITTO -eq 1 ]]; then
        packages+=(mosquitto mosquitto-clients)
    fi
    system apt-get update
    if [[ $WITH_EDGETPU -eq 1 ]]; then
        add_coral_repository
        packages+=(libedgetpu1-std)  # left out, with the reason, when the repository offers none
    fi
    if [[ $DRY_RUN -eq 0 && -z "$ROOT" ]]; then
        mapfile -t packages < <(offered "${packages[@]}")
    fi
    # --no-install-recommends keeps picamera2's GUI dependencies (Qt, OpenGL) off a Lite system.
    system env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"
    if [[ $WITH_MOSQUITTO -eq 1 ]]; then
        system systemctl enable mosquitto
        now systemctl start mosquitto
    fi
}

# offered PACKAGE...: print the packages to install, leaving out (with the reason) each optional one that no
# apt source offers.
offered() {
    local package candidate
    for package in "$@"; do
        candidate="$(apt-cache policy "$package" 2>/dev/null | awk '/Candidate:/ {print $2}')"
        if [[ -v "OPTIONAL_PACKAGES[$package]" && ( -z "$candidate" || "$candidate" == "(none)" ) ]]; then
            note "no apt source offers $package: ${OPTIONAL_PACKAGES[$package]}"
        else
            echo "$package"
        fi
    done
}

add_coral_repository() {
    local keyring=/usr/share/keyrings/coral-edgetpu.gpg list=/etc/apt/sources.list.d/coral-edgetpu.list
    if [[ -z "$ROOT" && -f "$list" ]]; then
        echo "Coral apt repository already configured"
        return
    fi
    system env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends curl gpg
    if system bash -o pipefail -c "curl -fsSL '$CORAL_KEY_URL' | gpg --dearmor --yes -o '$keyring'"; then
        system sh -c "echo 'deb [signed-by=$keyring] $CORAL_REPO' > '$list'"
        system apt-get update
    else
        note "cannot fetch Coral's apt key from $CORAL_KEY_URL (offline, or the repository is unreachable)"
    fi
}

create_user() {
    step "service user $SERVICE_USER"
    if [[ -z "$ROOT" ]] && id -u "$SERVICE_USER" >/dev/null 2>&1; then
        echo "user $SERVICE_USER exists"
    else
        system useradd --system --user-group --home-dir /var/lib/todayfeeling --no-create-home \
            --shell /usr/sbin/nologin "$SERVICE_USER"
    fi
    local groups=video,audio,plugdev
    # The PCIe Coral (gasket driver) gives /dev/apex_0 to group apex.
    if getent group apex >/dev/null 2>&1; then
        groups+=",apex"
    fi
    system usermod -a -G "$groups" "$SERVICE_USER"
}

install_code() {
    step "code in $CODE"
    run mkdir -p "$PREFIX"
    if [[ "$SRC_DIR" == "$(realpath -m "$CODE")" ]]; then
        echo "running from the installed copy: code left as it is"
        return
    fi
    local staging="$CODE.new"
    run rm -rf "$staging"
    run mkdir -p "$staging/models"
    local item
    for item in setup.py README.md firmware systemd provisioning config; do
        if [[ -e "$SRC_DIR/$item" ]]; then
            run cp -a "$SRC_DIR/$item" "$staging/"
        fi
    done
    # The models folder without training/ (research, not needed on the device).
    for item in "$SRC_DIR"/models/*.{json,py,tflite}; do
        if [[ -f "$item" ]]; then
            run cp -a "$item" "$staging/models/"
        fi
    done
    run find "$staging" -depth \( -name __pycache__ -o -name '*.egg-info' \) -exec rm -rf {} +
    run rm -rf "$CODE"
    run mv "$staging" "$CODE"
}

install_venv() {
    step "venv in $VENV"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$PYTHON is older than Python 3.11"
    # A venv belongs to one Python version: after an upgrade of the OS (Bookworm's 3.11 to Trixie's 3.13) its
    # packages sit in lib/python3.11 where 3.13 does not look, so it is made again.
    local made_with wanted
    made_with="$(sed -n 's/^version *= *\([0-9]*\.[0-9]*\).*/\1/p' "$VENV/pyvenv.cfg" 2>/dev/null || true)"
    wanted="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    if [[ -x "$VENV/bin/python" && "$made_with" == "$wanted" ]]; then
        echo "venv exists"
    else
        if [[ -e "$VENV" ]]; then
            echo "the venv was made with Python ${made_with:-unknown}, this is $wanted: making it again"
            run rm -rf "$VENV"
        fi
        if [[ $SKIP_PIP -eq 1 ]]; then
            run "$PYTHON" -m venv --system-site-packages --without-pip "$VENV"
        else
            # --system-site-packages: picamera2 and libcamera come from apt.
            run "$PYTHON" -m venv --system-site-packages "$VENV"
        fi
    fi
    if [[ $SKIP_PIP -eq 1 ]]; then
        echo "--skip-pip: nothing installed into the venv"
        return
    fi
    # --use-pep517: Bookworm's pip 23.0 would otherwise "setup.py install" the package, whose easy-install entry
    # script makes pkg_resources resolve every requirement when pygame imports it, and that old resolver
    # does not find normalised names such as backports_strenum (ai-edge-litert's): the service would not start.
    run "$VENV/bin/pip" install --disable-pip-version-check --quiet --use-pep517 --upgrade "$CODE"
    run "$VENV/bin/todayfeeling" --version  # the entry point imports and runs in the venv
}

install_models() {
    step "models in $MODELS"
    if [[ $SKIP_MODELS -eq 1 ]]; then
        echo "--skip-models: models not fetched"
        return
    fi
    run mkdir -p "$MODELS"
    # Third-party models already fetched into the checkout are reused; fetch_models.py verifies every
    # file's sha256 against the manifest and downloads only what is missing or wrong.
    local model
    for model in "$SRC_DIR"/models/*; do
        if [[ -f "$model" && "$model" != *.py && ! -e "$MODELS/$(basename "$model")" ]]; then
            run cp -a "$model" "$MODELS/"
        fi
    done
    # -B: with --skip-pip the venv lacks the package and the script imports it from $CODE, which stays as it
    # was copied (no __pycache__ written into it by root).
    run "$VENV/bin/python" -B "$CODE/models/fetch_models.py" --dest "$MODELS"
}

install_config() {
    step "config in $CONFIG_DIR"
    run mkdir -p "$CONFIG_DIR"
    local config="$CONFIG_DIR/config.toml"
    if [[ -e "$config" ]]; then
        echo "kept $config"
    elif [[ -f "$SRC_DIR/config/config.example.toml" ]]; then
        run install -m 0640 "$SRC_DIR/config/config.example.toml" "$config"
    else
        write_file "$config" <<'EOF'
# Today Feeling configuration: every key has a default; see config/config.example.toml in the source.
EOF
    fi
    # It may hold the MQTT password: root writes it, the service's group reads it, nobody else (a config
    # kept from an older version is tightened too).
    run chmod 0640 "$config"
    system chgrp "$SERVICE_USER" "$config"
}

install_state() {
    step "music and state in $STATE_DIR"
    local mood
    for mood in "${MOODS[@]}"; do
        run mkdir -p "$STATE_DIR/music/$mood"
    done
    system chown -R "$SERVICE_USER:$SERVICE_USER" "$STATE_DIR"
    # The household's moods (history) live here: the service user alone may look in (the unit says so too).
    run chmod 0700 "$STATE_DIR"
}

install_unit() {
    step "systemd unit"
    run mkdir -p "$UNIT_DIR"
    run install -m 0644 "$SRC_DIR/systemd/$SERVICE.service" "$UNIT_DIR/$SERVICE.service"
    now systemctl daemon-reload
    system systemctl enable "$SERVICE"
    # restart, not start: an upgrade takes effect at once.
    now systemctl restart "$SERVICE"
}

uninstall() {
    step "removing the service"
    # Only a unit that is installed can be stopped and disabled (systemctl fails on one it does not know): after
    # an earlier --uninstall there is nothing to do, and --uninstall --purge goes on to the data.
    if [[ -e "$UNIT_DIR/$SERVICE.service" ]]; then
        now systemctl stop "$SERVICE"
        system systemctl disable "$SERVICE"
    else
        echo "no $UNIT_DIR/$SERVICE.service: the service is not installed, nothing to stop or disable"
    fi
    run rm -f "$UNIT_DIR/$SERVICE.service"
    if [[ $PURGE -eq 1 ]]; then  # `systemctl edit`'s drop-ins: a stale User= or DeviceAllow= would return
        run rm -rf "$UNIT_DIR/$SERVICE.service.d"
    elif [[ -d "$UNIT_DIR/$SERVICE.service.d" ]]; then
        echo "kept $UNIT_DIR/$SERVICE.service.d (your systemctl edit changes): --purge removes it"
    fi
    now systemctl daemon-reload
    step "removing $PREFIX (venv, code, models)"
    run rm -rf "$PREFIX"
    if [[ $PURGE -eq 1 ]]; then
        step "purging config, history, music and the service user"
        run rm -rf "$CONFIG_DIR" "$STATE_DIR"
        if [[ -n "$ROOT" ]] || id -u "$SERVICE_USER" >/dev/null 2>&1; then
            system userdel "$SERVICE_USER"
        else
            echo "no user $SERVICE_USER: nothing to remove"  # an earlier --purge removed it
        fi
    else
        echo "kept $CONFIG_DIR and $STATE_DIR (config, mood history, music): --purge removes them"
    fi
    echo "apt packages are left installed"
}

if [[ $DRY_RUN -eq 1 ]]; then
    echo "dry run: nothing is changed"
fi
if [[ -n "$ROOT" ]]; then
    echo "working in $ROOT: apt, users and systemctl are skipped"
fi
if [[ $UNINSTALL -eq 1 ]]; then
    uninstall
else
    install_packages
    create_user
    install_code
    install_venv
    install_models
    install_config
    install_state
    install_unit
    if [[ -z "$ROOT" && ! -d "$SYSTEMD_RUN_DIR" ]]; then
        echo "done: systemd is not running here (a chroot or a container), so $SERVICE is enabled but not" \
             "started; it starts at the next boot"
    else
        echo "done: journalctl -u $SERVICE -f shows the appliance's log"
    fi
fi
