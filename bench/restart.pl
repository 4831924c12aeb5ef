#!/usr/bin/perl
# How fast the tunnels come back after the router restarts (issue P6):
#
#   perl bench/restart.pl                 # 3 rounds of each, about a minute
#   perl bench/restart.pl --rounds 5 --tunnels 8 --down 1 [--json FILE]
#   perl bench/restart.pl --reconnect '100ms 2s'   # a PTTHReconnect line
#
# One router (event MPM, PTTHListen plain=app) and one backend httpd
# (PTTHConnect tcp:// with PTTHTunnels N, default 8; the backend's
# PTTHReconnect is its default unless --reconnect gives one).  Before each
# restart every tunnel has served a request (small GETs in parallel until
# ptth-status says so): a backend re-dials a tunnel that served, or that
# lived 5 s, at once when the router closes it, and one that did neither
# only after its backoff (docs/protocol.md 3); --no-warm leaves that out.
# Per round:
#
#   graceful   apache2 -k graceful on the router, timed from the command
#   stop/start SIGTERM to the router, --down seconds (default 1) with no
#              router, apache2 -k start, timed from that command
#
# and for each:
#
#   tunnels back  when the Nth tunnel joined the new hub, read from the
#              hub's own log line (PTTH02101, with its timestamp): what P6
#              asks.  ptth-status cannot tell it sooner: it is served by
#              the router's children, and after a graceful restart the
#              MPM starts the new generation's children as scoreboard
#              slots free up, within about a second of its maintenance
#              loop, whatever serves the requests behind them.
#   first 200  through the tunnels, and through mod_proxy_http to the same
#              backend's own port in the same router (the reference: the
#              same children, the same MPM restart), probed in turn every
#              20 ms; what did not get a 200 is counted.
#
# Everything waits at most 60 s; nothing is asserted.  Run as a non-root user after `make` (as root:
# runuser -u ptthtest -- env PTTH_TEST_TMP=/tmp/ptth-bench-out perl bench/restart.pl).
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib", "$FindBin::Bin/lib";
use Getopt::Long;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(time sleep);
BEGIN {
    $ENV{PTTH_TEST_TMP} //= "$FindBin::Bin/out";
    die "run restart.pl as a non-root user, e.g. as root:\n"
      . "  runuser -u ptthtest -- env PTTH_TEST_TMP=/tmp/ptth-bench-out perl bench/restart.pl ...\n"
        if $> == 0 && !$ENV{PTTH_TEST_ALLOW_ROOT};
}
use PTTH::Test;
use PTTH::Bench qw(loadavg bench_httpd median fmt_num);

my %opt = (rounds => 3, tunnels => 8, down => 1, warm => 1);
GetOptions(\%opt, 'rounds=i', 'tunnels=i', 'down=f', 'reconnect=s', 'json=s', 'help', 'warm!')
    or die "bad options (see --help)\n";
