#!/usr/bin/env bash
# Set up a development machine (idempotent) and run the appliance or the test suite.
#
#   ./scripts/dev.sh run [ARGS...]   set up, then run the appliance in the foreground (demo source without a camera)
#   ./scripts/dev.sh test [ARGS...]  set up, then run the whole test suite (ARGS go to pytest)
#   ./scripts/dev.sh lint            set up, then ruff and mypy (as CI runs them)
#   ./scripts/dev.sh setup           only set up
#
# Setup: Debian packages (mosquitto for the MQTT tests, libglib2.0-0 for pygame's mixer; sox/ffmpeg codecs are
# not needed; every Python package comes as a wheel, so no compiler), a venv in .venv with the package, its dev extras, and
# the models (checksums verified).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
python="${PYTHON:-python3}"
# libglib2.0-0: pygame's bundled fluidsynth links libglib-2.0 and libgthread-2.0; without them pygame has no
# mixer and the music, daemon and doctor tests fail. procps: /bin/kill, the unit's ExecReload, which
# `systemd-analyze verify` wants to exist. A minimal Debian lacks both. espeak-ng: the spoken prompts of
# `people add --camera` (rendered offline; without it the prompts are text only).
APT_PACKAGES=(mosquitto python3-venv systemd libglib2.0-0 procps espeak-ng)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "dev.sh: need root for: $*" >&2; return 1; fi
}

# installed PACKAGE: installed under that name or by a package that provides it (on Debian 13 libglib2.0-0t64
# provides libglib2.0-0).
installed() {
  dpkg-query -W -f='${Status}\t${Package}, ${Provides}\n' 2>/dev/null | awk -F'\t' -v want="$1" '
    $1 == "install ok installed" {
      n = split($2, names, ", ")
      for (i = 1; i <= n; i++) { sub(/ .*/, "", names[i]); if (names[i] == want) found = 1 }
    }
    END { exit !found }'
}

install_debian_packages() {
  local missing=()
  for package in "${APT_PACKAGES[@]}"; do
    installed "$package" || missing+=("$package")
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
  "$venv/bin/python" -m pip install --quiet -e "$repo[dev]"
  "$venv/bin/python" "$repo/models/fetch_models.py"
}

command="${1:-}"
shift || true
case "$command" in
  setup) setup ;;
  run) setup; exec "$venv/bin/todayfeeling" run "$@" ;;
  test) setup; cd "$repo"; exec "$venv/bin/python" -m pytest "$@" ;;
  lint) setup; cd "$repo"; "$venv/bin/ruff" check . && "$venv/bin/mypy" ;;
  *) sed -n '2,9p' "$0" >&2; exit 2 ;;
esac
