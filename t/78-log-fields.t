# Per-request log fields (docs/mod_ptth_router.md and
# docs/mod_ptth_backend.md, "Logging"): with the LogFormat the manual
# gives, each access log line says which pool, tunnel and backend served
# the request and in how many attempts (router), and over which
# PTTHConnect and tunnel it came (backend):
#  - two backends with their own identity and host: every line names the
#    right one, with the tunnel id the status reports for it;
#  - a request refused by one tunnel (REFUSED_STREAM) and served by the
#    next: attempts=2, and the tunnel that answered.
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use PTTH::JSON;
use Digest::SHA qw(sha256_hex);
use PTTH::Test qw(:DEFAULT wait_pool_tunnels);

# As in the manual.
my $ROUTER_FMT = '"%h %l %u %t \"%r\" %>s %b pool=%{PTTH_POOL}e tunnel=%{PTTH_TUNNEL}e '
               . 'backend=%{PTTH_BACKEND}e attempts=%{PTTH_ATTEMPTS}e" ptth_router';
my $BACKEND_FMT = '"%h %l %u %t \"%r\" %>s %b router=%{PTTH_ROUTER}e tunnel=%{PTTH_TUNNEL}e" '
                . 'ptth_backend';
my @BACKEND_LOG = ("LogFormat $BACKEND_FMT", "CustomLog logs/ptth_log ptth_backend");

my $tok = 'T-' . sha256_hex(rand());
my $ftok = write_file(TMP . '/tok', "$tok\n", 0600);
my ($sport, $eport) = (free_port(), free_port());
my $r = router(wait_timeout => '1s', modules => ['authz_host'], pre_proxy => [
    "PTTHListen 127.0.0.1:$sport",
    "PTTHListen 127.0.0.1:$eport plain=empty",
    "<PTTHPool sites>",
    "  PTTHToken sha256:" . sha256_hex($tok),
    "</PTTHPool>",
    "LogFormat $ROUTER_FMT",
    "CustomLog logs/ptth_log ptth_router",
    "<Location /ptth-status>", "  SetHandler ptth-status", "  Require ip 127.0.0.1",
    "</Location>",
    "ProxyPass /ptth-status !",
], proxy => ["ProxyPass /app/ ptth://app/ connectiontimeout=10",
             "ProxyPass /empty/ ptth://empty/", "ProxyPass / ptth://sites/"]);
$r->start or give_up('router does not start');
my $rlog = "$r->{dir}/logs/ptth_log";

sub site_backend {
    my ($name, $host) = @_;
    my $b = backend(name => $name, tport => 1, extra => [@BACKEND_LOG],
                    connect => "http://127.0.0.1:$sport/sites token_file=$ftok id=$name hosts=$host");
    $b->start or give_up("backend $name does not start");
    return $b;
}
my $b1 = site_backend('one', 'a.example');
my $b2 = site_backend('two', 'b.example');
ok(wait_pool_tunnels($r, 15, sites => 2), 'two backends, one tunnel each')
    or give_up('tunnels missing');

sub status { eval { decode_json(http(port => $r->{port}, path => '/ptth-status?json')->{body}) } || {} }
sub tunnels_of {
    my ($pool) = @_;
    my ($p) = grep { $_->{name} eq $pool } @{ status()->{pools} || [] };
    return @{ $p ? $p->{tunnels} : [] };
}
my %id_of = map { $_->{backend} => $_->{id} } tunnels_of('sites');
ok($id_of{'token#1/one'} && $id_of{'token#1/two'}, 'status: a tunnel for each identity')
    or diag(explain(\%id_of));

# Lines of a log whose request line has $marker, once all are written.
sub lines_with {
    my ($log, $marker, $n) = @_;
    my @l;
    wait_for(15, sub {
        @l = grep { index($_, $marker) >= 0 } split /\n/, (read_file($log) // '');
        return @l >= $n;
    });
    return @l;
}

for my $c (['a.example', 'one', $b1], ['b.example', 'two', $b2]) {
    my ($host, $who, $be) = @$c;
    my $ok = 0;
    $ok += http(port => $r->{port}, host => $host, path => "/?who=$who&i=$_")->{status} == 200
        for 1 .. 3;
    is($ok, 3, "3 requests for $host answered");
    my @l = lines_with($rlog, "who=$who&", 3);
    is(scalar @l, 3, "router: 3 log lines for $host");
    my $want = "pool=sites tunnel=$id_of{\"token#1/$who\"} backend=token#1/$who attempts=1";
    is(scalar(grep { /\Q$want\E$/ } @l), 3, "router: each says '$want'")
        or diag(join "\n", @l);
    my @bl = lines_with("$be->{dir}/logs/ptth_log", "who=$who&", 3);
    my $bwant = "router=http://127.0.0.1:$sport/sites tunnel=0";
    is(scalar(grep { /\Q$bwant\E$/ } @bl), 3, "backend $who: each of its 3 lines says '$bwant'")
        or diag(join "\n", @bl);
}

# ---- a retry: the only tunnel refuses, the next one serves
my $script = ROOT . '/t/bin/refusing-backend.pl';
my $rflog = TMP . '/refuse.log';
spawn('refusing-backend', $rflog, $^X, $script, "--port=$r->{tport}", '--mode=refuse',
      '--bind=127.0.0.2');
ok(wait_for(10, sub { tunnel_count($r->{tport}) == 1 }), 'a refusing backend is the only tunnel of pool app');
my $bg = in_background(sub {
    my $x = http(port => $r->{port}, host => 'a.example', path => '/app/?retried=1', max_time => 15);
    return "$x->{status} $x->{body}";
});
ok(wait_for(10, sub { (read_file($rflog) // '') =~ /^refused stream/m }),
   'it refused the request (REFUSED_STREAM): the request waits for another tunnel');
my $real = backend(name => 'real', tport => $r->{tport}, extra => [@BACKEND_LOG]);
$real->start or give_up('real backend does not start');
is(collect($bg), '200 A', 'the request is served by the backend that joined');
my ($real_t) = grep { $_->{backend} eq '127.0.0.1' } tunnels_of('app');
my @l = lines_with($rlog, 'retried=1', 1);
my $want = 'pool=app tunnel=' . ($real_t ? $real_t->{id} : '?') . ' backend=127.0.0.1 attempts=2';
like($l[0] // '', qr/\Q$want\E$/, "router: the retried request logs '$want'");
my @bl = lines_with("$real->{dir}/logs/ptth_log", 'retried=1', 1);
like($bl[0] // '', qr{ 200 \d+ router=tcp://127\.0\.0\.1:$r->{tport} tunnel=0$},
     'backend: it came over tcp://... seat 0');
stop_spawned();

# A request that never reached a tunnel: the pool, and no tunnel.
my $res = http(port => $r->{port}, host => 'a.example', path => '/empty/?none=1', max_time => 15);
is($res->{status}, 503, 'pool empty has no tunnel: 503');
@l = lines_with($rlog, 'none=1', 1);
like($l[0] // '', qr/ 503 \d+ pool=empty tunnel=- backend=- attempts=-$/,
     'router: the pool is logged, tunnel/backend/attempts are "-"');

finish();
