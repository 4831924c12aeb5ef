# Untrusted tunnel peers, part 1: response framing.  A hostile HTTP/2
# backend (t/bin/h2peer.py) joins pool "app" next to a real backend; raw
# HTTP/1.1 users (t/bin/rawclient.pl) send an attack request and, on the
# same connection, a pipelined (or keep-alive) request to the other pool.
# Whatever the peer sends -- a content-length that lies, a forged HTTP/1.1
# response in DATA, malformed or connection-specific fields, DATA before
# HEADERS, trailers that never end the stream -- the user gets 502 or a
# truncated response on a connection that is then closed, never an
# attacker byte, never a byte past Content-Length, never a forged second
# response; HEAD responses with DATA still work; the hub stays up with
# bounded memory and both pools serve throughout.
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
my $peer = h2peer($r->{tport}, '--max-time=150', '--redial=100')
    or give_up('the hostile peer did not join pool app');
ok(wait_for(5, sub { tunnel_count($r->{tport}) >= 2 }), 'pool app: real backend + hostile peer');

my $good = 0;      # requests to both pools between the attacks
my $good_n = 0;

# The genuine answer of the other pool: the real backend's "B", with the
# field only the real backend's vhost sets.
sub genuine_b {
    my ($x) = @_;
    return $x && $x->{status} == 200 && $x->{complete} && $x->{body} eq 'B'
        && ($x->{h}{'x-backend-vhost'} // '') eq 'b.example';
}

# Attack $sc (an h2peer scenario) with a raw client: the attack request to
# pool app, then a request to pool other on the same connection.  $expect:
#   502      the first response is a 502
#   cut      a 502, or a 200 after which the connection is closed (a
#            truncated response) with nothing else on it
#   head200  (HEAD) a 200 without body, then the genuine second response
sub attack {
    my ($sc, $expect, %o) = @_;
    my $method = $o{method} // 'GET';
    my $mode = $o{mode} // 'pipeline';
    my $label = "$sc ($mode" . ($method ne 'GET' ? ", $method" : '') . ')';
    my ($x, $ev) = land_request($peer, sub {
        my ($id) = @_;
        my @reqs = ("$method /?h2peer=$sc&id=$id HTTP/1.1\r\nHost: a.example\r\n"
                    . "User-Agent: rawclient\r\n\r\n",
                    "GET /o/?after=$id HTTP/1.1\r\nHost: b.example\r\n"
                    . "User-Agent: rawclient\r\n\r\n");
        return raw($r, requests => \@reqs, mode => $mode, timeout => 10,
                   linger => 0.8, heads => [$method eq 'HEAD' ? 1 : 0, 0]);
    });
    ok($ev, "$label: the attack request reached the hostile peer") or return;
    my $bytes = $x->{bytes};
    ok(marker_free($bytes), "$label: no attacker byte reaches the user")
        or diag(substr($bytes, 0, 500));
    ok($bytes !~ /pwn=1/, "$label: no forged Set-Cookie");
    my @resp = parse_raw($x, $method eq 'HEAD' ? 1 : 0, 0);
    my @rest = grep { exists $_->{rest} || $_->{bad} } @resp;
    ok(!@rest, "$label: the bytes parse as well-framed HTTP/1.1 responses")
        or diag(join ' / ', map { $_->{bad} // ('rest ' . length $_->{rest}) } @rest);
    my @final = grep { $_->{status} } @resp;
    my ($first, $second) = @final;
    cmp_ok(scalar @final, '<=', 2, "$label: at most two responses on the connection");
    if ($second) {
        ok(genuine_b($second), "$label: the second response is the other pool's genuine one")
            or diag("second: $second->{status} '" . substr($second->{body}, 0, 80) . "'");
    }
    if (!$first) {
        fail("$label: a response to the attack request");
        diag("got: '" . substr($bytes, 0, 300) . "'");
        return;
    }
    if ($expect eq '502') {
        is($first->{status}, 502, "$label: 502")
            or diag(substr($bytes, 0, 200));
    }
    elsif ($expect eq 'cut') {
        my $ok = $first->{status} == 502
              || ($first->{status} == 200 && $x->{eof} && !$second);
        ok($ok, "$label: 502, or a truncated 200 and the connection closed")
            or diag(sprintf("status %d, %s, body %d bytes, eof %d, second %s", $first->{status},
                            $first->{complete} ? 'complete' : 'incomplete',
                            length $first->{body}, $x->{eof}, $second ? 'yes' : 'no'));
    }
    elsif ($expect eq 'head200') {
        is($first->{status}, 200, "$label: 200");
        is($first->{body}, '', "$label: no body");
        ok($second, "$label: the connection goes on with the next response");
    }
    $good_n += 2;
    $good += good_requests($r, 1);
}

# -- response splitting: the body disagrees with content-length
attack('cl0-split', 'cut');
attack('cl0-split', 'cut', mode => 'keepalive');
attack('cl-over', 'cut');
attack('cl-over', 'cut', mode => 'keepalive');
attack('cl-over-late', 'cut');
attack('cl-under', 'cut');
attack('cl-under', 'cut', mode => 'keepalive');

# -- content-length that is not one plain decimal number
attack($_, '502') for qw(cl-list cl-junk cl-neg cl-plus cl-two cl-space cl-huge);

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
                   "http://127.0.0.1:$r->{port}/?h2peer=cl0-split&id=$id",
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

# -- trailers without END_STREAM, then nothing: the stream is over for
# the user, and the link the router child used must not carry that
# exchange into the next user's request (which would get a 502).
{
    my ($x, $ev) = land_request($peer, sub {
        my ($id) = @_;
        return http(port => $r->{port}, host => 'a.example',
                    path => "/?h2peer=trailers-noend&id=$id", max_time => 8);
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
hub_health($r, $hub, $base, 'framing attacks');
peer_stop($peer);
finish();
