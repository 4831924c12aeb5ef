#!/usr/bin/env bash
# What `make demo` runs: installs what is missing, builds both modules,
# starts a router httpd and a backend httpd on loopback, waits for the
# backend's tunnel, shows two name-based virtual hosts of the backend
# answering through the router, and prints the tunnels as the router's
# status page has them (build/status-table.pl) with where to open that
# page.  Then stops both, or with --keep leaves them running and prints
# how to stop them.
#
# Licensed under the Apache License, Version 2.0.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
KEEP=0
for a in "$@"; do
    case "$a" in
        --keep) KEEP=1 ;;
        *) echo "usage: $0 [--keep]" >&2; exit 2 ;;
    esac
done

build/install-deps.sh
make -j"$(nproc)" all

APACHE2=/usr/sbin/apache2
MODS=/usr/lib/apache2/modules
if [ "$(id -u)" -eq 0 ]; then
    # httpd refuses to run its children as root: use www-data, and a
    # directory that www-data can reach (the checkout may be under /root).
    DEMO=${PTTH_DEMO_DIR:-/tmp/ptth-demo}
    USERCONF=$'User www-data\nGroup www-data'
else
    DEMO=${PTTH_DEMO_DIR:-$ROOT/demo}
    USERCONF=""
fi

free_port() {
    perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
        LocalPort => 0, Listen => 1) or die "bind: $!"; print $s->sockport'
}

stop_one() {   # $1: dir
    local pidf="$1/run/httpd.pid" pid
    [ -f "$pidf" ] || return 0
    pid=$(cat "$pidf")
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    echo "demo: httpd $pid did not stop within 10 s" >&2
}

# A previous demo still running from the same directory: stop it first.
stop_one "$DEMO/backend"
stop_one "$DEMO/router"
if [ -e "$DEMO" ] && [ ! -e "$DEMO/.ptth-demo" ] && [ -n "$(ls -A "$DEMO")" ]; then
    echo "demo: $DEMO exists and is not a demo directory; set PTTH_DEMO_DIR" >&2
    exit 1
fi
rm -rf "$DEMO"
mkdir -p "$DEMO"
touch "$DEMO/.ptth-demo"
mkdir -p "$DEMO"/{router,backend}/{run,logs} "$DEMO"/htdocs/{a,b,default}
chmod 755 "$DEMO"
echo "Hello from a.example (a virtual host of the backend)" > "$DEMO/htdocs/a/index.html"
echo "Hello from b.example (another virtual host of the backend)" > "$DEMO/htdocs/b/index.html"
echo "Hello from the backend's default virtual host" > "$DEMO/htdocs/default/index.html"
if [ -n "$USERCONF" ]; then
    chown -R www-data:www-data "$DEMO/router/run" "$DEMO/backend/run"
fi

# Secure mode, as a public router should run: TLS on the tunnel port with
# a certificate from a throw-away CA, and a bearer token that only the
# backend has (the router keeps its SHA-256).
mkdir -p "$DEMO/pki"
(
    cd "$DEMO/pki"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=ptth demo CA' \
        -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj '/CN=router.localhost' \
        -keyout router.key -out router.csr 2>/dev/null
    printf 'subjectAltName=DNS:router.localhost,IP:127.0.0.1\n' > router.ext
    openssl x509 -req -in router.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
        -days 2 -extfile router.ext -out router.crt 2>/dev/null
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > backend.token
    chmod 600 backend.token router.key ca.key
) || { echo "demo: openssl failed" >&2; exit 1; }
TOKEN_SHA=$(sha256sum < "$DEMO/pki/backend.token" | cut -d' ' -f1)

PORT=$(free_port)      # the router's public HTTP port
TPORT=$(free_port)     # the router's tunnel port, where backends dial in
BPORT=$(free_port)     # the backend's own Listen (its vhosts are declared on it)

cat > "$DEMO/router/httpd.conf" <<EOC
# Router: public HTTP on 127.0.0.1:$PORT, tunnels on 127.0.0.1:$TPORT.
ServerRoot "$DEMO/router"
ServerName router.localhost
DefaultRuntimeDir "$DEMO/router/run"
PidFile "$DEMO/router/run/httpd.pid"
ErrorLog "$DEMO/router/logs/error_log"
LogLevel info
$USERCONF
LoadModule mpm_event_module $MODS/mod_mpm_event.so
LoadModule authz_core_module $MODS/mod_authz_core.so
LoadModule authz_host_module $MODS/mod_authz_host.so
LoadModule proxy_module $MODS/mod_proxy.so
LoadModule ptth_router_module $ROOT/mod_ptth_router/.libs/mod_ptth_router.so
Listen 127.0.0.1:$PORT

# Tunnels: TLS, PTTH handshake, only backends with the token join "app".
PTTHListen 127.0.0.1:$TPORT cert=$DEMO/pki/router.crt key=$DEMO/pki/router.key
<PTTHPool app>
    PTTHToken sha256:$TOKEN_SHA
    PTTHAllowHosts a.example b.example
</PTTHPool>

# The tunnels, for people (HTML), programs (?json) and Prometheus (?metrics).
<Location /ptth-status>
    SetHandler ptth-status
    Require ip 127.0.0.1
</Location>
ProxyPass        /ptth-status !
ProxyPass        /  ptth://app/
ProxyPassReverse /  ptth://app/
EOC

