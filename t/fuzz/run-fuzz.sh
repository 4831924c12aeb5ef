#!/usr/bin/env bash
# Builds libFuzzer targets (with AddressSanitizer and UBSan) and runs each
# for a bounded time on a copy of its seed corpus.
#
#   t/fuzz/run-fuzz.sh [TARGET...]
#
# A target is a file t/fuzz/fuzz_NAME.c (give NAME, fuzz_NAME, or the
# path); without arguments every t/fuzz/fuzz_*.c runs, one after the other.
# For target NAME:
#   seeds       t/fuzz/corpus/NAME/ (may be missing: libFuzzer starts empty)
#   dictionary  t/fuzz/NAME.dict, when present
#   sources     the files named on a line "fuzz-sources: FILE..." in the
#               target (paths from the top of the tree), else
#               common/ptth_NAME.c
# Include paths: include/, mod_ptth_router/, mod_ptth_backend/, APR's and,
# when installed, httpd's.
#
# Exit status: 0 after clean runs; 1 when a target failed to build, or on a
# crash, a sanitizer report, a broken promise (abort) or a timeout/OOM of
# one input; 2 when a tool is missing (the Debian package to install is
# printed; nothing is installed).
#
# Environment:
#   PTTH_FUZZ_SECONDS  run time of each target (default 60)
#   PTTH_FUZZ_TMP      scratch directory (default: a new one under $TMPDIR or
#                      /tmp); it holds, per target, NAME/ with the binary,
#                      the corpus copy (grown by the run), the log and any
#                      crash artifact.  It is kept when a run fails, when
#                      PTTH_FUZZ_KEEP=1, or when PTTH_FUZZ_TMP is given.
#   PTTH_FUZZ_JOBS     targets built and run at once (default 1)
#   PTTH_FUZZ_OPT      optimisation level of the build (default -O1; the
#                      short runs of t/07 use -O0, which compiles in two
#                      thirds of the time)
#   CLANG              compiler (default: clang, else clang-14 ... clang-19)
#
# Needs (Debian 12): clang, libclang-rt-14-dev (the libFuzzer and sanitizer
# runtimes of clang 14), libapr1-dev.
#
# Licensed under the Apache License, Version 2.0.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SECS=${PTTH_FUZZ_SECONDS:-60}

missing() {   # $1: what, $2: Debian package
    echo "run-fuzz: $1 not found; install the Debian package: apt-get install $2" >&2
    exit 2
}

