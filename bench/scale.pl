#!/usr/bin/perl
# Many tunnels and many concurrent slow streams through one router:
#
#   perl bench/scale.pl --quick          # 100 tunnels, 1 000 streams, about 1 minute
#   perl bench/scale.pl                  # 1 000 tunnels, 10 000 streams, about 2-3 minutes
#   perl bench/scale.pl --tunnels N --streams C --sleep S [--json FILE]
#                       [--per-conn M] [--h2-min-workers W] [--limit SECONDS]
#
# --h2-min-workers makes the router children start W h2 worker threads at
# once instead of on demand (the ramp to C streams in flight is then
# shorter and the idle memory larger).
# Run as a non-root user after `make` (needs h2load and go with
# golang-golang-x-net-dev: build/install-deps.sh).  The script raises its
# soft descriptor limit (ulimit -n) to the hard limit and passes it on to
# everything it starts; it prints both and what each process needs.
#
# The peers are one Go process (bench/go/manypeers.go) that opens N
# plain-mode tunnels, each an HTTP/2 server (x/net/http2 ServeConn),
# answering /slow?s=S after S seconds; it also serves the same handler over
# HTTP/1.1 on a port.  Users come over HTTP/2 (h2c, prior knowledge) to
# the router with h2load -c K -m M (K connections of M streams), so the
# router loads mod_http2 (Protocols h2c http/1.1): every user stream runs
# on an h2 worker thread of a router child, which the proxy request holds
# until the answer is back, as a thread is held with mod_proxy_http.
#
# Two routers with the same configuration, measured one after the other
# in the same run:
#   A  ProxyPass /t/ ptth://app/          the N tunnels dial A
#   B  ProxyPass /h1/ http://<peers>/     mod_proxy_http, HTTP/1.1, to the
#                                         same Go process (the reference)
# Measured:
#   - time until the N tunnels have joined (polling A's ptth-status JSON;
#     past ~2 000 tunnels the document is too large for a status frame
#     and the count comes from /proc/net/tcp instead)
#   - the hub's RSS with 0 tunnels and idle with N, and per tunnel
#   - C concurrent slow streams through A: how many got a 2xx, the time
#     (ideal: S), the most in flight at once at the peers, the hub's peak
#     RSS (VmHWM) and per open stream, the router children's total memory
#     (RSS) at the peak against idle, per concurrent request
#   - the same C streams through B: the same children figures
# Nothing is asserted; failures are reported.  Bounded in time: every
# client has a timeout and the whole run an alarm; servers are stopped by
# PID at the end.
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
BEGIN {
    # Raise the soft descriptor limit to the hard one for this process and
    # all it starts (httpd, the hub, the Go peers, h2load).
    unless ($ENV{PTTH_SCALE_REEXEC}) {
        $ENV{PTTH_SCALE_REEXEC} = 1;
        exec('/bin/sh', '-c', 'PTTH_SCALE_NOFILE0=$(ulimit -Sn); export PTTH_SCALE_NOFILE0; '
             . 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'sh',
             $^X, $0, @ARGV) or die "exec: $!";
    }
}
use FindBin;
use lib "$FindBin::Bin/../t/lib", "$FindBin::Bin/lib";
use Getopt::Long;
use POSIX qw(WNOHANG ceil);
use JSON::PP;
use Time::HiRes qw(time sleep);
BEGIN {
    $ENV{PTTH_TEST_TMP} //= "$FindBin::Bin/out";
    # httpd refuses to run its children as root without a User directive.
    die "run scale.pl as a non-root user, e.g. as root:\n"
      . "  runuser -u ptthtest -- env PTTH_TEST_TMP=/tmp/ptth-bench-out perl bench/scale.pl ...\n"
      . "(PTTH_TEST_TMP: a scratch directory that user can write)\n"
        if $> == 0 && !$ENV{PTTH_TEST_ALLOW_ROOT};
}
use PTTH::Test;
use PTTH::Bench qw(status_kb loadavg bench_httpd go_build_file tool_versions
                   fmt_num);

