#!/usr/bin/env bash
# The appliance on the Raspberry Pi's architecture, by emulation: an arm64 Debian root (Raspberry Pi OS is
# Debian arm64 plus Raspberry Pi's own archive) run under qemu-user through binfmt_misc.
#
#   sudo scripts/arm64-check.sh [--full] [--parallel] [--rebuild] [--keep] SUITE...   SUITE: bookworm, trixie
#
# For each suite, each phase timed:
#   root       the arm64 root, built with mmdebstrap (minbase, systemd, ca-certificates) and cached as a tarball;
#              reused while its recipe is unchanged and it is younger than TODAYFEELING_ARM64_MAX_AGE_DAYS
#   install    a fresh copy of the root, the checkout copied in: provisioning/install.sh --with-mosquitto
#              --with-edgetpu, the real installer (no service starts in a chroot; the Pi camera library and
#              the Edge TPU runtime are absent from plain Debian, so it must say so and go on)
#   appliance  as the service user: the models verified; `detect --json` on the demo picture equal to this
#              host's (x86) result within rounding; `doctor` with no failed check; `music list --check`; the
#              appliance itself on a folder of frames, telling a broker inside the root its mood
#   dev-setup  another fresh copy of the root with ../shared/datasets mounted read-only: ./scripts/dev.sh setup
#   tests      the test suite there, with TODAYFEELING_EMULATION=short (tests/emulation.py: tests marked
#              emulation_short run a shorter variant, listed in the summary), or =full with --full
# Everything inside runs on an emulated Raspberry Pi CPU (QEMU_CPU: bookworm a Cortex-A72, a Pi 4's; trixie a
# Cortex-A76, a Pi 5's). Before them, once: the host's tools (qemu-user-static >= 10, from bookworm-backports on Debian 12;
# mmdebstrap; arch-test), binfmt_misc with qemu-aarch64 registered with flag F, and the x86 reference result.
#
#   --full       the whole suite as written (the face_smoke clip alone takes minutes)
#   --parallel   run the suites at the same time (each is mostly one emulated process; 2 cores fit two)
#   --rebuild    build the roots again even when the cached ones are valid
#   --keep       keep the work roots (unmounted) for a look inside
# Environment: TODAYFEELING_ARM64_CACHE (roots and pip's cache, default /var/cache/todayfeeling-arm64),
# TODAYFEELING_ARM64_WORK (work roots and logs, default /var/tmp/todayfeeling-arm64),
# TODAYFEELING_ARM64_MAX_AGE_DAYS (30), TODAYFEELING_ARM64_TEST_TIMEOUT (seconds, 3000),
# TODAYFEELING_ARM64_TESTS (pytest arguments for the tests phase, e.g. "tests/test_people.py -x": a quick
# re-check of some tests; default: the whole suite),
# TODAYFEELING_DATASETS (default ../shared/datasets), TODAYFEELING_DEBIAN_MIRROR (http://deb.debian.org/debian),
# TODAYFEELING_DEBIAN_SECURITY (http://deb.debian.org/debian-security).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${TODAYFEELING_ARM64_CACHE:-/var/cache/todayfeeling-arm64}"
work="${TODAYFEELING_ARM64_WORK:-/var/tmp/todayfeeling-arm64}"
max_age_days="${TODAYFEELING_ARM64_MAX_AGE_DAYS:-30}"
# a hang guard, not a speed claim: both suites side by side on 2 cores took 24-25 min (485 tests, 2026-12-08,
# numpy's BLAS on one thread; 71-73 min before). Under CI's own 90-minute limit, so a hang is reported here.
test_timeout="${TODAYFEELING_ARM64_TEST_TIMEOUT:-3000}"
tests="${TODAYFEELING_ARM64_TESTS:-}"
datasets="$(realpath -m "${TODAYFEELING_DATASETS:-$repo/../shared/datasets}")"
mirror="${TODAYFEELING_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security="${TODAYFEELING_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}"
QEMU_MIN_MAJOR=10  # Debian 12's qemu 7.2 segfaults in ai-edge-litert 2.2+'s allocate_tensors; 10.0 runs it
ROOT_PACKAGES=ca-certificates,systemd-sysv  # a bootable minimal Debian, like a Pi's: the rest is the scripts' job
ROOT_RECIPE_VERSION=1  # raise when the way roots are built changes
PATH_INSIDE=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# The CPU that qemu emulates is a Raspberry Pi's, not qemu's default "max": that one has SVE and SME, which no
# Pi has, and there numpy 2's OpenBLAS (trixie) multiplies small transposed matrices wrongly (measured: the face
# alignment's 2x4 @ 4x2 covariance, so every face embedding differed from x86's). Pi 4 on the older base, Pi 5
# on the current one.
declare -A PI_CPU=([bookworm]=cortex-a72 [trixie]=cortex-a76)
qemu_cpu=max  # set per suite in check_suite

