#!/usr/bin/perl
# The tunnel against its alternatives, side by side in one run, on one
# backend httpd:
#
#   perl bench/compare.pl --quick        # about 5 minutes: before/after a change
#   perl bench/compare.pl                # full, about 20 minutes
#   perl bench/compare.pl --json out.json
#
#   perl bench/compare.pl --diff before.json after.json   # compare two runs
#
# Options: --quick; --json FILE ('-': stdout); --label TEXT (printed, to tell
# runs apart); --targets a,b (direct is always kept); --rounds N; --secs S
# (small-GET duration); --big-mib N; --big-rounds N (large GET and upload,
# each target: medians of N, default 1 quick, 3 full; on a busy machine one
# transfer says little); --limit S (whole run, default 420 quick,
# 1800 full); --serve S (measure nothing: start all targets, print their
# URLs and keep them up S seconds for experiments by hand); --no-restart,
# --no-scale (leave out those two parts, below).
#
# Run as a non-root user after `make` (needs h2load, curl, nghttpx from
# nghttp2-proxy, go with golang-golang-x-net-dev: build/install-deps.sh).
#
# One backend httpd (event MPM) serves a 100-byte file, a 1 MiB file, a
# large random file (64 MiB with --quick, else 256 MiB) and an upload sink
# that answers the SHA-256 of the body (t/cgi-bin/sha.cgi).  It is reached
# through eight targets:
#
#   direct     router httpd, mod_proxy_http (HTTP/1.1) to the backend's
#              own port: the reference
#   tunnel-N   the same router httpd, ptth://, plain mode, PTTHTunnels N
#              (N = 1, 2, 4, 8: one PTTHConnect line per pool)
#   tls-2      the same router, a TLS listener with a <PTTHPool> and a
#              bearer token, 2 tunnels (PTTHConnect https://)
#   go-seed    the Go seed router (t/go/seedrouter.go), the backend dials it
#   nghttpx    nghttpx: HTTP/1.1 in, h2c (prior knowledge) to the
#              backend's own port, 1 worker
#
# Users speak HTTP/1.1 to every target.  Per target, measured alternately
# (the order rotates every round) and repeated:
#   - small GET throughput: h2load --h1 -t1 -c32 -D <secs> (closed loop)
#   - CPU per request by role: utime+stime deltas from /proc/<pid>/stat of
#     the router's children (without the hub), the hub (the child that
#     holds the tunnel sockets), the backend's processes, and h2load;
#     children reaped meanwhile still count (their parent's cutime)
#   - p50/p99 latency at half of the target's median peak: h2load --rps
#     (a fixed request rate per connection) with --log-file
#   - 1 MiB GET throughput: h2load --h1 -t1 -c8
#   - large GET and upload (POST) with curl: time, SHA-256 checked
#   - 64 MiB GET through the TLS tunnel against the plain tunnel
# and prints one table with ratios against direct (and tunnel ÷ go-seed,
# tunnel ÷ nghttpx).  Then, once these servers are stopped, two more
# parts run as their own scripts and are summed up here:
#   - bench/restart.pl: how long until all tunnels are back after a
#     graceful restart and after stop/start of the router (P6)
#   - bench/scale.pl: many tunnels of lightweight peers and many
#     concurrent slow streams, users over HTTP/2 (--quick: 100 tunnels and
#     1,000 streams; full: 1,000 and 10,000); hub memory per idle tunnel
#     and per open stream, router children's memory per concurrent request
#     against mod_proxy_http side by side (P5)
# Last, the goals of issue 8 (P1-P7), each a ratio of figures measured in
# this run.  Nothing is asserted.  The host's load average is printed
# before and after: the numbers mean little on a busy machine.
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib", "$FindBin::Bin/lib";
use Getopt::Long;
use POSIX ();
use JSON::PP;
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(time sleep);
BEGIN {
    $ENV{PTTH_TEST_TMP} //= "$FindBin::Bin/out";
    # httpd refuses to run its children as root without a User directive.
    die "run compare.pl as a non-root user, e.g. as root:\n"
      . "  runuser -u ptthtest -- env PTTH_TEST_TMP=/tmp/ptth-bench-out perl bench/compare.pl ...\n"
      . "(PTTH_TEST_TMP: a scratch directory that user can write)\n"
        if $> == 0 && !$ENV{PTTH_TEST_ALLOW_ROOT};
}
use PTTH::Test;
use PTTH::PKI qw(make_pki);
use PTTH::Bench qw(role_ticks ticks_to_us percentile median minmax loadavg
                   bench_httpd go_build_file tool_versions fmt_num);

my %opt = (quick => 0);
GetOptions(\%opt, 'quick!', 'rounds=i', 'secs=f', 'big-mib=i', 'big-rounds=i', 'json=s',
           'targets=s', 'limit=i', 'serve=i', 'label=s', 'diff', 'help', 'restart!', 'scale!')
    or die "bad options (see --help)\n";
