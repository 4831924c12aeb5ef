# The backend's status (docs/mod_ptth_backend.md, "Status and logging"):
# "SetHandler ptth-backend-status" shows every router the server dials
# and each tunnel (seat): its state and since when, requests served, the
# last refusal with its reason, the next retry; as HTML, JSON and metrics
# (parsed by the strict OpenMetrics parser), from any child.  Checked
# against a router that serves (plain mode, 2 tunnels) and one that
# refuses (a wrong token: 401), and against requests running.
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use PTTH::JSON;
use Digest::SHA qw(sha256_hex);
use PTTH::Test qw(:DEFAULT cgi_group cgi_arrived cgi_release);

my $sport = free_port();
my $r = router(pre_proxy => [
    "PTTHListen 127.0.0.1:$sport",
    "<PTTHPool sites>",
    "  PTTHToken sha256:" . sha256_hex('the-right-token'),
    "</PTTHPool>",
    "<Location /ptth-status>", "  SetHandler ptth-status", "  Require ip 127.0.0.1",
    "</Location>", "ProxyPass /ptth-status !",
], modules => ['authz_host']);
$r->start or give_up('router does not start');
my $bad = write_file(TMP . '/bad.tok', "not-the-token\n", 0600);
my $b = backend(tport => $r->{tport}, tunnels => 2, mpm => 'prefork',
                modules => ['authz_host'],
                reconnect => '300ms 1s',
                extra => [
    "PTTHConnect http://127.0.0.1:$sport/sites token_file=$bad tunnels=1",
    "<Location /ptth-backend-status>",
    "  SetHandler ptth-backend-status",
    "  Require ip 127.0.0.1",
    "</Location>",
]);
$b->start or give_up('backend does not start');
ok(wait_for(15, sub { tunnel_count($r->{tport}) == 2 }), 'two plain tunnels')
    or give_up('no tunnels');
