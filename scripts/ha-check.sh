#!/usr/bin/env bash
# The appliance against a real Home Assistant (issue 20): build or reuse a Debian 13 root with a pinned
# Home Assistant, then run scripts/ha_check.py in a private network, mount and PID namespace.
#
#   scripts/ha-check.sh [CHECK OPTIONS...]   e.g. --expect-issue20, --skip-pending, --only NAME,NAME, --list
#   scripts/ha-check.sh --build-only         only build (or find) the cached root
#
# Needs root (mmdebstrap, chroot, unshare) on an amd64 Debian machine and the project's venv
# (./scripts/dev.sh setup); installs mmdebstrap and iproute2 when missing. The root is built from the
# Debian and PyPI registries once and kept (about 1.3 GB); the check itself runs offline.
#
# Isolation: mosquitto, Home Assistant and the appliance share a network namespace of their own: its
# loopback, plus an unconnected veth pair (Home Assistant's zeroconf wants a multicast interface), so no
# packet leaves the machine. When the check ends, however it ends, the kernel kills every process left in
# the namespace and drops its mounts; the work folder is removed here.
#
# Environment:
#   TODAYFEELING_HA_CACHE    where built roots are kept (default /var/cache/todayfeeling-ha)
#   TODAYFEELING_HA_MIRROR   Debian mirror for mmdebstrap (default http://deb.debian.org/debian)
#   TODAYFEELING_HA_TIMEOUT  seconds the check may run before it is stopped (default 900)
#   TODAYFEELING_HA_LOGS     a folder to copy the logs (Home Assistant, appliance) into before cleaning up
set -euo pipefail

# Home Assistant 2026.2.3: the newest release on PyPI when this check was written and the one issue 20's
# findings were made with. It needs Python >= 3.13.2, hence Debian 13 (Python 3.13.5). Its pin of lru-dict
# 1.3.0 has no wheel for Python 3.13 on PyPI, hence gcc and python3-dev in the root.
HA_VERSION=2026.2.3
UV_VERSION=0.9.26  # the uv that homeassistant 2026.2.3 itself pins; installs in about a third of pip's time
SUITE=trixie
PACKAGES=python3,python3-venv,python3-dev,gcc,libc6-dev,ca-certificates
RECIPE_REVISION=1  # bump when the recipe changes in a way the values above do not show

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${TODAYFEELING_HA_CACHE:-/var/cache/todayfeeling-ha}"
mirror="${TODAYFEELING_HA_MIRROR:-http://deb.debian.org/debian}"
check_timeout="${TODAYFEELING_HA_TIMEOUT:-900}"
recipe="suite=$SUITE packages=$PACKAGES homeassistant=$HA_VERSION uv=$UV_VERSION revision=$RECIPE_REVISION"
recipe+=" requirements=$(sha256sum "$repo/scripts/ha_requirements.py" | cut -c1-16)"
root="$cache/root-$(printf '%s' "$recipe" | sha256sum | cut -c1-16)"

say() { printf 'ha-check: %s\n' "$*" >&2; }
die() { say "$*"; exit 2; }

[ "$(id -u)" -eq 0 ] || die "needs root (mmdebstrap, chroot and unshare)"
[ "$(dpkg --print-architecture)" = amd64 ] || die "builds an amd64 root; this machine is $(dpkg --print-architecture)"

