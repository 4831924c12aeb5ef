# Risky configurations pass `apache2 -t` (what apachectl configtest runs)
# with a warning that says what is at risk (docs/mod_ptth_router.md,
# "Security warnings"); safe ones pass without:
#  - a plain= listener, or a secure listener without cert=, on an address
#    that is not loopback;
#  - a status handler in a section without access control.
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use PTTH::Test;
use PTTH::PKI qw(make_pki);

my $pki = make_pki(TMP . '/pki');
my $pool = "<PTTHPool sec>\n  PTTHToken sha256:" . sha256_hex('t0ken') . "\n</PTTHPool>";
my $status = "<Location /ptth-status>\n  SetHandler ptth-status\n%s</Location>\n"
           . "ProxyPass /ptth-status !";

sub check {
    my ($what, $extra, $want, $unwanted) = @_;
    my $r = router(name => 'warn', modules => ['authz_host', 'access_compat'], pre_proxy => $extra);
    my ($rc, $out) = $r->configtest;
    is($rc, 0, "$what: apache2 -t passes") or diag($out);
    for my $w (@{ $want || [] }) {
        like($out, $w, "$what: warns $w");
    }
    for my $u (@{ $unwanted || [] }) {
        unlike($out, $u, "$what: does not warn $u");
    }
    return $out;
}

my $PLAIN = qr/PTTH01010: PTTHListen \S+ plain=\w+: plain mode on an address that is not loopback/;
my $CLEAR = qr/PTTH01011: PTTHListen \S+: the PTTH handshake in cleartext \(no cert=\) on an address that is not loopback/;
my $OPEN  = qr/PTTH01012: SetHandler ptth-status \(\S+:\d+, in <Location \/ptth-status>\) has no access control/;
my $ANY   = qr/PTTH0101[012]/;

my $p = free_port();
check('plain= on all addresses', ["PTTHListen $p plain=wide"], [$PLAIN]);
check('plain= on 0.0.0.0', ["PTTHListen 0.0.0.0:$p plain=wide"], [$PLAIN]);
check('plain= on 127.0.0.2', ["PTTHListen 127.0.0.2:$p plain=lo"], [], [$ANY]);
check('plain= on localhost', ["PTTHListen localhost:$p plain=lo"], [], [$ANY]);
check('secure, cleartext, all addresses', ["PTTHListen *:$p", $pool], [$CLEAR], [$PLAIN]);
check('secure, cleartext, loopback', ["PTTHListen 127.0.0.1:$p", $pool], [], [$ANY]);
check('secure with cert= on all addresses',
      ["PTTHListen $p cert=$pki->{router_crt} key=$pki->{router_key}", $pool], [], [$ANY]);

check('ptth-status without access control', [sprintf($status, '')], [$OPEN]);
my $out = check('ptth-status with only Require all granted',
                [sprintf($status, "  Require all granted\n")], [$OPEN]);
like($out, qr/add e\.g\. "Require ip 127\.0\.0\.1"/, 'the warning says what to add');
check('ptth-status with Require ip', [sprintf($status, "  Require ip 127.0.0.1\n")], [], [$ANY]);
check('ptth-status with Allow from (mod_access_compat)',
      [sprintf($status, "  Order deny,allow\n  Deny from all\n  Allow from 127.0.0.1\n")], [], [$ANY]);
check('ptth-status with <RequireAny>',
      [sprintf($status, "  <RequireAny>\n    Require ip 127.0.0.1\n  </RequireAny>\n")], [], [$ANY]);
check('ptth-status guarded by another <Location> of the same path',
      [sprintf($status, ''), "<Location /ptth-status>\n  Require ip 127.0.0.1\n</Location>"],
      [], [$ANY]);
check('ptth-status for the whole server',
      ["SetHandler ptth-status"],
      [qr/PTTH01012: SetHandler ptth-status \(\S+:\d+, in the server \(no section\)\) has no access control/]);

finish();
