# Both modules in one httpd: a relay that is a backend of an outer router
# and the router of an inner backend.
#
#   curl -> outer router --tunnel--> relay (ptth_backend + ptth_router)
#                                      |  vhost a.example: ProxyPass /relay/ ptth://inner/
#                                      +--tunnel--> inner backend
#
# Each module exports only its module record, so the shared code linked
# into both cannot interpose on the other's copy; the directive both
# declare (PTTHDrainTimeout) reaches both and configtest accepts it.
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use PTTH::Test;

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
                              "PTTHDrainTimeout 7s"],
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

finish();
