# Untrusted tunnel peers, part 5: protocol errors.  A hostile HTTP/2
# backend (alone in pool "evil", next to pools "app" and "other" of a real
# backend) answers a user request with one frame that breaks the protocol:
# DATA or HEADERS on a stream the router never opened, a push nobody
# promised (HEADERS on an even stream, PUSH_PROMISE although the router
# disabled push), a connection window over 2^31-1, a WINDOW_UPDATE of 0, a
# PING of the wrong size (RFC 9113 5.1, 5.4.1, 6.5, 6.7, 6.9).  Each costs
# the attacker its tunnel within 3 s.  A stream window over 2^31-1 costs
# the stream; frames on a closed stream, a garbage GOAWAY and peers that
# reset every stream they get are survived. Throughout, the hub is the
# same process, its memory stays within 16 MiB of its baseline, and both
# pools serve.
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

# One frame, then: the tunnel is closed within 3 s ($closes), and the
# user whose request carried the attack gets no attacker byte.
sub one_shot {
    my ($sc, $closes, $user_like) = @_;
    my $before = proc_kb($hub, 'VmRSS');
    my $p = h2peer($r->{eport}, '--max-time=20');
    ok($p, "$sc: a fresh hostile peer joins pool evil") or return;
    my $t = trigger($r, $p, $sc, max_time => 8);
    ok($t->{ev}, "$sc: a request reached the peer") or do { peer_stop($p); return };
    if ($closes) {
        my $closed = wait_for(4, sub { peer_closed($p) });
        ok($closed && defined $closed->{flood_s} && $closed->{flood_s} <= 3,
           "$sc: the hub closes the tunnel within 3 s")
            or diag($closed ? "closed after $closed->{flood_s} s" : 'not closed');
    }
    my $res = done_trigger($t);
    unlike($res, qr/MARKER/, "$sc: no attacker byte in the user's answer");
    like($res, $user_like, "$sc: the user's answer ($res)") if $user_like;
    peer_stop($p);
    hub_health($r, $hub, $before, $sc);
}

one_shot('idle-data', 1);
one_shot('idle-headers', 1);
one_shot('push-headers', 1);
one_shot('push-promise', 1);
one_shot('wu-overflow', 1);
one_shot('wu-zero', 1);
one_shot('bad-frame-size', 1);
one_shot('wu-overflow-stream', 0, qr/^5\d\d /);
one_shot('closed-frames', 0, qr/^200 clean/);
one_shot('goaway-garbage', 0, qr/^(200|502) clean/);

# Four peers that reset every stream at once (INTERNAL_ERROR), next to
# the real backend: the users who land on them get an error, nobody else
# notices, and the hub is unharmed.
{
    my $before = proc_kb($hub, 'VmRSS');
    my @p = h2peers($r->{tport}, 4, '--scenario=rst', '--max-time=30');
    is(scalar(grep { $_ } @p), 4, 'rst-all: four resetting peers join pool app');
    my @res = get_many($r, 'a.example', map { "/?rst=$_" } 1 .. 40);
    my $ok = grep { $_->[0] == 200 && $_->[2] eq 'A' } @res;
    my $bad = grep { $_->[0] != 200 && $_->[0] != 502 } @res;
    is($bad, 0, "rst-all: every answer is the backend's 200 or a 502 ($ok x 200)");
    my $resets = grep { $_->{ev} eq 'sent' && $_->{what} eq 'rst' } map { peer_events($_) } @p;
    cmp_ok($resets, '>=', 1, "rst-all: the peers reset streams ($resets)");
    my @o = get_many($r, 'b.example', map { "/o/?rst=$_" } 1 .. 10);
    is(scalar(grep { $_->[0] == 200 && $_->[2] eq 'B' } @o), 10,
       'rst-all: the other pool serves meanwhile');
    peer_stop($_) for @p;
    wait_for(5, sub { tunnel_count($r->{tport}) <= 1 });
    hub_health($r, $hub, $before, 'rst-all');
}
cmp_ok((proc_kb($hub, 'VmRSS') // 1e9) - $base, '<=', 16 * 1024,
       "after all attacks, hub RSS within 16 MiB of where it started ($base kB)");

finish();
