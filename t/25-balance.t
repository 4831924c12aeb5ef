# Several backends in one pool: concurrent requests are spread over their
# tunnels (least outstanding streams), and when one backend dies its tunnel
# is dropped at once: the others answer every request, without 503s or
# waiting.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use List::Util qw(max);
use PTTH::Test qw(:DEFAULT http_batch);

my $r = router(wait_timeout => '10s');
$r->start or give_up('router does not start');
# Each backend names itself in a response header: which one served a
# request is read off the response, not off access logs (mod_http2 writes
# those lazily).
my $b1 = backend(name => 'backend-1', tport => $r->{tport}, tunnels => 1,
                 vhost_extra => 'Header always set X-Served-By backend-1');
my $b2 = backend(name => 'backend-2', tport => $r->{tport}, tunnels => 1,
                 vhost_extra => 'Header always set X-Served-By backend-2');
$b1->start or give_up('backend 1 does not start');
$b2->start or give_up('backend 2 does not start');
ok(wait_for(30, sub { tunnel_count($r->{tport}) == 2 }), 'two tunnels in pool app');
ok(defined wait_for_tunnel($r), 'requests go through');

my @res = http_batch(port => $r->{port}, host => 'a.example', max_time => 30, want => ['X-Served-By'],
                     paths => [map { "/cgi-bin/sleep.cgi?s=1&spread=$_" } 1 .. 20]);
is(scalar(grep { $_->{status} == 200 } @res), 20, '20 parallel requests: all 200');
my %by;
$by{ $_->{headers}{'x-served-by'} || 'none' }++ for @res;
my ($n1, $n2) = map { $by{$_} // 0 } qw(backend-1 backend-2);
is($n1 + $n2, 20, 'each response names the backend that served it');
cmp_ok($n1, '>=', 5, "backend 1 served $n1 of them (>= 5)");
cmp_ok($n2, '>=', 5, "backend 2 served $n2 of them (>= 5)");

ok($b1->kill9, 'backend 1 killed with SIGKILL');
my (@st, @times, %after);
for my $i (1 .. 10) {
    my $x = http(port => $r->{port}, host => 'b.example', path => "/?after=$i", max_time => 20);
    push @st, $x->{status};
    push @times, $x->{time};
    $after{ $x->{headers}{'x-served-by'} // 'none' }++;
}
is(scalar(grep { $_ == 200 } @st), 10, 'after the kill: 10 requests all 200 (backend 2)')
    or diag("@st");
# A request parked on the dead tunnel would wait up to PTTHWaitTimeout (10 s).
cmp_ok(max(@times), '<', 5, sprintf('... each at once (slowest %.2f s; no waiting on the dead tunnel)',
                                    max(@times)));
is($after{'backend-2'}, 10, 'backend 2 served all 10');

finish();
