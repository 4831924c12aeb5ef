# Untrusted tunnel peers, part 4: header floods.  A hostile HTTP/2 backend
# (alone in pool "evil", next to pools "app" and "other" of a real
# backend) answers with header blocks that cost the router memory or CPU:
# 10,000 interim 103 responses (and 11, one more than a stream may have),
# 10,000 trailer blocks without END_STREAM, one header block of 100 KiB
# spread over CONTINUATION frames, interim blocks that each fit but add up
# to more than the per-stream budget (about 64 KiB), an HPACK bomb (one 4
# KiB field in the dynamic table referenced thousands of times per block),
# and CONTINUATION frames that never end the block.  The stream is reset
# and its user gets a 502 (or, once the body started, a truncated response
# on a closed connection), the endless block costs the attacker its
# tunnel, the next users of the same router child are served, and the hub
# stays up within 16 MiB of its baseline memory.
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
# The hostile peer is alone in pool "evil": every attack sent there
# reaches it.
my $peer = h2peer($r->{eport}, '--max-time=120', '--redial=100')
    or give_up('the hostile peer did not join pool evil');

# The most the hub's RSS reached while $code ran (sampled every 20 ms
# from a helper process).
sub peak_rss_during {
    my ($code) = @_;
    my $bg = in_background(sub {
        my $peak = 0;
        my $t0 = time;
        while (time - $t0 < 30) {
            my $rss = proc_kb($hub, 'VmRSS') // last;
            $peak = $rss if $rss > $peak;
            last if -e TMP . '/stop-sampling';
            select(undef, undef, undef, 0.02);
        }
        return $peak;
    });
    unlink TMP . '/stop-sampling';
    $code->();
    write_file(TMP . '/stop-sampling', '');
    my $peak = collect($bg);
    unlink TMP . '/stop-sampling';
    return $peak;
}

# One stream-level attack: the user's answer, the router child's next
# users, the hub's peak memory.
sub header_attack {
    my ($sc, $expect, %o) = @_;
    my $label = $sc . (defined $o{arg} ? " ($o{arg})" : '');
    my $before = proc_kb($hub, 'VmRSS');
    my $peak = peak_rss_during(sub {
        raw_attack($r, $peer, $sc, $expect, %o, timeout => 15);
    });
    my @after = map {
        http(port => $r->{port}, host => 'b.example', path => "/o/?next=$_", max_time => 10)
    } 1 .. 5;
    my $n = grep { $_->{status} == 200 && $_->{body} eq 'B' } @after;
    is($n, 5, "$label: the next 5 users of the router child get 200")
        or diag(join ' ', map { $_->{status} } @after);
    hub_health($r, $hub, $before, $label, $peak);
}

header_attack('interim-flood', '502');                 # 10,000 x 103
header_attack('interim-flood', '502', arg => 11);      # one more than allowed
header_attack('trailer-flood', 'cut', arg => 200000);
header_attack('big-headers', '502');                   # 100 KiB in one block
header_attack('headers-budget', '502');                # 3 x 30 KiB
header_attack('hpack-bomb', '502');

# CONTINUATION frames that never end the header block: a flood, which
# costs the attacker its tunnel.
peer_stop($peer);
{
    my $before = proc_kb($hub, 'VmRSS');
    my $p = h2peer($r->{eport}, '--max-time=20');
    ok($p, 'cont-flood: a fresh hostile peer joins');
    my $t = trigger($r, $p, 'cont-flood', arg => 5, max_time => 10);
    ok($t->{ev}, 'cont-flood: a request reached the peer');
    my ($n, $ok, $peak) = during($r, $hub, 1.5);
    is($ok, $n, "cont-flood: during the flood both pools answer every request ($ok/$n)");
    my $closed = wait_for(4, sub { peer_closed($p) });
    ok($closed && defined $closed->{flood_s} && $closed->{flood_s} <= 3,
       'cont-flood: the hub closes the tunnel within 3 s')
        or diag($closed ? "closed after $closed->{flood_s} s" : 'not closed');
    like(done_trigger($t), qr/^5\d\d /, 'cont-flood: its user gets a 5xx');
    peer_stop($p);
    hub_health($r, $hub, $before, 'cont-flood', $peak);
}
cmp_ok((proc_kb($hub, 'VmRSS') // 1e9) - $base, '<=', 16 * 1024,
       "after all attacks, hub RSS within 16 MiB of where it started ($base kB)");

finish();
