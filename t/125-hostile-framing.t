# Untrusted tunnel peers, part 1: response framing.  A hostile HTTP/2
# backend (t/bin/h2peer.py) is the only tunnel of pool "evil" (so every
# attack reaches it), another joins pool "app" next to a real backend; raw
# HTTP/1.1 users (t/bin/rawclient.pl) send an attack request and, on the
# same connection, a pipelined (or keep-alive) request to the other pool.
# Whatever the peer sends -- a content-length that lies (0 and then a
# forged HTTP/1.1 response with a cookie in DATA, more or fewer bytes than
# it says, early or late) or that is not one plain decimal number -- the
# user gets 502 or a truncated response on a connection that is then
# closed, never an attacker byte, never a byte past Content-Length, never
# a forged second response, and curl stores no forged cookie.  The hub
# stays up with bounded memory and both pools serve throughout.
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
# One hostile peer alone in pool "evil" (every attack sent there reaches
# it), one in pool "app" next to the real backend.
my $peer = h2peer($r->{eport}, '--max-time=150', '--redial=100')
    or give_up('the hostile peer did not join pool evil');
my $apeer = h2peer($r->{tport}, '--max-time=150', '--redial=100')
    or give_up('the hostile peer did not join pool app');
ok(wait_for(5, sub { tunnel_count($r->{tport}) >= 2 }), 'pool app: real backend + hostile peer');

my $good = 0;      # requests to both pools between the attacks
my $good_n = 0;

sub attack {
    my ($sc, $expect, %o) = @_;
    raw_attack($r, ($o{pool} // '') eq 'app' ? $apeer : $peer, $sc, $expect, %o);
    $good_n += 2;
    $good += good_requests($r, 1);
}

# -- response splitting: the body disagrees with content-length
attack('cl0-split', 'cut');
attack('cl0-split', 'cut', mode => 'keepalive');
attack('cl0-split', 'cut', pool => 'app');
attack('cl-over', 'cut');
attack('cl-over', 'cut', pool => 'app');
attack('cl-over', 'cut', mode => 'keepalive');
attack('cl-over-late', 'cut');
attack('cl-under', 'cut');
attack('cl-under', 'cut', mode => 'keepalive');

# -- content-length that is not one plain decimal number
attack($_, '502') for qw(cl-list cl-junk cl-neg cl-plus cl-two cl-space cl-huge);

# -- curl, two URLs on one connection, cookie jar: the forged response's
# cookie must not be stored.
{
    my $jar = TMP . '/cookies.txt';
    my ($out, $ev) = land_request($peer, sub {
        my ($id) = @_;
        unlink $jar;
        my @cmd = ('curl', '-s', '--max-time', '10', '-c', $jar, '-o', '/dev/null',
                   '-o', '/dev/null', '-w', '%{http_code} %{num_connects}\n',
                   '-H', 'Host: a.example',
                   "http://127.0.0.1:$r->{port}/e/?h2peer=cl0-split&id=$id",
                   "http://127.0.0.1:$r->{port}/?after=$id");
        open(my $fh, '-|', @cmd) or die "curl: $!";
        local $/;
        my $o = <$fh> // '';
        close $fh;
        return $o;
    });
    ok($ev, 'curl, two URLs: the first reached the hostile peer');
    my $cookies = read_file($jar) // '';
    unlike($cookies, qr/pwn/, 'curl, two URLs: the forged cookie is not stored')
        or diag($cookies);
    $good_n += 2;
    $good += good_requests($r, 1);
}

is($good, $good_n, "between the attacks, both pools answered every request ($good/$good_n)");
hub_health($r, $hub, $base, 'framing attacks');
peer_stop($_) for $peer, $apeer;
finish();