# A TCP connection is not yet a tunnel: wait until the backend serves on both.
ok(wait_for(15, sub { ((router_of(st(), "tcp://127.0.0.1:$r->{tport}") || {})->{serving} // 0) == 2 }),
   'both plain tunnels serving')
    or give_up('no tunnels');

my $TCP = "tcp://127.0.0.1:$r->{tport}";
my $HTTP = "http://127.0.0.1:$sport/sites";
sub get {
    my (%o) = @_;
    return http(port => $b->{port}, path => '/ptth-backend-status' . ($o{q} // ''),
                headers => $o{accept} ? ["Accept: $o{accept}"] : [], max_time => 10);
}
sub st { eval { decode_json(get(q => '?json')->{body}) } || {} }
sub router_of { my ($s, $url) = @_; (grep { $_->{url} eq $url } @{ $s->{routers} || [] })[0] }

my $s = st();
is(scalar @{ $s->{routers} || [] }, 2, 'JSON: both PTTHConnect lines');
my $plain = router_of($s, $TCP);
is($plain->{serving}, 2, 'the plain router: 2 of 2 tunnels serving');
is(join(',', map { $_->{state} } @{ $plain->{seats} }), 'serving,serving', 'each seat: serving');
like($plain->{seats}[0]{local} // '', qr/^127\.0\.0\.1:\d+$/, 'the local address of a tunnel');
ok(defined $plain->{seats}[0]{since_s} && $plain->{seats}[0]{pid}, 'since when, and which child');

# The router sees each tunnel's local address as its peer.
my $rs = eval { decode_json(http(port => $r->{port}, path => '/ptth-status?json')->{body}) } || {};
my ($app) = grep { $_->{name} eq 'app' } @{ $rs->{pools} || [] };
is(join(' ', sort map { $_->{peer} } @{ $app ? $app->{tunnels} : [] }),
   join(' ', sort map { $_->{local} // '' } @{ $plain->{seats} }),
   "the seats' local addresses are the router's peers for them");

# Requests counted, from any child (prefork: several processes).
my $before = 0;
$before += $_->{requests} for @{ $plain->{seats} };
http(port => $r->{port}, host => 'a.example', path => "/?n=$_") for 1 .. 6;
my $after;
ok(wait_for(15, sub {
    my $p = router_of(st(), $TCP);
    $after = 0;
    $after += $_->{requests} for @{ $p->{seats} };
    return $after >= $before + 6;
}), "requests served count up ($before -> " . ($after // '?') . ')');

# A stream in flight, held at the backend until the status has shown it.
my $g = cgi_group('held');
my $bg = in_background(sub {
    http(port => $r->{port}, host => 'a.example', path => "/cgi-bin/wait.cgi?g=$g&t=60",
         max_time => 90)->{status};
});
ok(wait_for(30, sub { cgi_arrived($g) >= 1 }), 'the held request reached the backend');
ok(wait_for(15, sub { grep { $_->{active} >= 1 } @{ router_of(st(), $TCP)->{seats} } }),
   'a request in flight: one seat shows an open stream');
cgi_release($g);
is(collect($bg), 200, 'it completes once released');

# The refusing router: last refusal 401 with its reason, next retry.
my $ref;
ok(wait_for(10, sub {
    my $h = router_of(st(), $HTTP) or return 0;
    $ref = $h->{seats}[0];
    return $ref->{last_refusal} && $ref->{last_refusal}{status} == 401;
}), 'the router that refuses: last refusal 401');
like($ref->{last_refusal}{reason} // '', qr/refused the tunnel with 401 \(check token_file=\)/,
     'with its reason');
cmp_ok($ref->{failures}, '>=', 1, "failed dials in a row ($ref->{failures})");
my $retry;
ok(wait_for(10, sub {
    my $x = router_of(st(), $HTTP)->{seats}[0];
    $retry = $x;
    return $x->{state} eq 'backoff' && defined $x->{next_retry_ms};
}), 'caught backing off, with the next retry');
ok($retry->{next_retry_ms} >= 0 && $retry->{next_retry_ms} <= 1000,
   "next retry within PTTHReconnect's maximum ($retry->{next_retry_ms} ms)");
is(router_of(st(), $HTTP)->{serving}, 0, 'no tunnel serving to the refusing router');

# ---- HTML
my $res = get(accept => 'text/html');
like($res->{headers}{'content-type'}, qr{^text/html}, 'HTML for a browser');
my $html = $res->{body};
like($html, qr{<table class="tunnels" data-router="\Q$TCP\E">}, 'HTML: a table per router');
my @serving = $html =~ /<tr id="seat-\d" class="tunnel s-serving">/g;
is(scalar @serving, 2, 'HTML: two seats serving');
like($html, qr{<span class="err">[^<]* ago: the router refused the tunnel with 401 \(check token_file=\)</span>},
     'HTML: the last refusal and its reason');
like(get(q => '?refresh=2')->{body}, qr{<meta http-equiv="refresh" content="2">}, 'HTML: ?refresh=2');

# ---- metrics
$res = get(q => '?metrics', accept => 'application/openmetrics-text');
like($res->{headers}{'content-type'}, qr{^application/openmetrics-text}, 'OpenMetrics');
my $f = write_file(TMP . '/om.txt', $res->{body});
my $out = `python3 '${\ ROOT}/t/bin/metrics-parse.py' --openmetrics < '$f' 2>&1`;
my $fams = $? == 0 ? eval { decode_json($out) } : undef;
ok($fams, 'the OpenMetrics parser accepts it') or diag($out);
my %v;
for my $fam (@{ $fams || [] }) {
    for my $smp (@{ $fam->{samples} }) {
        my $k = join ',', $smp->{name}, map { "$_=$smp->{labels}{$_}" } sort keys %{ $smp->{labels} };
        $v{$k} = $smp->{value};
    }
}
is($v{"ptth_backend_tunnels,router=$TCP"}, 2, 'ptth_backend_tunnels{router=tcp://...} 2');
is($v{"ptth_backend_tunnels_wanted,router=$HTTP"}, 1, 'ptth_backend_tunnels_wanted for the refusing router');
ok((grep { /^ptth_backend_tunnel_last_refusal_info,reason=the router refused the tunnel with 401 .*,seat=0,status=401$/ } keys %v),
   'ptth_backend_tunnel_last_refusal_info{status="401",reason=...}');
cmp_ok(($v{"ptth_backend_tunnel_requests_total,router=$TCP,seat=0"} // 0)
       + ($v{"ptth_backend_tunnel_requests_total,router=$TCP,seat=1"} // 0), '>=', 7,
       'ptth_backend_tunnel_requests_total per seat');
$res = get(q => '?metrics');
$f = write_file(TMP . '/prom.txt', $res->{body});
$out = `python3 '${\ ROOT}/t/bin/metrics-parse.py' --prometheus < '$f' 2>&1`;
is($?, 0, 'Prometheus 0.0.4 text parses') or diag($out);

# ---- warnings at configtest
my $w = backend(name => 'warn', tport => 1, connect => 'tcp://192.0.2.1:8887',
                extra => ["<Location /ptth-backend-status>", "  SetHandler ptth-backend-status",
                          "</Location>"]);
my ($rc, $wout) = $w->configtest;
is($rc, 0, 'apache2 -t passes with warnings');
like($wout, qr/PTTH03200: PTTHConnect tcp:\/\/192\.0\.2\.1:8887: plain mode to a router that is not on loopback/,
     'warns: plain mode to a router off loopback');
like($wout, qr/PTTH03201: SetHandler ptth-backend-status \(\S+:\d+, in <Location \/ptth-backend-status>\) has no access control/,
     'warns: the status handler has no access control');
($rc, $wout) = $b->configtest;
unlike($wout, qr/PTTH0320[01]/, 'no warning for loopback routers and a guarded handler');

finish();
