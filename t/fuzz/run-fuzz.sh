#!/usr/bin/env bash
# Builds the libFuzzer target t/fuzz/fuzz_handshake.c (the PTTH handshake
# parser/builder, common/ptth_hs_*.c, with AddressSanitizer and UBSan)
# and runs it for a bounded time on a copy of the seed corpus.
#
# Exit status: 0 after a clean run; 1 on a crash, a sanitizer report, a
# broken promise (abort) or a timeout/OOM of one input; 2 when a tool is
# missing (the Debian package to install is printed; nothing is installed).
#
# Environment:
#   PTTH_FUZZ_SECONDS  run time (default 60)
#   PTTH_FUZZ_TMP      scratch directory (default: a new one under $TMPDIR or
#                      /tmp); it holds the binary, the corpus copy, the log
#                      and any crash artifact, and is kept when the run fails
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

if [ -n "${PTTH_FUZZ_TMP:-}" ]; then
    SCRATCH=$PTTH_FUZZ_TMP
    rm -rf "$SCRATCH"
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
    rm -rf "$SCRATCH"
    missing "the libFuzzer/sanitizer runtime of $CC" "$rtpkg"
fi

BIN=$SCRATCH/fuzz_handshake
# shellcheck disable=SC2046  # apr-1-config prints several words on purpose
"$CC" -g -O1 -fno-omit-frame-pointer -std=gnu11 -Wall -Wextra -Werror \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$ROOT/include" $(apr-1-config --cflags --cppflags --includes) \
    "$ROOT/t/fuzz/fuzz_handshake.c" "$ROOT/common/ptth_hs_syntax.c" \
    "$ROOT/common/ptth_hs_request.c" "$ROOT/common/ptth_hs_response.c" \
    $(apr-1-config --link-ld) -o "$BIN"

mkdir -p "$SCRATCH/corpus" "$SCRATCH/artifacts"
cp "$ROOT"/t/fuzz/corpus/handshake/* "$SCRATCH/corpus/"

# The words of the protocol, so mutations reach the interesting branches.
cat > "$SCRATCH/handshake.dict" <<'EOF'
"GET "
" HTTP/1.1\x0d\x0a"
"HTTP/1.1 101 Switching Protocols\x0d\x0a"
"HTTP/1.1 "
"HTTP/1.0"
"\x0d\x0a"
"\x0d\x0a\x0d\x0a"
"Host: "
"Connection: upgrade\x0d\x0a"
"Upgrade: ptth\x0d\x0a"
"ALPN: h2\x0d\x0a"
"ALPN: "
"h%32"
"http%2F1.1"
"Authorization: Bearer "
"bearer"
"PTTH-Backend: "
"PTTH-Hosts: "
"*."
"Content-Length: "
"Transfer-Encoding: chunked"
"Retry-After: "
"WWW-Authenticate: "
"PRI * HTTP/2.0"
"101"
"401"
"429"
"503"
"%41"
"=="
EOF

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

echo "run-fuzz: $BIN for ${SECS}s on $(find "$SCRATCH/corpus" -type f | wc -l) seeds (scratch: $SCRATCH)"
set +e
"$BIN" -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=10 -max_len=12288 \
    -dict="$SCRATCH/handshake.dict" -print_final_stats=1 \
    -artifact_prefix="$SCRATCH/artifacts/" \
    "$SCRATCH/corpus" >"$SCRATCH/fuzz.log" 2>&1
rc=$?
set -e

# Progress lines ("#N ... cov: ... exec/s: ...") and the final statistics.
grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::|^Done [0-9]+ runs' "$SCRATCH/fuzz.log" || true
last=$(grep -E '^#[0-9]+' "$SCRATCH/fuzz.log" | tail -n 1 || true)
[ -n "$last" ] && echo "run-fuzz: last status: $last"

if [ "$rc" -ne 0 ] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|broken promise' \
        "$SCRATCH/fuzz.log"; then
    echo "run-fuzz: FAILED (exit $rc); log and artifacts kept in $SCRATCH" >&2
    grep -E -A40 'ERROR: |runtime error:|broken promise' "$SCRATCH/fuzz.log" | head -n 80 >&2 || true
    ls -l "$SCRATCH/artifacts" >&2 || true
    exit 1
fi
echo "run-fuzz: clean; corpus grew to $(find "$SCRATCH/corpus" -type f | wc -l) inputs"
if [ -z "${PTTH_FUZZ_TMP:-}" ] && [ "${PTTH_FUZZ_KEEP:-0}" != 1 ]; then
    rm -rf "$SCRATCH"
fi
exit 0