install_host_tools() {
  local missing=()
  command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
  command -v ip >/dev/null || missing+=(iproute2)
  if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# run a command in ROOT with /proc, /sys and /dev mounted in a private mount namespace (gone when it ends)
in_root() {
  local target="$1"; shift
  unshare --mount --propagation private -- sh -ec '
    target="$1"; shift
    mount -t proc proc "$target/proc"; mount --rbind /sys "$target/sys"; mount --rbind /dev "$target/dev"
    exec chroot "$target" /usr/bin/env -i PATH=/opt/ha/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
      LANG=C.UTF-8 UV_NATIVE_TLS=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 "$@"
  ' in_root "$target" "$@"
}

build_root() {
  local part="$cache/build.part" started
  rm -rf "$part"
  started=$SECONDS
  say "building a $SUITE root in $part (mmdebstrap)"
  # the machines here reach the registries through a TLS-intercepting proxy: trust the host's extra CAs
  nice -n 5 mmdebstrap --quiet --mode=root --variant=minbase --include="$PACKAGES" \
    --customize-hook='mkdir -p "$1/usr/local/share/ca-certificates"' \
    --customize-hook='for c in /usr/local/share/ca-certificates/*.crt; do [ -e "$c" ] && cp "$c" "$1/usr/local/share/ca-certificates/"; done; chroot "$1" update-ca-certificates >/dev/null 2>&1' \
    "$SUITE" "$part" "$mirror"
  say "root built in $((SECONDS - started)) s"
  started=$SECONDS
  say "installing homeassistant==$HA_VERSION and the requirements of the integrations the check loads"
  in_root "$part" python3 -m venv /opt/ha
  in_root "$part" pip install --quiet "uv==$UV_VERSION"
  in_root "$part" nice -n 5 uv pip install --quiet --no-cache --python /opt/ha/bin/python "homeassistant==$HA_VERSION"
  cp "$repo/scripts/ha_requirements.py" "$part/tmp/"
  in_root "$part" python /tmp/ha_requirements.py > "$part/tmp/requirements.txt"
  in_root "$part" nice -n 5 uv pip install --quiet --no-cache --python /opt/ha/bin/python \
    -c /opt/ha/lib/python3.13/site-packages/homeassistant/package_constraints.txt -r /tmp/requirements.txt
  say "Home Assistant installed in $((SECONDS - started)) s: $(tr '\n' ' ' < "$part/tmp/requirements.txt")"
  rm -f "$part/tmp/ha_requirements.py" "$part/tmp/requirements.txt"
  printf '%s\n' "$recipe" > "$part/.todayfeeling-ha-recipe"
  find "$cache" -mindepth 1 -maxdepth 1 -name 'root-*' -exec rm -rf {} +  # roots of older recipes
  mv "$part" "$root"
}

install_host_tools
mkdir -p "$cache"
exec 9>"$cache/lock"
flock 9  # one build at a time, and none while a check uses a root (shared lock below)
if [ -f "$root/.todayfeeling-ha-recipe" ]; then
  say "reusing $root"
else
  build_root
fi
flock -s 9
[ "${1:-}" = --build-only ] && exit 0

python="$repo/.venv/bin/python"
[ -x "$python" ] || die "no project venv in $repo/.venv: run ./scripts/dev.sh setup first"
workdir="$(mktemp -d /tmp/ha-check.XXXXXX)"
cleanup() {
  if [ -n "${TODAYFEELING_HA_LOGS:-}" ]; then
    mkdir -p "$TODAYFEELING_HA_LOGS" && cp "$workdir"/*.log "$TODAYFEELING_HA_LOGS"/ 2>/dev/null || true
  fi
  rm -rf "$workdir"
}
trap cleanup EXIT
mkdir "$workdir/empty" && mkdir -p "$root/run/ha-check"
say "running the check (at most $check_timeout s) in $workdir"
# PID 1 of the namespace is the inner shell: when it ends, every process in the namespace ends with it
nice -n 5 timeout --kill-after=10 "$check_timeout" \
  unshare --net --mount --propagation private --pid --fork --kill-child --mount-proc -- sh -ec '
    root="$1" workdir="$2"; shift 2
    ip link set lo up
    ip link add tfcheck0 type veth peer name tfcheck1
    ip addr add 192.0.2.1/24 dev tfcheck0   # TEST-NET-1; the peer has no address and no link out
    ip link set tfcheck0 up; ip link set tfcheck1 up
    mount -t proc proc "$root/proc"; mount --rbind /sys "$root/sys"; mount --rbind /dev "$root/dev"
    mount --bind "$workdir" "$root/run/ha-check"
    # a device state folder on this machine is never touched by the appliance under test
    if [ -d /var/lib/todayfeeling ]; then mount --bind "$workdir/empty" /var/lib/todayfeeling; fi
    "$@"
  ' ha-check "$root" "$workdir" "$python" "$repo/scripts/ha_check.py" --root "$root" --workdir "$workdir" "$@" &
check_pid=$!
trap 'kill -TERM "$check_pid" 2>/dev/null || true' INT TERM  # stopping this script stops the check
status=0
wait "$check_pid" || status=$?
if kill -0 "$check_pid" 2>/dev/null; then  # a signal interrupted the wait: let the check end, then clean up
  status=0
  wait "$check_pid" || status=$?
fi
[ "$status" -eq 124 ] && say "stopped after $check_timeout s"
say "finished in $SECONDS s (status $status)"
exit "$status"
