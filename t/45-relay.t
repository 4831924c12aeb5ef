# Both modules in one httpd: a relay that is a backend of an outer router
# and the router of an inner backend.
#
#   curl -> outer router --tunnel--> relay (ptth_backend + ptth_router)
#                                      |  vhost a.example: ProxyPass /relay/ ptth://inner/
#                                      +--tunnel--> inner backend
#
# Each module exports only its module record, so the shared code linked
# into both cannot interpose on the other's copy.  The directive both
# declare (PTTHDrainTimeout) is accepted once and reaches both: on a
# graceful restart of the relay, its hub (router side) and its dialer
# (backend side) each give up on a request in flight after the relay's
# 3 s, not after the 30 s default -- read off the relay's error log, where
# each side logs when it began to drain and when it gave up.
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use PTTH::Test qw(:DEFAULT wait_log log_time log_matches cgi_group cgi_arrived cgi_release);

# The loaded objects export nothing but their module records.
for my $so ($PTTH::Test::ROUTER_SO, $PTTH::Test::BACKEND_SO) {
    my @syms = map { (split ' ')[-1] } grep { /\s[A-Z]\s/ }
               split /\n/, `nm -D --defined-only '$so' 2>/dev/null`;
    (my $want = $so) =~ s{.*/mod_(ptth_\w+)\.so$}{${1}_module};
    is("@syms", $want, "$want is the only symbol its .so exports");
}

my $outer = router(pre_proxy => 'ProxyVia On');
$outer->start or give_up('outer router does not start');

my $itport = free_port();
my $relay = backend(tport => $outer->{tport},
                    modules => [qw(proxy)],
                    extra => ["LoadModule ptth_router_module $PTTH::Test::ROUTER_SO",
                              "LogLevel info ptth_router:debug ptth_backend:debug",
                              "PTTHListen 127.0.0.1:$itport plain=inner",
                              "PTTHWaitTimeout 5s",
                              "ProxyVia On",
                              "PTTHDrainTimeout 3s"],
                    vhost_extra => ['ProxyPass /relay/ ptth://inner/',
                                    'ProxyPassReverse /relay/ ptth://inner/']);
my ($rc, $out) = $relay->configtest;
is($rc, 0, 'configtest accepts both modules and PTTHDrainTimeout in one httpd')
    or diag($out);
$relay->start or give_up('relay does not start');
ok(defined wait_for_tunnel($outer, expect => 'A'), 'outer router reaches the relay')
    or give_up('no outer tunnel');

my $inner = backend(tport => $itport);
$inner->start or give_up('inner backend does not start');
ok(defined wait_for_tunnel($outer, path => '/relay/', expect => 'A'),
   'a request through both tunnels reaches the inner backend')
    or give_up('no inner tunnel');

my $res = http(port => $outer->{port}, host => 'a.example',
               path => '/relay/cgi-bin/env.cgi?x=1');
is($res->{status}, 200, 'two hops: CGI 200');
like($res->{body}, qr/^HTTP_HOST=a\.example$/m, 'the user\'s Host survives both hops');
like($res->{body}, qr/^REQUEST_URI=\/cgi-bin\/env\.cgi\?x=1$/m,
     'the inner backend sees the path below /relay/');
like($res->{body}, qr/^SERVER_PROTOCOL=HTTP\/2\.0$/m, 'the inner hop is HTTP/2 too');
my @hops = ($res->{body} =~ /^HTTP_VIA=(.*)$/m ? split(/,\s*/, $1) : ());
is(scalar @hops, 2, 'Via names both routers') or diag($res->{body});

my ($big, $sum) = big_file('relay-4m', 4 << 20);
$res = http(port => $outer->{port}, host => 'a.example', max_time => 60,
            path => '/relay/cgi-bin/sha.cgi', upload_file => $big);
is($res->{status}, 200, 'two hops: 4 MiB POST 200');
like($res->{body}, qr/^sha256=$sum$/m, '... body arrives intact (SHA-256)');
$res = http(port => $outer->{port}, host => 'a.example', max_time => 60,
            path => '/relay/big/relay-4m');