$opt{restart} //= 1;
$opt{scale} //= 1;
if ($opt{help}) {
    open(my $fh, '<', __FILE__) or die;
    while (<$fh>) { last unless /^#/; next if /^#!/; s/^# ?//; print }
    exit 0;
}
exit diff_json(@ARGV) if $opt{diff};
my %P = $opt{quick}
    ? (rounds => 2, small_secs => 3, mib_secs => 1.5, lat_secs => 2, lat_rounds => 1,
       big_mib => 64, big_rounds => 1, limit => 420)
    : (rounds => 3, small_secs => 10, mib_secs => 4, lat_secs => 8, lat_rounds => 2,
       big_mib => 256, big_rounds => 3, limit => 1800);
$P{rounds}     = $opt{rounds} if $opt{rounds};
$P{small_secs} = $opt{secs} if $opt{secs};
$P{big_mib}    = $opt{'big-mib'} if $opt{'big-mib'};
$P{big_rounds} = $opt{'big-rounds'} if $opt{'big-rounds'};
$P{limit}      = $opt{limit} if $opt{limit};
my $CLIENTS = 32;
# The backend's default PTTHTunnels on its own HTTP/2 session (the default
# stream path, which this bench's backend uses): the goals are about it.
my ($DEFAULT_TUNNELS) = (read_file(ROOT . '/mod_ptth_backend/ptth_backend_config.h') // '')
                        =~ /#define\s+PTTH_DEFAULT_TUNNELS_PTTH\s+(\d+)/;
$DEFAULT_TUNNELS //= 2;
my $MIB_CLIENTS = 8;

my $T0 = time;
my $load_before = loadavg();
# Bounded: whatever hangs, the run ends; PTTH::Test's END block then stops
# every server it started (by PID) and the Go router and nghttpx.
$SIG{ALRM} = sub { die "compare.pl: time limit of $P{limit} s reached\n" };
$SIG{INT} = $SIG{TERM} = sub { die "compare.pl: interrupted\n" };
alarm $P{limit};

sub note { printf STDERR "[%5.1fs] %s\n", time - $T0, "@_" }

# ---------------------------------------------------------------- files
my $docs = TMP . '/htdocs/bench';
write_file("$docs/small.txt", ('x' x 99) . "\n");
my (undef, $sha_1m) = big_file('1m.bin', 1024 * 1024);
my $big_bytes = $P{big_mib} * 1024 * 1024;
my ($big_path, $big_sha) = big_file('large.bin', $big_bytes);
my ($mid_path, $mid_sha) = $P{big_mib} == 64 ? ($big_path, $big_sha)
                                              : big_file('64m.bin', 64 * 1024 * 1024);
# big_file() writes into the harness's htdocs/big; the backend serves $docs.
for my $f (glob(TMP . '/htdocs/big/*')) {
    my $n = (split m{/}, $f)[-1];
    rename $f, "$docs/$n" or die "rename $f: $!";
}
s{.*/}{$docs/} for $big_path, $mid_path;
my $pki = make_pki(TMP . '/pki');
my $token = 'bench-' . sha256_hex(rand() . $$ . time);
my $token_file = write_file(TMP . '/token', "$token\n");
chmod 0600, $token_file;
note("files ready: 100 B, 1 MiB, $P{big_mib} MiB" . ($mid_path ne $big_path ? ', 64 MiB' : ''));

# ---------------------------------------------------------------- go router
my ($seedrouter, $why) = go_build_file(ROOT . '/t/go/seedrouter.go', TMP . '/seedrouter',
                                       $ENV{PTTH_GOCACHE} || "$ENV{PTTH_TEST_TMP}/gocache");
die "$why\n" unless $seedrouter;
my ($go_tport, $go_port) = (free_port(), free_port());
# Its per-request log line goes to /dev/null (one write(2) per request,
# like an access log none of the other targets keeps).
my $go_pid = spawn('seedrouter', '/dev/null', $seedrouter,
                   '-tunnel', "127.0.0.1:$go_tport", '-http', "127.0.0.1:$go_port");
note('go seed router built and started');

# ---------------------------------------------------------------- httpds
my %tport = map { $_ => free_port() } qw(t1 t2 t4 t8 tls);
my $bport = free_port();
my @MPM = ([StartServers => 4], [ServerLimit => 4], [ThreadsPerChild => 25],
           [ThreadLimit => 25], [MinSpareThreads => 25], [MaxSpareThreads => 100],
           [MaxRequestWorkers => 100]);
my $M = $PTTH::Test::MODDIR;
my $router = bench_httpd(kind => 'router', name => 'router', tport => $tport{t1}, mpm => \@MPM,
                         text => <<"EOC");
LoadModule authz_core_module $M/mod_authz_core.so
LoadModule proxy_module $M/mod_proxy.so
LoadModule proxy_http_module $M/mod_proxy_http.so
LoadModule ptth_router_module $PTTH::Test::ROUTER_SO
ServerName router.test
LogLevel warn
Timeout 60
MaxKeepAliveRequests 0
PTTHListen 127.0.0.1:$tport{t1} plain=t1
PTTHListen 127.0.0.1:$tport{t2} plain=t2
PTTHListen 127.0.0.1:$tport{t4} plain=t4
PTTHListen 127.0.0.1:$tport{t8} plain=t8
PTTHListen 127.0.0.1:$tport{tls} cert=$pki->{router_crt} key=$pki->{router_key}
<PTTHPool tls>
    PTTHToken sha256:@{[ sha256_hex($token) ]}
</PTTHPool>
ProxyPreserveHost On
<Location /ptth-status>
    SetHandler ptth-status
    Require all granted
</Location>
ProxyPass /ptth-status !
ProxyPass /direct/ http://127.0.0.1:$bport/
ProxyPass /t1/ ptth://t1/
ProxyPass /t2/ ptth://t2/
ProxyPass /t4/ ptth://t4/
ProxyPass /t8/ ptth://t8/
ProxyPass /tls/ ptth://tls/
EOC
my $cgi = ROOT . '/t/cgi-bin';
my $backend = bench_httpd(kind => 'backend', name => 'backend', port => $bport, mpm => \@MPM,
                          text => <<"EOC");
LoadModule authz_core_module $M/mod_authz_core.so
LoadModule mime_module $M/mod_mime.so
LoadModule alias_module $M/mod_alias.so
LoadModule cgid_module $M/mod_cgid.so
LoadModule http2_module $M/mod_http2.so
LoadModule ptth_backend_module $PTTH::Test::BACKEND_SO
ServerName backend.test
LogLevel warn
Timeout 60
MaxKeepAliveRequests 0
TypesConfig /etc/mime.types
ScriptSock "\@DIR\@/run/cgid.sock"
DocumentRoot "$docs"
<Directory "$docs">
    Require all granted
</Directory>
ScriptAlias /sha "$cgi/sha.cgi"
<Directory "$cgi">
    Require all granted
</Directory>
# nghttpx speaks h2c with prior knowledge to this port; no Upgrade: h2c
# offers on the HTTP/1.1 responses of the direct path.
Protocols h2c http/1.1
H2Direct on
H2Upgrade off
PTTHReconnect 100ms 2s
PTTHConnect tcp://127.0.0.1:$tport{t1} tunnels=1
PTTHConnect tcp://127.0.0.1:$tport{t2} tunnels=2
PTTHConnect tcp://127.0.0.1:$tport{t4} tunnels=4
PTTHConnect tcp://127.0.0.1:$tport{t8} tunnels=8
PTTHConnect https://127.0.0.1:$tport{tls}/tls tunnels=2 ca=$pki->{ca_crt} name=router.test token_file=$token_file
PTTHConnect tcp://127.0.0.1:$go_tport tunnels=2
EOC
$router->start or die "router does not start:\n" . $router->errlog_text;
$backend->start or die "backend does not start:\n" . $backend->errlog_text;
note('router and backend httpd started');

# ---------------------------------------------------------------- nghttpx
my $ng_port = free_port();
my $ng_conf = write_file(TMP . '/nghttpx/nghttpx.conf', <<"EOC");
frontend=127.0.0.1,$ng_port;no-tls
backend=127.0.0.1,$bport;;proto=h2
workers=1
no-via=yes
errorlog-file=@{[ TMP ]}/nghttpx/error.log
EOC
my ($nghttpx) = grep { -x } map { "$_/nghttpx" } (split /:/, $ENV{PATH} // ''), '/usr/sbin';
die "nghttpx is not installed (apt-get install nghttp2-proxy)\n" unless $nghttpx;
my $ng_pid = spawn('nghttpx', TMP . '/nghttpx/stdout.log', $nghttpx, "--conf=$ng_conf");

# ---------------------------------------------------------------- ready?
sub status_json {
    my $res = http(port => $router->{port}, path => '/ptth-status', max_time => 5);
    return undef unless $res->{status} == 200;
    return eval { decode_json($res->{body}) };
}
my %want = (t1 => 1, t2 => 2, t4 => 4, t8 => 8, tls => 2);
my $st;
my $ok = wait_for(60, sub {
    $st = status_json() or return 0;
    my %n = map { $_->{name} => scalar grep { $_->{state} eq 'open' } @{ $_->{tunnels} } }
            @{ $st->{pools} || [] };
    return !grep { ($n{$_} // 0) < $want{$_} } keys %want;
}, 0.2);
die "tunnels did not all come up in 60 s: " . encode_json($st // {}) . "\n" unless $ok;
my $hub = $st->{hub}{pid};
for my $u ("http://127.0.0.1:$go_port/small.txt", "http://127.0.0.1:$ng_port/small.txt") {
    wait_for(30, sub { http(url => $u, max_time => 5)->{status} == 200 }, 0.2)
        or die "$u does not answer 200 within 30 s\n";
}
note("all targets answer (hub pid $hub)");

# ---------------------------------------------------------------- targets
my $rp = $router->{port};
my $rskip = sub { +{ $hub => 1 } };
my %ROUTER_HTTPD = (router => [$router->pid, $rskip], hub => sub { ($hub) },
                    backend => [$backend->pid]);
my @TARGETS = (
    { name => 'direct',   base => "http://127.0.0.1:$rp/direct", roles => { %ROUTER_HTTPD } },
    (map { +{ name => "tunnel-$_", base => "http://127.0.0.1:$rp/t$_", tunnel => 1,
              roles => { %ROUTER_HTTPD } } } 1, 2, 4, 8),
    { name => 'tls-2',    base => "http://127.0.0.1:$rp/tls", tunnel => 1,
      roles => { %ROUTER_HTTPD } },
    { name => 'go-seed',  base => "http://127.0.0.1:$go_port",
      roles => { router => [$go_pid], backend => [$backend->pid] } },
    { name => 'nghttpx',  base => "http://127.0.0.1:$ng_port",
      roles => { router => [$ng_pid], backend => [$backend->pid] } },
);
if ($opt{targets}) {
    my %keep = map { $_ => 1 } split /,/, $opt{targets};
    $keep{direct} = 1;
    @TARGETS = grep { $keep{$_->{name}} } @TARGETS;
}
my %T = map { $_->{name} => $_ } @TARGETS;
my @ROLES = qw(router hub backend);

# --serve N: no measurement; keep everything up for N seconds (at most an
# hour) for experiments by hand, then stop it.
if ($opt{serve}) {
    my $secs = $opt{serve} > 3600 ? 3600 : $opt{serve};
    alarm $secs + 60;
    print "$_->{name}: $_->{base}/small.txt  /1m.bin  /" . (split m{/}, $big_path)[-1]
        . "  POST /sha\n" for @TARGETS;
    print "router pid " . $router->pid . ", hub $hub, backend " . $backend->pid
        . ", go-seed $go_pid, nghttpx $ng_pid; logs in " . TMP . "\n";
    print "serving for $secs s (Ctrl-C stops)\n";
    sleep $secs;
    exit 0;
}

sub child_ticks { my @t = times; return ($t[2] + $t[3]) * POSIX::sysconf(POSIX::_SC_CLK_TCK()) }

# One h2load run against a target, with the CPU of every role around it.
sub load_run {
    my ($t, $path, $secs, $clients, @extra) = @_;
    my $before = role_ticks($t->{roles});
    my $c0 = child_ticks();
    my $res = h2load({ limit => $secs + 60 }, '--h1', '-t1', '-c', $clients,
                     '-D', int($secs * 1000) . 'ms',
                     @extra, "$t->{base}$path");
    my $c1 = child_ticks();
    my $after = role_ticks($t->{roles});
    my %cpu = map { $_ => $after->{$_} - $before->{$_} } keys %$after;
    $cpu{client} = $c1 - $c0;
    my $done = $res->{done} // 0;
    my $bad = $done - $res->{s2xx};
    $bad = 0 if $bad < 0;
    $bad += $res->{total} ? 0 : 1;   # h2load did not report at all
    return { rps => $res->{seconds} ? $res->{s2xx} / $res->{seconds} : 0,
             ok => $res->{s2xx}, bad => $bad, seconds => $res->{seconds}, cpu => \%cpu,
             out => $res->{out} };
}

sub record_bad {
    my ($t, $what, $n, $detail) = @_;
    return unless $n;
    $t->{bad} += $n;
    push @{ $t->{problems} }, "$what: $n" . ($detail ? " ($detail)" : '');
}

sub rotated {
    my ($round) = @_;
    my @t = @TARGETS;
    push @t, shift @t for 1 .. (($round - 1) % @t);
    return @t;
}

# Hub and httpd parents must stay the same processes throughout: a server
# that is gone ends the run; a new hub is noted (its CPU figures are then
# off for the round) and followed.
my @PROBLEMS;
sub check_processes {
    for my $x ([router => $router->pid], [backend => $backend->pid], ['go-seed' => $go_pid],
               [nghttpx => $ng_pid]) {
        die "compare.pl: $x->[0] (pid $x->[1]) is gone\n" unless alive($x->[1]);
    }
    my $s = status_json();
    my $now = $s ? $s->{hub}{pid} : 0;
    if ($now != $hub) {
        push @PROBLEMS, "the hub changed (pid $hub -> " . ($now || 'none') . ')';
        $hub = $now if $now;
    }
}

# ---------------------------------------------------------------- warm-up
for my $t (@TARGETS) {
    my $r = load_run($t, '/small.txt', 1, $CLIENTS);
    record_bad($t, 'warm-up', $r->{bad});
}
note('warm-up done');

# ---------------------------------------------------------------- throughput
for my $round (1 .. $P{rounds}) {
    for my $t (rotated($round)) {
        my $r = load_run($t, '/small.txt', $P{small_secs}, $CLIENTS);
        push @{ $t->{small} }, $r;
        record_bad($t, "small GET round $round", $r->{bad});
        my $m = load_run($t, '/1m.bin', $P{mib_secs}, $MIB_CLIENTS);
        $m->{mbs} = $m->{rps};   # 1 MiB per response
        push @{ $t->{mib} }, $m;
        record_bad($t, "1 MiB GET round $round", $m->{bad});
        note(sprintf("round %d %-9s small %7.0f req/s   1 MiB %6.1f MiB/s", $round,
                     $t->{name}, $r->{rps}, $m->{mbs}));
    }
    check_processes();
}
for my $t (@TARGETS) {
    $t->{peak} = median(map { $_->{rps} } @{ $t->{small} });
    for my $role (@ROLES, 'client') {
        my @us = map { $_->{ok} ? ticks_to_us($_->{cpu}{$role}) / $_->{ok} : undef }
                 grep { exists $_->{cpu}{$role} } @{ $t->{small} };
        $t->{cpu_us}{$role} = median(@us) if @us;
    }
    $t->{cpu_us}{total} = 0;
    $t->{cpu_us}{total} += $t->{cpu_us}{$_} // 0 for @ROLES;
}

# ---------------------------------------------------------------- latency
for my $round (1 .. $P{lat_rounds}) {
    for my $t (rotated($round)) {
        my $rate = ($t->{peak} || 0) / 2;
        my $clients = $CLIENTS;
        $clients = int($rate) || 1 if $rate < $clients;
        my $per = int($rate / $clients + 0.5) || 1;
        my $log = TMP . "/latency-$t->{name}-$round.log";
        unlink $log;
        my $r = load_run($t, '/small.txt', $P{lat_secs}, $clients, "--rps=$per",
                         "--log-file=$log");
        my @lat;
        if (open(my $fh, '<', $log)) {
            while (<$fh>) {
                my @f = split /\t/;
                push @lat, $f[2] / 1000 if @f >= 3 && $f[1] =~ /^2/;
            }
            close $fh;
        }
        @lat = sort { $a <=> $b } @lat;
        push @{ $t->{lat} }, { rate => $per * $clients, achieved => $r->{rps},
                               p50 => percentile(\@lat, 50), p99 => percentile(\@lat, 99),
                               max => $lat[-1], n => scalar @lat };
        record_bad($t, "latency round $round", $r->{bad});
        note(sprintf("latency %-9s at %6d req/s: p50 %.2f ms  p99 %.2f ms", $t->{name},
                     $per * $clients, $t->{lat}[-1]{p50} // -1, $t->{lat}[-1]{p99} // -1));
    }
}

# ---------------------------------------------------------------- transfers
sub transfer {
    my ($t, $kind, $file, $sha, $bytes) = @_;
    my $before = role_ticks($t->{roles});
    my $res;
    if ($kind eq 'get') {
        my $name = (split m{/}, $file)[-1];
        $res = http(url => "$t->{base}/$name", sha => 1, max_time => 300);
    }
    else {
        $res = http(url => "$t->{base}/sha", upload_file => $file, method => 'POST',
                    headers => ['Expect:'], max_time => 300);
    }
    my $after = role_ticks($t->{roles});
    my $got = $kind eq 'get' ? ($res->{sha256} // '')
            : (($res->{body} // '') =~ /sha256=([0-9a-f]{64})/ ? $1 : '');
    my $good = $res->{status} == 200 && $got eq $sha;
    record_bad($t, "$kind " . ($bytes >> 20) . ' MiB', $good ? 0 : 1,
               "status $res->{status}, sha " . ($got eq $sha ? 'ok' : 'WRONG') . ", $res->{err}");
    my $cpu = 0;
    $cpu += $after->{$_} - $before->{$_} for keys %$after;
    return { seconds => $good ? $res->{time} : undef, ok => $good ? 1 : 0,
             cpu_ms_per_mib => ticks_to_us($cpu) / 1000 / ($bytes / 1048576) };
}

for my $round (1 .. $P{big_rounds}) {
    for my $t (rotated($round)) {
        push @{ $t->{get} }, transfer($t, 'get', $big_path, $big_sha, $big_bytes);
        push @{ $t->{put} }, transfer($t, 'put', $big_path, $big_sha, $big_bytes);
        note(sprintf("round %d %-9s %d MiB GET %s s  POST %s s", $round, $t->{name},
                     $P{big_mib}, fmt_num($t->{get}[-1]{seconds}, '%.2f'),
                     fmt_num($t->{put}[-1]{seconds}, '%.2f')));
    }
}
# 64 MiB GET, TLS tunnel against the plain tunnel with as many tunnels.
my @tls_pair = grep { $T{$_} } qw(tunnel-2 tls-2);
if (@tls_pair == 2) {
    for my $round (1 .. $P{big_rounds}) {
        for my $n ($round % 2 ? @tls_pair : reverse @tls_pair) {
            my $t = $T{$n};
            if ($mid_path eq $big_path) {
                push @{ $t->{get64} }, $t->{get}[$round - 1];
            }
            else {
                push @{ $t->{get64} }, transfer($t, 'get', $mid_path, $mid_sha, 64 << 20);
            }
        }
    }
}
check_processes();

# ---------------------------------------------------------------- report
alarm 0;
my $load_after = loadavg();
my $elapsed = time - $T0;
my $v = tool_versions();
my $D = $T{direct};
my $med = sub { my ($t, $k, $f) = @_; median(map { $_->{$f} } @{ $t->{$k} || [] }) };
my $ratio = sub { my ($a, $b) = @_; (defined $a && $b) ? $a / $b : undef };

printf "mod_ptth bench/compare.pl, %s mode, %s, %.0f s%s\n", $opt{quick} ? 'quick' : 'full',
       POSIX::strftime('%Y-%m-%d %H:%M', localtime $T0), $elapsed,
       defined $opt{label} ? " [$opt{label}]" : '';
printf "host: %d CPUs; load average before %s, after %s (1/5/15 min)\n", $v->{cpus},
       $load_before, $load_after;
printf "httpd %s, mod_http2 %s, nghttpx %s, %s, h2load %s; mod_ptth %s\n",
       map { $_ // '?' } @$v{qw(httpd mod_http2 nghttpx go h2load commit)};
printf "small GET: h2load --h1 -t1 -c%d -D %gs, 100-byte file, %d rounds (order rotates),"
     . " median [min-max]\n", $CLIENTS, $P{small_secs}, $P{rounds};
printf "p99: h2load --rps at half the target's median peak, %d conns, %g s x %d;"
     . " 1 MiB: -c%d -D %gs; large: curl, %d MiB x %d\n",
       $CLIENTS, $P{lat_secs}, $P{lat_rounds}, $MIB_CLIENTS, $P{mib_secs}, $P{big_mib},
       $P{big_rounds};
print "CPU: microseconds of CPU per small request (router = router httpd children without"
    . " the hub, or the Go router, or nghttpx)\n\n";

my @hdr = ('target', 'req/s med [min-max]', 'xdir', '/go', '/ngx', 'p50', 'p99',
           'router', 'hub', 'backend', 'all', 'client', 'MiB/s 1M', "GET${\ $P{big_mib}}M s",
           'xdir', "POST${\ $P{big_mib}}M s", 'xdir', 'bad');
my $fmt = "%-9s %-22s %5s %5s %5s %6s %7s %6s %5s %7s %5s %6s %8s %9s %5s %10s %5s %4s\n";
printf $fmt, @hdr;
my (%J, @rows);
for my $t (@TARGETS) {
    my ($mn, $mx) = minmax(map { $_->{rps} } @{ $t->{small} });
    my $peak = $t->{peak};
    my $get = $med->($t, 'get', 'seconds');
    my $put = $med->($t, 'put', 'seconds');
    my $is_tunnel = $t->{tunnel};
    my $row = {
        rps_median => $peak, rps_min => $mn, rps_max => $mx,
        x_direct => $ratio->($peak, $D->{peak}),
        div_go => $is_tunnel && $T{'go-seed'} ? $ratio->($peak, $T{'go-seed'}{peak}) : undef,
        div_nghttpx => $is_tunnel && $T{nghttpx} ? $ratio->($peak, $T{nghttpx}{peak}) : undef,
        p50_ms => median(map { $_->{p50} } @{ $t->{lat} || [] }),
        p99_ms => median(map { $_->{p99} } @{ $t->{lat} || [] }),
        latency_rate => median(map { $_->{rate} } @{ $t->{lat} || [] }),
        cpu_us_per_req => $t->{cpu_us},
        mib_per_s_1m => $med->($t, 'mib', 'mbs'),
        get_s => $get, get_x_direct => $ratio->($get, $med->($D, 'get', 'seconds')),
        post_s => $put, post_x_direct => $ratio->($put, $med->($D, 'put', 'seconds')),
        get_cpu_ms_per_mib => $med->($t, 'get', 'cpu_ms_per_mib'),
        post_cpu_ms_per_mib => $med->($t, 'put', 'cpu_ms_per_mib'),
        bad => $t->{bad} // 0, problems => $t->{problems} || [],
        raw => { small => [map { { rps => $_->{rps}, ok => $_->{ok}, bad => $_->{bad},
                                   cpu_ticks => $_->{cpu} } } @{ $t->{small} }],
                 mib => [map { $_->{mbs} } @{ $t->{mib} }],
                 latency => $t->{lat}, get => $t->{get}, post => $t->{put},
                 get64 => $t->{get64} },
    };
    $J{$t->{name}} = $row;
    my $c = $t->{cpu_us};
    printf $fmt, $t->{name},
        sprintf('%.0f [%.0f-%.0f]', $peak // 0, $mn // 0, $mx // 0),
        fmt_num($row->{x_direct}, '%.2f'), fmt_num($row->{div_go}, '%.2f'),
        fmt_num($row->{div_nghttpx}, '%.2f'), fmt_num($row->{p50_ms}, '%.2f'),
        fmt_num($row->{p99_ms}, '%.2f'),
        fmt_num($c->{router}), fmt_num($c->{hub}), fmt_num($c->{backend}),
        fmt_num($c->{total}), fmt_num($c->{client}),
        fmt_num($row->{mib_per_s_1m}, '%.0f'), fmt_num($get, '%.2f'),
        fmt_num($row->{get_x_direct}, '%.2f'), fmt_num($put, '%.2f'),
        fmt_num($row->{post_x_direct}, '%.2f'), $row->{bad};
}
print "\n";
print "xdir: ratio to direct (req/s: higher is better; seconds: lower is better)."
    . " /go, /ngx: tunnel req/s divided by go-seed's, nghttpx's.\n";
print "p50, p99: latency in ms at half the target's own median peak rate."
    . " 'bad': requests or transfers that did not get a 2xx (or a wrong SHA-256).\n";
if (@tls_pair == 2 && $T{'tls-2'}{get64}) {
    my $tls = median(map { $_->{seconds} } @{ $T{'tls-2'}{get64} });
    my $pl = median(map { $_->{seconds} } @{ $T{'tunnel-2'}{get64} });
    my $tc = median(map { $_->{cpu_ms_per_mib} } @{ $T{'tls-2'}{get64} });
    my $pc = median(map { $_->{cpu_ms_per_mib} } @{ $T{'tunnel-2'}{get64} });
    printf "64 MiB GET, 2 tunnels: TLS %s s, plain %s s, TLS/plain %s; CPU (all roles)"
         . " %s vs %s ms per MiB\n", fmt_num($tls, '%.3f'), fmt_num($pl, '%.3f'),
         fmt_num($ratio->($tls, $pl), '%.2f'), fmt_num($tc, '%.2f'), fmt_num($pc, '%.2f');
    $J{_tls_vs_plain_64m} = { tls_s => $tls, plain_s => $pl, ratio => $ratio->($tls, $pl),
                              tls_cpu_ms_per_mib => $tc, plain_cpu_ms_per_mib => $pc };
}
for my $t (@TARGETS) {
    print "$t->{name}: $_\n" for @{ $t->{problems} || [] };
}
print "PROBLEM: $_\n" for @PROBLEMS;
for my $s ($router, $backend) {
    my @l = grep { /Segmentation fault|exit signal|:(?:error|crit|alert|emerg)\]/ }
            split /\n/, $s->errlog_text;
    next unless @l;
    printf "%s error_log: %d error lines, e.g.: %s\n", $s->{name}, scalar @l, $l[0];
}

for my $s ($backend, $router) {
    my $err = $s->stop;
    print STDERR "$err\n" if $err;
}
stop_spawned();
unlink glob(TMP . '/curl/*');

# ---------------------------------------------------------------- restart, scale
# Each its own script (its own servers, ports and time limit), run after
# ours are stopped; their --json is read back.  A part that fails is
# reported and the rest goes on.
sub run_part {
    my ($name, @args) = @_;
    my $json = TMP . "/$name.json";
    my $out = TMP . "/$name.out";
    unlink $json;
    note("running bench/$name.pl @args");
    my $rc = system("'$^X' '$FindBin::Bin/$name.pl' @args --json '$json' >'$out' 2>&1");
    my $doc = -s $json ? eval { decode_json(read_file($json)) } : undef;
    unless ($doc) {
        my $tail = join('', (split /^/, read_file($out) // '')[-5 .. -1]);
        push @PROBLEMS, "bench/$name.pl failed (exit " . ($rc >> 8) . "), see $out";
        print STDERR "bench/$name.pl failed:\n$tail\n";
        return undef;
    }
    $doc->{output} = $out;
    return $doc;
}
my ($RS, $SC);
if ($opt{restart}) {
    $RS = run_part('restart', '--rounds', $opt{quick} ? 2 : 3, '--tunnels', $DEFAULT_TUNNELS);
}
if ($opt{scale}) {
    $SC = run_part('scale', $opt{quick} ? '--quick' : ());
}
my $load_end = loadavg();
if ($RS) {
    my $range = sub {
        my @v = sort { $a <=> $b } grep { defined } map { $_->{all} } @{ $_[0] };
        my $miss = grep { !defined $_->{all} } @{ $_[0] };
        return (@v ? sprintf('%.2f [%.2f-%.2f] s', median(@v), $v[0], $v[-1]) : '-')
             . ($miss ? ", $miss rounds not back within 60 s" : '');
    };
    printf "\nrestart (bench/restart.pl, %d tunnels, %d rounds): all tunnels joined (hub log) after a graceful"
         . " restart %s; after stop/start (from the start command) %s\n", $RS->{tunnels},
           $RS->{rounds}, $range->($RS->{graceful}), $range->($RS->{restart});
}
if ($SC) {
    my ($tu, $h1) = ($SC->{tunnel}, $SC->{http1});
    my $C = $SC->{params}{streams};
    printf "\nscale (bench/scale.pl%s): %d of %d tunnels joined in %s s; hub %s kB per idle"
         . " tunnel; %d concurrent %g s streams over h2c: ptth %d/%d 2xx in %s s, hub peak"
         . " %d kB = %s kB per open stream;\n  router children per concurrent request: ptth %s kB,"
         . " mod_proxy_http %s kB (%d/%d 2xx)\n", $opt{quick} ? ' --quick' : '',
           $SC->{tunnels_open} // 0, $SC->{params}{tunnels}, fmt_num($SC->{join_seconds}, '%.1f'),
           fmt_num($SC->{hub_per_tunnel_kb}, '%.1f'), $C, $SC->{params}{sleep},
           $tu->{ok} // 0, $C, fmt_num($tu->{seconds}, '%.1f'), $tu->{hub_hwm_kb} // 0,
           fmt_num($tu->{hub_per_stream_kb}, '%.1f'), fmt_num($tu->{children_per_req_kb}, '%.1f'),
           fmt_num($h1->{children_per_req_kb}, '%.1f'), $h1->{ok} // 0, $C;
}

# ---------------------------------------------------------------- goals
# Issue 8's goals, each from figures of this run.  'tunnel' is the
# default PTTHTunnels (read from the backend's source).
my @GOALS;
{
    my $tn = $T{"tunnel-$DEFAULT_TUNNELS"};
    my $c = sub { my ($t, @r) = @_; my $x = 0; $x += $t->{cpu_us}{$_} // 0 for @r; $x };
    my $inv = sub { my ($a, $b) = @_; (defined $a && $b) ? $b / $a : undef };
    my $tls = $J{_tls_vs_plain_64m};
    my $tu = $SC ? $SC->{tunnel} : {};
    my $rmax = sub { my @v = grep { defined } map { $_->{all} } @{ $_[0] || [] };
                     return undef unless @v && @v == @{ $_[0] };
                     my ($m) = sort { $b <=> $a } @v; $m };
    push @GOALS,
      ['P1', "small GET, tunnel-$DEFAULT_TUNNELS / direct req/s", '>= 1.0', '>=', 1.0,
       $tn && $ratio->($tn->{peak}, $D->{peak})],
      ['P1', 'best tunnel-N / direct req/s', '', '', undef,
       (sort { $b <=> $a } grep { defined } map { $ratio->($T{"tunnel-$_"}{peak}, $D->{peak}) }
        grep { $T{"tunnel-$_"} } 1, 2, 4, 8)[0]],
      ['CPU', "router (children+hub) CPU per request, tunnel-$DEFAULT_TUNNELS / direct", '<= 1.0',
       '<=', 1.0, $tn && $ratio->($c->($tn, 'router', 'hub'), $c->($D, 'router', 'hub'))],
      ['CPU', "backend CPU per request, tunnel-$DEFAULT_TUNNELS / direct", '<= 1.2', '<=', 1.2,
       $tn && $ratio->($c->($tn, 'backend'), $c->($D, 'backend'))],
      ['P2', "small GET, tunnel-$DEFAULT_TUNNELS / go-seed req/s", '>= 1.5', '>=', 1.5,
       $tn && $T{'go-seed'} && $ratio->($tn->{peak}, $T{'go-seed'}{peak})],
      ['P3', "$P{big_mib} MiB GET, tunnel-$DEFAULT_TUNNELS / direct throughput", '>= 0.9', '>=', 0.9,
       $tn && $inv->($med->($tn, 'get', 'seconds'), $med->($D, 'get', 'seconds'))],
      ['P3', "$P{big_mib} MiB POST, tunnel-$DEFAULT_TUNNELS / direct throughput", '>= 0.9', '>=', 0.9,
       $tn && $inv->($med->($tn, 'put', 'seconds'), $med->($D, 'put', 'seconds'))],
      ['P4', "p99 at half peak, tunnel-$DEFAULT_TUNNELS / direct", '<= 1.2', '<=', 1.2,
       $tn && $ratio->($J{$tn->{name}}{p99_ms}, $J{direct}{p99_ms})],
      ['P5', 'hub kB per idle tunnel', '<= 8', '<=', 8, $SC && $SC->{hub_per_tunnel_kb}],
      ['P5', 'hub kB per open stream', '<= 4', '<=', 4, $SC && $tu->{hub_per_stream_kb}],
      ['P5', 'hub peak MiB', '<= 64', '<=', 64, $SC && defined $tu->{hub_hwm_kb} ? $tu->{hub_hwm_kb} / 1024 : undef],
      ['P5', 'slow streams that got a 2xx, share', '= 1', '>=', 1,
       $SC && $SC->{params}{streams} ? ($tu->{ok} // 0) / $SC->{params}{streams} : undef],
      ['P5', 'router children memory per concurrent request, ptth / mod_proxy_http', '<= 1.0', '<=', 1.0,
       $SC && $ratio->($tu->{children_per_req_kb}, $SC->{http1}{children_per_req_kb})],
      ['P6', 'all tunnels back after a graceful restart, worst round, s', '<= 2', '<=', 2,
       $RS && $rmax->($RS->{graceful})],
      ['P6', 'all tunnels back after stop/start, worst round, s', '<= 2', '<=', 2,
       $RS && $rmax->($RS->{restart})],
      ['P7', 'small GET, tls-2 / tunnel-2 req/s', '>= 0.9', '>=', 0.9,
       $T{'tls-2'} && $T{'tunnel-2'} && $ratio->($T{'tls-2'}{peak}, $T{'tunnel-2'}{peak})],
      ['P7', '64 MiB GET, tls-2 / tunnel-2 throughput', '>= 0.9', '>=', 0.9,
       $tls && $inv->($tls->{tls_s}, $tls->{plain_s})];
}
printf "\ngoals (issue 8; default PTTHTunnels %d; load average at the end %s)\n",
       $DEFAULT_TUNNELS, $load_end;
my %GJ;
for my $g (@GOALS) {
    my ($id, $what, $target, $op, $lim, $val) = @$g;
    $val = undef if defined $val && !length $val;
    my $met = !defined $val || !defined $lim ? ''
            : ($op eq '>=' ? $val >= $lim : $val <= $lim) ? 'met' : 'NOT met';
    printf "  %-4s %-72s %8s %-8s %s\n", $id, $what, fmt_num($val, '%.2f'), $target, $met;
    $GJ{"$id $what"} = { value => $val, target => $target, met => $met };
}

if ($opt{json}) {
    my $doc = { mode => $opt{quick} ? 'quick' : 'full', label => $opt{label},
                started => $T0, seconds => time - $T0,
                load_before => $load_before, load_after => $load_after, load_end => $load_end,
                versions => $v, default_tunnels => $DEFAULT_TUNNELS,
                params => { %P, clients => $CLIENTS, mib_clients => $MIB_CLIENTS },
                targets => \%J, problems => \@PROBLEMS, goals => \%GJ,
                restart => $RS, scale => $SC };
    my $js = JSON::PP->new->canonical->pretty->encode($doc);
    if ($opt{json} eq '-') { print $js } else { write_file($opt{json}, $js) }
}
exit 0;

# --diff A B: two --json results side by side (nothing is started).
sub diff_json {
    my ($fa, $fb) = @_;
    die "usage: compare.pl --diff before.json after.json\n" unless $fa && $fb;
    my ($a, $b) = map { decode_json(read_file($_) // die "cannot read $_\n") } $fa, $fb;
    my $r = sub { my ($x, $y) = @_; (defined $x && defined $y && $x) ? sprintf('%.2f', $y / $x) : '-' };
    printf "before: %s %s load %s -> %s\nafter:  %s %s load %s -> %s\n",
           map { ($_->{label} // '', scalar(localtime $_->{started}), $_->{load_before},
                  $_->{load_after}) } $a, $b;
    print "(after/: after divided by before; xdir: req/s as a share of the same run's direct,"
        . " steadier than req/s on a shared machine)\n";
    printf "%-9s %16s %6s %12s %16s %6s %16s %6s %14s %6s\n", 'target', 'req/s', 'after/',
           'xdir', 'CPU us/req', 'after/', 'p99 ms', 'after/', 'GET s', 'after/';
    for my $t (sort keys %{ $b->{targets} }) {
        next if $t =~ /^_/;
        my ($x, $y) = ($a->{targets}{$t} || {}, $b->{targets}{$t});
        printf "%-9s %7s %8s %6s %5s %6s %7s %8s %6s %7s %8s %6s %6s %7s %6s\n", $t,
               fmt_num($x->{rps_median}), fmt_num($y->{rps_median}),
               $r->($x->{rps_median}, $y->{rps_median}),
               fmt_num($x->{x_direct}, '%.2f'), fmt_num($y->{x_direct}, '%.2f'),
               fmt_num($x->{cpu_us_per_req}{total}), fmt_num($y->{cpu_us_per_req}{total}),
               $r->($x->{cpu_us_per_req}{total}, $y->{cpu_us_per_req}{total}),
               fmt_num($x->{p99_ms}, '%.2f'), fmt_num($y->{p99_ms}, '%.2f'),
               $r->($x->{p99_ms}, $y->{p99_ms}),
               fmt_num($x->{get_s}, '%.2f'), fmt_num($y->{get_s}, '%.2f'),
               $r->($x->{get_s}, $y->{get_s});
    }
    if ($a->{goals} && $b->{goals}) {
        print "\ngoals             before    after  target\n";
        for my $k (sort keys %{ $b->{goals} }) {
            my ($x, $y) = ($a->{goals}{$k} || {}, $b->{goals}{$k});
            printf "  %-76s %8s %8s  %s\n", $k, fmt_num($x->{value}, '%.2f'),
                   fmt_num($y->{value}, '%.2f'), $y->{target};
        }
    }
    return 0;
}
