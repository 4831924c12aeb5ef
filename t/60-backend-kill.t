# kill -9 of the backend: requests fail fast (503 after PTTHWaitTimeout,
# 502 for a request in flight) instead of hanging, and succeed again as
# soon as a new backend dials in.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use PTTH::Test qw(:DEFAULT cgi_group cgi_arrived http_batch);

my $r = router(wait_timeout => '1s');
$r->start or give_up('router does not start');
my $b = backend(tport => $r->{tport});
$b->start or give_up('backend does not start');
ok(defined wait_for_tunnel($r), 'tunnel up') or give_up('no tunnel');

# A request in flight when the backend dies: a CGI that waits (up to
# 30 s) for a release that never comes.
my $g = cgi_group('inflight');
my $bg = in_background(sub {
    my $res = http(port => $r->{port}, host => 'a.example',
                   path => "/cgi-bin/wait.cgi?g=$g&t=30", max_time => 40);
    return "$res->{status} $res->{wall}";
});
my $running = wait_for(20, sub { cgi_arrived($g) >= 1 });
ok($running, 'the in-flight request reached the backend CGI');
my $t_kill = time;
ok($b->kill9, 'backend killed with SIGKILL (parent and children)');
my ($st, $wall) = split ' ', collect($bg);
my $after_kill = time - $t_kill;
ok($st == 502 || $st == 503 || $st == 504, "in-flight request: 5xx ($st)");
is($st, 502, 'in-flight request: 502 (it had reached the backend)');
# Not when the CGI gives up (30 s), nor at curl's 40 s limit.
cmp_ok($after_kill, '<', 5, sprintf('in-flight request ended %.2f s after the kill (< 5 s)',
                                    $after_kill));

# New requests: 503 after PTTHWaitTimeout (1 s), not a hang (curl's
# limit is 20 s).
for my $i (1 .. 3) {
    my $res = http(port => $r->{port}, host => 'a.example', max_time => 20);
    is($res->{status}, 503, "no backend, request $i: 503");
    cmp_ok($res->{time}, '<', 5, sprintf("no backend, request $i: answered in %.2f s (< 5 s)",
                                        $res->{time}));
}
# Several at once, too.
my @res = http_batch(port => $r->{port}, host => 'b.example', max_time => 20,
                     paths => [map { "/?p=$_" } 1 .. 5]);
is(scalar(grep { $_->{status} == 503 && $_->{time} < 5 } @res), 5,
   'no backend: 5 parallel requests all 503 in < 5 s')
    or diag(join ', ', map { "$_->{status} $_->{time}" } @res);

# A new backend dials in: service is back.
my $b2 = backend(tport => $r->{tport});
$b2->start or give_up('second backend does not start');
my $t = wait_for_tunnel($r, timeout => 15);
ok(defined $t, sprintf('new backend: requests succeed again (after %.2f s)', $t // -1));
my $res = http(port => $r->{port}, host => 'b.example');
ok($res->{status} == 200 && $res->{body} eq 'B', 'new backend: b.example -> B');

# A request that waits for a tunnel gets one: start it before the backend.
$b2->kill9;
my $r2 = router(wait_timeout => '60s', tport => undef, status => 1);
$r2->start or give_up('router 2 does not start');
my $bg2 = in_background(sub {
    my $res = http(port => $r2->{port}, host => 'a.example', max_time => 90);
    return "$res->{status} $res->{time} $res->{body}";
});
ok(wait_for(30, sub { my $st = PTTH::Test::ptth_status($r2) or return 0;
                     my ($app) = grep { $_->{name} eq 'app' } @{ $st->{pools} || [] };
                     return $app && $app->{waiting} >= 1 }),
   'the request waits in router 2, which has no tunnel yet');
my $b3 = backend(tport => $r2->{tport});
$b3->start or give_up('third backend does not start');
my ($st2, $t2, $body2) = split ' ', collect($bg2);
is($st2, 200, 'a request that arrived before any tunnel waits and gets 200');
is($body2, 'A', '... with the body of a.example');

finish();
