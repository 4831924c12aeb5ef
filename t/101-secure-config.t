# Secure-mode misconfigurations are refused by `apache2 -t` with a message
# naming the directive: pools without authentication, tokens outside a
# pool or not hashed, TLS files missing or not matching, backend TLS and
# token files that cannot be used, handshake parameters that cannot be sent.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use PTTH::Test;
use PTTH::PKI qw(make_pki);

my $pki = make_pki(TMP . '/pki');
my $p = free_port();
my $hash = 'sha256:' . ('ab' x 32);
my $tok = write_file(TMP . '/tok', "t0ken\n");
my $empty = write_file(TMP . '/empty', "\n");
my $pool = "<PTTHPool sec>\n  PTTHToken $hash\n</PTTHPool>";

my $ok = router(name => 'router-ok', extra => "PTTHListen 127.0.0.1:$p cert=$pki->{router_crt} key=$pki->{router_key}\n$pool\nProxyPass /s/ ptth://sec/");
my ($rc, $out) = $ok->configtest;
is($rc, 0, 'control: a valid secure router config passes') or diag($out);

my @router_bad = (
    ['PTTHToken', "PTTHToken $hash", 'outside <PTTHPool>'],
    ['PTTHToken', "PTTHListen 127.0.0.1:$p\n<PTTHPool sec>\n PTTHToken plain-secret\n</PTTHPool>", 'not a sha256 digest'],
    ['PTTHToken', "PTTHListen 127.0.0.1:$p\n<PTTHPool sec>\n PTTHAllowHosts a.example\n</PTTHPool>", 'pool without any authentication'],
    ['PTTHTokenFile', "PTTHListen 127.0.0.1:$p\n<PTTHPool sec>\n PTTHTokenFile /nonexistent/x\n</PTTHPool>", 'unreadable token file'],
    ['PTTHTokenFile', "PTTHListen 127.0.0.1:$p\n<PTTHPool sec>\n PTTHTokenFile $empty\n</PTTHPool>", 'token file without a token'],
    ['PTTHListen', "PTTHListen 127.0.0.1:$p cert=$pki->{router_crt}\n$pool", 'cert= without key='],
    ['PTTHListen', "PTTHListen 127.0.0.1:$p cert=/nonexistent.crt key=$pki->{router_key}\n$pool", 'missing certificate'],
    ['PTTHListen', "PTTHListen 127.0.0.1:$p cert=$pki->{router_crt} key=$pki->{backend1_key}\n$pool", 'key does not match'],
    ['PTTHListen', "PTTHListen 127.0.0.1:$p plain=x cert=$pki->{router_crt} key=$pki->{router_key}", 'plain= with TLS'],
    ['PTTHListen', "PTTHListen 127.0.0.1:$p", 'secure listener without any pool'],
    ['PTTHClientCertificate', "PTTHListen 127.0.0.1:$p\n<PTTHPool sec>\n PTTHClientCertificate b.example\n</PTTHPool>", 'client certificates without client_ca='],
    ['PTTHAllowHosts', "PTTHListen 127.0.0.1:$p\n<PTTHPool sec>\n PTTHToken $hash\n PTTHAllowHosts bad_host!\n</PTTHPool>", 'bad host pattern'],
    ['PTTHPool', "PTTHListen 127.0.0.1:$p\n$pool\n$pool", 'pool declared twice'],
    ['PTTHEndpoint', "PTTHListen 127.0.0.1:$p\n<PTTHPool sec>\n PTTHToken $hash\n PTTHEndpoint nope\n</PTTHPool>", 'endpoint not a path'],
    ['PTTHHandshakeTimeout', "PTTHHandshakeTimeout 0", 'zero handshake timeout'],
    ['ptth://', "ProxyPass /x/ ptth://undeclared/", 'ptth:// naming no pool'],
);
for my $c (@router_bad) {
    my ($directive, $line, $what) = @$c;
    my $r = router(name => 'router-bad', extra => $line);
    my ($rc, $out) = $r->configtest;
    ok($rc != 0 && $out =~ /\Q$directive\E/, "router: $what is refused, naming $directive")
        or diag("exit $rc: $out");
}

my $u = "https://127.0.0.1:$p/sec";
my @backend_bad = (
    ['PTTHConnect', "PTTHConnect $u ca=/nonexistent.crt", 'missing CA file'],
    ['PTTHConnect', "PTTHConnect $u ca=$pki->{ca_crt} cert=$pki->{backend1_crt}", 'cert= without key='],
    ['PTTHConnect', "PTTHConnect $u ca=$pki->{ca_crt} cert=$pki->{backend1_crt} key=$pki->{router_key}", 'client key does not match'],
    ['PTTHConnect', "PTTHConnect $u token_file=/nonexistent", 'unreadable token file'],
    ['PTTHConnect', "PTTHConnect $u token_file=$empty", 'empty token file'],
    ['PTTHConnect', "PTTHConnect tcp://127.0.0.1:$p token_file=$tok", 'token_file= in plain mode'],
    ['PTTHConnect', "PTTHConnect http://127.0.0.1:$p/sec ca=$pki->{ca_crt}", 'ca= without TLS'],
    ['PTTHConnect', "PTTHConnect $u hosts=bad_host!", 'host name that cannot be sent'],
);
for my $c (@backend_bad) {
    my ($directive, $line, $what) = @$c;
    my $b = backend(name => 'backend-bad', tport => 1, connect => '', extra => $line);
    my ($rc, $out) = $b->configtest;
    ok($rc != 0 && $out =~ /\Q$directive\E/, "backend: $what is refused, naming $directive")
        or diag("exit $rc: $out");
}
done_testing();