if ($opt{help}) {
    open(my $fh, '<', __FILE__) or die;
    while (<$fh>) { last unless /^#/; next if /^#!/; s/^# ?//; print }
    exit 0;
}
my $N = $opt{tunnels};
my $T0 = time;
my $load_before = loadavg();
$SIG{ALRM} = sub { die "restart.pl: time limit reached\n" };
$SIG{INT} = $SIG{TERM} = sub { die "restart.pl: interrupted\n" };
alarm 60 + $opt{rounds} * 2 * (60 + $opt{down});
sub note { printf STDERR "[%6.1fs] %s\n", time - $T0, "@_" }

my $docs = TMP . '/htdocs/bench';
write_file("$docs/small.txt", ('x' x 99) . "\n");
my $tport = free_port();
my $bport = free_port();
my $M = $PTTH::Test::MODDIR;
my @MPM = ([StartServers => 2], [ServerLimit => 2], [ThreadsPerChild => 25],
           [ThreadLimit => 25], [MinSpareThreads => 25], [MaxSpareThreads => 50],
           [MaxRequestWorkers => 50]);
my $router = bench_httpd(kind => 'router', name => 'router', tport => $tport, mpm => \@MPM,
                         text => <<"EOC");
LoadModule authz_core_module $M/mod_authz_core.so
LoadModule proxy_module $M/mod_proxy.so
LoadModule proxy_http_module $M/mod_proxy_http.so
LoadModule ptth_router_module $PTTH::Test::ROUTER_SO
ServerName router.test
LogLevel warn ptth_router:info
PTTHListen 127.0.0.1:$tport plain=app
<Location /ptth-status>
    SetHandler ptth-status
    Require all granted
</Location>
ProxyPass /ptth-status !
ProxyPass /direct/ http://127.0.0.1:$bport/
ProxyPass / ptth://app/
EOC
my $reconnect = $opt{reconnect} ? "PTTHReconnect $opt{reconnect}\n" : '';
my $backend = bench_httpd(kind => 'backend', name => 'backend', port => $bport, mpm => \@MPM,
                          text => <<"EOC");
LoadModule authz_core_module $M/mod_authz_core.so
LoadModule mime_module $M/mod_mime.so
LoadModule http2_module $M/mod_http2.so
LoadModule ptth_backend_module $PTTH::Test::BACKEND_SO
ServerName backend.test
LogLevel warn
TypesConfig /etc/mime.types
DocumentRoot "$docs"
<Directory "$docs">
    Require all granted
</Directory>
Protocols h2c http/1.1
${reconnect}PTTHConnect tcp://127.0.0.1:$tport tunnels=$N
EOC
$router->start or die "router does not start:\n" . $router->errlog_text;
$backend->start or die "backend does not start:\n" . $backend->errlog_text;

# The hub's pid and how many tunnels it has open, from ptth-status.
sub hub_state {
    my $res = http(port => $router->{port}, path => '/ptth-status', max_time => 2);
    return (0, 0) unless $res->{status} == 200;
    my $st = eval { decode_json($res->{body}) } or return (0, 0);
    my $open = 0;
    for my $p (@{ $st->{pools} || [] }) {
        $open += grep { $_->{state} eq 'open' } @{ $p->{tunnels} || [] };
    }
    return ($st->{hub}{pid} // 0, $open);
}

# Small GETs in parallel until every open tunnel has served one (at most
# 10 bursts).  Returns how many tunnels had served.
sub warm {
    my $n = 0;
    for (1 .. 10) {
        h2load({ limit => 30 }, '--h1', '-t1', '-c', 2 * $N, '-n', 8 * $N,
               "http://127.0.0.1:$router->{port}/small.txt");
        my $res = http(port => $router->{port}, path => '/ptth-status', max_time => 2);
        my $st = $res->{status} == 200 ? eval { decode_json($res->{body}) } : undef;
        my @t = map { @{ $_->{tunnels} || [] } } @{ ($st || {})->{pools} || [] };
        $n = grep { $_->{served} } @t;
        last if @t >= $N && $n >= @t;
    }
    return $n;
}

# Log timestamps ("[Sun Nov 29 21:46:08.421802 2026]") as epoch seconds.
my %MON = (Jan => 0, Feb => 1, Mar => 2, Apr => 3, May => 4, Jun => 5, Jul => 6,
           Aug => 7, Sep => 8, Oct => 9, Nov => 10, Dec => 11);
sub log_time {
    my ($l) = @_;
    $l =~ /^\[\w+ (\w+) +(\d+) (\d+):(\d+):(\d+)(\.\d+)? (\d+)\]/ or return undef;
    return POSIX::mktime($5, $4, $3, $2, $MON{$1}, $7 - 1900) + ($6 // 0);
}

# When the Nth tunnel joined a hub at or after $t0, by the hub's log (the
# router's error log; its offset at $t0 is $from), or undef.
sub joined_at {
    my ($t0, $from) = @_;
    open(my $fh, '<', $router->{errlog}) or return undef;
    seek($fh, $from, 0);
    my @t;
    while (my $l = <$fh>) {
        next unless $l =~ /PTTH02101: tunnel \d+ from .* joined pool/;
        my $t = log_time($l);
        push @t, $t if defined $t && $t >= $t0 - 0.001;
    }
    return @t >= $N ? $t[$N - 1] : undef;
}

# Poll every 20 ms from $t0 (the router's error log at offset $from) until
# N tunnels joined and both probes got a 200: a small GET through the
# tunnels and one through mod_proxy_http.  Returns the times (s after $t0).
sub watch {
    my ($t0, $from) = @_;
    my %r = (probes => 0, failed => 0, direct_failed => 0);
    while (time - $t0 < 60) {
        if (!defined $r{all}) {
            my $j = joined_at($t0, $from);
            $r{all} = $j - $t0 if defined $j;
        }
        if (!defined $r{first_ok}) {
            my $res = http(port => $router->{port}, path => '/small.txt', max_time => 5);
            $r{probes}++;
            if ($res->{status} == 200) { $r{first_ok} = time - $t0 } else { $r{failed}++ }
        }
        if (!defined $r{direct_first_ok}) {
            my $res = http(port => $router->{port}, path => '/direct/small.txt', max_time => 5);
            if ($res->{status} == 200) { $r{direct_first_ok} = time - $t0 }
            else { $r{direct_failed}++ }
        }
        last if defined $r{all} && defined $r{first_ok} && defined $r{direct_first_ok};
        sleep 0.02;
    }
    return \%r;
}

my ($hub) = wait_for(60, sub { my ($h, $o) = hub_state(); $o >= $N ? $h : 0 }, 0.1);
die "the $N tunnels did not come up within 60 s\n" unless $hub;
note("$N tunnels open (hub $hub)");
my (@graceful, @restart);
for my $round (1 .. $opt{rounds}) {
    note("round $round: " . warm() . " tunnels have served") if $opt{warm};
    my $from = -s $router->{errlog} // 0;
    my $t0 = time;
    $router->graceful or die "graceful restart failed\n";
    my $g = watch($t0, $from);
    push @graceful, $g;
    note(sprintf("round %d graceful: all %d tunnels joined the new hub after %s s; first 200"
                 . " after %s s (direct %s s), %d of %d probes failed", $round, $N,
                 fmt_num($g->{all}, '%.2f'), fmt_num($g->{first_ok}, '%.2f'),
                 fmt_num($g->{direct_first_ok}, '%.2f'), $g->{failed}, $g->{probes}));

    warm() if $opt{warm};
    my $err = $router->stop;
    die "$err\n" if $err;
    sleep $opt{down};
    $from = -s $router->{errlog} // 0;
    $t0 = time;
    $router->start or die "router does not start again:\n" . $router->errlog_text;
    my $s = watch($t0, $from);
    push @restart, $s;
    note(sprintf("round %d stop, %g s down, start: all %d tunnels joined after %s s; first"
                 . " 200 after %s s (direct %s s), %d of %d probes failed", $round, $opt{down},
                 $N, fmt_num($s->{all}, '%.2f'), fmt_num($s->{first_ok}, '%.2f'),
                 fmt_num($s->{direct_first_ok}, '%.2f'), $s->{failed}, $s->{probes}));
    sleep 1;
}
alarm 0;
my $load_after = loadavg();
my $med = sub { my ($l, $k) = @_; median(grep { defined } map { $_->{$k} } @$l) };
my $range = sub { my ($l, $k) = @_; my @v = sort { $a <=> $b } grep { defined } map { $_->{$k} } @$l;
                  @v ? sprintf('%.2f-%.2f', $v[0], $v[-1]) : '-' };
printf "mod_ptth bench/restart.pl: %d tunnels, %d rounds, %g s down; PTTHReconnect %s;"
     . " tunnels %s before each restart\n", $N, $opt{rounds}, $opt{down},
       $opt{reconnect} // 'default', $opt{warm} ? 'served' : 'not warmed';
printf "load average before %s, after %s\n", $load_before, $load_after;
printf "%-22s %18s %18s %18s %12s\n", '', 'tunnels back (s)', 'first 200 (s)',
       'direct 200 (s)', 'probes failed';
for my $x (['graceful restart', \@graceful], ['stop, start', \@restart]) {
    my ($name, $l) = @$x;
    my $miss = grep { !defined $_->{all} } @$l;
    printf "%-22s %7s [%s] %7s [%s] %7s [%s] %6d of %d%s\n", $name,
           fmt_num($med->($l, 'all'), '%.2f'), $range->($l, 'all'),
           fmt_num($med->($l, 'first_ok'), '%.2f'), $range->($l, 'first_ok'),
           fmt_num($med->($l, 'direct_first_ok'), '%.2f'), $range->($l, 'direct_first_ok'),
           (eval { my $f = 0; $f += $_->{failed} for @$l; $f }),
           (eval { my $p = 0; $p += $_->{probes} for @$l; $p }),
           $miss ? " ($miss rounds: not all back within 60 s)" : '';
}
print "times: median [min-max] over the rounds; graceful from apache2 -k graceful, stop/start"
    . " from apache2 -k start; tunnels back from the hub's log\n";
if ($opt{json}) {
    write_file($opt{json}, JSON::PP->new->canonical->pretty->encode(
        { tunnels => $N, rounds => $opt{rounds}, down => $opt{down}, warm => $opt{warm},
          reconnect => $opt{reconnect}, load_before => $load_before, load_after => $load_after,
          graceful => \@graceful, restart => \@restart }));
}
for my $s ($backend, $router) {
    my $e = $s->stop;
    print STDERR "$e\n" if $e;
}
exit 0;
