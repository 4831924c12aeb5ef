# The backend works under each MPM (event, worker, prefork): vhost
# selection, 20 parallel requests, at least 6 in flight at once (each
# waits at the backend until 6 have arrived: t/cgi-bin/wait.cgi; 6 is
# where mod_http2 starts a session), and a clean stop.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use PTTH::Test qw(:DEFAULT cgi_group http_batch);

# PTTHWaitTimeout 1s: the 503 once a backend has stopped comes sooner.
my $r = router(wait_timeout => '1s');
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
    my $g = cgi_group($mpm);
    my $t0 = time;
    my @res = http_batch(port => $r->{port}, host => 'b.example', max_time => 60,
                         paths => [map { "/cgi-bin/wait.cgi?g=$g&n=6&t=25&i=$_" } 1 .. 20]);
    my $wall = time - $t0;
    is(scalar(grep { $_->{status} == 200 && $_->{body} =~ /^ok \d+$/ } @res), 20,
       sprintf("$mpm backend: 20 parallel requests, at least 6 in flight at once, all 200 (%.2f s)",
               $wall))
        or diag(join ', ', map { "$_->{status} '$_->{body}'" } @res);

    my $err = $b->stop;
    ok(!$err, sprintf("$mpm backend: stops cleanly (%.1f s)", $b->{stop_time} // -1))
        or diag($err);
    # Not the 30 s of PTTHDrainTimeout: nothing is in flight.
    cmp_ok($b->{stop_time} // 99, '<', 20, "$mpm backend: stop takes < 20 s");
    # Tunnel gone: the router answers 503 after its wait time, quickly.
    my $res = http(port => $r->{port}, host => 'a.example', max_time => 10);
    is($res->{status}, 503, "$mpm backend stopped: router answers 503");
}

finish();
