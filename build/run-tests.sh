#!/usr/bin/env bash
# What `make test` (and, with PTTH_SANITIZE=1, `make test-asan`) runs:
#   1. install missing Debian packages (build/install-deps.sh)
#   2. build both modules with apxs (sanitizer flags when PTTH_SANITIZE=1)
#   3. run the TAP suite t/*.t with prove, as an unprivileged user: when
#      started as root, as the system user "ptthtest" (created if missing)
#      on a copy of the tree in a scratch directory; t/95-debian-package.t
#      (installs a package) then runs as root beside it, in the tree.
# The exit status is prove's (the first failing one).
#
# The test files run in parallel (prove -j): each has its own scratch
# directory and reserves its loopback ports machine-wide (t/lib/PTTH/Test.pm,
# free_port).  Without PTTH_TESTS, every t/**/*.t runs, the known long ones
# first (SLOW_FIRST below) so that they do not start last; any other file,
# new ones included, follows in name order.
#
# Environment: PTTH_SANITIZE=1, PTTH_JOBS (files at once, default 6),
# PROVE_FLAGS (default "--timer"; -j is added from PTTH_JOBS),
# PTTH_TESTS (default: every t/**/*.t), PTTH_TEST_USER (default ptthtest),
# PTTH_KEEP=1 keeps the scratch directory after a passing run,
# PTTH_FUZZ_SECONDS (fuzzing time of t/07, default 10), PTTH_GOCACHE (Go
# build cache; default /var/tmp/ptth-gocache-<test user>, kept between runs),
# PTTH_STREAM_PATH (http2 or ptth: PTTHStreamPath of every test backend,
# t/lib/PTTH/Test.pm).
#
# Licensed under the Apache License, Version 2.0.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

build/install-deps.sh

# ------------------------------------------------------------------ build
SAN=${PTTH_SANITIZE:-0}
make_args=()
if [ "$SAN" = 1 ]; then
    make_args=(SAN_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer"
               SAN_LDFLAGS="-fsanitize=address,undefined")
fi
build_rc=0
# -k: a module that does not build must not keep the other from being
# tested.  A build with other flags rebuilds everything (build/obj/flags).
make -k -j"$(nproc)" all "${make_args[@]}" || build_rc=$?
if [ "$build_rc" != 0 ]; then
    echo "run-tests: BUILD FAILED (make exit $build_rc); running the tests anyway" >&2
fi

if [ "$SAN" = 1 ]; then
    asan=$(readlink -f "$(gcc -print-file-name=libasan.so)")
    ubsan=$(readlink -f "$(gcc -print-file-name=libubsan.so)")
    export PTTH_SAN_PRELOAD="$asan:$ubsan"
    export PTTH_SANITIZE=1
    echo "run-tests: sanitizers on; httpd runs with LD_PRELOAD=$PTTH_SAN_PRELOAD"
fi

# ------------------------------------------------------------------ tests
# Long files first, longest first (mean wall time over three full runs on
# the 2-core machine, 7 s and more): with several files at once the run is
# as short as its longest chain, so none of these may start last.  Only an
# ordering hint: a file missing here still runs, after these.
SLOW_FIRST="t/135-secure-serving.t t/07-fuzz-handshake.t t/15-tunnels.t
            t/74-status-browser.t t/73-status-outputs.t
            t/125-hostile-streams.t t/125-hostile-framing.t
            t/36-stream-path.t t/76-graceful-under-load.t
            t/125-hostile-frame-floods.t t/65-backend-graceful.t
            t/125-hostile-floods.t t/110-tls.t
            t/80-proxy-semantics.t t/130-secure-tunnels.t
            t/45-relay.t t/125-hostile-windows.t
            t/125-hostile-fields.t t/20-parallel.t
            t/06-handshake-unit.t t/132-host-routing.t
            t/125-hostile-headers.t t/120-hostile-handshakes.t
            t/50-backend-mpms.t t/60-backend-kill.t
            t/05-config-errors.t t/47-websocket.t
            t/31-early-answer.t t/101-secure-config.t
            t/90-go-interop.t t/100-handshake-router.t
            t/40-router-children.t t/35-streaming.t"
if [ -n "${PTTH_TESTS:-}" ]; then
    TESTS=$PTTH_TESTS
else
    TESTS=""
    for f in $SLOW_FIRST; do
        [ -f "$f" ] && TESTS="$TESTS $f"
    done
    for f in $(find t -name '*.t' -type f | LC_ALL=C sort); do
        case " $TESTS " in *" $f "*) ;; *) TESTS="$TESTS $f" ;; esac
    done
fi
JOBS=${PTTH_JOBS:-6}
PROVE_FLAGS="${PROVE_FLAGS:---timer}"
case " $PROVE_FLAGS " in
    *" -j"*|*" --jobs"*) ;;
    *) [ "$JOBS" -gt 1 ] && PROVE_FLAGS="$PROVE_FLAGS -j $JOBS" ;;
