#!/usr/bin/perl
# Secure tunnel (TLS) against plain tunnel, from the same backend to the
# same router, measured in the same run on the same machine.
#
#   perl bench/tls-vs-plain.pl [--requests N] [--clients C] [--rounds R]
#                              [--big-rounds B] [--mpm event|worker|prefork]
#
# One router httpd has two tunnel listeners: a plain one (pool "pp") and a
# TLS one with a token (pool "ps"); one backend httpd dials both (PTTHConnect
# tcp://... and https://...), so the same vhosts, the same files and the
# same processes serve both paths.  Loads, alternating between the paths:
#   - small GETs: h2load --h1 (N requests, C connections) to /pp/ and /ps/;
#   - a 64 MiB GET with curl, timed (size checked).
# It prints every measurement and the ratios TLS/plain (req/s, and bytes/s
# of the big GET) with their range over the rounds, and the CPU time the
# backend's and the router's processes used per unit of work on each path
# (steadier than rates when other work shares the machine; on an idle
# machine, where the servers are CPU-bound, the rate ratio follows the
# inverse CPU ratio).  Nothing is asserted: the numbers are for reading.
#
# Run it after `make`, as a non-root user (as root, httpd would switch to
# "nobody", which cannot read a private tree); it starts its own servers on
# free loopback ports and stops them at the end.
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib", "$FindBin::Bin/lib";
use Getopt::Long;
use Digest::SHA qw(sha256_hex);
use POSIX ();
BEGIN { $ENV{PTTH_TEST_TMP} //= "$FindBin::Bin/out" }
# Transfers are timed through curl (see bench/lib/PTTH/Bench.pm).
BEGIN { $ENV{PTTH_CURL} //= 1 }
use PTTH::Test;
use PTTH::Bench qw(all_children);
use PTTH::PKI qw(make_pki);

my ($requests, $clients, $rounds, $big_rounds, $mpm, $tunnels) =
    (20000, 32, 4, 5, 'event', 2);
GetOptions('requests=i' => \$requests, 'clients=i' => \$clients,
           'rounds=i' => \$rounds, 'big-rounds=i' => \$big_rounds,
           'mpm=s' => \$mpm, 'tunnels=i' => \$tunnels) or die "bad options\n";

my $pki = make_pki(TMP . '/pki');
my $tok = 'bench-' . sha256_hex(rand());
my $tf = write_file(TMP . '/bench-token', "$tok\n");
chmod 0600, $tf;
my $sport = free_port();

# Production log levels: the test harness logs every exchange at debug.
my %children = all_children($mpm);
my $r = router(mpm => $mpm, %children, pool => 'pp', extra => ['LogLevel warn'],
               pre_proxy => [
                   "PTTHListen 127.0.0.1:$sport cert=$pki->{router_crt}"
                       . " key=$pki->{router_key}",
                   "<PTTHPool ps>",
                   "  PTTHToken sha256:" . sha256_hex($tok),
                   "</PTTHPool>",
               ],
               proxy => ["ProxyPass /pp/ ptth://pp/", "ProxyPass /ps/ ptth://ps/"]);
$r->start or die "router does not start\n";
my $be = backend(mpm => $mpm, %children, tport => $r->{tport}, tunnels => $tunnels,
                extra => ["PTTHConnect https://127.0.0.1:$sport/ps ca=$pki->{ca_crt}"
                              . " name=router.test token_file=$tf",
                          'LogLevel warn']);
$be->start or die "backend does not start\n";
for my $p (qw(/pp/ /ps/)) {
    defined wait_for_tunnel($r, path => $p, timeout => 20)
        or die "no tunnel for $p\n";
}
my $big = 64 << 20;
my (undef, $bigsha) = big_file('bench-64m', $big);
my %failed = (pp => 0, ps => 0);

# CPU seconds (user + system, all threads) used so far by the processes of
# a server instance: on a shared machine the CPU a path costs is steadier
# than its rate.
my $TICKS = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;
sub cpu_of {
    my ($srv) = @_;
    my $t = 0;
    for my $p ($srv->pid, descendants($srv->pid)) {
        my $st = read_file("/proc/$p/stat") // next;
        $st =~ s/^.*\)\s+//s;           # after "pid (comm) "
        my @f = split ' ', $st;
        $t += $f[11] + $f[12];            # utime, stime (fields 14, 15)
    }
    return $t / $TICKS;
}
my %cpu;    # {pool}{backend|router} => seconds, {pool}{n} => units of work
sub measured {
    my ($pool, $what, $code) = @_;
    my ($b0, $r0) = (cpu_of($be), cpu_of($r));
    my $v = $code->();
    $cpu{$what}{$pool}{backend} += cpu_of($be) - $b0;
    $cpu{$what}{$pool}{router} += cpu_of($r) - $r0;
    return $v;
}

sub small {
    my ($pool) = @_;
    my $res = h2load({ limit => 600 }, '--h1', '-n', $requests, '-c', $clients,
                     '-H', ':authority: a.example',
                     "http://127.0.0.1:$r->{port}/$pool/");
    die "h2load failed: $res->{out}\n" unless $res->{seconds} && $res->{succeeded};
    # A client connection that fails (seen on an overloaded machine, before
    # any request reached the router) ends that client's share: the rate
    # of the requests that succeeded still counts, and the failures show.
    $failed{$pool} += $res->{failed};
    return $res->{succeeded} / $res->{seconds};
}

sub bigget {
    my ($pool) = @_;
    my $res = http(port => $r->{port}, host => 'a.example', discard => 1,
                   max_time => 120, path => "/$pool/big/bench-64m");
    die "64 MiB GET on /$pool/: status $res->{status}, $res->{downloaded} bytes\n"
        unless $res->{status} == 200 && $res->{downloaded} == $big;
    return $res->{time};
}

sub range {
    my @v = sort { $a <=> $b } @_;
    my $med = @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
    return ($v[0], $med, $v[-1]);
}

# Warm both paths (TLS session, h2 workers, page cache).
small($_) for qw(pp ps);
bigget($_) for qw(pp ps);

print "small GETs: h2load --h1 -n $requests -c $clients, alternating\n";
my (@rps_ratio, %rps);
for my $round (1 .. $rounds) {
    # Alternate which path goes first.
    my @order = $round % 2 ? qw(pp ps) : qw(ps pp);
    my %x;
    $x{$_} = measured($_, 'small', sub { small($_) }) for @order;
    push @{ $rps{$_} }, $x{$_} for keys %x;
    push @rps_ratio, $x{ps} / $x{pp};
    printf "  round %d: plain %7.0f req/s   TLS %7.0f req/s   TLS/plain %.2f\n",
           $round, $x{pp}, $x{ps}, $x{ps} / $x{pp};
}
print "64 MiB GET (curl), alternating\n";
my (@big_ratio, %secs);
for my $round (1 .. $big_rounds) {
    my @order = $round % 2 ? qw(pp ps) : qw(ps pp);
    my %t;
    $t{$_} = measured($_, 'big', sub { bigget($_) }) for @order;
    push @{ $secs{$_} }, $t{$_} for keys %t;
    # Throughput ratio: time plain / time TLS.
    push @big_ratio, $t{pp} / $t{ps};
    printf "  round %d: plain %.3f s   TLS %.3f s   TLS/plain (bytes/s) %.2f\n",
           $round, $t{pp}, $t{ps}, $t{pp} / $t{ps};
}

printf "\n%-28s %8s %8s %8s\n", '', 'min', 'median', 'max';
printf "%-28s %8.0f %8.0f %8.0f\n", "plain small GET req/s", range(@{ $rps{pp} });
printf "%-28s %8.0f %8.0f %8.0f\n", "TLS small GET req/s", range(@{ $rps{ps} });
printf "%-28s %8.2f %8.2f %8.2f\n", "ratio TLS/plain req/s", range(@rps_ratio);
printf "%-28s %8.3f %8.3f %8.3f\n", "plain 64 MiB GET s", range(@{ $secs{pp} });
printf "%-28s %8.3f %8.3f %8.3f\n", "TLS 64 MiB GET s", range(@{ $secs{ps} });
printf "%-28s %8.2f %8.2f %8.2f\n", "ratio TLS/plain bytes/s", range(@big_ratio);
print "\nCPU used (user + system, all processes of each server), per unit of work:\n";
printf "%-28s %10s %10s %10s\n", '', 'backend', 'router', 'both';
for my $w (['small', 'ms per 1000 small GETs', $rounds * $requests / 1000],
           ['big', 'ms per 64 MiB GET', $big_rounds]) {
    my ($what, $unit, $n) = @$w;
    for my $pool (qw(pp ps)) {
        my $c = $cpu{$what}{$pool};
        printf "%-28s %10.0f %10.0f %10.0f\n", ($pool eq 'pp' ? 'plain' : 'TLS') . ", $unit",
               1000 * $c->{backend} / $n, 1000 * $c->{router} / $n,
               1000 * ($c->{backend} + $c->{router}) / $n;
    }
    my ($p, $t) = map { $cpu{$what}{$_}{backend} + $cpu{$what}{$_}{router} } qw(pp ps);
    printf "%-28s %10.2f %10.2f %10.2f\n", "ratio plain/TLS ($what)",
           $cpu{$what}{pp}{backend} / ($cpu{$what}{ps}{backend} || 1e-9),
           $cpu{$what}{pp}{router} / ($cpu{$what}{ps}{router} || 1e-9), $p / ($t || 1e-9);
}
printf "failed small GETs: plain %d, TLS %d\n", $failed{pp}, $failed{ps}
    if $failed{pp} || $failed{ps};
printf "(router and backend MPM %s, %d tunnel(s) per path, %d CPUs, %s)\n",
       $mpm, $tunnels, `nproc` + 0, `openssl version` =~ s/\s+$//r;
$r->stop;
$be->stop;