# ------------------------------------------------------------ targets
targets=()
if [ $# -eq 0 ]; then
    for f in "$ROOT"/t/fuzz/fuzz_*.c; do
        [ -f "$f" ] && targets+=("$(basename "$f" .c)")
    done
else
    for a in "$@"; do
        a=$(basename "$a" .c)
        targets+=("fuzz_${a#fuzz_}")
    done
fi
if [ ${#targets[@]} -eq 0 ]; then
    echo "run-fuzz: no target (t/fuzz/fuzz_*.c)" >&2
    exit 1
fi
for t in "${targets[@]}"; do
    [ -f "$ROOT/t/fuzz/$t.c" ] || { echo "run-fuzz: no such target: t/fuzz/$t.c" >&2; exit 1; }
done

# ------------------------------------------------------------ tools
CC=${CLANG:-}
if [ -z "$CC" ]; then
    for c in clang clang-14 clang-15 clang-16 clang-17 clang-18 clang-19; do
        if command -v "$c" >/dev/null 2>&1; then CC=$c; break; fi
    done
fi
if [ -z "$CC" ] || ! command -v "$CC" >/dev/null 2>&1; then
    missing "clang" "clang"
fi
command -v apr-1-config >/dev/null 2>&1 || missing "apr-1-config" "libapr1-dev"
major=$("$CC" -dumpversion 2>/dev/null | cut -d. -f1)
rtpkg="libclang-rt-${major:-14}-dev"

keep=${PTTH_FUZZ_KEEP:-0}
if [ -n "${PTTH_FUZZ_TMP:-}" ]; then
    SCRATCH=$PTTH_FUZZ_TMP
    keep=1
    mkdir -p "$SCRATCH"
else
    SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/ptth-fuzz.XXXXXX")
fi

# The libFuzzer and sanitizer runtimes come in a package of their own.
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)\n'\
'{ (void)d; (void)n; return 0; }\n' > "$SCRATCH/probe.c"
if ! "$CC" -fsanitize=fuzzer,address,undefined "$SCRATCH/probe.c" \
        -o "$SCRATCH/probe" >"$SCRATCH/probe.log" 2>&1; then
    cat "$SCRATCH/probe.log" >&2
    [ -n "${PTTH_FUZZ_TMP:-}" ] || rm -rf "$SCRATCH"
    missing "the libFuzzer/sanitizer runtime of $CC" "$rtpkg"
fi

incs=(-I"$ROOT/include" -I"$ROOT/mod_ptth_router" -I"$ROOT/mod_ptth_backend")
if command -v apxs >/dev/null 2>&1; then
    httpd_inc=$(apxs -q INCLUDEDIR 2>/dev/null || true)
    [ -n "$httpd_inc" ] && [ -d "$httpd_inc" ] && incs+=(-I"$httpd_inc")
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# ------------------------------------------------------------ one target
run_target() {   # $1: fuzz_NAME; returns 0 clean, 1 failed
    local target=$1 name=${1#fuzz_}
    local src="$ROOT/t/fuzz/$target.c" dir="$SCRATCH/$name"
    local srcs=() line f
    rm -rf "$dir"
    mkdir -p "$dir/corpus" "$dir/artifacts"

    # The header of each target names what it links: "FUZZ-SOURCES:" files
    # of the tree, "FUZZ-LIBS: aprutil" for apr-util (either case).
    line=$(grep -i -m1 -o 'fuzz-sources:.*' "$src" | sed 's/^[^:]*://; s/\*\/.*$//' || true)
    local libs=()
    if grep -qi 'fuzz-libs:.*aprutil' "$src"; then
        # shellcheck disable=SC2207  # apu-1-config prints several words on purpose
        libs=($(apu-1-config --includes --link-ld))
        # APR's ring macros use offsetof() only when <stddef.h> came
        # first; otherwise they subtract null pointers, which clang and
        # UBSan rightly report.
        libs+=(-include stddef.h)
    fi
    if [ -n "$line" ]; then
        for f in $line; do srcs+=("$ROOT/$f"); done
    elif [ -f "$ROOT/common/ptth_$name.c" ]; then
        srcs=("$ROOT/common/ptth_$name.c")
    fi
    for f in "${srcs[@]}"; do
        [ -f "$f" ] || { echo "run-fuzz: $target: source $f not found" >&2; return 1; }
    done

    local bin="$dir/$target"
    # shellcheck disable=SC2046  # apr-1-config prints several words on purpose
    if ! "$CC" -g "${PTTH_FUZZ_OPT:--O1}" -fno-omit-frame-pointer -std=gnu11 -Wall -Wextra -Werror \
            -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
            "${incs[@]}" $(apr-1-config --cflags --cppflags --includes) \
            "$src" "${srcs[@]}" "${libs[@]}" $(apr-1-config --link-ld) -o "$bin" \
            >"$dir/build.log" 2>&1; then
        echo "run-fuzz: $target: BUILD FAILED" >&2
        cat "$dir/build.log" >&2
        return 1
    fi

    if [ -d "$ROOT/t/fuzz/corpus/$name" ]; then
        cp "$ROOT/t/fuzz/corpus/$name"/* "$dir/corpus/" 2>/dev/null || true
    fi
    local dict=()
    [ -f "$ROOT/t/fuzz/$name.dict" ] && dict=(-dict="$ROOT/t/fuzz/$name.dict")

    echo "run-fuzz: $target for ${SECS}s on $(find "$dir/corpus" -type f | wc -l) seeds (scratch: $dir)"
    local rc=0
    # libFuzzer stops once the whole seconds since its start exceed
    # -max_total_time, so N runs about N+1 seconds: ask for one less (a run
    # of 1 s is not possible; 0 would mean no limit).
    local limit=$(( SECS > 1 ? SECS - 1 : 1 ))
    "$bin" -max_total_time="$limit" -rss_limit_mb=2048 -timeout=10 -max_len=12288 \
        "${dict[@]}" -print_final_stats=1 -artifact_prefix="$dir/artifacts/" \
        "$dir/corpus" >"$dir/fuzz.log" 2>&1 || rc=$?

    # Progress lines ("#N ... cov: ... exec/s: ...") and the final statistics.
    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::|^Done [0-9]+ runs' "$dir/fuzz.log" \
        | sed "s/^/$name: /" || true
    local last
    last=$(grep -E '^#[0-9]+' "$dir/fuzz.log" | tail -n 1 || true)
    [ -n "$last" ] && echo "run-fuzz: $target: last status: $last"

    if [ "$rc" -ne 0 ] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|broken promise' \
            "$dir/fuzz.log"; then
        echo "run-fuzz: $target FAILED (exit $rc); log and artifacts in $dir" >&2
        grep -E -A40 'ERROR: |runtime error:|broken promise' "$dir/fuzz.log" | head -n 80 >&2 || true
        ls -l "$dir/artifacts" >&2 || true
        return 1
    fi
    echo "run-fuzz: $target clean; corpus grew to $(find "$dir/corpus" -type f | wc -l) inputs"
    return 0
}

# PTTH_FUZZ_JOBS targets at once (default 1): each builds and fuzzes in a
# background job; their outputs follow in the targets' order.
jobs_max=${PTTH_FUZZ_JOBS:-1}
failed=()
if [ "$jobs_max" -le 1 ]; then
    for t in "${targets[@]}"; do
        run_target "$t" || failed+=("$t")
    done
else
    pids=()
    for t in "${targets[@]}"; do
        while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
        ( run_target "$t" > "$SCRATCH/$t.out" 2>&1; echo $? > "$SCRATCH/$t.rc" ) &
        pids+=($!)
    done
    wait "${pids[@]}" || true
    for t in "${targets[@]}"; do
        cat "$SCRATCH/$t.out"
        [ "$(cat "$SCRATCH/$t.rc" 2>/dev/null)" = 0 ] || failed+=("$t")
        rm -f "$SCRATCH/$t.out" "$SCRATCH/$t.rc"
    done
fi
if [ ${#failed[@]} -ne 0 ]; then
    echo "run-fuzz: FAILED: ${failed[*]} (scratch kept: $SCRATCH)" >&2
    exit 1
fi
if [ "$keep" = 1 ]; then
    echo "run-fuzz: scratch kept: $SCRATCH"
else
    rm -rf "$SCRATCH"
fi
exit 0
