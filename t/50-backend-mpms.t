# The backend works under each MPM (event, worker, prefork): vhost
# selection, 20 parallel 1 s requests, and a clean stop.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use PTTH::Test;

my $r = router();
$r->start or give_up('router does not start');

my %extra = (
    # prefork's default of 4 mod_http2 workers would serialise the test.
    prefork => ['H2MinWorkers 4', 'H2MaxWorkers 25'],
);
for my $mpm (qw(event worker prefork)) {
    my $b = backend(name => "backend-$mpm", mpm => $mpm, tport => $r->{tport},
                    extra => $extra{$mpm});
    unless ($b->start) { fail("$mpm backend starts"); next }
    unless (defined wait_for_tunnel($r, timeout => 20)) {
        fail("$mpm backend: tunnel up");
        $b->stop;
        next;
    }
    pass("$mpm backend: tunnel up");
    for my $c (['a.example', 'A'], ['b.example', 'B'], ['other.example', 'DEFAULT']) {
        my $res = http(port => $r->{port}, host => $c->[0]);
        ok($res->{status} == 200 && $res->{body} eq $c->[1],
           "$mpm backend: Host $c->[0] -> '$c->[1]'")
            or diag("got $res->{status} '$res->{body}' $res->{err}");
    }
    my $t0 = time;
    my @res = http_parallel(map { { port => $r->{port}, host => 'b.example',
                                    path => "/cgi-bin/sleep.cgi?s=1&i=$_",
                                    max_time => 30 } } 1 .. 20);
    my $wall = time - $t0;
    is(scalar(grep { $_->{status} == 200 && $_->{body} eq "slept\n" } @res), 20,
       "$mpm backend: 20 parallel sleep(1 s) all 200");
    cmp_ok($wall, '<', 10, sprintf("$mpm backend: 20 x 1 s in %.2f s (< 10 s)", $wall));

    my $err = $b->stop;
    ok(!$err, sprintf("$mpm backend: stops cleanly (%.1f s)", $b->{stop_time} // -1))
        or diag($err);
    cmp_ok($b->{stop_time} // 99, '<', 15, "$mpm backend: stop takes < 15 s");
    # Tunnel gone: the router answers 503 after its wait time, quickly.
    my $res = http(port => $r->{port}, host => 'a.example', max_time => 10);
    is($res->{status}, 503, "$mpm backend stopped: router answers 503");
}

finish();
