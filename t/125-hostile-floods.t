# Untrusted tunnel peers, part 3: floods of frames the router must answer.
# A hostile HTTP/2 backend (alone in pool "evil") starts a flood when a
# user request lands on it: SETTINGS and PING, each of which obliges the
# router to answer with an ACK, both while reading the answers and while
# reading nothing.  Each flood costs the attacker its own tunnel: the hub
# closes it within 3 s.
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

flood_case($r, $hub, 'settings-flood');
flood_case($r, $hub, 'settings-flood', 'noread');
flood_case($r, $hub, 'ping-flood');
flood_case($r, $hub, 'ping-flood', 'noread');
cmp_ok((proc_kb($hub, 'VmRSS') // 1e9) - $base, '<=', 16 * 1024,
       "after all attacks, hub RSS within 16 MiB of where it started ($base kB)");

finish();
