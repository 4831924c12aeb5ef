# Secure mode end to end: a backend dials https://router/<endpoint> with a
# token (token_file=) and, for the second pool, a client certificate; it
# verifies the router's certificate; the router admits it to its pool and
# serves users through it.  Pool isolation: traffic for pool A never
# reaches pool B's backend.  Refusals: a wrong token gets no tunnel (the
# backend logs the 401 and retries with backoff); a router whose
# certificate the backend cannot verify gets no tunnel either.  The same
# handshake over http:// (cleartext, trusted links) works too.  No token,
# nor its SHA-256, is ever logged: the router and backends A, B and C run
# at LogLevel trace8 (every module, ptth_router and ptth_backend included),
# and every log file of each is searched.  Backoff and Retry-After are
# read off the backend's own "next dial in" lines.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use PTTH::Test qw(:DEFAULT wait_log);
use PTTH::PKI qw(make_pki);

my $pki = make_pki(TMP . '/pki');
my ($tokA, $tokB) = ('A-' . sha256_hex(rand()), 'B-' . sha256_hex(rand()));
my $fa = write_file(TMP . '/tokA', "$tokA\n");
my $fb = write_file(TMP . '/tokB', "$tokB\n");
my $fbad = write_file(TMP . '/tokbad', "not-the-token\n");
chmod 0600, $fa, $fb, $fbad;
my ($sport, $cport) = (free_port(), free_port());
my $TRACE = 'LogLevel trace8';
my $r = router(extra => $TRACE, pre_proxy => [
    "PTTHListen 127.0.0.1:$sport cert=$pki->{router_crt} key=$pki->{router_key}"
        . " client_ca=$pki->{ca_crt}",
    "PTTHListen 127.0.0.1:$cport",
    "<PTTHPool pa>",
    "  PTTHToken sha256:" . sha256_hex($tokA),
    "  PTTHAllowHosts a.example b.example",
    "</PTTHPool>",
    "<PTTHPool pb>",
    "  PTTHToken sha256:" . sha256_hex($tokB),
    "  PTTHClientCertificate backend2.example",
    "</PTTHPool>",
    "<PTTHPool pc>",
    "  PTTHToken sha256:" . sha256_hex($tokA),
    "</PTTHPool>",
    "ProxyPass /pa/ ptth://pa/",
    "ProxyPass /pb/ ptth://pb/",
    "ProxyPass /pc/ ptth://pc/",
]);
$r->start or give_up('router does not start');

my $ba = backend(name => 'bA', tport => 1,
                 connect => "https://127.0.0.1:$sport/pa ca=$pki->{ca_crt} name=router.test"
                          . " token_file=$fa id=backend-a hosts=a.example,b.example",
                 extra => ['Header always set X-Which A', $TRACE]);
$ba->start or give_up('backend A does not start');
my $bb = backend(name => 'bB', tport => 1,
                 connect => "https://127.0.0.1:$sport/pb ca=$pki->{ca_crt} name=router.test"
                          . " token_file=$fb cert=$pki->{backend2_crt} key=$pki->{backend2_key}",
                 extra => ['Header always set X-Which B', $TRACE]);
$bb->start or give_up('backend B does not start');

