# Graceful restart of the backend (apache2 -k graceful) under each MPM:
# 3 requests in flight all complete with 200, requests sent during the
# drain are answered once the new generation has dialed in (the router
# waits for a tunnel), and the service stays up afterwards.  The requests
# in flight are CGIs that wait until the test releases them
# (t/cgi-bin/wait.cgi): after the graceful restart, once the requests sent
# during the drain have been answered by the new generation.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use PTTH::Test qw(:DEFAULT cgi_group cgi_arrived cgi_running cgi_release http_batch);

my $r = router(wait_timeout => '30s');
$r->start or give_up('router does not start');

my %extra = (prefork => ['H2MinWorkers 4', 'H2MaxWorkers 25']);
for my $mpm (qw(event worker prefork)) {
    my $b = backend(name => "backend-$mpm", mpm => $mpm, tport => $r->{tport},
                    extra => $extra{$mpm});
    unless ($b->start && defined wait_for_tunnel($r)) {
        fail("$mpm backend: up with a tunnel");
        $b->stop;
        next;
    }
    my $pid_before = $b->pid;
    my $g = cgi_group($mpm);
    my @bg = map {
        my $i = $_;
        in_background(sub {
            my $res = http(port => $r->{port}, host => 'a.example',
                           path => "/cgi-bin/wait.cgi?g=$g&t=40&i=$i", max_time => 60);
            return "$res->{status} $res->{body}";
        })
    } 1 .. 3;
    # Wait until all 3 run as CGIs at the backend.
    ok(wait_for(20, sub { cgi_arrived($g) >= 3 }), "$mpm: 3 requests in flight at the backend");
    my $t0 = time;
    ok($b->graceful, "$mpm: apache2 -k graceful");
    # Requests sent during the drain.
    my @during = map {
        my $i = $_;
        in_background(sub {
            my $res = http(port => $r->{port}, host => 'b.example',
                           path => "/?during=$i", max_time => 60);
            return "$res->{status} $res->{body}";
        })
    } 1 .. 4;
    my @dst = map { collect($_) } @during;
    is(scalar(grep { $_ eq '200 B' } @dst), 4,
       "$mpm: 4 requests sent during the drain got 200")
        or diag(join ' | ', @dst);
    is(cgi_running($g), 3, "$mpm: the 3 requests were still in flight meanwhile");
    cgi_release($g);
    my @st = map { collect($_) } @bg;
    is(scalar(grep { /^200 ok 3\n$/ } @st), 3,
       "$mpm: the 3 in-flight requests completed with 200 once released")
        or diag(join ' | ', @st);
    is($b->pid, $pid_before, "$mpm: same parent after graceful");
    my $t = wait_for_tunnel($r, host => 'b.example', expect => 'B', timeout => 15);
    ok(defined $t, "$mpm: service up after the graceful restart");
    my @res = http_batch(port => $r->{port}, host => 'a.example',
                         paths => [map { "/?after=$_" } 1 .. 10]);
    is(scalar(grep { $_->{status} == 200 && $_->{body} eq 'A' } @res), 10,
       "$mpm: 10 requests after the restart all 200");
    my $err = $b->stop;
    ok(!$err, "$mpm: stops cleanly") or diag($err);
}

finish();
