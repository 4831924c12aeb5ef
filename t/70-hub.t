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
use PTTH::Test;

my $r = router(wait_timeout => '5s');
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
wait_for(5, sub { !alive($hub) });
ok(!alive($hub), 'old hub is gone');
my $t = wait_for_tunnel($r, timeout => 20);
my $back = time - $t0;
ok(defined $t, sprintf('service back after the hub was killed (%.2f s)', $back));
cmp_ok($back, '<', 10, 'service back within 10 s');
my $hub2 = hub_pid($r, exclude => $hub);
ok($hub2 && $hub2 != $hub, "a new hub runs (pid " . ($hub2 // '?') . ")");
ok(alive($r->pid), 'router parent still alive');
my @res = http_parallel(map { { port => $r->{port}, host => 'b.example', path => "/?$_" } } 1 .. 10);
is(scalar(grep { $_->{status} == 200 && $_->{body} eq 'B' } @res), 10,
   '10 parallel requests after the hub restart: all 200');

# Graceful restart of the router with a request in flight.
my $bg = in_background(sub {
    my $res = http(port => $r->{port}, host => 'a.example',
                   path => '/cgi-bin/sleep.cgi?s=3', max_time => 30);
    return "$res->{status} $res->{body}";
});
ok(wait_for(5, sub { grep { (read_file("/proc/$_/cmdline") // '') =~ /sleep\.cgi/ } $b->children }),
   'request in flight at the backend');
my $ppid = $r->pid;
ok($r->graceful, 'router: apache2 -k graceful');
my $closed = 0;
my $t1 = time;
while (time - $t1 < 2) {
    $closed++ unless PTTH::Test::port_listening($r->{tport});
    sleep 0.05;
}
is($closed, 0, 'tunnel port stays open across the graceful restart');
is(collect($bg), "200 slept\n", 'in-flight request finished with 200 across the router graceful restart');
is($r->pid, $ppid, 'same router parent');
$t = wait_for_tunnel($r, host => 'b.example', expect => 'B', timeout => 20);
ok(defined $t, 'service up after the router graceful restart');
my $hub3 = hub_pid($r, exclude => $hub2);
ok($hub3 && $hub3 != $hub2, 'new generation has a new hub');
ok(wait_for(40, sub { !alive($hub2) }), 'old hub exits after draining');
@res = http_parallel(map { { port => $r->{port}, host => 'a.example', path => "/?$_" } } 1 .. 10);
is(scalar(grep { $_->{status} == 200 && $_->{body} eq 'A' } @res), 10,
   '10 parallel requests on the new generation: all 200');

finish();
