# Observability: "SetHandler ptth-status" answers from any child with the
# hub's pools and tunnels as JSON: tunnel count, peers, streams served,
# requests waiting; and it follows tunnels coming and going.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use PTTH::JSON;
use PTTH::Test qw(:DEFAULT wait_pool_tunnels);

my $tport2 = free_port();
my $r = router(mpm => 'prefork', mpm_conf => { StartServers => 3, MinSpareServers => 3 },
               pre_proxy => ["PTTHListen 127.0.0.1:$tport2 plain=other",
                             "<Location /ptth-status>",
                             "  SetHandler ptth-status",
                             "</Location>",
                             "ProxyPass /ptth-status !"]);
$r->start or give_up('router does not start');
my $b = backend(tport => $r->{tport}, tunnels => 2);
$b->start or give_up('backend does not start');
ok(defined wait_for_tunnel($r), 'tunnel up') or give_up('no tunnel');
ok(wait_pool_tunnels($r, 30, app => 2), 'two tunnels open in pool app');
http(port => $r->{port}, host => 'a.example', path => "/?i=$_") for 1 .. 10;

sub status {
    my $res = http(port => $r->{port}, path => '/ptth-status');
    return ($res, eval { decode_json($res->{body}) });
}
my ($res, $st) = status();
is($res->{status}, 200, 'ptth-status: 200');
like($res->{headers}{'content-type'} // '', qr{^application/json}, 'JSON content type');
ok($st, 'body is JSON') or diag($res->{body});
my %pools = map { $_->{name} => $_ } @{ $st->{pools} || [] };
is_deeply([sort keys %pools], ['app', 'other'], 'both pools listed');
is(scalar @{ $pools{app}{tunnels} }, 2, 'pool app: 2 tunnels');
is(scalar @{ $pools{other}{tunnels} }, 0, 'pool other: no tunnel');
my $served = 0;
$served += $_->{served} for @{ $pools{app}{tunnels} };
cmp_ok($served, '>=', 10, "pool app: streams served counted ($served)");
cmp_ok($pools{app}{requests}, '>=', 10, 'pool app: requests counted');
like($pools{app}{tunnels}[0]{peer} // '', qr/^127\.0\.0\.1:\d+$/, 'tunnel peer address');
is($pools{app}{tunnels}[0]{state}, 'open', 'tunnel state open');
is($st->{hub}{state}, 'running', 'hub running');

# Every child answers the same (prefork: several processes).
my %pids;
for (1 .. 6) {
    my ($x, $s) = status();
    $pids{$s->{hub}{pid}}++ if $s;
}
is(scalar keys %pids, 1, 'every child reports the one hub');

$res = http(port => $r->{port}, path => '/ptth-status', method => 'POST',
            data_file => '/dev/null');
is($res->{status}, 405, 'POST ptth-status: 405');

$b->stop;
ok(wait_for(30, sub { my (undef, $s) = status();
                      $s && !grep { $_->{name} eq 'app' && @{ $_->{tunnels} } } @{ $s->{pools} } }),
   'backend gone: pool app shows no tunnel');
finish();
