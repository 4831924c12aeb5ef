# Untrusted tunnel peers, part 3: control-frame floods.  A hostile HTTP/2
# backend (alone in pool "evil"; once in pool "app" next to the real
# backend) starts a flood when a user request lands on it: SETTINGS and
# PING (each of which obliges the router to answer), both while reading
# the answers and while reading nothing, PRIORITY frames on idle streams,
# WINDOW_UPDATEs of 1, empty DATA frames after a 200, the same RST_STREAM
# again and again on a closed stream.  Each flood costs the attacker its
# own tunnel: the hub closes it within 3 s.  Meanwhile and afterwards both
# pools serve every request, the hub is the same process and its memory
# stays within 16 MiB of where it started.
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

my $CLOSE_WITHIN = 3;     # seconds from the start of a flood

# A fresh peer per flood, alone in pool "evil" (or, with $pool "app",
# next to the real backend).
sub flood_case {
    my ($sc, $arg, $pool) = @_;
    $pool //= 'evil';
    my $label = $sc . ($arg ? " ($arg)" : '') . ($pool eq 'app' ? ' in pool app' : '');
    my $before = proc_kb($hub, 'VmRSS');
    my $p = h2peer($pool eq 'app' ? $r->{tport} : $r->{eport},
                   '--flood-time=' . ($CLOSE_WITHIN + 1), '--max-time=20');
    ok($p, "$label: the hostile peer joins pool $pool") or return;
    my $t = trigger($r, $p, $sc, arg => $arg, max_time => 10, pool => $pool);
    ok($t->{ev}, "$label: a request reached the peer and started the flood")
        or do { peer_stop($p); return };
    my ($n, $ok, $peak) = during($r, $hub, 1.5);
    is($ok, $n, "$label: during the flood both pools answer every request ($ok/$n)");
    my $closed = wait_for($CLOSE_WITHIN + 1, sub { peer_closed($p) });
    ok($closed && defined $closed->{flood_s} && $closed->{flood_s} <= $CLOSE_WITHIN,
       "$label: the hub closes the flooding tunnel within $CLOSE_WITHIN s")
        or diag($closed ? "closed after $closed->{flood_s} s ($closed->{why})"
                        : 'not closed while the flood lasted');
    my $res = done_trigger($t);
    unlike($res, qr/MARKER/, "$label: no attacker byte in the flooded user's answer");
    peer_stop($p);
    hub_health($r, $hub, $before, $label, $peak);
}

flood_case('settings-flood');
flood_case('settings-flood', 'noread');
flood_case('ping-flood');
flood_case('ping-flood', 'noread');
flood_case('priority-flood');
flood_case('wu-flood');
flood_case('empty-data-flood');
flood_case('rst-flood');
flood_case('wu-flood', undef, 'app');
cmp_ok((proc_kb($hub, 'VmRSS') // 1e9) - $base, '<=', 16 * 1024,
       "after all attacks, hub RSS within 16 MiB of where it started ($base kB)");

finish();
