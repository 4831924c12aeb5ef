# Secure mode, router side: the PTTH Upgrade handshake on a listener
# without plain= (cleartext here; TLS in t/110-tls.t).  Good token -> 101
# and the HTTP/2 client preface at once; missing or wrong token -> 401 with
# WWW-Authenticate; another pool's token -> 403; unknown endpoint -> 404;
# a host name the pool does not allow -> 403; over the pool's tunnel limit
# -> 429 with Retry-After; malformed -> 400; every refusal is a complete
# response followed by close; no token appears in any log.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use PTTH::Test;
use PTTH::Handshake qw(handshake);

my ($tokA, $tokB) = ('tokA-' . sha256_hex(rand()), 'tokB-' . sha256_hex(rand()));
my $sport = free_port();
my $tokfile = write_file(TMP . '/tokens-b', "# pool b\n$tokB\n");
my $r = router(pre_proxy => [
    "PTTHListen 127.0.0.1:$sport",
    "PTTHHandshakeTimeout 2s",
    "<PTTHPool sec>",
    "  PTTHToken sha256:" . sha256_hex($tokA),
    "  PTTHAllowHosts a.example *.example.org",
    "  PTTHMaxTunnels 2",
    "</PTTHPool>",
    "<PTTHPool other>",
    "  PTTHTokenFile $tokfile",
    "</PTTHPool>",
    "ProxyPass /sec/ ptth://sec/",
]);
$r->start or give_up('router does not start');

sub hs { handshake($sport, @_) }

my ($st, $out) = hs('--target', '/sec', '--token', $tokA, '--hosts', 'a.example,x.example.org');
is($st, 101, 'good token: 101 Switching Protocols');
like($out, qr/^Upgrade: ptth\r?$/mi, '101 carries Upgrade: ptth');
like($out, qr/^PREFACE$/m, 'the router sends the HTTP/2 preface right after the 101');

($st, $out) = hs('--target', '/sec');
is($st, 401, 'no token: 401');
like($out, qr/^WWW-Authenticate: Bearer realm="ptth"\r?$/mi,
     '401 has WWW-Authenticate: Bearer, without an error code (RFC 6750 3.1)');
like($out, qr/^CLOSED$/m, 'and the router closes');
($st, $out) = hs('--target', '/sec', '--token', 'wrong-token');
is($st, 401, 'wrong token: 401');
like($out, qr/^WWW-Authenticate: Bearer realm="ptth", error="invalid_token"\r?$/mi,
     'a rejected token gets error="invalid_token"');
($st, $out) = hs('--target', '/sec', '--token', $tokB);
is($st, 403, "pool other's token used for pool sec: 403");
($st, $out) = hs('--target', '/other', '--token', $tokB);
is($st, 101, 'token from PTTHTokenFile admits to pool other');
($st, $out) = hs('--target', '/nope', '--token', $tokA);
is($st, 404, 'unknown endpoint: 404');
($st, $out) = hs('--target', '/sec', '--token', $tokA, '--hosts', 'evil.example');
is($st, 403, 'claiming a host the pool does not allow: 403');

# PTTHMaxTunnels 2 for pool sec: hold two admitted connections open.
my @held;
for (1 .. 2) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $sport) or die;
    print $s "GET /sec HTTP/1.1\r\nHost: r\r\nConnection: upgrade\r\nUpgrade: ptth\r\n"
           . "ALPN: h2\r\nAuthorization: Bearer $tokA\r\n\r\n";
    my $buf = '';
    while ($buf !~ /PRI \* HTTP/) { sysread($s, $buf, 4096, length $buf) or last }
    # Our SETTINGS and an ACK of the router's (RFC 9113 3.4): the tunnel
    # opens and stays, however long the next handshake takes to start on
    # a loaded machine (one in PREFACE goes at PTTHHandshakeTimeout).
    print $s "\0\0\0\x04\0\0\0\0\0" . "\0\0\0\x04\x01\0\0\0\0";
    push @held, $s;
}
($st, $out) = hs('--target', '/sec', '--token', $tokA);
is($st, 429, 'over PTTHMaxTunnels: 429');
like($out, qr/^Retry-After: \d+\r?$/mi, '429 has Retry-After');
close $_ for @held;

my $raw = write_file(TMP . '/raw1', "GET /sec HTTP/1.0\r\n\r\n");
($st, $out) = hs('--raw', $raw);
ok($st >= 400 && $st < 600, "HTTP/1.0 request: refused ($st)");
$raw = write_file(TMP . '/raw2', join('', map { chr(int rand 256) } 1 .. 300));
($st, $out) = hs('--raw', $raw);
ok($st == 400 || $out =~ /CLOSED/, "random bytes: 400 or close ($st)");

# Nothing secret in the log, at LogLevel debug.
my $log = read_file($r->{errlog}) // '';
unlike($log, qr/\Q$tokA\E|\Q$tokB\E/, 'no token in the error log');
like($log, qr/refused with 401/, 'refusals are logged (without secrets)');
finish();