my %opt;
GetOptions(\%opt, 'quick!', 'tunnels=i', 'streams=i', 'sleep=f', 'per-conn=i', 'h2-min-workers=i',
           'json=s', 'limit=i', 'help') or die "bad options (see --help)\n";
if ($opt{help}) {
    open(my $fh, '<', __FILE__) or die;
    while (<$fh>) { last unless /^#/; next if /^#!/; s/^# ?//; print }
    exit 0;
}
# S leaves the router time to start its threads (one h2 worker per stream,
# made on demand) before the first answers come back.
my %P = $opt{quick} ? (tunnels => 100, streams => 1000, sleep => 5, limit => 300)
                    : (tunnels => 1000, streams => 10000, sleep => 45, limit => 900);
$P{$_} = $opt{$_} for grep { defined $opt{$_} } qw(tunnels streams sleep limit);
my $N = $P{tunnels};
my $C = $P{streams};
my $S = $P{sleep};
my $M = $opt{'per-conn'} || 100;           # streams per user connection (H2MaxSessionStreams)
$M = $C if $M > $C;
my $K = ceil($C / $M);                      # user connections
$C = $K * $M;
my ($WARM, $WARM_MS) = (30, 3000);          # quick requests per connection before the slow ones

my $T0 = time;
my $load_before = loadavg();
$SIG{ALRM} = sub { die "scale.pl: time limit of $P{limit} s reached\n" };
$SIG{INT} = $SIG{TERM} = sub { die "scale.pl: interrupted\n" };
alarm $P{limit};
sub note { printf STDERR "[%6.1fs] %s\n", time - $T0, "@_" }

my $nofile_soft = `sh -c 'ulimit -Sn'` + 0;
my $nofile_hard = `sh -c 'ulimit -Hn'` + 0;

# ------------------------------------------------------------ router config
# Threads: each user connection with open streams holds an MPM worker
# thread (its HTTP/2 session, "c1"), each stream an h2 worker thread for the
# whole proxied request.  Connections land on children unevenly, so every
# child may have to take all streams: H2MaxWorkers and the proxy workers'
# connection pools (max=) are C per child; threads are made on demand.
my $SL = 2;
my $TPC = ceil($K / $SL) + 25;
my $W = $C + 16;
my $H2MIN = $opt{'h2-min-workers'} || 16;   # threads made at child start
$W = $H2MIN if $W < $H2MIN;
my @MPM = ([StartServers => $SL], [ServerLimit => $SL], [ThreadsPerChild => $TPC],
           [ThreadLimit => $TPC], [MinSpareThreads => $TPC], [MaxSpareThreads => $SL * $TPC],
           [MaxRequestWorkers => $SL * $TPC]);
my %need = (
    hub     => $N + $C + 64,          # tunnels + one link per stream in flight
    child   => $K + $C + 64,          # worst case one child: users + a link (A) or a
                                      # backend connection (B) per stream
    peers   => $N + $C + 64,          # tunnels + HTTP/1.1 connections from router B
    h2load  => $K + 16,
);

my $go_port = free_port();
my $mx = $PTTH::Test::MODDIR;
sub router_conf {
    my ($tport) = @_;
    return <<"EOC";
LoadModule authz_core_module $mx/mod_authz_core.so
LoadModule proxy_module $mx/mod_proxy.so
LoadModule proxy_http_module $mx/mod_proxy_http.so
LoadModule http2_module $mx/mod_http2.so
LoadModule ptth_router_module $PTTH::Test::ROUTER_SO
ServerName router.test
LogLevel warn
Timeout @{[ int($S) + 60 ]}
KeepAliveTimeout 30
Protocols h2c http/1.1
H2Direct on
H2MaxSessionStreams $M
H2MinWorkers $H2MIN
H2MaxWorkers $W
PTTHListen 127.0.0.1:$tport plain=app
PTTHMaxTunnels @{[ $N + 64 ]}
PTTHMaxWaiting $C
PTTHWaitTimeout 10s
<Location /ptth-status>
    SetHandler ptth-status
    Require all granted
</Location>
ProxyPass /ptth-status !
ProxyPass /t/ ptth://app/ max=$W
ProxyPass /h1/ http://127.0.0.1:$go_port/ max=$W
EOC
}
my ($tpa, $tpb) = (free_port(), free_port());
my $ra = bench_httpd(kind => 'router', name => 'routerA', mpm => \@MPM, tport => $tpa,
                     text => router_conf($tpa));
my $rb = bench_httpd(kind => 'router', name => 'routerB', mpm => \@MPM, tport => $tpb,
                     text => router_conf($tpb));

my $mpm_text = join(', ', map { "$_->[0] $_->[1]" } @MPM);
print "mod_ptth bench/scale.pl: $N tunnels, $C concurrent streams of ${S} s, "
    . POSIX::strftime('%Y-%m-%d %H:%M', localtime $T0) . "\n";
print "host: " . (`nproc` + 0) . " CPUs, load average before $load_before;"
    . " descriptors (ulimit -n): soft $nofile_soft, hard $nofile_hard (soft raised from "
    . ($ENV{PTTH_SCALE_NOFILE0} // '?') . ")\n";
print "users: h2load -c $K -m $M (h2c prior knowledge); router config (A and B alike):\n"
    . "  event MPM: $mpm_text\n"
    . "  (the $K user connections each hold an MPM thread while their streams are open)\n"
    . "  H2MaxSessionStreams $M, H2MinWorkers $H2MIN, H2MaxWorkers $W per child"
    . " (one h2 worker thread per proxied stream)\n"
    . "  ProxyPass ... max=$W (per-child connection pool of each proxy worker),"
    . " PTTHMaxTunnels @{[ $N + 64 ]}, PTTHMaxWaiting $C\n";
print "descriptors needed (about): hub $need{hub}, a router child up to $need{child},"
    . " Go peers $need{peers}, h2load $need{h2load}\n";
my @short = grep { $need{$_} > $nofile_soft } sort keys %need;
print "WARNING: the descriptor limit $nofile_soft is below what @short may need\n" if @short;

# ------------------------------------------------------------ start
my ($peers_bin, $why) = go_build_file("$FindBin::Bin/go/manypeers.go", TMP . '/manypeers',
                                      $ENV{PTTH_GOCACHE} || "$ENV{PTTH_TEST_TMP}/gocache");
die "$why\n" unless $peers_bin;
$ra->start or die "router A does not start:\n" . $ra->errlog_text;
$rb->start or die "router B does not start:\n" . $rb->errlog_text;
note('routers started');

sub status_of {
    my ($r) = @_;
    my $res = http(port => $r->{port}, path => '/ptth-status', max_time => 10);
    return undef unless $res->{status} == 200;
    return eval { decode_json($res->{body}) };
}
sub hub_of {
    my ($r) = @_;
    my $st = wait_for(20, sub { my $s = status_of($r); $s && $s->{hub}{pid} ? $s : 0 }, 0.2);
    return $st ? $st->{hub}{pid} : die "$r->{name}: no hub in ptth-status\n";
}
# Open tunnels per the hub; when the JSON is too large for a status frame,
# the established connections on the tunnel port (per /proc/net/tcp).
sub tunnels_open {
    my ($r) = @_;
    my $s = status_of($r);
    if ($s && $s->{pools}) {
        my ($p) = grep { $_->{name} eq 'app' } @{ $s->{pools} };
        return (scalar(grep { $_->{state} eq 'open' } @{ $p->{tunnels} || [] }), 'ptth-status', $s);
    }
    return (tunnel_count($r->{tport}), '/proc/net/tcp', $s);
}
# Resident memory (kB) of the router's children, not the hub: VmRSS from
# /proc/<pid>/status, cheap to read while thousands of threads start
# (smaps would take each child's mmap lock).  Pages shared between the
# children and with the parent count once per child; they are the same
# idle and under load, so the difference is what the load added.
sub children_rss {
    my ($r, $hub) = @_;
    my $kb = 0;
    for my $p (descendants($r->pid)) {
        next if $p == $hub;
        $kb += status_kb($p, 'VmRSS') // 0;
    }
    return $kb;
}
sub peer_stat {
    my $log = PTTH::Test::read_file(TMP . '/manypeers.log') // '';
    my @l = $log =~ /^.*stat (up=.*)$/mg;
    return {} unless @l;
    return { map { split /=/ } split ' ', $l[-1] };
}
sub errors_in {
    my ($r) = @_;
    my @l = grep { /Segmentation fault|exit signal|:(?:error|crit|alert|emerg)\]/ }
            split /\n/, $r->errlog_text;
    return @l;
}

my %R = (params => { %P, per_conn => $M, user_connections => $K, mpm => $mpm_text,
                     h2_max_workers => $W, nofile_soft => $nofile_soft,
                     nofile_soft_before => $ENV{PTTH_SCALE_NOFILE0},
                     nofile_hard => $nofile_hard, need => \%need });
my $hubA = hub_of($ra);
my $hubB = hub_of($rb);
sleep 1;
$R{hub_rss_0_kb} = status_kb($hubA, 'VmRSS');

# ------------------------------------------------------------ join
my $t_join = time;
my $peers = spawn('manypeers', TMP . '/manypeers.log', $peers_bin, '-connect',
                  "127.0.0.1:$ra->{tport}", '-n', $N, '-http', "127.0.0.1:$go_port",
                  '-max-sleep', $S + 60);
my ($open, $how) = (0, '');
my $joined = wait_for(120, sub {
    ($open, $how) = tunnels_open($ra);
    return $open >= $N;
}, 0.2);
$R{join_seconds} = $joined ? time - $t_join : undef;
$R{join_counted_by} = $how;
$R{tunnels_open} = $open;
note(sprintf('%d of %d tunnels open (%s) after %.1f s', $open, $N, $how, time - $t_join));
sleep 2;
($open) = tunnels_open($ra);
$R{hub_rss_n_kb} = status_kb($hubA, 'VmRSS');
$R{hub_per_tunnel_kb} = $open ? ($R{hub_rss_n_kb} - $R{hub_rss_0_kb}) / $open : undef;
wait_for(30, sub { http(port => $rb->{port}, path => '/h1/small', max_time => 5)->{status} == 200 })
    or die "router B cannot reach the peers' HTTP/1.1 port\n";

# ------------------------------------------------------------ streams
sub streams_run {
    my ($r, $hub, $path, $label) = @_;
    my %x;
    $x{children_idle_kb} = children_rss($r, $hub);
    kill 'USR1', $peers;   # the peers' "most in flight" starts again
    sleep 0.5;
    $x{hub_rss_before_kb} = status_kb($hub, 'VmRSS');
    my $served0 = peer_stat()->{served} // 0;
    my @series;
    # mod_http2 starts every user connection with 6 streams in process
    # and doubles that limit (up to H2MaxSessionStreams) only as streams
    # complete, at most every 100 ms (h2_mplx "processing_limit"): C slow
    # streams on fresh connections would run in waves.  So each connection
    # first sends $WARM quick requests spread over $WARM_MS ms, then its M
    # slow ones at once, 300 ms later (h2load --timing-script-file).
    my $script = TMP . "/script-$label.txt";
    my $base = "http://127.0.0.1:$r->{port}";
    my $txt = '';
    my $quick = $path;
    $quick =~ s{/slow\?.*}{/small};
    $txt .= sprintf("%.3f\t%s%s\n", $_ * $WARM_MS / $WARM, $base, $quick) for 0 .. $WARM - 1;
    $txt .= sprintf("%.3f\t%s%s\n", $WARM_MS + 300, $base, $path) for 1 .. $M;
    PTTH::Test::write_file($script, $txt);
    my $bg = in_background(sub {
        my $res = h2load({ limit => $S + 180 }, '-t', 1, '-c', $K, '-m', $M,
                         "--timing-script-file=$script");
        return encode_json($res);
    });
    my ($peak_rss, $max_active, $max_waiting, $samples) = (0, 0, 0, 0);
    my $t0 = time;
    my $t_slow = $t0 + ($WARM_MS + 300) / 1000;
    my $ramp;
    my $t_status = 0;
    while (waitpid($bg->{pid}, WNOHANG) == 0) {
        # How long until (nearly) all C were in flight at the peers.
        my $inflight = peer_stat()->{inflight} // 0;
        push @series, [sprintf('%.1f', time - $t_slow), $inflight + 0];
        if (!defined $ramp && $inflight >= 0.99 * $C) {
            $ramp = time - $t_slow;
        }
        my $rss = children_rss($r, $hub);
        $peak_rss = $rss if $rss > $peak_rss;
        # The hub's JSON (about 110 bytes per tunnel) only every 2 s: it is
        # made by the hub's one thread, which also carries the streams.
        if ($label eq 'tunnel' && time - $t_status >= 2) {
            $t_status = time;
            my $s = status_of($r);
            if ($s && $s->{pools}) {
                my ($p) = grep { $_->{name} eq 'app' } @{ $s->{pools} };
                my $a = 0;
                $a += $_->{active} for @{ $p->{tunnels} || [] };
                $max_active = $a if $a > $max_active;
                $max_waiting = $p->{waiting} if ($p->{waiting} // 0) > $max_waiting;
            }
        }
        $samples++;
        last if time - $t0 > $S + 200;
        sleep 0.5;
    }
    my $res = eval { decode_json(collect($bg)) } || {};
    sleep 0.6;   # the peers print their counters every 250 ms
    my $ps = peer_stat();
    $x{h2load} = { map { $_ => $res->{$_} } qw(total succeeded failed errored timeout s2xx s3xx s4xx s5xx seconds) };
    $x{h2load_out} = $res->{out};
    $x{ok} = ($res->{s2xx} // 0) - $K * $WARM;   # the quick warm-up requests are 2xx too
    # From the start of the slow requests to the last answer (ideal: S).
    $x{seconds} = defined $res->{seconds} ? $res->{seconds} - ($WARM_MS + 300) / 1000 : undef;
    $x{peer_max_inflight} = $ps->{max};
    $x{peer_served} = ($ps->{served} // 0) - $served0;
    $x{children_peak_kb} = $peak_rss;
    $x{children_per_req_kb} = ($peak_rss - $x{children_idle_kb}) / $C;
    $x{hub_hwm_kb} = status_kb($hub, 'VmHWM');
    $x{hub_rss_after_kb} = status_kb($hub, 'VmRSS');
    $x{max_active} = $max_active if $label eq 'tunnel';
    $x{max_waiting} = $max_waiting if $label eq 'tunnel';
    $x{samples} = $samples;
    $x{ramp_seconds} = $ramp;
    $x{inflight_series} = \@series;   # [seconds since the slow requests began, in flight]
    for my $at (5, 10, 20, 40) {
        my ($pt) = grep { $_->[0] >= $at } @series;
        $x{"inflight_at_$at"} = $pt ? $pt->[1] : undef;
    }
    $x{errors} = [errors_in($r)];
    note(sprintf('%s: %d of %d 2xx in %s s; children RSS %d -> %d kB; peers max in flight %s',
                 $label, $x{ok}, $C, fmt_num($x{seconds}, '%.1f'), $x{children_idle_kb},
                 $peak_rss, $ps->{max} // '?'));
    return \%x;
}

$R{tunnel} = streams_run($ra, $hubA, "/t/slow?s=$S", 'tunnel');
my $tu = $R{tunnel};
$tu->{hub_per_stream_kb} = ($tu->{hub_hwm_kb} - $R{hub_rss_n_kb}) / $C;
$R{tunnels_after} = (tunnels_open($ra))[0];
$R{peers_after_tunnel} = peer_stat();
# Router A (its h2 worker threads, its hub) goes before B is loaded.
my $err = $ra->stop;
note('router A stopped' . ($err ? ": $err" : ''));
$R{http1} = streams_run($rb, $hubB, "/h1/slow?s=$S", 'http1');
$R{peers_final} = peer_stat();

# ------------------------------------------------------------ report
alarm 0;
my $h1 = $R{http1};
my $ratio = sub { my ($a, $b) = @_; (defined $a && $b) ? $a / $b : undef };
print "\n";
printf "tunnels: %d of %d joined in %s s (counted by %s); hub RSS %d kB with none, %d kB with %d"
     . " idle: %s kB per tunnel\n", $R{tunnels_open}, $N, fmt_num($R{join_seconds}, '%.1f'),
       $R{join_counted_by}, $R{hub_rss_0_kb} // 0, $R{hub_rss_n_kb} // 0, $R{tunnels_open},
       fmt_num($R{hub_per_tunnel_kb}, '%.1f');
printf "%-26s %12s %8s %7s %10s %14s %14s %12s %10s\n", 'path', '2xx', 'seconds',
       'ramp s', 'peers max', 'children idle', 'children peak', 'per request', 'hub HWM';
for my $x (['ptth:// (router A, hub)', $tu], ['mod_proxy_http (router B)', $h1]) {
    my ($l, $d) = @$x;
    printf "%-26s %12s %8s %7s %10s %11d kB %11d kB %9.1f kB %7s kB\n", $l, "$d->{ok}/$C",
           fmt_num($d->{seconds}, '%.1f'), fmt_num($d->{ramp_seconds}, '%.1f'),
           $d->{peer_max_inflight} // '?',
           $d->{children_idle_kb}, $d->{children_peak_kb}, $d->{children_per_req_kb},
           $d == $tu ? $d->{hub_hwm_kb} : '-';
}
print "seconds: from the start of the slow requests to the last answer (ideal: $S); ramp:"
    . " until 99% of them were in flight at the peers ('-': never); peers max: most in flight"
    . " at once; children: RSS of the router's children (not the hub), idle and at the peak\n";
for my $x (['ptth', $tu], ['mod_proxy_http', $h1]) {
    printf "in flight at the peers %-15s +5 s: %s, +10 s: %s, +20 s: %s, +40 s: %s\n", "($x->[0])",
           map { $x->[1]{"inflight_at_$_"} // '-' } 5, 10, 20, 40;
}
printf "hub: peak RSS (VmHWM) %d kB, %.1f kB per open stream above idle with %d tunnels;"
     . " most streams active at the hub %d, most requests waiting for a tunnel %d\n",
       $tu->{hub_hwm_kb}, $tu->{hub_per_stream_kb}, $R{tunnels_open}, $tu->{max_active},
       $tu->{max_waiting};
my $all_t = $tu->{children_per_req_kb} + $tu->{hub_per_stream_kb};
printf "memory per concurrent request, ptth / mod_proxy_http: children %s, children+hub %s"
     . " (%.1f vs %.1f kB)\n", fmt_num($ratio->($tu->{children_per_req_kb}, $h1->{children_per_req_kb}), '%.2f'),
       fmt_num($ratio->($all_t, $h1->{children_per_req_kb}), '%.2f'), $all_t,
       $h1->{children_per_req_kb};
printf "tunnels open after the load: %s of %d; peers: %s\n", $R{tunnels_after} // '?', $N,
       join(' ', map { "$_=$R{peers_final}{$_}" } sort keys %{ $R{peers_final} });
for my $x (['A (ptth)', $tu], ['B (http)', $h1]) {
    my ($l, $d) = @$x;
    my $h = $d->{h2load};
    if (($d->{ok} // 0) != $C) {
        printf "router %s: NOT ALL 2xx: %s\n", $l,
               join(', ', map { "$_ $h->{$_}" } grep { defined $h->{$_} } qw(total succeeded failed errored timeout s4xx s5xx));
    }
    my @e = @{ $d->{errors} };
    printf "router %s error_log: %d error lines, first: %s\n", $l, scalar @e, $e[0] if @e;
}
printf "load average before %s, after %s; %.0f s\n", $load_before, loadavg(), time - $T0;
$R{load_before} = $load_before;
$R{load_after} = loadavg();
$R{seconds} = time - $T0;
$R{versions} = tool_versions();
if ($opt{json}) {
    my $js = JSON::PP->new->canonical->pretty->encode(\%R);
    if ($opt{json} eq '-') { print $js } else { PTTH::Test::write_file($opt{json}, $js) }
}
stop_spawned($peers);
for my $r ($rb, $ra) {
    my $e = $r->stop;
    print STDERR "$e\n" if $e;
}
exit 0;
