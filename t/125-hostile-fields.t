# Untrusted tunnel peers, part 2: response fields.  A hostile HTTP/2
# backend (t/bin/h2peer.py) is the only tunnel of pool "evil" (so every
# attack reaches it), while a real backend serves pools "app" and "other";
# raw HTTP/1.1 users (t/bin/rawclient.pl) send an attack request and, on
# the same connection, a pipelined (or keep-alive) request to the other
# pool. Malformed heads (two :status, an unknown pseudo-header, a
# pseudo-header after a regular field, an uppercase name, CR LF in a
# value, DATA before HEADERS), connection-specific fields (RFC 9113
# 8.2.2), :status in trailers and a second final response are malformed
# responses: the user gets 502, or a truncated response on a connection
# that is then closed, never an attacker byte and never a forged second
# response.  HEAD responses with DATA (mod_http2 sends them for some CGI
# responses) still work.  Trailers without END_STREAM end the user's
# response, and the router child's next users are served.  The hub stays
# up with bounded memory and both pools serve throughout.
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
my $peer = h2peer($r->{eport}, '--max-time=150', '--redial=100')
    or give_up('the hostile peer did not join pool evil');

my $good = 0;      # requests to both pools between the attacks
my $good_n = 0;

sub attack {
    my ($sc, $expect, %o) = @_;
    raw_attack($r, $peer, $sc, $expect, %o);
    $good_n += 2;
    $good += good_requests($r, 1);
}

# -- malformed heads (RFC 9113 8.1, 8.2, 8.3)
attack($_, '502') for qw(dup-status pseudo-unknown pseudo-after upper-name crlf-value
                         data-first);
# connection-specific fields (RFC 9113 8.2.2)
attack($_, '502') for qw(conn-connection conn-keepalive conn-upgrade conn-te conn-named
                         transfer-encoding);
# after the body started
attack($_, 'cut') for qw(status-in-trailers second-final);

# -- HEAD: mod_http2 sends DATA for some CGI responses; it is dropped
attack('head-data', 'head200', method => 'HEAD');
attack('head-data', 'head200', method => 'HEAD', mode => 'keepalive');

# -- trailers without END_STREAM, then nothing: the stream is over for
# the user, and the link the router child used must not carry that
# exchange into the next user's request (which would get a 502).
{
    my ($x, $ev) = land_request($peer, sub {
        my ($id) = @_;
        return http(port => $r->{port}, host => 'a.example',
                    path => "/e/?h2peer=trailers-noend&id=$id", max_time => 8);
    });
    ok($ev, 'trailers-noend: reached the hostile peer');
    ok(marker_free($x->{body}), 'trailers-noend: no attacker byte');
    my @after = map {
        http(port => $r->{port}, host => 'b.example', path => "/o/?next=$_", max_time => 10)
    } 1 .. 10;
    my $n = grep { $_->{status} == 200 && $_->{body} eq 'B' } @after;
    is($n, 10, 'trailers-noend: the next 10 users (other pool, same router child) all get 200')
        or diag(join ' ', map { $_->{status} } @after);
}

is($good, $good_n, "between the attacks, both pools answered every request ($good/$good_n)");
hub_health($r, $hub, $base, 'field attacks');
peer_stop($peer);
finish();
