# Secure mode over TLS, router side: the tunnel listener speaks TLS 1.2+
# with the configured certificate; a backend with a trusted client
# certificate named in <PTTHPool> gets 101; an untrusted or expired client
# certificate fails in TLS, a trusted one with another name gets 403; a
# TLS ClientHello to a plain port and plain bytes to a TLS port get a close;
# the router picks AES-128-GCM first and refuses TLS 1.2 without ECDHE and
# an AEAD cipher.
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

# Ciphers (docs/protocol.md section 2.1): the router picks by its own
# order, AES-128-GCM first; under TLS 1.2 only ECDHE with AEAD (RFC 9113
# 9.2.2).  openssl s_client, with the trusted client certificate.
sub s_client {
    my (@args) = @_;
    my $out = `echo | timeout 10 openssl s_client -connect 127.0.0.1:$sport -servername router.test -CAfile '$pki->{ca_crt}' -cert '$pki->{backend1_crt}' -key '$pki->{backend1_key}' @args 2>&1`;
    my ($cipher) = $out =~ /Cipher is (\S+)/;
    return ($cipher // 'none', $out);
}
my ($cipher, $sout) = s_client('-tls1_3', '-ciphersuites', 'TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256');
is($cipher, 'TLS_AES_128_GCM_SHA256',
   'TLS 1.3, a client that prefers AES-256-GCM: the router picks AES-128-GCM') or diag($sout);
($cipher, $sout) = s_client('-tls1_2', '-cipher', 'ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256');
is($cipher, 'ECDHE-ECDSA-AES128-GCM-SHA256', 'TLS 1.2: ECDHE with AES-128-GCM, by the router\'s order')
    or diag($sout);
($cipher, $sout) = s_client('-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-SHA:AES128-GCM-SHA256');
ok($cipher eq 'none' || $cipher eq '(NONE)',
   'TLS 1.2 with only CBC or a static RSA key exchange: no session') or diag($sout);

my $res = http(port => $r->{port}, host => 'a.example', path => '/sec/');
is($res->{status}, 503, 'no tunnel in pool sec: 503 (router unharmed)');
finish();
