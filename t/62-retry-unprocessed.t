# Requests that a backend provably never processed are retried on another
# tunnel (RFC 9113 8.7): a backend that answers every stream with
# RST_STREAM(REFUSED_STREAM), or that sends GOAWAY(last-stream-id 0), shares
# pool "app" with a real backend; every user request still gets the real
# backend's answer, bodies included, and the misbehaving tunnel is dropped
# without harm to the router.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use PTTH::Test;

my $r = router();
$r->start or give_up('router does not start');
my $b = backend(tport => $r->{tport}, tunnels => 1);
$b->start or give_up('backend does not start');
ok(defined wait_for_tunnel($r), 'tunnel to the real backend') or give_up('no tunnel');

my $script = ROOT . '/t/bin/refusing-backend.pl';
my $log = TMP . '/refuse.log';
spawn('refusing-backend', $log, $^X, $script, "--port=$r->{tport}", '--mode=refuse');
ok(wait_for(30, sub { tunnel_count($r->{tport}) >= 2 }),
   'the refusing backend joined the pool (2 tunnels)');

my @res = map { http(port => $r->{port}, host => 'a.example', path => "/?n=$_") } 1 .. 20;
is(scalar(grep { $_->{status} == 200 && $_->{body} eq 'A' } @res), 20,
   '20 GETs: all answered by the real backend')
    or diag(join ', ', map { $_->{status} } @res);
my $refused = () = (read_file($log) // '') =~ /^refused stream/mg;
cmp_ok($refused, '>=', 1, "the refusing tunnel got and refused streams ($refused)");

# A fresh refusing tunnel for the POSTs: the first one refused every GET
# and is taken only when nothing else can serve, for longer after each
# refusal (ptth_pool.c); at a load of 20 the GETs were slow enough to make
# that outlast all ten POSTs.
stop_spawned();
ok(wait_for(20, sub { tunnel_count($r->{tport}) == 1 }), 'the refusing tunnel is gone');
my $log1 = TMP . '/refuse-post.log';
spawn('refusing-backend', $log1, $^X, $script, "--port=$r->{tport}", '--mode=refuse');
ok(wait_for(30, sub { tunnel_count($r->{tport}) >= 2 }),
   'a fresh refusing backend joined the pool (2 tunnels)');
my $data = TMP . '/body.bin';
write_file($data, 'x' x 40000);
my $want = sha256_file($data);
@res = map { http(port => $r->{port}, host => 'a.example', method => 'POST',
                  path => '/cgi-bin/sha.cgi', data_file => $data) } 1 .. 10;
is(scalar(grep { $_->{status} == 200 && ($_->{body} // '') =~ /\Q$want\E/ } @res), 10,
   '10 POSTs of 40 kB: replayed whole after a refusal, all reach sha.cgi intact')
    or diag(join ', ', map { "$_->{status} $_->{body}" } @res);
my $refused2 = () = (read_file($log1) // '') =~ /^refused stream/mg;
cmp_ok($refused2, '>=', 1, "some POSTs were refused first and then retried ($refused2)");
stop_spawned();

# GOAWAY with last-stream-id 0: the stream in flight was not processed.
my $log2 = TMP . '/goaway.log';
spawn('goaway-backend', $log2, $^X, $script, "--port=$r->{tport}", '--mode=goaway');
ok(wait_for(30, sub { tunnel_count($r->{tport}) >= 2 }), 'the GOAWAY backend joined');
my $ok = 0;
for my $i (1 .. 6) {
    my $res = http(port => $r->{port}, host => 'b.example', path => "/?g=$i");
    $ok++ if $res->{status} == 200 && $res->{body} eq 'B';
}
is($ok, 6, 'requests around a GOAWAY(0) all answered by the real backend');
like(read_file($log2) // '', qr/refused stream \d+ \(goaway\)/,
     'the GOAWAY backend did get a stream before it went away');
ok(wait_for(20, sub { tunnel_count($r->{tport}) == 1 }), 'its tunnel is gone again');
my $res = http(port => $r->{port}, host => 'a.example', path => '/');
is($res->{body}, 'A', 'router still serves');
stop_spawned();

finish();
