# Graceful restarts under load lose nothing (docs/architecture.md,
# "Graceful restart"): 16 users keep requesting through the tunnel (each
# waits 50 ms after an answer, so that the load leaves the cores to the
# other test files running beside it; a few requests are still in flight
# at any moment) while
# the router restarts gracefully 4 times and the backend twice; every
# response is a 200 with the right body.  A normal restart leaves no
# warning in the router's log (no "long lost child" for the old hub).
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use PTTH::Test;

# Four graceful restarts in 6 s leave children of older generations
# finishing their requests: room in the scoreboard for them (with the
# harness's ServerLimit 4, event said "AH03490: scoreboard is full, not at
# MaxRequestWorkers" under a load average of 15).
my $r = router(wait_timeout => '5s', extra => ['PTTHDrainTimeout 10s'],
               mpm_conf => { ServerLimit => 16 });
$r->start or give_up('router does not start');
my $b = backend(tport => $r->{tport}, tunnels => 2, reconnect => '50ms 1s');
$b->start or give_up('backend does not start');
ok(defined wait_for_tunnel($r), 'tunnel up') or give_up('no tunnel');

# The load outlasts the last restart by 2 s; router restarts are 1.5-2 s
# apart, each backend restart between two of them.
my $secs = 8.5;
my $load = in_background(sub {
    return scalar `perl ${\ ROOT}/t/bin/loadclient.pl --port $r->{port} --host a.example --path / --expect A --workers 16 --pause 50 --seconds $secs 2>&1`;
});
my $t0 = time;
my @events = ([1, 'router'], [2.5, 'router'], [3.5, 'backend'], [4.5, 'router'],
              [5.5, 'backend'], [6.5, 'router']);
my $restarts = 0;
for my $e (@events) {
    my ($at, $who) = @$e;
    sleep($at - (time - $t0)) if $at > time - $t0;
    $restarts++ if ($who eq 'router' ? $r : $b)->graceful;
}
is($restarts, scalar(@events), 'graceful restarts done (4 router, 2 backend)');
my $out = collect($load);
my ($total, $good, $failed) = $out =~ /total=(\d+) ok=(\d+) failed=(\d+)/;
ok(defined $total && $total > 200, "load ran (" . ($total // 0) . " requests)")
    or diag($out);
is($failed, 0, 'no request failed across the restarts') or diag($out);
diag("load: $out");

my $log = $r->errlog_text;
unlike($log, qr/AH00488|long lost child/, 'no "long lost child" warning for old hubs');
my @warn = grep { /:(warn|error|crit|alert|emerg)\]/ && !/AH00558|AH00052|PTTH01538/ }
           split /\n/, $log;
is(scalar(@warn), 0, 'no warning or error in the router log') or diag(join "\n", @warn[0 .. ($#warn < 9 ? $#warn : 9)]);

finish();
