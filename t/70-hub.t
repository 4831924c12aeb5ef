# The router's hub process: kill -9 of the hub -> the httpd parent starts a
# new one and the backends re-dial, service is back within seconds.  A
# graceful restart of the router keeps the tunnel port open, lets an
# in-flight request finish, and serves requests on the new generation.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use PTTH::Test qw(:DEFAULT cgi_group cgi_arrived cgi_running cgi_release http_batch);

my $r = router(wait_timeout => '20s');
$r->start or give_up('router does not start');
my $b = backend(tport => $r->{tport}, tunnels => 2);
$b->start or give_up('backend does not start');
ok(defined wait_for_tunnel($r), 'tunnel up') or give_up('no tunnel');

my $hub = hub_pid($r);
ok($hub, "hub process found (pid " . ($hub // '?') . ")") or give_up('no hub pid');
ok((grep { $_ == $hub } $r->children), 'the hub is a child of the router parent');

# kill -9 the hub
ok(kill('KILL', $hub), 'hub killed with SIGKILL');
my $t0 = time;
wait_for(20, sub { !alive($hub) });
ok(!alive($hub), 'old hub is gone');
my $t = wait_for_tunnel($r, timeout => 20);
my $back = time - $t0;
ok(defined $t, sprintf('service back after the hub was killed (%.2f s)', $back));
cmp_ok($back, '<', 15, 'service back within 15 s');
my $hub2 = hub_pid($r, exclude => $hub);
ok($hub2 && $hub2 != $hub, "a new hub runs (pid " . ($hub2 // '?') . ")");
ok(alive($r->pid), 'router parent still alive');
my @res = http_batch(port => $r->{port}, host => 'b.example', paths => [map { "/?$_" } 1 .. 10]);
is(scalar(grep { $_->{status} == 200 && $_->{body} eq 'B' } @res), 10,
   '10 parallel requests after the hub restart: all 200');

# Graceful restart of the router with a request in flight: a CGI that
# answers when the test releases it, once the new generation's hub runs.
my $g = cgi_group('graceful');
my $bg = in_background(sub {
    my $res = http(port => $r->{port}, host => 'a.example',
                   path => "/cgi-bin/wait.cgi?g=$g&t=40", max_time => 60);
    return "$res->{status} $res->{body}";
});
ok(wait_for(20, sub { cgi_arrived($g) >= 1 }), 'request in flight at the backend');
my $ppid = $r->pid;
ok($r->graceful, 'router: apache2 -k graceful');
# Through the whole restart -- until the old hub has drained the request
# in flight and exited -- the tunnel port is sampled every 50 ms.
my ($samples, $closed, $released, $hub3) = (0, 0, 0);
my $old_gone = wait_for(60, sub {
    $samples++;
    $closed++ unless PTTH::Test::port_listening($r->{tport});
    if (!$released && ($hub3 = hub_pid($r, exclude => $hub2, timeout => 0))) {
        ok(cgi_running($g) == 1, "the new generation's hub runs (pid $hub3) while the request "
                                 . 'is still in flight');
        cgi_release($g);
        $released = 1;
    }
    return $released && !alive($hub2);
}, 0.05);
ok($old_gone, 'old hub exits after draining');
is($closed, 0, "tunnel port stays open across the graceful restart ($samples samples)");
is(collect($bg), "200 ok 1\n", 'in-flight request finished with 200 across the router graceful restart');
is($r->pid, $ppid, 'same router parent');
$t = wait_for_tunnel($r, host => 'b.example', expect => 'B', timeout => 20);
ok(defined $t, 'service up after the router graceful restart');
$hub3 = hub_pid($r, exclude => $hub2);
ok($hub3 && $hub3 != $hub2, 'new generation has a new hub');
@res = http_batch(port => $r->{port}, host => 'a.example', paths => [map { "/?$_" } 1 .. 10]);
is(scalar(grep { $_->{status} == 200 && $_->{body} eq 'A' } @res), 10,
   '10 parallel requests on the new generation: all 200');

finish();