mode=short
parallel=0
rebuild=0
keep=0
host_done=0  # set in the child processes of --parallel
suites=()

die() { echo "arm64-check: $*" >&2; exit 1; }
say() { echo "arm64-check: $*"; }

usage() { sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --full) mode=full ;;
        --parallel) parallel=1 ;;
        --rebuild) rebuild=1 ;;
        --keep) keep=1 ;;
        --host-done) host_done=1 ;;
        -h|--help) usage; exit 0 ;;
        bookworm|trixie) suites+=("$1") ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
done
[[ ${#suites[@]} -gt 0 ]] || { usage >&2; die "name a suite: bookworm or trixie"; }
[[ $(id -u) -eq 0 ]] || die "run as root (sudo): it installs host packages, mounts, and chroots"
mkdir -p "$cache" "$work"
timings="$work/timings"

# phase NAME CMD...: run CMD (in a subshell, stopping at its first failing command), print how long it took
# and record that for the summary; returns CMD's status.
phase() {
    local name="$1" start=$SECONDS status
    shift
    echo "==> $name"
    set +e
    (set -e; "$@")
    status=$?
    set -e
    local took=$((SECONDS - start))
    printf '%-26s %4dm %02ds%s\n' "$name" $((took / 60)) $((took % 60)) "$([[ $status -eq 0 ]] || echo "  FAILED")" \
        >>"$timings"
    echo "<== $name: $((took / 60))m $((took % 60))s$([[ $status -eq 0 ]] || echo ", FAILED (status $status)")"
    return "$status"
}

# --- the host ------------------------------------------------------------------------------------------------

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

qemu_major() { sed -n '1s/^qemu-aarch64 version \([0-9]*\)\..*/\1/p'; }

host_tools() {
    local missing=() package
    for package in mmdebstrap arch-test iproute2; do
        installed "$package" || missing+=("$package")
    done
    local qemu_ok=0
    if command -v qemu-aarch64-static >/dev/null \
            && [[ "$(qemu-aarch64-static --version | qemu_major)" -ge $QEMU_MIN_MAJOR ]]; then
        qemu_ok=1
    fi
    if [[ ${#missing[@]} -eq 0 && $qemu_ok -eq 1 ]]; then
        say "host tools in place: $(qemu-aarch64-static --version | head -1), mmdebstrap $(mmdebstrap --version | cut -d' ' -f2)"
        return
    fi
    local codename
    codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
    local target=()
    if [[ $qemu_ok -eq 0 && "$codename" == bookworm ]]; then
        # Debian 12's own qemu is 7.2; bookworm-backports has 10.
        if ! apt-cache policy | grep -q "bookworm-backports/main"; then
            say "adding bookworm-backports for qemu $QEMU_MIN_MAJOR"
            echo "deb $mirror bookworm-backports main" >/etc/apt/sources.list.d/todayfeeling-bookworm-backports.list
        fi
        target=(-t bookworm-backports)
    fi
    say "installing host packages: ${missing[*]} qemu-user-static"
    apt-get update -qq
    if [[ ${#missing[@]} -gt 0 ]]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${target[@]}" \
        qemu-user-static >/dev/null
    local major
    major="$(qemu-aarch64-static --version | qemu_major)"
    [[ "$major" -ge $QEMU_MIN_MAJOR ]] || die "qemu-user-static is version $major; ai-edge-litert needs" \
        "qemu >= $QEMU_MIN_MAJOR under emulation (7.2 segfaults in allocate_tensors): install a newer one"
    say "host tools: $(qemu-aarch64-static --version | head -1), mmdebstrap $(mmdebstrap --version | cut -d' ' -f2)"
}

# The qemu the kernel runs for arm64 programs. With flag F the kernel opened the interpreter when it was
# registered, so after an upgrade the old one keeps running until registered again. QEMU_VERSION=1 makes
# qemu-user print its version and exit before it reads the program: a bare arm64 ELF header is enough.
registered_qemu() {
    local probe
    probe="$(mktemp -p "$work" probe.XXXXXX)"
    printf '\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00' >"$probe"
    head -c 44 /dev/zero >>"$probe"
    chmod +x "$probe"
    QEMU_VERSION=1 "$probe" 2>/dev/null | head -1 || true
    rm -f "$probe"
}

binfmt() {
    local dir=/proc/sys/fs/binfmt_misc entry=/proc/sys/fs/binfmt_misc/qemu-aarch64
    if [[ ! -e "$dir/register" ]]; then
        mount -t binfmt_misc binfmt_misc "$dir" 2>/dev/null || die "binfmt_misc is not available and cannot be" \
            "mounted on $dir (a container without that privilege?): arm64 programs cannot run on this machine," \
            "so the arm64 check cannot run here. It needs root on a machine or VM whose kernel has binfmt_misc."
    fi
    local want
    want="$(qemu-aarch64-static --version | head -1)"
    if [[ -e "$entry" ]] && grep -qx enabled "$entry" && grep -q '^flags:.*F' "$entry" \
            && [[ "$(registered_qemu)" == "$want" ]]; then
        say "binfmt_misc: qemu-aarch64 registered (flags $(sed -n 's/^flags: //p' "$entry")): $want"
        return
    fi
    say "binfmt_misc: registering qemu-aarch64 again (was: $(registered_qemu || true))"
    local why="binfmt_misc on $dir does not take registrations (read-only, or a container's):"
    if [[ -e "$entry" ]]; then
        echo -1 >"$entry" || die "$why cannot remove the old qemu-aarch64 entry"
    fi
    if [[ -f /usr/lib/binfmt.d/qemu-aarch64.conf ]]; then  # qemu >= 8 packaging (qemu-user-binfmt)
        grep -v '^#' /usr/lib/binfmt.d/qemu-aarch64.conf >"$dir/register" || die "$why cannot register qemu-aarch64"
    else  # qemu 7 packaging (binfmt-support)
        update-binfmts --enable qemu-aarch64 || die "$why update-binfmts failed"
    fi
    [[ -e "$entry" ]] && grep -q '^flags:.*F' "$entry" \
        || die "binfmt_misc: qemu-aarch64 is not registered with flag F (needed to run inside a chroot)"
    [[ "$(registered_qemu)" == "$want" ]] || die "binfmt_misc: the kernel still runs '$(registered_qemu)'" \
        "for arm64 programs, not '$want'"
    say "binfmt_misc: qemu-aarch64 registered: $want"
}

x86_reference() {
    if [[ ! -x "$repo/.venv/bin/todayfeeling" ]] || ! "$repo/.venv/bin/python" "$repo/models/fetch_models.py" \
            --check >/dev/null 2>&1; then
        say "no set-up checkout for the x86 reference: ./scripts/dev.sh setup"
        "$repo/scripts/dev.sh" setup
    fi
    "$repo/.venv/bin/todayfeeling" detect --json "$repo/models/demo_astronaut.png" >"$work/x86-detect.jsonl" \
        2>/dev/null
    say "x86 reference ($(uname -m), $("$repo/.venv/bin/python" -c 'import platform; print("Python", platform.python_version())')):"
    cat "$work/x86-detect.jsonl"
}

host() {
    [[ -d "$datasets/face_smoke" ]] || die "research datasets not found at $datasets (set TODAYFEELING_DATASETS):" \
        "the emulated suite needs them like the native one"
    host_tools
    binfmt
    x86_reference
}

# --- roots ---------------------------------------------------------------------------------------------------

recipe() {
    local suite="$1"
    echo "recipe $ROOT_RECIPE_VERSION: mmdebstrap --arch=arm64 --variant=minbase --include=$ROOT_PACKAGES $suite"
    echo "deb $mirror $suite main"
    echo "deb $mirror $suite-updates main"
    echo "deb $security $suite-security main"
}

# cached_root SUITE: make sure $cache/SUITE.tar holds a root built by the current recipe, younger than the
# maximum age (or build it: also with --rebuild).
cached_root() {
    local suite="$1" tar="$cache/$1.tar"
    if [[ $rebuild -eq 0 && -f "$tar" && "$(cat "$tar.recipe" 2>/dev/null)" == "$(recipe "$suite")" \
            && -z "$(find "$tar" -mtime "+$max_age_days")" ]]; then
        say "$suite: cached root $tar ($(date -r "$tar" +%F), $(du -h "$tar" | cut -f1))"
    else
        build_root "$suite"
    fi
}

build_root() {
    local suite="$1" tar="$cache/$1.tar"
    local sources=()
    mapfile -t sources < <(recipe "$suite" | tail -n +2)
    say "$suite: building the arm64 root with mmdebstrap"
    rm -f "$tar.recipe"
    nice -n 5 mmdebstrap --quiet --format=tar --arch=arm64 --variant=minbase --include="$ROOT_PACKAGES" "$suite" \
        "$tar.part" "${sources[@]}"
    mv "$tar.part" "$tar"
    recipe "$suite" >"$tar.recipe"
    say "$suite: root cached in $tar ($(du -h "$tar" | cut -f1))"
}

# --- work roots: a fresh copy of the cached root per use, mounts, clean-up -------------------------------------

work_roots=()

mounts_under() {  # deepest first
    awk -v root="$1" '$5 == root || index($5, root "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

# stop_processes ROOT: end the processes this script started inside ROOT (a broker, a stuck test), by id.
stop_processes() {
    local root="$1" signal pid link
    for signal in TERM KILL; do
        local found=0
        for pid in /proc/[0-9]*; do
            link="$(readlink "$pid/root" 2>/dev/null)" || continue
            if [[ "$link" == "$root" || "$link" == "$root"/* ]]; then
                kill "-$signal" "${pid#/proc/}" 2>/dev/null && found=1
            fi
        done
        [[ $found -eq 1 ]] || return 0
        sleep 2
    done
}

# unmount_root ROOT: stop what runs in ROOT and unmount everything under it; fails while a mount is left
# (then nothing may remove ROOT: /dev and the datasets are mounted there).
unmount_root() {
    local root="$1" point
    stop_processes "$root"
    for point in $(mounts_under "$root"); do
        umount "$point" 2>/dev/null || umount -R "$point" 2>/dev/null || umount -l "$point" \
            || echo "arm64-check: cannot unmount $point" >&2
    done
    if [[ -n "$(mounts_under "$root")" ]]; then
        echo "arm64-check: mounts left under $root, not removing it: $(mounts_under "$root" | xargs)" >&2
        return 1
    fi
}

# release_root ROOT: unmount ROOT and remove it (with --keep: leave it for a look inside).
release_root() {
    unmount_root "$1" || return 1
    if [[ $keep -eq 1 ]]; then
        say "kept $1"
    else
        rm -rf --one-file-system "$1"
    fi
}

cleanup() {
    local root
    for root in "${work_roots[@]}"; do
        [[ -d "$root" ]] && release_root "$root"
    done
    return 0
}

# inside ROOT [VAR=VALUE...] CMD...: run CMD in ROOT with a clean environment.
inside() {
    local root="$1"
    shift
    chroot "$root" /usr/bin/env -i PATH="$PATH_INSIDE" HOME=/root LANG=C.UTF-8 TERM=dumb QEMU_CPU="$qemu_cpu" "$@"
}

# inside_bg ROOT CMD...: the same in the background; $! is CMD's process id.
inside_bg() {
    local root="$1"
    shift
    chroot "$root" /usr/bin/env -i PATH="$PATH_INSIDE" HOME=/root LANG=C.UTF-8 TERM=dumb QEMU_CPU="$qemu_cpu" "$@" &
}

# as_service ROOT [VAR=VALUE...] CMD...: as the appliance's service user.
as_service() {
    local root="$1"
    shift
    local vars=()
    while [[ $# -gt 0 && "$1" == *=* ]]; do vars+=("$1"); shift; done
    inside "$root" HOME=/var/lib/todayfeeling SDL_AUDIODRIVER=dummy "${vars[@]}" runuser -u todayfeeling -- "$@"
}

# fresh_root SUITE NAME: a new work root $work/SUITE-NAME from the cached root, ready to use, in $root.
fresh_root() {
    local suite="$1" tar="$cache/$1.tar"
    root="$work/$1-$2"
    if [[ -e "$root" ]]; then  # left by an earlier run (--keep, or killed)
        unmount_root "$root" || die "cannot clear the old $root"
        rm -rf --one-file-system "$root"
    fi
    work_roots+=("$root")
    mkdir -p "$root"
    if ! tar -xf "$tar" -C "$root" || ! valid_root "$root" "$suite"; then
        say "$suite: the cached root is broken; building it again"
        rm -rf --one-file-system "$root"
        build_root "$suite"
        mkdir -p "$root"
        tar -xf "$tar" -C "$root"
        valid_root "$root" "$suite" || die "$suite: a freshly built root does not run"
    fi
    # Name resolution, and the host's extra CA certificates (a TLS-intercepting proxy's) for pip: added to the
    # bundle directly (update-ca-certificates takes a minute under emulation) and where it looks next time.
    rm -f "$root/etc/resolv.conf"
    cat /etc/resolv.conf >"$root/etc/resolv.conf"
    local cert
    for cert in /usr/local/share/ca-certificates/*.crt; do
        [[ -f "$cert" ]] || continue
        cp "$cert" "$root/usr/local/share/ca-certificates/"
        cat "$cert" >>"$root/etc/ssl/certs/ca-certificates.crt"
    done
    # No service starts inside the root (Debian's convention for chroots: invoke-rc.d asks policy-rc.d).
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 0755 "$root/usr/sbin/policy-rc.d"
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys"
    mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev"
    mkdir -p "$cache/pip" "$root/root/.cache/pip"
    mount --bind "$cache/pip" "$root/root/.cache/pip"
    copy_checkout "$root/srv/todayfeeling"
}

valid_root() {
    [[ "$(. "$1/etc/os-release" && echo "${VERSION_CODENAME:-}")" == "$2" ]] && chroot "$1" /usr/bin/true
}

copy_checkout() {  # what git tracks or would track (no venv, no fetched models, no caches)
    mkdir -p "$1"
    if git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
        git -C "$repo" ls-files -z --cached --others --exclude-standard | (cd "$repo" && tar --null -T - -cf -) \
            | tar -xf - -C "$1"
    else
        tar -C "$repo" --exclude=.venv --exclude='__pycache__' -cf - . | tar -xf - -C "$1"
    fi
}

# --- the phases ----------------------------------------------------------------------------------------------

install_phase() {
    local root="$1" log="$2/install.log"
    # The installer's steps and messages here, apt's and pip's output in the log (its end shown on failure).
    if ! inside "$root" bash /srv/todayfeeling/provisioning/install.sh --with-mosquitto --with-edgetpu >"$log" 2>&1
    then
        tail -n 40 "$log"
        die "the installer failed (log: $log)"
    fi
    grep -E '^(==>|install\.sh:|\[skipped|done|todayfeeling [0-9]|all [0-9]+ models|E:|W:)' "$log"
    grep -q "no apt source offers python3-picamera2" "$log" \
        || die "the installer did not say that the Pi camera library is absent"
    if inside "$root" dpkg-query -W libedgetpu1-std >/dev/null 2>&1; then
        say "libedgetpu1-std installed (Coral's repository was reachable)"
    else
        grep -qE "cannot fetch Coral's apt key|no apt source offers libedgetpu1-std" "$log" \
            || die "libedgetpu1-std is not installed and the installer did not say why"
    fi
    grep -q "systemd is not running here" "$log" || die "the installer did not say that it started nothing"
    [[ "$(inside "$root" systemctl is-enabled todayfeeling)" == enabled ]] || die "todayfeeling.service not enabled"
    say "installed: the Pi camera and the Edge TPU absent with a message, the service enabled, nothing started"
}

appliance_phase() {
    local root="$1" logs="$2" venv=/opt/todayfeeling/venv/bin
    inside "$root" "$venv/python" -c 'import platform; print("Python", platform.python_version(), platform.machine())'
    inside "$root" "$venv/python" -m pip list --format=freeze 2>/dev/null \
        | grep -iE '^(ai-edge-litert|numpy|opencv-python-headless|pygame|paho-mqtt|soundfile)=='
    inside "$root" "$venv/python" /opt/todayfeeling/src/models/fetch_models.py --check --dest /opt/todayfeeling/models

    as_service "$root" "$venv/todayfeeling" detect --json /opt/todayfeeling/models/demo_astronaut.png \
        >"$logs/arm64-detect.jsonl"
    cat "$logs/arm64-detect.jsonl"
    python3 "$repo/scripts/same_detections.py" "$work/x86-detect.jsonl" "$logs/arm64-detect.jsonl"

    # A file source (frames of the demo picture), music for two moods, and a broker inside the root.
    mkdir -p "$root/srv/check/frames"
    local i
    for i in 1 2 3 4 5 6; do cp "$root/opt/todayfeeling/models/demo_astronaut.png" "$root/srv/check/frames/$i.png"; done
    inside "$root" "$venv/python" -c '
import wave
for mood in ("happiness", "neutral"):
    with wave.open(f"/var/lib/todayfeeling/music/{mood}/tone.wav", "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(22050)
        out.writeframes(bytes(2 * 22050 * 2))'
    inside "$root" chown -R todayfeeling: /var/lib/todayfeeling/music
    local port
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    cat >"$root/srv/check/config.toml" <<EOF
[device]
id = "arm64check"
[camera]
source = "/srv/check/frames"
[mqtt]
host = "127.0.0.1"
port = $port
EOF
    inside_bg "$root" mosquitto -p "$port" >"$logs/mosquitto.log" 2>&1
    local broker=$!
    local ready=0
    for i in $(seq 60); do
        if inside "$root" mosquitto_sub -h 127.0.0.1 -p "$port" -t '$SYS/broker/version' -C 1 -W 5 >/dev/null 2>&1
        then
            ready=1
            break
        fi
        sleep 1
    done
    [[ $ready -eq 1 ]] || die "the broker inside the root did not start (see $logs/mosquitto.log)"

    as_service "$root" "$venv/todayfeeling" doctor --config /srv/check/config.toml --frames 3 --json \
        >"$logs/doctor.jsonl" || true
    python3 - "$logs/doctor.jsonl" <<'EOF'
import json, sys
checks = [json.loads(line) for line in open(sys.argv[1])]
for check in checks:
    print(f"  doctor [{check['outcome']}] {check['name']}: {check['detail']}")
failed = [c["name"] for c in checks if c["outcome"] == "failed"]
names = {c["name"] for c in checks}
missing = {"config", "models", "runtime", "edge tpu", "camera", "audio", "music", "mqtt", "placement"} - names
if failed or missing:
    sys.exit(f"arm64-check: doctor: failed {failed}, missing {sorted(missing)}")
EOF
    as_service "$root" "$venv/todayfeeling" music --config /srv/check/config.toml list --check

    inside_bg "$root" mosquitto_sub -h 127.0.0.1 -p "$port" -v -t 'todayfeeling/#' >"$logs/mqtt.log" 2>&1
    local listener=$!
    sleep 2
    as_service "$root" timeout 600 "$venv/todayfeeling" run --config /srv/check/config.toml --fps 5 \
        2>&1 | tee "$logs/run.log" | tail -n 5
    sleep 1
    kill "$listener" "$broker" 2>/dev/null || true
    wait "$listener" "$broker" 2>/dev/null || true
    grep -F 'todayfeeling/arm64check/event {"event_type":"mood_changed","mood":"happiness"' "$logs/mqtt.log" \
        || die "the appliance published no mood_changed to happiness (see $logs/mqtt.log)"
    grep -F '"event_type":"playback_started","playlist":"happiness"' "$logs/mqtt.log" \
        || die "the appliance started no happy music (see $logs/mqtt.log)"
    say "the installed appliance works on a file source: mood, music and MQTT"
}

dev_setup_phase() {
    local root="$1"
    mkdir -p "$root/srv/datasets"
    mount --bind "$datasets" "$root/srv/datasets"
    mount -o remount,bind,ro "$root/srv/datasets"
    inside "$root" bash /srv/todayfeeling/scripts/dev.sh setup
}

# In a network namespace of its own with only a loopback: once set up the suite needs no network, and two
# suites side by side (--parallel) cannot take each other's ports.
tests_phase() {
    local pytest=(chroot "$1" /usr/bin/env -i PATH="$PATH_INSIDE" HOME=/root LANG=C.UTF-8 TERM=dumb QEMU_CPU="$qemu_cpu"
                  TODAYFEELING_DATASETS=/srv/datasets TODAYFEELING_EMULATION="$mode" TESTS="$tests"
                  timeout --kill-after=30 "$test_timeout" sh -c
                  'cd /srv/todayfeeling && exec .venv/bin/python -m pytest -p no:cacheprovider --durations=40 $TESTS')
    unshare --net sh -c 'ip link set lo up && exec "$@"' loopback-only "${pytest[@]}"
}

# check_suite SUITE: every phase for SUITE; run in a subshell with errexit, so the first failure ends it.
check_suite() {
    local suite="$1" logs="$work/$1-logs" root
    qemu_cpu="${PI_CPU[$suite]}"
    say "$suite: emulating a $qemu_cpu (QEMU_CPU)"
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    rm -rf "$logs" && mkdir -p "$logs"
    phase "$suite root" cached_root "$suite"
    fresh_root "$suite" install
    phase "$suite install" install_phase "$root" "$logs"
    phase "$suite appliance" appliance_phase "$root" "$logs"
    release_root "$root"
    fresh_root "$suite" tests
    phase "$suite dev-setup" dev_setup_phase "$root"
    phase "$suite tests ($mode)" tests_phase "$root"
    release_root "$root"
    say "$suite: passed"
}

# --- main ----------------------------------------------------------------------------------------------------

if [[ $host_done -eq 0 ]]; then
    : >"$timings"
    phase "host" host
fi
status=0
if [[ $parallel -eq 1 && ${#suites[@]} -gt 1 ]]; then
    flags=(--host-done)
    [[ $mode == short ]] || flags+=(--full)
    [[ $rebuild -eq 0 ]] || flags+=(--rebuild)
    [[ $keep -eq 0 ]] || flags+=(--keep)
    pids=()
    for suite in "${suites[@]}"; do
        ( "$0" "${flags[@]}" "$suite" 2>&1 | sed -u "s/^/[$suite] /"; exit "${PIPESTATUS[0]}" ) &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || status=1; done
else
    for suite in "${suites[@]}"; do
        set +e
        (set -e; check_suite "$suite")
        [[ $? -eq 0 ]] || status=1
        set -e
    done
fi
if [[ $host_done -eq 0 ]]; then
    echo "== arm64 check: time of each phase"
    cat "$timings"
fi
[[ $status -eq 0 ]] && say "all passed: ${suites[*]}" || say "FAILED: see above"
exit "$status"
