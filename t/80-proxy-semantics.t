# mod_proxy semantics through ptth:// workers: ProxyPreserveHost on/off,
# X-Forwarded-For/-Host/-Server, Via (ProxyVia On), ProxyPassReverse,
# balancer members ptth://POOL with failover from a pool without tunnels,
# 503 after PTTHWaitTimeout when a pool has no tunnel, and 504 when the
# backend is slower than ProxyTimeout or the worker's timeout=.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use PTTH::Test qw(:DEFAULT cgi_group cgi_release);

my $tport2 = free_port();
my $r = router(
    wait_timeout => '2s',
    pre_proxy => [
        "ProxyVia On",
        "ProxyTimeout 3",
        "PTTHListen 127.0.0.1:$tport2 plain=other",
        "ProxyPass /t1/ ptth://app/t1/ timeout=1",
        "ProxyPassReverse /t1/ ptth://app/t1/",
        "<Proxy balancer://bal>",
        "  BalancerMember ptth://other retry=60",
        "  BalancerMember ptth://app retry=60",
        "</Proxy>",
        "ProxyPass /bal/ balancer://bal/",
        "ProxyPass /none/ ptth://other/",
        "<Location /nph/>",
        "  ProxyPass ptth://app/",
        "  ProxyPassReverse ptth://app/",
        "  ProxyPreserveHost Off",
        "</Location>",
        "ProxyPassReverse / http://backend.internal/",
    ],
    # No "ProxyPassReverse / ptth://app/" at server level: mod_proxy tries
    # the server's aliases before a <Location>'s, and it would map /nph/'s
    # Locations first.
    proxy => ["ProxyPass / ptth://app/"],
);
$r->start or give_up('router does not start');
my $b = backend(tport => $r->{tport});
$b->start or give_up('backend does not start');
ok(defined wait_for_tunnel($r), 'tunnel up') or give_up('no tunnel');
my $P = $r->{port};

# --- ProxyPreserveHost On, X-Forwarded-*, remote address, Via
my $res = http(port => $P, host => 'a.example', path => '/cgi-bin/env.cgi',
               interface => '127.0.0.5');
my $e = parse_env($res->{body});
is($res->{status}, 200, 'env.cgi: 200');
is($e->{HTTP_HOST}, 'a.example', 'ProxyPreserveHost On: backend sees Host a.example');
is($e->{SERVER_NAME}, 'a.example', 'ProxyPreserveHost On: a.example vhost');
is($e->{HTTP_X_FORWARDED_HOST}, 'a.example', 'X-Forwarded-Host: a.example');
like($e->{HTTP_X_FORWARDED_SERVER}, qr/^router\.test/, 'X-Forwarded-Server: the router');
is($e->{REMOTE_ADDR}, '127.0.0.5',
   'X-Forwarded-For carries the client address (mod_remoteip at the backend: 127.0.0.5)');
like($e->{HTTP_VIA}, qr/\brouter\.test\b/, 'ProxyVia On: request Via names the router')
    or diag("Via: $e->{HTTP_VIA}");
