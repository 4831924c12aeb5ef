# Hosts and identity (docs/architecture.md, "Routing by host"):
#  - in one pool, a request goes only to the tunnels of backends that
#    claimed its host (exact or *.domain); a backend that claims nothing is
#    the fallback for names nobody claims, and for a claimed name once all
#    its claimants are gone;
#  - the identity PTTHMaxTunnelsPerBackend counts is the verified
#    certificate's name, whatever PTTH-Backend the backend asserts;
#  - pools are bound to listeners (pools=): a pool is not joined through a
#    listener that does not list it;
#  - PTTHMaxHandshakesPerAddress: idle connections from one address cannot
#    take the handshake slots of another;
#  - token files: a token longer than the limit is refused at configtest,
#    on both modules, never cut.
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(time sleep);
use PTTH::Test;
use PTTH::PKI qw(make_pki);
use PTTH::Handshake qw(handshake);
use IO::Socket::SSL;

my $pki = make_pki(TMP . '/pki');
my $tok = 'T-' . sha256_hex(rand());
my $ftok = write_file(TMP . '/tok', "$tok\n", 0600);
my ($lport, $tport, $cport) = (free_port(), free_port(), free_port());
my $r = router(pre_proxy => [
    "PTTHListen 127.0.0.1:$lport pools=sites",
    "PTTHListen 127.0.0.1:$tport cert=$pki->{router_crt} key=$pki->{router_key}"
        . " client_ca=$pki->{ca_crt} pools=certs",
    "PTTHListen 127.0.0.1:$cport",
    "PTTHMaxHandshakesPerAddress 4",
    "<PTTHPool sites>",
    "  PTTHToken sha256:" . sha256_hex($tok),
    "</PTTHPool>",
    "<PTTHPool certs>",
    "  PTTHClientCertificate backend2.example",
    "  PTTHMaxTunnelsPerBackend 1",
    "</PTTHPool>",
    "ProxyPass /certs/ ptth://certs/",
    "ProxyPass / ptth://sites/",
]);
$r->start or give_up('router does not start');

sub site_backend {
    my ($name, $hosts) = @_;
    my $b = backend(name => $name, tport => 1,
                    connect => "http://127.0.0.1:$lport/sites token_file=$ftok"
                             . ($hosts ? " hosts=$hosts" : ''),
                    vhost_extra => ["Header always set X-Which $name"]);
    $b->start or give_up("backend $name does not start");
    return $b;
}
my $ba = site_backend('bA', 'a.example');
my $bb = site_backend('bB', 'b.example,*.wild.example');
my $bu = site_backend('bU', '');
ok(wait_for(20, sub { tunnel_count($lport) == 3 }), 'three backends joined pool sites');

