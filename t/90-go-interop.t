# Interoperability with the original Go PTTH design in plain mode, both
# directions, using our own Go programs in t/go/ built against Debian's
# golang.org/x/net/http2:
#   our router  <- seedbackend (Go HTTP/2 server on a dialed connection)
#   seedrouter  <- our backend (Go router: lazy preface, sent only with the
#                               first proxied request; here >= 3 s after the
#                               tunnel is up, with the backend's Timeout 2)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use PTTH::Test qw(:DEFAULT wait_log log_time cgi_group http_batch);
use List::Util qw(max);

my ($seedrouter, $why1) = go_build('seedrouter');
my ($seedbackend, $why2) = go_build('seedbackend');
if (!$seedrouter || !$seedbackend) {
    my $why = $why1 || $why2;
    if ($why =~ /not installed|missing/) {
        plan skip_all => $why;
    }
    fail("Go programs build");
    diag($why);
    done_testing();
    exit 1;
}
pass('Go seed router and seed backend built');

my ($big, $big_sha) = big_file('big.bin', 10 * 1024 * 1024);
my ($mid, $mid_sha) = big_file('mid.bin', 1024 * 1024 + 7);

# ---------------------------------------------------------------------
# Our router, Go backend.
{
    my $r = router(wait_timeout => '1s');    # the 503 once the Go backend is gone
    $r->start or give_up('router does not start');
    my $log = TMP . '/seedbackend.log';
    my $gb = spawn('seedbackend', $log, $seedbackend, '-connect', "127.0.0.1:$r->{tport}");
    my $t = wait_for_tunnel($r, path => '/foo', expect => 'bar', timeout => 20);
    ok(defined $t, 'our router -> Go backend: GET /foo -> "bar"')
        or diag(read_file($log));
    my @res = http_batch(port => $r->{port}, paths => [map { "/foo?$_" } 1 .. 20]);
    is(scalar(grep { $_->{status} == 200 && $_->{body} eq 'bar' } @res), 20,
       'our router -> Go backend: 20 parallel requests all "bar"');
    my $res = http(port => $r->{port}, host => 'a.example', path => '/host');
    is($res->{body}, 'a.example', 'our router -> Go backend: :authority is the user Host (ProxyPreserveHost On)');
    $res = http(port => $r->{port}, path => '/sha', data_file => $mid);
    is($res->{body}, "sha256=$mid_sha\nlength=" . (1024 * 1024 + 7) . "\n",
       'our router -> Go backend: 1 MB POST intact');
    $res = http(port => $r->{port}, path => '/sha', data_file => $big, chunked => 1,
                max_time => 60);
    is($res->{body}, "sha256=$big_sha\nlength=" . (10 * 1024 * 1024) . "\n",
       'our router -> Go backend: chunked 10 MB POST intact');
    # Ten requests that each wait until all ten are at the Go backend.
    @res = http_batch(port => $r->{port}, max_time => 40,
                      paths => [map { "/wait?g=go$$&n=10&t=25&i=$_" } 1 .. 10]);
    is(scalar(grep { $_->{status} == 200 && $_->{body} =~ /^ok 10$/ } @res), 10,
       'our router -> Go backend: 10 requests in flight at once, all 200')
        or diag(join ', ', map { "$_->{status} '$_->{body}'" } @res);
    stop_spawned($gb);
    $res = http(port => $r->{port}, path => '/foo', max_time => 10);
    is($res->{status}, 503, 'Go backend gone: 503');
    $r->stop;
}

# ---------------------------------------------------------------------
# Go router, our backend.
{
    my $tport = free_port();
    my $hport = free_port();
    my $log = TMP . '/seedrouter.log';
    my $gr = spawn('seedrouter', $log, $seedrouter, '-tunnel', "127.0.0.1:$tport",
                   '-http', "127.0.0.1:$hport");
    ok(wait_for(30, sub { PTTH::Test::port_listening($hport) && PTTH::Test::port_listening($tport) }),
       'Go router listening');
    # Timeout 2: a backend that read the preface with httpd's Timeout
    # instead of waiting for the socket to become readable would give up.
    # The tunnel's server is the default vhost; b.example, where the CGIs
    # below run, gets a Timeout of its own: on a loaded machine a CGI may
    # take longer than 2 s to answer (mod_cgid waits with Timeout).
    my $b = backend(tport => $tport, extra => ['Timeout 2'],
                    vhost_extra => { 'b.example' => ['Timeout 30'] });
    $b->start or give_up('backend does not start');
    my $added = wait_for(30, sub { (read_file($log) // '') =~ /tunnel added/ });
    ok($added, 'our backend dialed the Go router') or diag(read_file($log));
    # The backend's own record of when its tunnel came up; the first
    # request goes out once the tunnel has waited 1 s longer than Timeout.
    my ($up) = wait_log($b, qr/tunnel to \S+ established/);
    my $t_up = log_time($up);
    ok(defined $t_up, 'the backend logged when its tunnel came up') or diag($up // 'no line');
    $t_up //= time;
    wait_for(30, sub { time - $t_up >= 3 });
    unlike(read_file($log) // '', qr/preface sent/, 'Go router has not sent its preface yet');
    my $idle = time - $t_up;
    my $res = http(port => $hport, host => 'a.example', max_time => 10);
    is($res->{status}, 200, sprintf('Go router -> our backend, first request %.1f s after the tunnel '
                                    . '(Timeout 2): 200', $idle));
    is($res->{body}, 'A', '... a.example -> A');
    like(read_file($log) // '', qr/preface sent/, 'Go router sent its preface with that request');
    $res = http(port => $hport, host => 'b.example');
    ok($res->{status} == 200 && $res->{body} eq 'B', 'Go router -> our backend: b.example -> B');
    $res = http(port => $hport, host => 'nobody.example');
    is($res->{body}, 'DEFAULT', 'Go router -> our backend: unknown host -> default vhost');
    $res = http(port => $hport, host => 'b.example', path => '/cgi-bin/env.cgi',
                interface => '127.0.0.9');
    is(parse_env($res->{body})->{REMOTE_ADDR}, '127.0.0.9',
       'Go router\'s X-Forwarded-For reaches the CGI as REMOTE_ADDR (mod_remoteip)');
    $res = http(port => $hport, host => 'a.example', path => '/big/big.bin', sha => 1,
                max_time => 60);
    is($res->{sha256}, $big_sha, 'Go router -> our backend: 10 MB GET intact');
    $res = http(port => $hport, host => 'b.example', path => '/cgi-bin/sha.cgi',
                data_file => $big, max_time => 60);
    is(parse_env($res->{body})->{sha256}, $big_sha, 'Go router -> our backend: 10 MB POST intact');
    # 1 s each (the backend's Timeout is 2 s), each CGI counting how many
    # of them run at the same time (t/cgi-bin/wait.cgi ?s=).
    my $g = cgi_group('go');
    my @res = http_batch(port => $hport, host => 'b.example', max_time => 20,
                         paths => [map { "/cgi-bin/wait.cgi?g=$g&s=1&i=$_" } 1 .. 10]);
    is(scalar(grep { $_->{status} == 200 && $_->{body} =~ /^max \d+$/ } @res), 10,
       'Go router -> our backend: 10 parallel 1 s CGI requests all 200')
        or diag(join ', ', map { "$_->{status} '$_->{body}'" } @res);
    my $most = max(0, map { $_->{body} =~ /^max (\d+)/ ? $1 : 0 } @res);
    cmp_ok($most, '>=', 3, "... in parallel: up to $most of them ran at once");
    $b->stop;
    stop_spawned($gr);
}

finish();
