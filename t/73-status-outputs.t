# The router's status for people and machines, checked against real
# tunnels (docs/mod_ptth_router.md, "Status"):
#  - one handler, four outputs: JSON (default, ?json, Accept), HTML (?html,
#    Accept: text/html, ?refresh=N bounded to 1..3600), OpenMetrics
#    (Accept: application/openmetrics-text) and Prometheus text 0.0.4
#    (?metrics, Accept: text/plain;version=0.0.4), each metrics text
#    parsed by the Prometheus client library's strict parsers;
#  - the same numbers in every output, and they move: a stream in flight,
#    then served, bytes counted;
#  - a backend whose certificate name holds < > " & ' \ is shown escaped
#    in HTML, in JSON and as a metrics label, and comes back whole from
#    each parser;
#  - mod_status's server-status has a PTTH section, ?auto has PTTH lines;
#  - a hub that dies is counted: restarts 1 in every output.
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use PTTH::JSON;
use PTTH::Test qw(:DEFAULT wait_pool_tunnels cgi_group cgi_arrived cgi_release);
use PTTH::PKI qw(make_pki make_client_cert);

my $pki = make_pki(TMP . '/pki');
# A certificate whose name has every character that means something in
# HTML, JSON or a metrics label (the router lowercases certificate names).
my $EVIL_CN = q{x<b>"&'\\y};
my ($evil_crt, $evil_key) = make_client_cert(TMP . '/pki', 'evil', $EVIL_CN);
my $EVIL_ID = "cert:$EVIL_CN";

my $sport = free_port();
my $r = router(
    mpm => 'event', wait_timeout => '10s', modules => ['authz_host'],
    pre_proxy => [
        "PTTHListen 127.0.0.1:$sport cert=$pki->{router_crt} key=$pki->{router_key}"
            . " client_ca=$pki->{ca_crt}",
        "<PTTHPool certs>",
        "  PTTHClientCertificate *",
        "</PTTHPool>",
        "<Location /ptth-status>",
        "  SetHandler ptth-status",
        "  Require ip 127.0.0.1",
        "</Location>",
        "<Location /server-status>",
        "  SetHandler server-status",
        "  Require ip 127.0.0.1",
        "</Location>",
        "ProxyPass /ptth-status !",
        "ProxyPass /server-status !",
        "ProxyPass /certs/ ptth://certs/",
    ]);
$r->start or give_up('router does not start');
my $b = backend(tport => $r->{tport}, tunnels => 2);
$b->start or give_up('backend does not start');
my $be = backend(name => 'evil', tport => 1, tunnels => 1,
                 connect => "https://127.0.0.1:$sport/certs ca=$pki->{ca_crt}"
                          . " cert=$evil_crt key=$evil_key name=router.test"
                          . " hosts=a.example,b.example");
$be->start or give_up('certificate backend does not start');
ok(wait_pool_tunnels($r, 15, app => 2, certs => 1),
   'three tunnels: two plain in pool app, one with a certificate in pool certs')
    or give_up('tunnels missing');

sub get {
    my (%o) = @_;
    return http(port => $r->{port}, path => '/ptth-status' . ($o{q} // ''),
                headers => $o{accept} ? ["Accept: $o{accept}"] : [], max_time => 10);
}
sub json_status {
    my $res = get(q => '?json');
    return eval { decode_json($res->{body}) } || {};
}
sub pools_of { my ($st) = @_; return { map { $_->{name} => $_ } @{ $st->{pools} || [] } } }
sub parse_metrics {
    my ($text, $mode) = @_;
    my $f = TMP . "/metrics.$mode.txt";
    write_file($f, $text);
    my $out = `python3 '${\ ROOT}/t/bin/metrics-parse.py' --$mode < '$f' 2>&1`;
    return ($? == 0 ? eval { decode_json($out) } : undef, $out);
}
# value of a sample (name, {label => value}) among parsed families
sub sample {
    my ($fams, $name, %lab) = @_;
    for my $f (@$fams) {
        S: for my $s (@{ $f->{samples} }) {
            next unless $s->{name} eq $name;
            for my $k (keys %lab) {
                next S unless ($s->{labels}{$k} // '') eq $lab{$k};
            }
            return $s;
        }
    }
    return undef;
}

# ---- JSON: the default, ?json, and Accept: application/json
my $st = json_status();
my $pools = pools_of($st);
is(scalar @{ $pools->{app}{tunnels} }, 2, 'JSON: pool app has 2 tunnels');
is(scalar @{ $pools->{certs}{tunnels} }, 1, 'JSON: pool certs has 1 tunnel');
my $et = $pools->{certs}{tunnels}[0];
is($et->{backend}, $EVIL_ID, 'JSON: the certificate identity comes back whole');
is_deeply($et->{hosts}, ['a.example', 'b.example'], 'JSON: its claimed hosts');
is($et->{state}, 'open', 'JSON: state open');
cmp_ok($et->{max_streams}, '>', 0, "JSON: the backend's stream limit ($et->{max_streams})");
is($st->{hub}{restarts}, 0, 'JSON: no hub restart yet');
my $res = get();
like($res->{headers}{'content-type'}, qr{^application/json}, 'no preference (Accept */*): JSON, as before');
like($res->{headers}{vary} // '', qr/Accept/i, 'Vary: Accept');
$res = get(accept => 'application/json');
like($res->{headers}{'content-type'}, qr{^application/json}, 'Accept: application/json: JSON');
$res = get(accept => 'text/html;q=nan, application/json;q=0.1');
like($res->{headers}{'content-type'}, qr{^application/json},
     'a q that is not a qvalue (q=nan) takes its range out: JSON');
$res = get(accept => 'application/json;q=0.5, text/html ; q=0.501');
like($res->{headers}{'content-type'}, qr{^text/html}, 'the higher q wins (0.501 over 0.5)');
unlike(get()->{body}, qr/<b>/, 'JSON: no raw markup from the certificate name');

# ---- counts move: a stream in flight (held at the backend until the
# test has read every output), then served
my $g = cgi_group('held');
my $slow = in_background(sub {
    my $x = http(port => $r->{port}, host => 'a.example',
                 path => "/cgi-bin/wait.cgi?g=$g&t=60", max_time => 90);
    return $x->{status};
});
ok(wait_for(30, sub { cgi_arrived($g) >= 1 }), 'the held request reached the backend');
my $busy = wait_for(15, sub {
    my $p = pools_of(json_status())->{app} or return 0;
    my ($t) = grep { $_->{active} >= 1 } @{ $p->{tunnels} };
    return $t;
});
ok($busy, 'a request in flight shows as an active stream on one app tunnel');
my $om_busy = get(q => '?metrics', accept => 'application/openmetrics-text; version=1.0.0');
my $html_busy = get(q => '?html')->{body};
cgi_release($g);
is(collect($slow), 200, 'the held request completes once released');
my $after = pools_of(json_status());
my ($same) = grep { $_->{id} == ($busy ? $busy->{id} : -1) } @{ $after->{app}{tunnels} };
ok($same && $same->{active} == 0 && $same->{served} == $busy->{served} + 1
   && $same->{bytes_in} > 0 && $same->{bytes_out} > 0,
   'afterwards: no stream active, served and bytes counted')
    or diag(explain($same));
http(port => $r->{port}, host => 'a.example', path => "/?n=$_") for 1 .. 5;
my $after2 = pools_of(json_status());
cmp_ok($after2->{app}{requests}, '>=', $after->{app}{requests} + 5, 'pool requests count up');

# ---- HTML
$res = get(accept => 'text/html,application/xhtml+xml,*/*;q=0.8');
like($res->{headers}{'content-type'}, qr{^text/html}, 'Accept: text/html: the HTML page');
my $html = $res->{body};
like($html, qr{<table class="tunnels" data-pool="app">}, 'HTML: a tunnel table for pool app');
my @rows = $html =~ /<tr id="tunnel-(\d+)" class="tunnel s-open">/g;
is(scalar @rows, 3, 'HTML: three tunnel rows, all open');
like($html, qr{<td class="backend w">cert:x&lt;b&gt;&quot;&amp;&#39;\\y</td>},
     'HTML: the certificate name escaped');
unlike($html, qr{x<b>}, 'HTML: never the raw markup');
like($html, qr{<td class="hosts w">a\.example, b\.example</td>}, 'HTML: claimed hosts');
like($html, qr{id="hub-restarts">0<}, 'HTML: hub restarts 0');
like($html, qr{<th>PING RTT</th>.*<th>Last error</th>}s, 'HTML: RTT and last error columns');
like($html_busy, qr{<td class="n streams">1 / \d+</td>}, 'HTML during the slow request: 1 stream / the limit');
unlike($html, qr{http-equiv="refresh"}, 'HTML: no refresh unless asked');
like(get(q => '?refresh=5')->{body}, qr{<meta http-equiv="refresh" content="5">},
     '?refresh=5: the page reloads every 5 s');
like(get(q => '?html&refresh=999999')->{body}, qr{content="3600"}, 'refresh bounded to 3600');
like(get(q => '?refresh=0')->{body}, qr{content="1"}, 'and to at least 1');
unlike(get(q => '?html&refresh=5x')->{body}, qr{http-equiv}, 'a refresh that is not a number is ignored');

# ---- OpenMetrics, strictly parsed
like($om_busy->{headers}{'content-type'}, qr{^application/openmetrics-text; version=1\.0\.0},
     'OpenMetrics content type');
like($om_busy->{body}, qr/# EOF\n\z/, 'OpenMetrics ends with # EOF');
my ($fams, $err) = parse_metrics($om_busy->{body}, 'openmetrics');
ok($fams, 'the OpenMetrics parser accepts the text') or diag($err);
$fams ||= [];
is(sample($fams, 'ptth_router_tunnels', pool => 'app')->{value}, 2, 'OM: ptth_router_tunnels{pool="app"} 2');
is(sample($fams, 'ptth_router_tunnels', pool => 'certs')->{value}, 1, 'OM: pool certs 1');
is(sample($fams, 'ptth_router_streams_active', pool => 'app')->{value}, 1,
   'OM: the stream in flight (ptth_router_streams_active)');
my $info = sample($fams, 'ptth_router_tunnel_info', pool => 'certs');
is($info && $info->{labels}{backend}, $EVIL_ID, 'OM: the certificate name survives as a label value');
ok(sample($fams, 'ptth_router_requests_total', pool => 'app'), 'OM: ptth_router_requests_total');
my %types = map { $_->{name} => $_->{type} } @$fams;
is($types{ptth_router_tunnel_bytes_received}, 'counter', 'OM: bytes received is a counter family');
is($types{ptth_router_hub}, 'info', 'OM: hub info');
ok(sample($fams, 'ptth_router_tunnel_bytes_received_total', pool => 'app'),
   'OM: ptth_router_tunnel_bytes_received_total{pool,tunnel}');
ok(sample($fams, 'ptth_router_tunnel_age_seconds', pool => 'app'), 'OM: _seconds units');

# ---- Prometheus text 0.0.4
for my $c (['?metrics', undef], ['', 'text/plain;version=0.0.4;q=0.5,*/*;q=0.1']) {
    $res = get(q => $c->[0], accept => $c->[1]);
    like($res->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4},
         "0.0.4 for " . ($c->[0] || "Accept: $c->[1]"));
    my ($pf, $perr) = parse_metrics($res->{body}, 'prometheus');
    ok($pf, '0.0.4 parser accepts it') or diag($perr);
    my $s = $pf ? sample($pf, 'ptth_router_tunnel_info', pool => 'certs') : undef;
    is($s && $s->{labels}{backend}, $EVIL_ID, '0.0.4: the label value comes back whole');
    unlike($res->{body}, qr/# EOF/, 'no # EOF in 0.0.4');
}
my $sum = 0;
$sum += $_->{served} for @{ pools_of(json_status())->{app}{tunnels} };
($fams) = parse_metrics(get(q => '?openmetrics')->{body}, 'openmetrics');
my $msum = 0;
$msum += $_->{value} for grep { $_->{labels}{pool} eq 'app' }
    map { @{ $_->{samples} } } grep { $_->{name} eq 'ptth_router_tunnel_streams' } @{ $fams || [] };
is($msum, $sum, "metrics and JSON agree on streams served ($sum)");

# ---- mod_status
$res = http(port => $r->{port}, path => '/server-status');
is($res->{status}, 200, 'server-status answers');
like($res->{body}, qr{<h2><a name="ptth">PTTH router</a></h2>}, 'server-status: a PTTH router section');
like($res->{body}, qr{<td>cert:x&lt;b&gt;&quot;&amp;&#39;\\y</td>}, 'server-status: tunnels listed, escaped');
$res = http(port => $r->{port}, path => '/server-status?auto');
like($res->{body}, qr/^PTTHTunnels: 3$/m, 'server-status?auto: PTTHTunnels: 3');
like($res->{body}, qr/^PTTHPool: app tunnels=2 /m, '?auto: a line per pool');
like($res->{body}, qr/^PTTHHubRestarts: 0$/m, '?auto: PTTHHubRestarts: 0');

# ---- the hub dies: counted
my $hub = $st->{hub}{pid};
kill 'KILL', $hub;
my $st2 = wait_for(15, sub {
    my $s = json_status();
    return ($s->{hub}{pid} && $s->{hub}{pid} != $hub) ? $s : 0;
});
ok($st2, 'a new hub answers after the old one was killed');
is($st2 && $st2->{hub}{restarts}, 1, 'JSON: hub restarts 1');
like(get(q => '?html')->{body}, qr{id="hub-restarts">1<}, 'HTML: hub restarts 1');
($fams) = parse_metrics(get(q => '?openmetrics')->{body}, 'openmetrics');
is($fams && sample($fams, 'ptth_router_hub_restarts_total')->{value}, 1, 'metrics: restarts 1');
ok(wait_for(15, sub { scalar(@{ pools_of(json_status())->{app}{tunnels} || [] }) == 2 }),
   'the backends dialed the new hub');

$res = http(port => $r->{port}, path => '/ptth-status', method => 'POST',
            data_file => '/dev/null');
is($res->{status}, 405, 'POST: 405');
finish();
