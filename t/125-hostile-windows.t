# Untrusted tunnel peers, part 6: flow control.
#   - The request-body window game: users upload 1 MiB; a hostile peer
#     (the only tunnel of pool "evil") answers each at once with
#     END_STREAM but never opens the request body's window; the users go
#     away.  After 50 such uploads the hub holds no more descriptors than
#     before and its memory is within 16 MiB of its baseline.
#   - A peer that stops reading (TCP zero window) after offering huge
#     windows, and keeps the tunnel looking alive, while uploads keep
#     coming: the hub's memory stays bounded and both pools serve.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use PTTH::Test;
use PTTH::Hostile;

my ($r, $b) = two_pools(timeout => 3);
$r or give_up('router with two pools and a backend does not come up');
my $hub = hub_pid($r) or give_up('no hub pid');

# -- the window game, in pool "evil" where the hostile peer is the only
# tunnel (so every upload reaches it)
{
    my $p = h2peer($r->{eport}, '--max-time=90', '--scenario=early-response');
    ok($p, 'window game: the hostile peer joins pool evil') or give_up('no peer');
    my $upload = sub {
        my ($path) = @_;
        return raw($r, requests => ["POST $path HTTP/1.1\r\nHost: a.example\r\n"
                                    . "Content-Length: 1048576\r\n"
                                    . "Content-Type: application/octet-stream\r\n\r\n"],
                   body_size => 1048576, close_on_response => 1, linger => 0.05,
                   timeout => 6);
    };
    # The same shape of traffic to a real backend first, so the router
    # child's pooled links are counted in the baseline.
    $upload->("/o/cgi-bin/sha.cgi?warm=$_") for 1 .. 3;
    my $fd0 = fd_count($hub);
    my $rss0 = proc_kb($hub, 'VmRSS');
    my $answered = 0;
    for my $i (1 .. 50) {
        my $x = $upload->("/e/?id=w$i");
        $answered++ if $x->{bytes} =~ m{^HTTP/1\.1 200 };
    }
    my $landed = grep { $_->{ev} eq 'request' && ($_->{scenario} // '') eq 'early-response' }
                 peer_events($p);
    is($landed, 50, 'window game: all 50 uploads reached the peer');
    is($answered, 50, 'window game: every user got the early 200');
    my $fd;
    my $settled = wait_for(10, sub { $fd = fd_count($hub); $fd <= $fd0 + 2 });
    ok($settled, "window game: the hub holds no leaked descriptors ($fd0 before, $fd after)");
    my $rss = proc_kb($hub, 'VmRSS');
    cmp_ok($rss - $rss0, '<=', 16 * 1024,
           "window game: hub RSS within 16 MiB ($rss0 kB before, $rss kB after)");
    peer_stop($p);
    ok(wait_for(5, sub { fd_count($hub) <= $fd0 }),
       'window game: with the peer gone, the hub is back to its descriptors')
        or diag('fds now ' . fd_count($hub) . ", before $fd0");
    hub_health($r, $hub, $rss0, 'window game');
}

# -- a peer that stops reading
{
    my $base = proc_kb($hub, 'VmRSS');
    my $p = h2peer($r->{tport}, '--max-time=40', '--max-streams=1000',
                   '--initial-window=2147483647', '--conn-window=2147418112',
                   '--keepalive-ping');
    ok($p, 'stop-reading: the hostile peer joins with huge windows');
    my $t = trigger($r, $p, 'stop-reading', max_time => 10, pool => 'app');
    ok($t->{ev}, 'stop-reading: the peer stopped reading');
    my $data = TMP . '/up.bin';
    write_file($data, 'u' x (1024 * 1024));
    my ($peak, $n, $ok, $uploads, $up_ok) = (0, 0, 0, 0, 0);
    for my $round (1 .. 2) {
        my @up = map {
            { port => $r->{port}, host => 'a.example', method => 'POST',
              path => "/cgi-bin/sha.cgi?round=$round&n=$_", data_file => $data,
              max_time => 12 }
        } 1 .. 8;
        my $bg = in_background(sub {
            my @res = http_parallel(@up);
            return scalar grep { $_->{status} == 200 } @res;
        });
        my ($dn, $dok, $dpeak) = during($r, $hub, 2);
        $n += $dn; $ok += $dok;
        $peak = $dpeak if $dpeak > $peak;
        $uploads += 8;
        $up_ok += collect($bg);
    }
    my $rss = proc_kb($hub, 'VmRSS');
    $peak = $rss if $rss > $peak;
    cmp_ok($peak - $base, '<=', 16 * 1024,
           "stop-reading: hub RSS within 16 MiB during $uploads uploads of 1 MiB ($base -> $peak kB)");
    cmp_ok($up_ok, '>=', 1, "stop-reading: uploads served by the real backend ($up_ok/$uploads)");
    my @o = map {
        http(port => $r->{port}, host => 'b.example', path => "/o/?sr=$_", max_time => 10)
    } 1 .. 5;
    is(scalar(grep { $_->{status} == 200 && $_->{body} eq 'B' } @o), 5,
       'stop-reading: the other pool serves');
    done_trigger($t);
    peer_stop($p);
    wait_for(5, sub { tunnel_count($r->{tport}) <= 1 });
    hub_health($r, $hub, $base, 'stop-reading', $peak);
}

finish();