sub who {
    my ($host, $n) = @_;
    my %seen;
    for my $i (1 .. $n) {
        my $res = http(port => $r->{port}, host => $host, path => "/?$i", max_time => 10);
        $seen{ $res->{status} == 200 ? ($res->{headers}{'x-which'} // '?') : $res->{status} }++;
    }
    return join ',', map { "$_=$seen{$_}" } sort keys %seen;
}
is(who('a.example', 12), 'bA=12', 'a.example: only the backend that claimed it');
is(who('b.example', 12), 'bB=12', 'b.example: only the backend that claimed it');
is(who('x.wild.example', 6), 'bB=6', 'x.wild.example: the backend that claimed *.wild.example');
is(who('A.Example.', 4), 'bA=4', 'host compared lowercase, without a trailing dot');
is(who('c.example', 8), 'bU=8', 'c.example (claimed by nobody): the backend that claims nothing');
my $par = () = grep { $_->{status} == 200 && ($_->{headers}{'x-which'} // '') eq 'bA' }
    http_parallel(map { { port => $r->{port}, host => 'a.example', path => "/cgi-bin/sleep.cgi?s=0.3&$_" } } 1 .. 8);
is($par, 8, '8 concurrent requests for a.example: all to bA, none spilled elsewhere');
$ba->stop;
ok(wait_for(10, sub { tunnel_count($lport) == 2 }), 'bA gone');
is(who('a.example', 4), 'bU=4', 'with its claimant gone, a.example falls back to the backend that claims nothing');

# ---- pools bound to listeners
my ($st) = handshake($cport, '--target', '/sites', '--token', $tok);
is($st, 101, 'a listener without pools= serves every pool');
($st) = handshake($lport, '--target', '/certs', '--token', $tok);
is($st, 404, 'pool certs is not joined through a listener bound to sites (404)');
($st) = handshake($tport, '--tls', '--ca', $pki->{ca_crt}, '--target', '/sites',
                  '--token', $tok, '--cert', $pki->{backend2_crt}, '--key', $pki->{backend2_key});
is($st, 404, 'pool sites is not joined through the TLS listener bound to certs (404)');

# ---- identity: the certificate wins over PTTH-Backend
my @h;
for my $id ('one', 'two') {
    my $s = IO::Socket::SSL->new(PeerAddr => '127.0.0.1', PeerPort => $tport,
        SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_PEER(), SSL_ca_file => $pki->{ca_crt},
        SSL_hostname => 'router.test', SSL_verifycn_name => 'router.test',
        SSL_cert_file => $pki->{backend2_crt}, SSL_key_file => $pki->{backend2_key});
    ok($s, "TLS connection with backend2's certificate ($id)") or next;
    print $s "GET /certs HTTP/1.1\r\nHost: router.test\r\nConnection: upgrade\r\n"
           . "Upgrade: ptth\r\nALPN: h2\r\nPTTH-Backend: $id\r\n\r\n";
    my $buf = '';
    my $t0 = time;
    while ($buf !~ /\r\n\r\n/ && time - $t0 < 5) {
        my $n = sysread($s, $buf, 4096, length $buf);
        last unless $n;
    }
    my ($code) = $buf =~ m{^HTTP/1\.1 (\d{3})};
    push @h, [$s, $code // 0];
}
is($h[0][1], 101, 'first tunnel of backend2.example admitted');
is($h[1][1], 429, 'second one refused (429) although it asserts another PTTH-Backend');
close $_->[0] for @h;
like($r->errlog_text, qr/backend cert:backend2\.example admitted to pool certs/,
     'the identity logged is the certificate name');

# ---- handshake slots per address
my @idle;
for (1 .. 6) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $cport,
                                  LocalAddr => '127.0.0.1', Proto => 'tcp') or last;
    push @idle, $s;
}
sleep 0.3;
my $closed = 0;
for my $s (@idle) {
    my $rin = '';
    vec($rin, fileno($s), 1) = 1;
    if (select(my $rout = $rin, undef, undef, 0.5)) {
        my $n = sysread($s, my $b, 1);
        $closed++ if defined $n && $n == 0;
    }
}
cmp_ok($closed, '>=', 2, "idle connections from one address beyond its share are closed ($closed of 6)");
($st) = handshake($cport, '--bind', '127.0.0.2', '--target', '/sites', '--token', $tok);
is($st, 101, 'a backend from another address still gets its handshake');
close $_ for @idle;

# ---- token files: too long is refused, never cut
my $long = write_file(TMP . '/long.tok', ('x' x 5000) . "\n", 0600);
my ($rc, $out) = configtest_conf('longtok', <<"EOC");
ServerRoot "\@DIR\@"
LoadModule mpm_event_module $PTTH::Test::MODDIR/mod_mpm_event.so
LoadModule proxy_module $PTTH::Test::MODDIR/mod_proxy.so
LoadModule ptth_router_module $PTTH::Test::ROUTER_SO
ErrorLog "\@DIR\@/logs/error_log"
PidFile "\@DIR\@/run/httpd.pid"
Listen 127.0.0.1:1
PTTHListen 127.0.0.1:2
<PTTHPool p>
  PTTHTokenFile $long
</PTTHPool>
EOC
isnt($rc, 0, 'router: a 5000-character token in PTTHTokenFile fails configtest');
like($out, qr/PTTHTokenFile: .*line 1: longer than 4096/, '... naming the directive and the line');
($rc, $out) = configtest_conf('longtok-b', <<"EOC");
ServerRoot "\@DIR\@"
LoadModule mpm_event_module $PTTH::Test::MODDIR/mod_mpm_event.so
LoadModule http2_module $PTTH::Test::MODDIR/mod_http2.so
LoadModule ptth_backend_module $PTTH::Test::BACKEND_SO
ErrorLog "\@DIR\@/logs/error_log"
PidFile "\@DIR\@/run/httpd.pid"
Listen 127.0.0.1:1
PTTHConnect http://127.0.0.1:2/p token_file=$long
EOC
isnt($rc, 0, 'backend: a 5000-character token in token_file= fails configtest');
like($out, qr/PTTHConnect: token_file=: .*longer than 4096/, '... naming token_file=');
unlike($out, qr/xxxxxxxx/, 'no part of the token in the message');

finish();
