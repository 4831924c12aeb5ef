#!/usr/bin/env bash
# Installs the Debian packages that building, testing and the demo need,
# but only those that are missing.  As root directly; otherwise through
# sudo when it works without a password prompt; otherwise prints the
# command to run and fails.
#
# Licensed under the Apache License, Version 2.0.
set -euo pipefail

PACKAGES=(
    apache2            # httpd 2.4, mod_proxy, mod_http2, the MPMs
    apache2-dev        # apxs and the httpd headers
    libapr1-dev libaprutil1-dev
    libnghttp2-dev     # router: HTTP/2 client sessions
    libssl-dev         # TLS on tunnels (router server, backend client)
    openssl            # test certificates
    libio-socket-ssl-perl   # TLS handshake tests
    clang libclang-rt-14-dev  # libFuzzer run of the handshake parser
    gcc make libc6-dev
    dpkg-dev debhelper build-essential  # make deb: dpkg-buildpackage, dh (dh_apache2
                                        # is in apache2-dev); build-essential is an
                                        # implicit build dependency of every package
    nghttp2-client     # nghttp, h2load
    nghttp2-proxy      # nghttpx: a reference proxy in bench/compare.pl
    curl
    socat
    perl               # test harness (Test::More, prove are core perl)
    libcpanel-json-xs-perl  # JSON in the tests' polls (t/lib/PTTH/JSON.pm; JSON::PP otherwise)
    python3 python3-hpack   # t/bin/h2peer.py, the hostile HTTP/2 backend (HPACK decoding)
    python3-prometheus-client   # t/bin/metrics-parse.py: the strict OpenMetrics parser
    chromium           # t/74-status-browser.t: the status page in a headless browser
    iproute2           # ss: t/126 matches a CGI's sockets to the hub's
    golang-go golang-golang-x-net-dev   # Go interop tests (t/go/)
    procps             # ps, for diagnostics
    passwd             # useradd, for the unprivileged test user
    util-linux         # runuser
    coreutils          # timeout
)

# One dpkg-query for all (one per package cost 1.6 s at every `make test`);
# a package it does not know is missing too.
missing=()
installed=" $(dpkg-query -W -f='${Package} ${Status}\n' "${PACKAGES[@]}" 2>/dev/null \
               | awk '/ install ok installed$/ { printf "%s ", $1 }')"
for p in "${PACKAGES[@]}"; do
    case "$installed" in
        *" $p "*) ;;
        *) missing+=("$p") ;;
    esac
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#PACKAGES[@]} packages are installed"
    exit 0
fi

echo "install-deps: missing: ${missing[*]}"
cmd=(apt-get install -y --no-install-recommends "${missing[@]}")
if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    echo "install-deps: not root and no password-less sudo; run as root:" >&2
    echo "  apt-get update && DEBIAN_FRONTEND=noninteractive ${cmd[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# We only need apache2's files: keep its package scripts from starting the
# system service on port 80 (policy-rc.d exit 101 = "action forbidden"),
# unless the machine already has a policy of its own.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
    "${SUDO[@]}" chmod 755 "$policy"
    own_policy=1
fi
cleanup() { if [ "$own_policy" = 1 ]; then "${SUDO[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive "${cmd[@]}"
echo "install-deps: installed ${missing[*]}"
