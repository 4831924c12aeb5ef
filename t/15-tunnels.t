# The number of tunnels is configuration (PTTHTunnels, whose default
# depends on the stream path), not an accident of the backend's child count; a lost tunnel is replaced; a backend started
# before its router, or whose router restarts, dials (again) by itself.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use PTTH::Test qw(:DEFAULT wait_log);

sub settle {   # wait until the count is $n, then check it stays $n for 1 s
    my ($tport, $n, $timeout) = @_;
    wait_for($timeout // 30, sub { tunnel_count($tport) == $n }) or return 0;
    my $t0 = time;
    while (time - $t0 < 1) {
        return 0 if tunnel_count($tport) != $n;
        sleep 0.1;
    }
    return 1;
}

my $r = router();
$r->start or give_up('router does not start');

for my $c (['event', 3, 1], ['prefork', 1, 3], ['worker', 2, 3]) {
    my ($mpm, $n, $children) = @$c;
    my %mc = $mpm eq 'prefork'
        ? (StartServers => $children, MinSpareServers => $children, MaxSpareServers => 10)
        : (StartServers => $children, MinSpareThreads => 25 * $children, MaxSpareThreads => 200);
    my $b = backend(name => "backend-$mpm", mpm => $mpm, tport => $r->{tport},
                    tunnels => $n, mpm_conf => \%mc);
    unless ($b->start) { fail("$mpm backend starts"); next }
    ok(settle($r->{tport}, $n), "$mpm backend with $children child(ren), PTTHTunnels $n: "
       . "exactly $n tunnel(s) (" . tunnel_count($r->{tport}) . ")");
    ok(defined wait_for_tunnel($r), "$mpm: requests go through");
    $b->stop;
    ok(wait_for(30, sub { tunnel_count($r->{tport}) == 0 }), "$mpm backend stopped: no tunnel left");
}

# Without PTTHTunnels: 2 tunnels when the module's own HTTP/2 session
# serves the streams, 8 when mod_http2 does (docs/mod_ptth_backend.md,
# PTTHTunnels).
for my $c (['ptth', 2], ['http2', 8]) {
    my ($path, $n) = @$c;
    my $b = backend(name => "backend-default-$path", tport => $r->{tport},
                    tunnels => undef, stream_path => $path);
    unless ($b->start) { fail("backend with PTTHStreamPath $path starts"); next }
    ok(settle($r->{tport}, $n), "no PTTHTunnels, PTTHStreamPath $path: $n tunnels ("
       . tunnel_count($r->{tport}) . ")");
    $b->stop;
    ok(wait_for(30, sub { tunnel_count($r->{tport}) == 0 }), "$path backend stopped: no tunnel left");
}

# A lost tunnel is replaced: kill the backend child that holds one.
{
    my $b = backend(name => 'backend-replace', mpm => 'prefork', tport => $r->{tport},
                    tunnels => 2, mpm_conf => { StartServers => 3, MinSpareServers => 3 });
    $b->start or give_up('backend does not start');
    ok(settle($r->{tport}, 2), 'PTTHTunnels 2: two tunnels');
    my $victim = PTTH::Test::tunnel_holder_peer($r->{tport}, [$b->children]);
    ok($victim, "found a backend child holding a tunnel (pid " . ($victim // '?') . ")");
    my $roff = -s $r->{errlog} || 0;
    kill 'KILL', $victim if $victim;
    my $t0 = time;
    ok(wait_for(20, sub { !alive($victim) }), 'that child is gone');
    # The backend may re-dial before a poll of the count would see it drop:
    # the router's log says that a tunnel left.
    ok(wait_log($r, qr/left pool app/, from => $roff, timeout => 20),
       'the router lost its tunnel(s)');
    my $again = settle($r->{tport}, 2, 30);
    ok($again, sprintf('two tunnels again after %.1f s', time - $t0));
    ok(defined wait_for_tunnel($r), 'requests go through');
    $b->stop;
}

# Backend first, router later; then the router restarts.
{
    my $tport = free_port();
    my $b = backend(name => 'backend-early', tport => $tport, tunnels => 1);
    $b->start or give_up('backend does not start');
    # It dials a closed port now (PTTHReconnect 100ms 2s) and says so.
    ok(wait_log($b, qr/cannot connect/), 'backend started before its router: its dial fails');
    my $r2 = router(name => 'router-late', tport => $tport);
    $r2->start or give_up('late router does not start');
    my $t = wait_for_tunnel($r2, timeout => 15);
    ok(defined $t, sprintf('backend started before the router: tunnel after %.1f s', $t // -1));
    cmp_ok($t // 99, '<', 8, '... within 8 s (backoff max 2 s; the wait was 15 s)');
    $r2->stop;
    my $r3 = router(name => 'router-again', tport => $tport, port => $r2->{port});
    $r3->start or give_up('restarted router does not start');
    $t = wait_for_tunnel($r3, timeout => 15);
    ok(defined $t, sprintf('router stopped and started again: tunnel after %.1f s', $t // -1));
    cmp_ok($t // 99, '<', 8, '... within 8 s (backoff max 2 s)');
    my $res = http(port => $r3->{port}, host => 'b.example');
    is($res->{body}, 'B', 'b.example through the new router');
}

finish();
