# Name-based virtual hosts of the backend through the router: the Host the
# user sent selects the vhost (a, b, unknown -> the first/default vhost);
# statuses, headers, query strings and methods pass through unchanged.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use PTTH::Test qw(:DEFAULT http_quick);

my $r = router();
$r->start or give_up('router does not start');
# KeepAliveTimeout 1 (default 5): the idle-tunnel check below waits past it.
my $b = backend(tport => $r->{tport}, extra => ['KeepAliveTimeout 1']);
$b->start or give_up('backend does not start');
ok(defined wait_for_tunnel($r, timeout => 20), 'router reaches the backend through a tunnel')
    or give_up('no tunnel');

my %want = ('a.example' => 'A', 'b.example' => 'B',
            'unknown.example' => 'DEFAULT', 'A.EXAMPLE' => 'A');
for my $host (sort keys %want) {
    my $res = http(port => $r->{port}, host => $host, path => '/');
    is($res->{status}, 200, "Host $host: 200");
    is($res->{body}, $want{$host}, "Host $host: body $want{$host}");
}
my $res = http(port => $r->{port}, host => 'b.example', path => '/');
is($res->{headers}{'x-backend-vhost'}, 'b.example', 'response header set by the b.example vhost');

$res = http(port => $r->{port}, path => '/');
is($res->{body}, 'DEFAULT', 'Host 127.0.0.1:port (no name) -> default vhost');

$res = http(port => $r->{port}, host => 'a.example:8080', path => '/');
is($res->{body}, 'A', 'Host with a port selects by name');

$res = http(port => $r->{port}, host => 'a.example', path => '/nonexistent.html');
is($res->{status}, 404, '404 from the backend passes through (not 502)');

$res = http(port => $r->{port}, host => 'a.example', path => '/', method => 'HEAD',
            headers => []);
is($res->{status}, 200, 'HEAD: 200');
is($res->{headers}{'content-length'}, 1, 'HEAD: the Content-Length of the GET');
# Read to the end of the connection (Connection: close): nothing follows
# the header block.
$res = http_quick(port => $r->{port}, host => 'a.example', path => '/', method => 'HEAD');
ok($res->{status} == 200 && $res->{body} eq '', 'HEAD: no body')
    or diag("$res->{status}: " . length($res->{body}) . ' bytes after the head');

$res = http(port => $r->{port}, host => 'a.example',
            path => '/cgi-bin/env.cgi?q=a%2Fb&r=1&s=%20x',
            headers => ['X-PTTH-Test: hello world']);
my $env = parse_env($res->{body});
is($res->{status}, 200, 'CGI through the tunnel: 200');
is($env->{QUERY_STRING}, 'q=a%2Fb&r=1&s=%20x', 'query string arrives unchanged');
is($env->{REQUEST_URI}, '/cgi-bin/env.cgi?q=a%2Fb&r=1&s=%20x', 'request URI arrives unchanged');
is($env->{HTTP_X_PTTH_TEST}, 'hello world', 'request header arrives');
is($env->{SERVER_NAME}, 'a.example', 'CGI runs in the a.example vhost');
is($env->{REQUEST_METHOD}, 'GET', 'method GET');

$res = http(port => $r->{port}, host => 'a.example', path => '/cgi-bin/env.cgi',
            method => 'DELETE');
is(parse_env($res->{body})->{REQUEST_METHOD}, 'DELETE', 'method DELETE arrives');

# The backend served it over HTTP/2 (the tunnel): the CGI says so, and so
# does the access log once mod_http2 has written it (it logs a stream
# when it cleans it up, possibly after the response went out: poll).
is($env->{SERVER_PROTOCOL}, 'HTTP/2.0', 'the CGI ran in an HTTP/2.0 request at the backend');
my @lines;
wait_for(20, sub {
    http_quick(port => $r->{port}, host => 'a.example', path => '/', max_time => 5);
    @lines = grep { /env\.cgi/ } split /\n/, (read_file($b->{acclog}) // '');
    return @lines >= 1;
});
ok(@lines >= 1, 'backend access log has the CGI requests');
ok(!grep({ !/HTTP\/2\.0"/ } @lines), 'every tunnelled request logged was HTTP/2.0 at the backend')
    or diag(join("\n", @lines));

# An idle tunnel is still usable after the backend's KeepAliveTimeout
# (1 s here): idle for twice that, the tunnel stays connected throughout
# (polled), and then it serves.
my $boff = -s $b->{errlog} || 0;
my $t0 = time;
my $dropped = wait_for(2.5, sub { tunnel_count($r->{tport}) != 1 });
ok(!$dropped, sprintf('the idle tunnel stayed connected for %.1f s (KeepAliveTimeout 1)',
                      time - $t0));
$res = http(port => $r->{port}, host => 'b.example', path => '/', max_time => 10);
is($res->{status}, 200, 'request after 2.5 s idle: 200');
is($res->{body}, 'B', 'request after 2.5 s idle: body B');
unlike(log_since($b->{errlog}, $boff), qr/tunnel to \S+ lost/,
       'the backend did not lose its tunnel while idle');

# The issue's configuration contract, to the letter: no ProxyPreserveHost.
# A pool name means nothing to the backend, so ptth:// keeps the user's Host
# unless ProxyPreserveHost is explicitly Off (t/80-proxy-semantics.t).
my $r2 = router(name => 'contract', preserve_host => undef);
$r2->start or give_up('contract router does not start');
my $b2 = backend(name => 'contractbe', tport => $r2->{tport});
$b2->start or give_up('contract backend does not start');
ok(defined wait_for_tunnel($r2, timeout => 20), 'contract config: tunnel up');
for my $host (qw(a.example b.example other.example)) {
    my $res = http(port => $r2->{port}, host => $host, path => '/');
    is($res->{body}, { 'a.example' => 'A', 'b.example' => 'B' }->{$host} // 'DEFAULT',
       "contract config (no ProxyPreserveHost): Host $host selects its vhost");
}

finish();