cat > "$DEMO/backend/httpd.conf" <<EOC
# Backend: no inbound port is needed; it dials the router's tunnel port and
# serves its own virtual hosts over HTTP/2 on that connection.
ServerRoot "$DEMO/backend"
ServerName backend.localhost
DefaultRuntimeDir "$DEMO/backend/run"
PidFile "$DEMO/backend/run/httpd.pid"
ErrorLog "$DEMO/backend/logs/error_log"
LogLevel info
$USERCONF
LoadModule mpm_event_module $MODS/mod_mpm_event.so
LoadModule authz_core_module $MODS/mod_authz_core.so
LoadModule authz_host_module $MODS/mod_authz_host.so
LoadModule mime_module $MODS/mod_mime.so
LoadModule dir_module $MODS/mod_dir.so
LoadModule http2_module $MODS/mod_http2.so
LoadModule ptth_backend_module $ROOT/mod_ptth_backend/.libs/mod_ptth_backend.so
TypesConfig /etc/mime.types
DirectoryIndex index.html
Listen 127.0.0.1:$BPORT

# Dial out over TLS (the router's certificate is verified against the CA
# and must name router.localhost), authenticate with the token file.
PTTHConnect https://127.0.0.1:$TPORT/app ca=$DEMO/pki/ca.crt name=router.localhost token_file=$DEMO/pki/backend.token hosts=a.example,b.example

<Directory "$DEMO/htdocs">
    Require all granted
</Directory>
# What this backend dials and how its tunnels are doing.
<Location /ptth-backend-status>
    SetHandler ptth-backend-status
    Require ip 127.0.0.1
</Location>
DocumentRoot "$DEMO/htdocs/default"
<VirtualHost *:$BPORT>
    ServerName a.example
    DocumentRoot "$DEMO/htdocs/a"
</VirtualHost>
<VirtualHost *:$BPORT>
    ServerName b.example
    DocumentRoot "$DEMO/htdocs/b"
</VirtualHost>
EOC

fail() {
    echo "demo: $*" >&2
    for f in "$DEMO/router/logs/error_log" "$DEMO/backend/logs/error_log"; do
        [ -f "$f" ] && { echo "---- $f (last 20 lines)"; tail -n 20 "$f"; } >&2
    done
    stop_one "$DEMO/backend"
    stop_one "$DEMO/router"
    exit 1
}

for side in router backend; do
    "$APACHE2" -d "$DEMO/$side" -f "$DEMO/$side/httpd.conf" -t >/dev/null 2>&1 \
        || { "$APACHE2" -d "$DEMO/$side" -f "$DEMO/$side/httpd.conf" -t || true;
             fail "the $side configuration does not pass apache2 -t"; }
    "$APACHE2" -d "$DEMO/$side" -f "$DEMO/$side/httpd.conf" -k start \
        || fail "the $side httpd does not start"
done
echo "demo: router on http://127.0.0.1:$PORT/ (TLS tunnels on 127.0.0.1:$TPORT), backend dialing in with a token"

ok=0
for _ in $(seq 200); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Host: a.example' \
           "http://127.0.0.1:$PORT/" || true)
    if [ "$code" = 200 ]; then ok=1; break; fi
    sleep 0.1
done
[ "$ok" = 1 ] || fail "no answer through the tunnel within 20 s"

echo
for h in a.example b.example; do
    echo "\$ curl -s -H 'Host: $h' http://127.0.0.1:$PORT/"
    curl -s --max-time 10 -H "Host: $h" "http://127.0.0.1:$PORT/"
done
cat <<EOT

Try more:
  curl -v -H 'Host: b.example' http://127.0.0.1:$PORT/
  curl -s -H 'Host: unknown.example' http://127.0.0.1:$PORT/     # the backend's default vhost
  h2load --h1 -n 1000 -c 10 -H ':authority: a.example' http://127.0.0.1:$PORT/
Configs and logs: $DEMO/router and $DEMO/backend (httpd.conf, logs/error_log)
EOT
echo
echo "\$ curl -s 'http://127.0.0.1:$PORT/ptth-status?html'   # the router's status page, as text:"
echo
curl -s --max-time 10 "http://127.0.0.1:$PORT/ptth-status?html" | perl "$ROOT/build/status-table.pl" \
    || echo "demo: the status page did not answer" >&2
if [ "$KEEP" = 1 ]; then
    echo "Open the status pages in a browser (on this machine; they answer 127.0.0.1 only):"
else
    echo "The status pages, once 'build/demo.sh --keep' leaves the servers running"
    echo "(open them in a browser on this machine; they answer 127.0.0.1 only):"
fi
cat <<EOT
  router:  http://127.0.0.1:$PORT/ptth-status        (?refresh=5 reloads it, ?json, ?metrics)
  backend: http://127.0.0.1:$BPORT/ptth-backend-status
EOT

if [ "$KEEP" = 1 ]; then
    cat <<EOT

Both servers keep running (--keep).  Stop them with:
  $APACHE2 -d $DEMO/backend -f $DEMO/backend/httpd.conf -k stop
  $APACHE2 -d $DEMO/router -f $DEMO/router/httpd.conf -k stop
EOT
else
    stop_one "$DEMO/backend"
    stop_one "$DEMO/router"
    echo
    echo "demo: stopped both servers (run 'build/demo.sh --keep' to leave them running)"
fi
