# Untrusted tunnel peers, part 7: balancing.  Four hostile peers that
# refuse every stream (REFUSED_STREAM) join pool "app" next to one real
# backend: every one of 100 requests gets the real backend's 200 (refused
# streams are retried elsewhere, RFC 9113 8.7, and the pool stops choosing
# tunnels that only refuse).  Four peers that answer every stream with a
# quick 503: such answers were processed and reach their users as they
# are, but the pool stops preferring those tunnels (a quick 503 would make
# them look least busy): at least 75 of 100 requests get the real
# backend's 200 (the first quick 503s of each such tunnel reach their users,
# then the pool offers it only after a pause that doubles per 503).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use PTTH::Test;
use PTTH::Hostile;

my ($r, $b) = two_pools();
$r or give_up('router with two pools and a backend does not come up');
my $hub = hub_pid($r) or give_up('no hub pid');
my $base = proc_kb($hub, 'VmRSS');

# -- tunnels that refuse, or answer 503, next to one real backend
for my $case (['refuse', 100], ['503', 75]) {
    my ($sc, $want) = @$case;
    my @p = h2peers($r->{tport}, 4, "--scenario=$sc", '--max-time=40');
    is(scalar(grep { $_ } @p), 4, "$sc: four peers join pool app next to the real backend");
    ok(wait_for(5, sub { tunnel_count($r->{tport}) == 5 }), "$sc: pool app has 5 tunnels");
    my @res = get_many($r, 'a.example', map { "/?$sc=$_" } 1 .. 100);
    my $ok = grep { $_->[0] == 200 && $_->[2] eq 'A' } @res;
    my %st;
    $st{$_->[0]}++ for @res;
    cmp_ok($ok, '>=', $want, "$sc: $ok of 100 requests get the real backend's 200 (want >= $want)")
        or diag(join ', ', map { "$_ x $st{$_}" } sort keys %st);
    my $hits = grep { $_->{ev} eq 'request' } map { peer_events($_) } @p;
    cmp_ok($hits, '>=', 1, "$sc: the peers did get streams ($hits)");
    peer_stop($_) for @p;
    wait_for(5, sub { tunnel_count($r->{tport}) <= 1 });
}

hub_health($r, $hub, $base, 'refusing and 503 peers');
finish();
