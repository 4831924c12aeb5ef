# Untrusted tunnel peers, part 3b: floods of frames that need no answer.
# A hostile HTTP/2 backend (alone in pool "evil"; once in pool "app" next
# to the real backend) starts a flood when a user request lands on it:
# PRIORITY frames on idle streams, WINDOW_UPDATEs of 1, empty DATA frames
# after a 200, the same RST_STREAM again and again on a closed stream.
# Each flood costs the attacker its own tunnel: the hub closes it within
# 3 s.
# Meanwhile and afterwards both pools serve every request, the hub is the
# same process and its memory stays within 16 MiB of where it started.
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

flood_case($r, $hub, 'priority-flood');
flood_case($r, $hub, 'wu-flood');
flood_case($r, $hub, 'empty-data-flood');
flood_case($r, $hub, 'rst-flood');
flood_case($r, $hub, 'wu-flood', undef, 'app');
cmp_ok((proc_kb($hub, 'VmRSS') // 1e9) - $base, '<=', 16 * 1024,
       "after all attacks, hub RSS within 16 MiB of where it started ($base kB)");

finish();