is($res->{status}, 200, 'two hops: 4 MiB GET 200');
is(sha256_str($res->{body} // ''), $sum, '... body arrives intact (SHA-256)');

# The relay's own vhosts still answer for paths outside /relay/.
$res = http(port => $outer->{port}, host => 'b.example', path => '/');
is($res->{body}, 'B', 'the relay serves its own b.example');

# The relay's hub lists the inner tunnel; the outer hub the relay's.
is(tunnel_count($outer->{tport}), 1, 'outer router: one tunnel (the relay)');
is(tunnel_count($itport), 1, 'relay: one tunnel (the inner backend)');

# --- PTTHDrainTimeout 3s, both sides, one graceful restart of the relay.
# Backend side: the outer router sends a request to the relay's own CGI,
# a stream on the relay's tunnel.  Router side: a request straight to the
# relay's Listen port goes through the relay's hub to the inner backend,
# a stream on the inner tunnel only.  Both CGIs answer 20 s later: with the
# 30 s default each request would end with a 200 after 20 s.
my $off = -s $relay->{errlog} || 0;
my ($gb, $gr) = (cgi_group('backend-side'), cgi_group('router-side'));
my $via_tunnel = in_background(sub {
    my $x = http(port => $outer->{port}, host => 'a.example', max_time => 60,
                 path => "/cgi-bin/wait.cgi?g=$gb&t=20");
    return "$x->{status} " . time;
});
my $via_hub = in_background(sub {
    my $x = http(port => $relay->{port}, host => 'a.example', max_time => 60,
                 path => "/relay/cgi-bin/wait.cgi?g=$gr&t=20");
    return "$x->{status} " . time;
});
ok(wait_for(20, sub { cgi_arrived($gb) && cgi_arrived($gr) }),
   'drain: a request in flight on each side (CGIs running at the relay and the inner backend)');
my $t_graceful = time;
ok($relay->graceful, 'drain: apache2 -k graceful of the relay');

# Router side: the relay's old hub goes DRAINING, then gives up.
my ($gave_up) = wait_log($relay, qr/hub \d+: drain time is up/, from => $off, timeout => 20);
my ($hub) = ($gave_up // '') =~ /hub (\d+): drain time is up/;
my ($began) = $hub ? log_matches($relay, qr/hub $hub: RUNNING -> DRAINING/, $off) : ();
my $dt = (defined $began && defined $gave_up) ? log_time($gave_up) - log_time($began) : -1;
ok($dt >= 2.5 && $dt < 10,
   sprintf('router side: the hub gave up on its stream %.2f s into the drain (PTTHDrainTimeout 3s)', $dt))
    or diag(log_since($relay->{errlog}, $off));

# Backend side: the child that holds the tunnel to the outer router stops
# gracefully, then shuts the busy tunnel down at the deadline.
my ($cut) = wait_log($relay, qr/PTTHDrainTimeout reached/, from => $off, timeout => 20);
my ($cpid) = ($cut // '') =~ /\[pid (\d+)/;
my ($stopping) = $cpid ? log_matches($relay, qr/child $cpid stopping gracefully/, $off) : ();
$dt = (defined $stopping && defined $cut) ? log_time($cut) - log_time($stopping) : -1;
ok($dt >= 2.5 && $dt < 10,
   sprintf('backend side: the tunnel with a request in flight was shut %.2f s into the drain '
           . '(PTTHDrainTimeout 3s)', $dt))
    or diag(log_since($relay->{errlog}, $off));

# And the users see it: both requests end early, neither with the CGI's
# answer (a 200, 20 s after it started).
for my $c (['backend side', $via_tunnel], ['router side', $via_hub]) {
    my ($st, $end) = split ' ', collect($c->[1]);
    my $after = ($end // 0) - $t_graceful;
    ok(defined $end && $st != 200 && $after < 15,
       sprintf("$c->[0]: the request in flight was given up %.1f s after the graceful restart ($st), "
               . 'not answered by the CGI', $after));
}
cgi_release($_) for $gb, $gr;
ok(defined wait_for_tunnel($outer, path => '/relay/', expect => 'A', timeout => 20),
   'after the restart, requests go through both tunnels again');

finish();
