#!/usr/bin/perl
# The backend's CPU per request through a tunnel, against the same
# backend's CPU per request on its own port, measured in one run:
#
#   perl bench/backend-cpu.pl                       # about 2 minutes
#   perl bench/backend-cpu.pl --paths http2,ptth    # both stream paths
#   perl bench/backend-cpu.pl --tunnels 4 --backend-extra 'H2MaxWorkers 64'
#
# Options: --requests N (per load, default 20000); --rounds N (default 3);
# --tunnels N (PTTHTunnels, default 2); --paths LIST (one backend per item,
# PATH or PATH:TUNNELS: its PTTHStreamPath, "default" for none written, and
# its tunnels, e.g. http2:2,http2:8,ptth:2; default "default"); --cases
# LIST (of h1, h2c, tunnel; default all three);
# --mpm event|worker|prefork (the backends' MPM, default event);
# --backend-extra LINE (repeatable: a line added to every backend's
# configuration); --clients N (HTTP/1.1 connections, default 32); --limit
# S (whole run, default 900).
#
# Run as a non-root user after `make` (needs h2load):
#   runuser -u ptthtest -- env PTTH_TEST_TMP=/tmp/ptth-bcpu perl bench/backend-cpu.pl
#
# One router httpd (event MPM, plain tunnel listeners, one pool per
# backend) and one backend httpd per stream path, each serving a 100-byte
# file on its own port and through the tunnels it dials.  Per backend and
# round, alternately (the order rotates every round), three loads of
# --requests small GETs:
#
#   h1      h2load --h1 -c32 -t1 straight to the backend's port: the reference
#   h2c     h2load -c2 -m16 -t1 (h2c, prior knowledge) straight to its port
#   tunnel  h2load --h1 -c32 -t1 to the router, through the tunnels
#
# For each load: the backend's CPU ticks (utime+stime of its parent and
# children from /proc/PID/stat, reaped children included), the router's,
# req/s and the p99 latency of the closed loop (h2load --log-file), and
# the backend's context switches and read/write system calls per request
# (/proc; steadier than ticks on a shared machine).  The
# table shows medians over the rounds and each backend's ratios against its
# own h1 figure of the same run (ticks per request, tunnel / h1 is the
# figure of the "backend CPU" goal).  Nothing is asserted.
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib", "$FindBin::Bin/lib";
use Getopt::Long;
use POSIX ();
use Time::HiRes qw(time sleep);
BEGIN {
    $ENV{PTTH_TEST_TMP} //= "$FindBin::Bin/out";
    die "run backend-cpu.pl as a non-root user, e.g. as root:\n"
      . "  runuser -u ptthtest -- env PTTH_TEST_TMP=/tmp/ptth-bcpu perl bench/backend-cpu.pl\n"
        if $> == 0 && !$ENV{PTTH_TEST_ALLOW_ROOT};
}
use PTTH::Test;
use PTTH::Bench qw(role_ticks percentile median minmax loadavg bench_httpd
                   tool_versions);

my %opt = (requests => 20000, rounds => 3, tunnels => 2, paths => 'default',
           mpm => 'event', clients => 32, limit => 900, cases => 'h1,h2c,tunnel');
my @extra;
GetOptions(\%opt, 'requests=i', 'rounds=i', 'tunnels=i', 'paths=s', 'mpm=s',
           'clients=i', 'limit=i', 'cases=s', 'backend-extra=s' => \@extra, 'help')
    or die "bad options (see --help)\n";
