#!/usr/bin/perl
# Backend memory over many requests on long-lived tunnels, without and with
# tunnel recycling (PTTHTunnelMaxRequests), measured in the same run.
#
#   perl bench/recycle-memory.pl [--requests N] [--recycle M] [--clients C]
#
# For each setting (0 = never recycle, then M) it starts a router and a
# backend with one tunnel, sends a warm-up load, reads the resident memory
# of all the backend's processes, sends N small requests through the
# tunnel with h2load, and reads it again.  It prints the growth per
# request for both settings and their ratio.  Nothing is asserted: the
# numbers are for reading.  Run as a non-root user after `make`.
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Getopt::Long;
BEGIN { $ENV{PTTH_TEST_TMP} //= "$FindBin::Bin/out" }
use PTTH::Test;

my ($requests, $recycle, $clients) = (200000, 20000, 20);
GetOptions('requests=i' => \$requests, 'recycle=i' => \$recycle,
           'clients=i' => \$clients) or die "bad options\n";

sub backend_kb {
    my ($b) = @_;
    my $kb = 0;
    $kb += PTTH::Test::proc_kb($_, 'VmRSS') // 0 for ($b->pid, descendants($b->pid));
    return $kb;
}

sub load {
    my ($r, $n) = @_;
    my $res = h2load({ limit => 900 }, '--h1', '-n', $n, '-c', $clients,
                     '-H', ':authority: a.example', "http://127.0.0.1:$r->{port}/");
    die "h2load failed: $res->{out}\n" unless $res->{seconds};
    return $res;
}

my %growth;
printf "%-22s %12s %12s %12s %10s\n", 'PTTHTunnelMaxRequests', 'RSS before', 'RSS after',
       'bytes/req', 'not 2xx';
for my $max (0, $recycle) {
    my $r = router(extra => ['LogLevel warn', "PTTHTunnelMaxRequests $max"],
                   wait_timeout => '10s');
    $r->start or die "router does not start\n";
    my $b = backend(tport => $r->{tport}, tunnels => 1, extra => ['LogLevel warn']);
    $b->start or die "backend does not start\n";
    defined wait_for_tunnel($r, timeout => 20) or die "no tunnel\n";
    load($r, 5000);
    sleep 1;
    my $before = backend_kb($b);
    my $res = load($r, $requests);
    sleep 1;
    my $after = backend_kb($b);
    $growth{$max} = ($after - $before) * 1024 / $requests;
    printf "%-22s %9d kB %9d kB %12.1f %10d\n", $max || 'never (0)', $before, $after,
           $growth{$max}, $res->{total} - $res->{s2xx};
    $r->stop;
    $b->stop;
}
printf "growth per request, recycling every %d / never: %s\n", $recycle,
       $growth{0} > 0 ? sprintf('%.2f', $growth{$recycle} / $growth{0}) : 'n/a (no growth without recycling)';
printf "(%d requests, %d clients, 1 tunnel, backend MPM event, %d CPUs)\n",
       $requests, $clients, `nproc` + 0;