ok(defined wait_for_tunnel($r, path => '/pa/'), 'pool pa: tunnel over TLS with a token');
ok(defined wait_for_tunnel($r, path => '/pb/'), 'pool pb: tunnel over TLS with token + client certificate');
my (%seen_a, %seen_b);
for (1 .. 10) {
    $seen_a{ http(port => $r->{port}, host => 'a.example', path => '/pa/')->{headers}{'x-which'} // '-' }++;
    $seen_b{ http(port => $r->{port}, host => 'a.example', path => '/pb/')->{headers}{'x-which'} // '-' }++;
}
is_deeply(\%seen_a, { A => 10 }, 'pool pa traffic only reaches backend A');
is_deeply(\%seen_b, { B => 10 }, 'pool pb traffic only reaches backend B');
my $res = http(port => $r->{port}, host => 'b.example', path => '/pa/');
is($res->{body}, 'B', 'vhost b.example served through the secure tunnel');
my ($p, $sha) = big_file();
$res = http(port => $r->{port}, host => 'a.example', path => '/pa/big/big.bin', sha => 1);
is($res->{sha256}, $sha, '10 MB through the TLS tunnel, checksum intact');

# Cleartext handshake (http://) to the second listener.
my $bc = backend(name => 'bC', tport => 1,
                 connect => "http://127.0.0.1:$cport/pc token_file=$fa", extra => $TRACE);
$bc->start or give_up('backend C does not start');
ok(defined wait_for_tunnel($r, path => '/pc/'), 'pool pc: tunnel after a cleartext handshake');

# Wrong token: 401, no tunnel, the backend says why and backs off.
my $bw = backend(name => 'bW', tport => 1,
                 connect => "https://127.0.0.1:$sport/pc ca=$pki->{ca_crt} name=router.test"
                          . " token_file=$fbad");
$bw->start or give_up('backend W does not start');
ok(wait_for(30, sub { (read_file($bw->{errlog}) // '') =~ /refused the tunnel with 401/ }),
   'wrong token: the backend logs the 401');
# PTTHReconnect 100ms 2s: after each refusal the next dial waits longer
# (jittered doubling: 50-100 ms, 100-200, 200-400, 400-800, ...).
my @next = map { /next dial in (\d+)ms/ ? $1 : () }
           wait_log($bw, qr/next dial in \d+ms/, count => 4, timeout => 15);
ok(@next >= 4 && !grep({ $next[$_] < $next[$_ - 1] } 1 .. 3) && $next[3] >= 2 * $next[0],
   "and backs off: the delays before its first re-dials grow (@next[0 .. 3] ms)")
    or diag("delays: @next");
my $n401 = () = (read_file($r->{errlog}) // '') =~ /refused with 401/g;
cmp_ok($n401, '>=', 4, "the router refused each attempt ($n401 x 401)");
$bw->stop;

# A backend that cannot verify the router (wrong CA): no tunnel, says why.
my $bv = backend(name => 'bV', tport => 1,
                 connect => "https://127.0.0.1:$sport/pa ca=$pki->{otherca_crt} name=router.test"
                          . " token_file=$fa");
$bv->start or give_up('backend V does not start');
ok(wait_for(30, sub { (read_file($bv->{errlog}) // '') =~ /cannot verify the router's certificate/ }),
   'untrusted router certificate: the backend refuses and logs why');
$bv->stop;

# A backend claiming a host the pool does not allow is refused.
my $bx = backend(name => 'bX', tport => 1,
                 connect => "https://127.0.0.1:$sport/pa ca=$pki->{ca_crt} name=router.test"
                          . " token_file=$fa hosts=evil.example");
$bx->start or give_up('backend X does not start');
ok(wait_for(30, sub { (read_file($bx->{errlog}) // '') =~ /refused the tunnel with 403/ }),
   'claiming a host outside PTTHAllowHosts: 403');
$bx->stop;

# Pool full: the router answers 429 with Retry-After (10 s), and the
# backend waits that long instead of its own (100 ms) backoff.
my $r2 = router(name => 'router-full', pre_proxy => [
    "PTTHListen 127.0.0.1:" . (my $fport = free_port()),
    "<PTTHPool pf>",
    "  PTTHToken sha256:" . sha256_hex($tokA),
    "  PTTHMaxTunnels 1",
    "</PTTHPool>",
    "ProxyPass /pf/ ptth://pf/",
]);
$r2->start or give_up('router-full does not start');
my $bf = backend(name => 'bF', tport => 1, tunnels => 2,
                 connect => "http://127.0.0.1:$fport/pf token_file=$fa");
$bf->start or give_up('backend F does not start');
ok(defined wait_for_tunnel($r2, path => '/pf/'), 'pool pf: one tunnel admitted');
ok(wait_for(30, sub { (read_file($bf->{errlog}) // '') =~ /refused the tunnel with 429/ }),
   'the second tunnel is refused with 429');
my ($wait) = map { /next dial in (\d+)ms/ ? $1 : () }
             wait_log($bf, qr/next dial in (?:[1-9]\d{3,})ms/);
ok(defined $wait && $wait >= 9000,
   'the backend honours Retry-After: its next dial is in ' . ($wait // '?') . ' ms, not its 100 ms backoff');
# And it keeps to it: its own backoff would have tried 2-3 times within 1 s.
my $n429 = 0;
ok(!wait_for(1, sub { $n429 = () = (read_file($r2->{errlog}) // '') =~ /refused with 429/g;
                      $n429 != 1 }),
   "no second try within 1 s ($n429 x 429)");
$bf->stop;

# The secrecy check, at LogLevel trace8: neither token nor its SHA-256
# (what the router's config holds) in any log of the router or of the
# backends that used them.
my @secrets = ($tokA, $tokB, sha256_hex($tokA), sha256_hex($tokB));
for my $s ($r, $ba, $bb, $bc) {
    my @files = grep { -f } glob("$s->{dir}/logs/*"), glob("$s->{dir}/san/*");
    my ($bytes, @leaks) = (0);
    for my $f (@files) {
        my $c = read_file($f) // '';
        $bytes += length $c;
        for my $x (@secrets) {
            push @leaks, "$f has " . substr($x, 0, 8) . '...' if index($c, $x) >= 0;
        }
    }
    like(read_file($s->{errlog}) // '', $s == $r ? qr/\[ptth_router:trace\d\]/ : qr/:trace\d\]/,
         "$s->{name}: its error log has trace-level lines"
         . ($s == $r ? ' of ptth_router' : ''));
    ok(!@leaks, "$s->{name}: no token nor token hash in its " . scalar(@files)
                . " log file(s) ($bytes bytes)") or diag(join "\n", @leaks);
}
finish();