if ($opt{help}) {
    open(my $fh, '<', __FILE__) or die;
    while (<$fh>) { last unless /^#/; next if /^#!/; s/^# ?//; print }
    exit 0;
}
# Each backend: a label (the item as given), its PTTHStreamPath and tunnels.
my @PATHS = split /,/, $opt{paths};
my %SPEC = map { my ($p, $t) = split /:/, $_; ($_ => { path => $p, tunnels => $t || $opt{tunnels} }) }
           @PATHS;
my $N = $opt{requests};

my $T0 = time;
my $load_before = loadavg();
$SIG{ALRM} = sub { die "backend-cpu.pl: time limit of $opt{limit} s reached\n" };
$SIG{INT} = $SIG{TERM} = sub { die "backend-cpu.pl: interrupted\n" };
alarm $opt{limit};
sub note { printf STDERR "[%5.1fs] %s\n", time - $T0, "@_" }

my $docs = TMP . '/htdocs/bench';
write_file("$docs/small.txt", ('x' x 99) . "\n");

my $M = $PTTH::Test::MODDIR;
my %MPM = (
    event   => [[StartServers => 4], [ServerLimit => 4], [ThreadsPerChild => 25],
                [ThreadLimit => 25], [MinSpareThreads => 25], [MaxSpareThreads => 100],
                [MaxRequestWorkers => 100]],
    worker  => [[StartServers => 4], [ServerLimit => 4], [ThreadsPerChild => 25],
                [ThreadLimit => 25], [MinSpareThreads => 25], [MaxSpareThreads => 100],
                [MaxRequestWorkers => 100]],
    prefork => [[StartServers => 8], [MinSpareServers => 8], [MaxSpareServers => 40],
                [ServerLimit => 64], [MaxRequestWorkers => 64]],
);
die "unknown MPM $opt{mpm}\n" unless $MPM{$opt{mpm}};

my %tport = map { $_ => free_port() } @PATHS;
my %slug = map { my $x = $_; $x =~ s/\W/_/g; ($_ => $x) } @PATHS;
my $listen = join '', map { "PTTHListen 127.0.0.1:$tport{$_} plain=p_$slug{$_}\n" } @PATHS;
my $pass = join '', map { "ProxyPass /$slug{$_}/ ptth://p_$slug{$_}/\n" } @PATHS;
my $router = bench_httpd(kind => 'router', name => 'router', mpm => $MPM{event},
                         tport => $tport{$PATHS[0]},
                         text => <<"EOC");
LoadModule authz_core_module $M/mod_authz_core.so
LoadModule proxy_module $M/mod_proxy.so
LoadModule ptth_router_module $PTTH::Test::ROUTER_SO
ServerName router.test
LogLevel warn
Timeout 60
MaxKeepAliveRequests 0
${listen}ProxyPreserveHost On
$pass
EOC

my %B;
for my $path (@PATHS) {
    my $directive = $SPEC{$path}{path} eq 'default' ? ''
                  : "PTTHStreamPath $SPEC{$path}{path}\n";
    my $more = join '', map { "$_\n" } @extra;
    my $b = bench_httpd(kind => 'backend', name => "backend-$slug{$path}", port => free_port(),
                        mpm => $MPM{$opt{mpm}}, text => <<"EOC");
LoadModule authz_core_module $M/mod_authz_core.so
LoadModule mime_module $M/mod_mime.so
LoadModule http2_module $M/mod_http2.so
LoadModule ptth_backend_module $PTTH::Test::BACKEND_SO
ServerName backend.test
LogLevel warn
Timeout 60
MaxKeepAliveRequests 0
TypesConfig /etc/mime.types
DocumentRoot "$docs"
<Directory "$docs">
    Require all granted
</Directory>
Protocols h2c http/1.1
H2Direct on
H2Upgrade off
PTTHReconnect 100ms 2s
PTTHConnect tcp://127.0.0.1:$tport{$path} tunnels=$SPEC{$path}{tunnels}
$directive$more
EOC
    # bench_httpd loads the event MPM; the others are named instead.
    my $conf = read_file($b->{conf});
    $conf =~ s/mpm_event_module (\S+)mod_mpm_event\.so/mpm_$opt{mpm}_module $1mod_mpm_$opt{mpm}.so/;
    write_file($b->{conf}, $conf);
    $B{$path} = $b;
}
$router->start or die "router does not start:\n" . $router->errlog_text;
for my $path (@PATHS) {
    $B{$path}->start or die "backend ($path) does not start:\n" . $B{$path}->errlog_text;
}
for my $path (@PATHS) {
    my $u = "http://127.0.0.1:$router->{port}/$slug{$path}/small.txt";
    wait_for(60, sub { http(url => $u, max_time => 5)->{status} == 200 }, 0.2)
        or die "$u does not answer 200 within 60 s\n";
    # All tunnels up: as many established connections to the listener.
    wait_for(30, sub { tunnel_count($tport{$path}) >= $SPEC{$path}{tunnels} }, 0.2)
        or note("backend $path: fewer than $SPEC{$path}{tunnels} tunnels after 30 s");
}
note("router and " . scalar(@PATHS) . " backend(s) up: "
     . join(', ', map { "$_ ($SPEC{$_}{tunnels} tunnels)" } @PATHS));

# Context switches (voluntary and not, every thread) and read/write system
# calls (/proc/PID/io syscr + syscw) of a process and its descendants: the
# steadier figures on a shared machine.
sub proc_counts {
    my ($root) = @_;
    my ($csw, $sys) = (0, 0);
    for my $pid ($root, descendants($root)) {
        for my $st (glob("/proc/$pid/task/*/status")) {
            open(my $fh, '<', $st) or next;
            while (<$fh>) { $csw += $1 if /^(?:non)?voluntary_ctxt_switches:\s+(\d+)/ }
            close $fh;
        }
        if (open(my $fh, '<', "/proc/$pid/io")) {
            while (<$fh>) { $sys += $1 if /^sysc[rw]:\s+(\d+)/ }
            close $fh;
        }
    }
    return ($csw, $sys);
}

sub run_load {
    my ($path, $case, $n) = @_;
    my $bk = $B{$path};
    my $log = TMP . "/lat-$slug{$path}-$case.log";
    unlink $log;
    my @args = $case eq 'h1'     ? ('--h1', '-c', $opt{clients}, "http://127.0.0.1:$bk->{port}/small.txt")
             : $case eq 'h2c'    ? ('-c', 2, '-m', 16, "http://127.0.0.1:$bk->{port}/small.txt")
             :                     ('--h1', '-c', $opt{clients},
                                    "http://127.0.0.1:$router->{port}/$slug{$path}/small.txt");
    my $roles = { backend => [$bk->pid], router => [$router->pid] };
    my $before = role_ticks($roles);
    my ($csw0, $sys0) = proc_counts($bk->pid);
    my $res = h2load({ limit => 300 }, '-t1', '-n', $n, "--log-file=$log", @args);
    my ($csw1, $sys1) = proc_counts($bk->pid);
    my $after = role_ticks($roles);
    my @lat;
    if (open(my $fh, '<', $log)) {
        while (<$fh>) {
            my @f = split /\t/;
            push @lat, $f[2] / 1000 if @f >= 3 && $f[1] =~ /^2/;
        }
        close $fh;
    }
    @lat = sort { $a <=> $b } @lat;
    my $ok = $res->{s2xx};
    note("h2load ($path $case) said:\n" . join("\n", grep { /requests:|status codes:|traffic:|errored|failed/ }
                                              split /\n/, $res->{out}))
        if $ok < $n;
    return { ok => $ok, bad => ($res->{total} ? $n - $ok : $n),
             rps => $res->{seconds} ? $ok / $res->{seconds} : 0,
             p99 => percentile(\@lat, 99),
             backend => $after->{backend} - $before->{backend},
             csw => $ok ? ($csw1 - $csw0) / $ok : undef,
             rw => $ok ? ($sys1 - $sys0) / $ok : undef,
             router => $after->{router} - $before->{router} };
}

my %want = map { $_ => 1 } split /,/, $opt{cases};
my @CASES = grep { $want{$_} } qw(h1 h2c tunnel);
die "--cases: h1, h2c and/or tunnel\n" unless @CASES;
my @PLAN = map { my $p = $_; map { [$p, $_] } @CASES } @PATHS;
for my $item (@PLAN) {
    run_load(@$item, 2000);     # warm-up: children, pools, connections
}
note('warm-up done');
my %R;
for my $round (1 .. $opt{rounds}) {
    my @order = @PLAN;
    push @order, shift @order for 1 .. (($round - 1) % @order);
    for my $item (@order) {
        my ($path, $case) = @$item;
        my $r = run_load($path, $case, $N);
        push @{ $R{$path}{$case} }, $r;
        note(sprintf("round %d %-8s %-6s backend %4d ticks  router %4d  %7.0f req/s  p99 %6.2f ms"
                     . "  csw/req %.2f  r+w/req %.2f%s",
                     $round, $path, $case, $r->{backend}, $r->{router}, $r->{rps},
                     $r->{p99} // -1, $r->{csw} // -1, $r->{rw} // -1,
                     $r->{bad} ? "  ($r->{bad} not 2xx)" : ''));
    }
}

my $v = tool_versions();
printf "backend CPU per %d small GETs (clock ticks, median of %d rounds; min-max)\n",
       $N, $opt{rounds};
printf "httpd %s, mod_http2 %s, h2load %s, %s, %d CPUs, backend MPM %s, PTTHTunnels %s%s\n",
       map({ $_ // '?' } @$v{qw(httpd mod_http2 h2load commit cpus)}), $opt{mpm},
       join('/', map { $SPEC{$_}{tunnels} } @PATHS), @extra ? ", extra: " . join('; ', @extra) : '';
printf "%-10s %-7s %14s %8s %10s %9s %8s %8s %8s %6s\n", 'path', 'load', 'backend ticks',
       'ratio', 'req/s', 'p99 ms', 'csw/req', 'r+w/req', 'router', 'bad';
for my $path (@PATHS) {
    my %med;
    for my $case (@CASES) {
        my @rs = @{ $R{$path}{$case} };
        # Ticks scaled to exactly $N good requests.
        my @t = map { $_->{ok} ? $_->{backend} * $N / $_->{ok} : undef } @rs;
        $med{$case} = median(@t);
        my ($lo, $hi) = minmax(@t);
        my $bad = 0;
        $bad += $_->{bad} for @rs;
        printf "%-10s %-7s %5.0f %8s %8s %10.0f %9.2f %8.2f %8.2f %8.0f %6d\n", $path, $case,
               $med{$case}, sprintf('%.0f-%.0f', $lo // 0, $hi // 0),
               $med{h1} ? sprintf('%.2f', $med{$case} / $med{h1}) : '-',
               median(map { $_->{rps} } @rs), median(map { $_->{p99} } @rs) // -1,
               median(map { $_->{csw} } @rs) // -1, median(map { $_->{rw} } @rs) // -1,
               median(map { $_->{ok} ? $_->{router} * $N / $_->{ok} : undef } @rs) // 0,
               $bad;
    }
    # Per-round ratios, the steadier figure on a shared machine.
    next unless $R{$path}{h1} && $R{$path}{tunnel};
    my @ratio = map { my $h = $R{$path}{h1}[$_]; my $t = $R{$path}{tunnel}[$_];
                      $h->{backend} && $t->{ok} && $h->{ok}
                          ? ($t->{backend} / $t->{ok}) / ($h->{backend} / $h->{ok}) : () }
                0 .. $opt{rounds} - 1;
    my ($lo, $hi) = minmax(@ratio);
    printf "%-10s tunnel/h1 per round: %s (median %.2f)\n", $path,
           join(' ', map { sprintf '%.2f', $_ } @ratio), median(@ratio) // 0
        if @ratio;
}
printf "load average before %s, after %s; %.0f s\n", $load_before, loadavg(), time - $T0;
$_->stop for values %B;
$router->stop;