esac
echo "run-tests: prove $PROVE_FLAGS ($(echo $TESTS | wc -w) files)"
start=$(date +%s)
# The machine's busy CPU over the run (user, nice, system, irq, softirq
# from /proc/stat): on a shared VM the same suite takes 155-190 CPU-s from
# one run to the next, and the wall time follows.
cpu_busy() { awk '/^cpu /{ print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat; }
busy0=$(cpu_busy)

run_prove() {   # $1: directory of the tree to test; then the command prefix
    local dir=$1; shift
    set +e
    "$@" env -C "$dir" timeout -k 10 3000 prove $PROVE_FLAGS $TESTS
    local rc=$?
    set -e
    return $rc
}

# ------------------------------------------------------- root-only test
# t/95-debian-package.t installs the Debian package it builds (dpkg -i
# needs root) and puts the machine back; the rest of the suite refuses
# root.  Started as root, run it as root beside the unprivileged suite
# (it starts no httpd) and tell that suite's copy to skip; its output
# follows the suite's.
ROOT_TEST=t/95-debian-package.t
root_pid=""
root_log=""
root_selected() {
    local w
    for w in $TESTS; do
        w=${w%/}
        case "$w" in
            */95-debian-package.t|95-debian-package.t) return 0 ;;
        esac
        [ -d "$w" ] && [ -e "$w/95-debian-package.t" ] && return 0
    done
    return 1
}
if [ "$(id -u)" -eq 0 ] && [ -e "$ROOT_TEST" ] && root_selected; then
    root_log=$(mktemp "${TMPDIR:-/tmp}/ptth-root-test.XXXXXX")
    ( set +e; timeout -k 10 900 prove $PROVE_FLAGS "$ROOT_TEST" > "$root_log" 2>&1
      echo $? > "$root_log.rc" ) &
    root_pid=$!
    echo "run-tests: $ROOT_TEST runs as root beside the suite (pid $root_pid)"
fi

rc=0
if [ "$(id -u)" -eq 0 ]; then
    user=${PTTH_TEST_USER:-ptthtest}
    if ! id "$user" >/dev/null 2>&1; then
        useradd --system --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin "$user"
        echo "run-tests: created system user $user"
    fi
    scratch=$(mktemp -d "${TMPDIR:-/tmp}/ptth-tests.XXXXXX")
    # The Go build cache outlives the run (Go keeps it consistent and safe
    # for concurrent builds): the Go test programs then build in a second
    # instead of about 15 s of CPU.  PTTH_GOCACHE overrides it.
    gocache=${PTTH_GOCACHE:-/var/tmp/ptth-gocache-$user}
    if [ ! -d "$gocache" ]; then
        install -d -m 700 -o "$user" -g "$(id -gn "$user")" "$gocache"
    fi
    mkdir -p "$scratch/src" "$scratch/tmp" "$scratch/home"
    # A copy of the tree: the checkout may live where $user cannot read
    # (e.g. under /root), and the tests write scratch files.
    tar -C "$ROOT" --exclude=./.git --exclude=./t/tmp --exclude=./demo \
        --exclude=./build/fuzz -cf - . \
        | tar -C "$scratch/src" -xf -
    chown -R "$user:" "$scratch"
    chmod 755 "$scratch"
    echo "run-tests: running the suite as $user in $scratch"
    run_prove "$scratch/src" runuser -u "$user" -- env \
        HOME="$scratch/home" PTTH_TEST_TMP="$scratch/tmp" \
        PTTH_GOCACHE="$gocache" PATH="$PATH" LANG=C.UTF-8 \
        PTTH_SANITIZE="${PTTH_SANITIZE:-}" PTTH_SAN_PRELOAD="${PTTH_SAN_PRELOAD:-}" \
        PTTH_DEB_TEST_AS_ROOT="${root_pid:+1}" \
        PTTH_FUZZ_SECONDS="${PTTH_FUZZ_SECONDS:-}" \
        PTTH_STREAM_PATH="${PTTH_STREAM_PATH:-}" \
        ${PTTH_PORT_DIR:+PTTH_PORT_DIR="$PTTH_PORT_DIR"} \
        ${PTTH_PORT_RANGE:+PTTH_PORT_RANGE="$PTTH_PORT_RANGE"} \
        || rc=$?
    logs="$scratch/tmp"
    if [ "$rc" = 0 ] && [ "${PTTH_KEEP:-0}" != 1 ]; then
        rm -rf "$scratch"
        logs=""
    fi
else
    mkdir -p "$ROOT/t/tmp"
    run_prove "$ROOT" env PTTH_TEST_TMP="$ROOT/t/tmp" \
        PTTH_GOCACHE="${PTTH_GOCACHE:-$ROOT/t/tmp/gocache}" || rc=$?
    logs="$ROOT/t/tmp"
fi

if [ -n "$root_pid" ]; then
    wait "$root_pid" || true
    root_rc=$(cat "$root_log.rc" 2>/dev/null || echo 1)
    echo "run-tests: $ROOT_TEST, run as root (prove exit status $root_rc):"
    cat "$root_log"
    rm -f "$root_log" "$root_log.rc"
    if [ "$root_rc" != 0 ] && [ "$rc" = 0 ]; then
        rc=$root_rc
    fi
fi

busy=$(( ($(cpu_busy) - busy0) / $(getconf CLK_TCK) ))
echo "run-tests: suite took $(( $(date +%s) - start )) s ($busy CPU-s busy on $(nproc) CPUs), prove exit status $rc"
if [ -n "$logs" ]; then
    echo "run-tests: server configs and logs are under $logs/<test>/"
fi
exit "$rc"
