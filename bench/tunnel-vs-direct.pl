#!/usr/bin/perl
# Requests/s and throughput through a ptth tunnel, against mod_proxy_http to
# the same backend httpd, measured in the same run on the same machine.
#
#   perl bench/tunnel-vs-direct.pl [--requests N] [--clients C] [--mpm event]
#
# One router httpd proxies /direct/ with mod_proxy_http straight to the
# backend's Listen port and everything else with ptth:// through the tunnel
# the backend dialed.  h2load (HTTP/1.1 to the router, as most users reach
# a reverse proxy) runs the same load against both paths, alternating, and
# the script prints each result and the ratio tunnel/direct.  Nothing here
# is asserted: the numbers are for reading.
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib", "$FindBin::Bin/lib";
use Getopt::Long;
use Time::HiRes qw(time);
BEGIN { $ENV{PTTH_TEST_TMP} //= "$FindBin::Bin/out" }
use PTTH::Test;
use PTTH::Bench qw(all_children);

my ($requests, $clients, $mpm, $rounds) = (20000, 20, 'event', 3);
GetOptions('requests=i' => \$requests, 'clients=i' => \$clients,
           'mpm=s' => \$mpm, 'rounds=i' => \$rounds) or die "bad options\n";

my $bport = free_port();
# Production log levels: the test harness logs every exchange at debug.
my %children = all_children($mpm);
my $r = router(mpm => $mpm, %children, modules => ['proxy_http'], extra => ['LogLevel warn'],
               proxy => ["ProxyPass /direct/ http://127.0.0.1:$bport/",
                         "ProxyPass / ptth://app/"]);
$r->start or die "router does not start\n";
my $b = backend(mpm => $mpm, %children, tport => $r->{tport}, port => $bport, tunnels => 2,
                extra => ['LogLevel warn']);
$b->start or die "backend does not start\n";
defined wait_for_tunnel($r, timeout => 20) or die "no tunnel\n";
my (undef, undef) = big_file('bench-1m', 1024 * 1024);

sub load {
    my ($path, $n) = @_;
    my $res = h2load({ limit => 600 }, '--h1', '-n', $n, '-c', $clients,
                     '-H', ':authority: a.example',
                     "http://127.0.0.1:$r->{port}$path");
    die "h2load failed: $res->{out}\n" unless $res->{seconds};
    return $res;
}

my @cases = (['small static file', '/', $requests],
             ['1 MiB static file', '/big/bench-1m', int($requests / 20) || 1]);
printf "%-20s %-8s %12s %12s %8s\n", 'case', 'path', 'req/s', 'MB/s', 'failed';
for my $case (@cases) {
    my ($label, $path, $n) = @$case;
    my (%sum);
    for my $round (1 .. $rounds) {
        for my $via (qw(tunnel direct)) {
            my $p = $via eq 'direct' ? "/direct$path" : $path;
            my $res = load($p, $n);
            my $rps = $res->{succeeded} / $res->{seconds};
            $sum{$via}{rps} += $rps;
            $sum{$via}{failed} += $res->{failed} + $res->{errored};
            my ($mb) = $res->{out} =~ /finished in [\d.]+m?s, [\d.]+ req\/s, ([\d.]+)([KMG]?B)\/s/;
            my $unit = $2 // 'B';
            $mb //= 0;
            $mb = $unit eq 'GB' ? $mb * 1024 : $unit eq 'KB' ? $mb / 1024
                : $unit eq 'B' ? $mb / 1048576 : $mb;
            $sum{$via}{mbs} += $mb;
        }
    }
    for my $via (qw(tunnel direct)) {
        printf "%-20s %-8s %12.0f %12.1f %8d\n", $label, $via,
               $sum{$via}{rps} / $rounds, $sum{$via}{mbs} / $rounds,
               $sum{$via}{failed};
    }
    printf "%-20s ratio tunnel/direct req/s: %.2f\n", $label,
           $sum{tunnel}{rps} / $sum{direct}{rps};
}
printf "(%d rounds, %d clients, router and backend MPM %s, %d CPUs)\n",
       $rounds, $clients, $mpm, `nproc` + 0;
$r->stop;
$b->stop;
