# Tunnel recycling: after PTTHTunnelMaxRequests streams the hub gives a
# tunnel no more, lets those in flight finish, sends GOAWAY and closes it;
# the backend re-dials.  No request fails or is retried on the way (the
# tunnel is empty when it closes), with one tunnel (requests wait in the
# pool's queue for the new one) and with two (one recycles at a time, the
# other serves).  mod_http2 keeps a little memory per stream for the
# session's life (backend spike: ~65 bytes), hence the recycling.
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use PTTH::Test qw(:DEFAULT http_batch);

for my $tunnels (1, 2) {
    my $r = router(wait_timeout => '30s', pre_proxy => 'PTTHTunnelMaxRequests 40');
    $r->start or give_up('router does not start');
    my $b = backend(tport => $r->{tport}, tunnels => $tunnels);
    $b->start or give_up('backend does not start');
    ok(defined wait_for_tunnel($r), "$tunnels tunnel(s): up") or give_up('no tunnel');
    ok(wait_for(30, sub { tunnel_count($r->{tport}) == $tunnels }),
       "$tunnels tunnel(s) connected");
    my $off = length(read_file($r->{errlog}) // '');

    my (@bad, $n, $slowest);
    $slowest = 0;
    for my $round (1 .. 10) {
        # 20 at once, from one curl process (--parallel).
        my @res = http_batch(port => $r->{port}, host => 'a.example', max_time => 40,
                             paths => [map { "/?t=$tunnels&r=$round&i=$_" } 1 .. 20]);
        for my $x (@res) {
            $n++;
            push @bad, "$x->{status}" unless $x->{status} == 200 && $x->{body} eq 'A';
            $slowest = $x->{time} if $x->{time} > $slowest;
        }
    }
    is(scalar @bad, 0, "$tunnels tunnel(s): $n requests across recycling, all 200 'A'")
        or diag("@bad");
    diag(sprintf("$tunnels tunnel(s): slowest request %.3f s", $slowest));
    my $log = log_since($r->{errlog}, $off);
    my $recycled = () = $log =~ /recycling after \d+ streams/g;
    cmp_ok($recycled, '>=', 3, "$tunnels tunnel(s): tunnels recycled ($recycled times)");
    my $joined = () = $log =~ /joined pool app/g;
    cmp_ok($joined, '>=', 3, "$tunnels tunnel(s): the backend re-dialed ($joined new tunnels)");
    unlike($log, qr/not processed|closed with error/,
           "$tunnels tunnel(s): no stream refused, reset or retried");
    $r->stop;
    $b->stop;
}

finish();
