#!/usr/bin/env bash
# Set up a development machine (idempotent) and run the appliance or the test suite.
#
#   ./scripts/dev.sh run [ARGS...]   set up, then run the appliance in the foreground (demo source without a camera)
#   ./scripts/dev.sh test [ARGS...]  set up, then run the whole test suite (ARGS go to pytest)
#   ./scripts/dev.sh setup           only set up
#
# Setup: Debian packages (mosquitto for the MQTT tests, libsystemd-dev to build systemd-python, sox/ffmpeg
# codecs are not needed), a venv in .venv with the package, its dev extras, and the models (checksums verified).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
python="${PYTHON:-python3}"
APT_PACKAGES=(mosquitto libsystemd-dev pkg-config gcc python3-dev python3-venv systemd)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "dev.sh: need root for: $*" >&2; return 1; fi
}

install_debian_packages() {
  local missing=()
  for package in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "dev.sh: installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

setup() {
  if command -v apt-get >/dev/null; then install_debian_packages; fi
  if [ ! -x "$venv/bin/python" ]; then
    echo "dev.sh: creating $venv"
    "$python" -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -e "$repo[dev,systemd]"
  "$venv/bin/python" "$repo/models/fetch_models.py"
}

command="${1:-}"
shift || true
case "$command" in
  setup) setup ;;
  run) setup; exec "$venv/bin/todayfeeling" run "$@" ;;
  test) setup; cd "$repo"; exec "$venv/bin/python" -m pytest "$@" ;;
  *) sed -n '2,8p' "$0" >&2; exit 2 ;;
esac
