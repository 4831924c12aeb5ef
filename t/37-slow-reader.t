# A user who stops reading a large download costs the hub one stream
# window, not the response (docs/architecture.md, "The link between a
# child and the hub"): users GET a 64 MiB file and never read it; the hub
# acknowledges response DATA only once it has written it to the child, so
# what it holds per stream is bounded by the 256 KiB stream window (plus
# what the kernel's socket buffers take), and the backend waits.  Its
# memory grows by well under one such body; other users are served at
# full speed meanwhile, through the same tunnel; when the stalled users
# go away, their streams end and the tunnel serves on.
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(time);
use Socket qw(SOL_SOCKET SO_RCVBUF);
use PTTH::Test;

my $r = router(mpm_conf => { StartServers => 1, ServerLimit => 1 });
$r->start or give_up('router does not start');
my $b = backend(tport => $r->{tport}, tunnels => 1);
$b->start or give_up('backend does not start');
ok(defined wait_for_tunnel($r), 'one tunnel up') or give_up('no tunnel');
my $MB = 64;
my (undef, $sha) = big_file('slow-64m', $MB << 20);
my $hub = hub_pid($r) or give_up('no hub pid');

# Warm up: the same kind of transfer, read, so that the baseline counts
# the hub's buffers for a large response.
my $res = http(port => $r->{port}, host => 'a.example', path => '/big/slow-64m', sha => 1,
               max_time => 60);
is($res->{sha256}, $sha, "a $MB MiB GET read at full speed is intact");
my $rss0 = proc_kb($hub, 'VmRSS');

# Users who ask and never read (a small receive buffer, so the stall
# reaches back through the child quickly).
my $N = 4;
my @stalled;
for my $i (1 .. $N) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $r->{port}, Proto => 'tcp')
        or die "connect: $!";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, 4096);
    print $s "GET /big/slow-64m?u=$i HTTP/1.1\r\nHost: a.example\r\n\r\n";
    push @stalled, $s;
}
# The backend has sent what the windows let through: the hub's memory
# stops growing.  Sample it while the users stay stalled.
my $peak = 0;
my $t0 = time;
while (time - $t0 < 3) {
    my $kb = proc_kb($hub, 'VmRSS') // 0;
    $peak = $kb if $kb > $peak;
    select(undef, undef, undef, 0.1);
}
cmp_ok($peak - $rss0, '<', 8 * 1024,
       sprintf("$N users not reading $MB MiB each: the hub grew by %d kB (bound: the "
               . "stream windows, far below one body)", $peak - $rss0));
like(read_file("/proc/$hub/status") // '', qr/^State:\s+S/m, 'the hub is idle, not spinning');

# Meanwhile the same tunnel serves others in full.
$res = http(port => $r->{port}, host => 'a.example', path => '/big/slow-64m', sha => 1,
            max_time => 60);
is($res->{sha256}, $sha, "another user's $MB MiB GET through the same tunnel is intact meanwhile");
is(tunnel_count($r->{tport}), 1, 'still the one tunnel');

# The stalled users go away: their streams end, and nothing is left.
close $_ for @stalled;
$res = http(port => $r->{port}, host => 'a.example', path => '/', max_time => 10);
is($res->{status}, 200, 'after the stalled users left, the tunnel serves on');
finish();
