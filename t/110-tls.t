# Secure mode over TLS, router side: the tunnel listener speaks TLS 1.2+
# with the configured certificate; a backend with a trusted client
# certificate named in <PTTHPool> gets 101; an untrusted or expired client
# certificate fails in TLS, a trusted one with another name gets 403; a
# TLS ClientHello to a plain port and plain bytes to a TLS port get a close.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use PTTH::Test;
use PTTH::PKI qw(make_pki);
use PTTH::Handshake qw(handshake);

my $pki = make_pki(TMP . '/pki');
my $sport = free_port();
my $r = router(pre_proxy => [
    "PTTHListen 127.0.0.1:$sport cert=$pki->{router_crt} key=$pki->{router_key}"
        . " client_ca=$pki->{ca_crt}",
    "<PTTHPool sec>",
    "  PTTHClientCertificate backend1.example",
    "</PTTHPool>",
    "ProxyPass /sec/ ptth://sec/",
]);
$r->start or give_up('router does not start');
sub hs { handshake($sport, '--tls', '--ca', $pki->{ca_crt}, '--target', '/sec', @_) }

my ($st, $out) = hs('--cert', $pki->{backend1_crt}, '--key', $pki->{backend1_key});
is($st, 101, 'trusted client certificate with the pool\'s name: 101') or diag($out);
like($out, qr/^PREFACE$/m, 'HTTP/2 preface follows over TLS');
($st, $out) = hs('--cert', $pki->{backend2_crt}, '--key', $pki->{backend2_key});
is($st, 403, 'trusted certificate, name not allowed for the pool: 403') or diag($out);
($st, $out) = hs();
is($st, 403, 'no client certificate: 403') or diag($out);
($st, $out) = hs('--cert', $pki->{rogue_crt}, '--key', $pki->{rogue_key});
ok($st == 0 && $out =~ /TLS-FAILED|^HEAD\n\n/m, 'certificate from an untrusted CA: refused in TLS')
    or diag($out);
($st, $out) = hs('--cert', $pki->{expired_crt}, '--key', $pki->{expired_key});
ok($st == 0, 'expired certificate: refused in TLS') or diag($out);

# The backend side verifies the router: a client trusting another CA fails.
(undef, $out) = handshake($sport, '--tls', '--ca', $pki->{otherca_crt}, '--target', '/sec');
like($out, qr/TLS-FAILED/, 'a client that does not trust the router\'s CA fails');

# Plain bytes to the TLS port: TLS fails, the router closes.
my $raw = write_file(TMP . '/plain', "GET /sec HTTP/1.1\r\nHost: x\r\n\r\n");
(undef, $out) = handshake($sport, '--raw', $raw);
unlike($out, qr/HTTP\/1\.1 101/, 'plain HTTP to the TLS port: no 101');
like(read_file($r->{errlog}) // '', qr/TLS failed/, 'TLS failures are logged');

my $res = http(port => $r->{port}, host => 'a.example', path => '/sec/');
is($res->{status}, 503, 'no tunnel in pool sec: 503 (router unharmed)');
finish();