like($res->{headers}{via} // '', qr/\brouter\.test\b/, 'ProxyVia On: response Via names the router');

$res = http(port => $P, host => 'a.example', path => '/cgi-bin/env.cgi',
            interface => '127.0.0.5', headers => ['X-Forwarded-For: 6.6.6.6']);
$e = parse_env($res->{body});
is($e->{REMOTE_ADDR}, '127.0.0.5', 'a spoofed X-Forwarded-For from the user is not trusted');
like($e->{HTTP_X_FORWARDED_FOR}, qr/6\.6\.6\.6/, 'the spoofed value stays as a plain header');

# X-Forwarded-For itself (a backend without mod_remoteip sees the header).
my $bx = backend(name => 'backend-noremoteip', tport => $r->{tport}, remoteip => 0);
$b->stop;
$bx->start or give_up('backend without remoteip does not start');
ok(defined wait_for_tunnel($r), 'tunnel to the second backend up');
$res = http(port => $P, host => 'a.example', path => '/cgi-bin/env.cgi',
            interface => '127.0.0.7');
$e = parse_env($res->{body});
is($e->{HTTP_X_FORWARDED_FOR}, '127.0.0.7', 'X-Forwarded-For: the client address');
is($e->{REMOTE_ADDR}, '127.0.0.1', 'without mod_remoteip the peer is the router (loopback)');

# --- ProxyPreserveHost Off (in <Location /nph/>)
$res = http(port => $P, host => 'a.example', path => '/nph/cgi-bin/env.cgi');
$e = parse_env($res->{body});
is($res->{status}, 200, 'ProxyPreserveHost Off: 200');
isnt($e->{HTTP_HOST}, 'a.example', "ProxyPreserveHost Off: backend sees another Host ($e->{HTTP_HOST})");
is($res->{headers}{'x-backend-vhost'}, 'default.example',
   'ProxyPreserveHost Off: the default vhost answers');
is($e->{HTTP_X_FORWARDED_HOST}, 'a.example', 'ProxyPreserveHost Off: X-Forwarded-Host a.example');

# --- ProxyPassReverse
$res = http(url => "http://a.example:$P/old", resolve => "a.example:$P:127.0.0.1");
is($res->{status}, 302, 'backend redirect: 302');
is($res->{headers}{location}, "http://a.example:$P/new",
   'ProxyPassReverse / http://backend.internal/ rewrites Location');
$res = http(url => "http://a.example:$P/nph/rel", resolve => "a.example:$P:127.0.0.1");
is($res->{status}, 302, 'relative redirect under ProxyPreserveHost Off: 302');
is($res->{headers}{location}, "http://a.example:$P/nph/new",
   'ProxyPassReverse /nph/ ptth://app/ maps the pool-named Location back to the user\'s URL');
$res = http(url => "http://a.example:$P/rel", resolve => "a.example:$P:127.0.0.1");
is($res->{headers}{location}, "http://a.example:$P/new",
   'relative redirect under ProxyPreserveHost On: Location is the user\'s host');

# --- balancer: ptth://other has no tunnel, ptth://app has one
my (@st, @tm);
for my $i (1 .. 4) {
    my $x = http(port => $P, host => 'a.example', path => "/bal/?$i", max_time => 20);
    push @st, "$x->{status}:$x->{body}";
    push @tm, $x->{time};
}
is(scalar(grep { $_ eq '200:A' } @st), 4, 'balancer (other, app): 4 requests all 200 A (failover)')
    or diag("@st");
# Only the request sent to "other" waits PTTHWaitTimeout (2 s) for its
# tunnel; after the failover "other" is in error state (retry=60).
cmp_ok(scalar(grep { $_ >= 2 } @tm), '<=', 1,
       sprintf('balancer: at most one request waited for "other" (%s s)',
               join(', ', map { sprintf '%.2f', $_ } @tm)));

# --- no tunnel in the pool: 503 after PTTHWaitTimeout (2 s)
$res = http(port => $P, host => 'a.example', path => '/none/', max_time => 20);
is($res->{status}, 503, 'pool without tunnels: 503');
cmp_ok($res->{time}, '>=', 1.5, sprintf('... after waiting %.2f s (>= 1.5 s)', $res->{time}));
cmp_ok($res->{time}, '<', 5, '... and not much longer than PTTHWaitTimeout (< 5 s; curl waits 20 s)');

# --- timeouts (last: resetting streams makes mod_http2 throttle the tunnel)
$res = http(port => $P, host => 'a.example', path => '/t1/cgi-bin/sleep.cgi?s=0.2');
is($res->{status}, 200, 'timeout=1 worker, fast answer: 200');
# The slow backend: a CGI that answers only when released (at most 20 s),
# released once the router has given up on it.
my $g = cgi_group('t1');
$res = http(port => $P, host => 'a.example', path => "/t1/cgi-bin/wait.cgi?g=$g&t=20", max_time => 30);
is($res->{status}, 504, 'timeout=1 worker, backend slower: 504');
cmp_ok($res->{time}, '<', 3.5, sprintf('... after %.2f s (< 3.5 s)', $res->{time}));
cmp_ok($res->{time}, '>=', 0.8, '... not before the timeout (>= 0.8 s)');
cgi_release($g);
$g = cgi_group('pt');
$res = http(port => $P, host => 'a.example', path => "/cgi-bin/wait.cgi?g=$g&t=20", max_time => 30);
is($res->{status}, 504, 'ProxyTimeout 3, backend slower: 504');
cmp_ok($res->{time}, '<', 7, sprintf('... after %.2f s (< 7 s)', $res->{time}));
cmp_ok($res->{time}, '>=', 2.5, '... not before the timeout (>= 2.5 s)');
cgi_release($g);
$res = http(port => $P, host => 'b.example', path => '/');
is($res->{status}, 200, 'the tunnel still works after the timeouts');

finish();
