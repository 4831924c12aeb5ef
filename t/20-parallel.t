# Streams run in parallel over one tunnel: 20 requests to a CGI that waits
# until 6 requests have arrived (t/cgi-bin/wait.cgi, a barrier) all
# answer, so at least 6 were in flight at the backend at once -- 6 is
# where mod_http2 starts each session (it raises the number of streams it
# processes at once as streams complete); and when the backend
# allows fewer concurrent streams (H2MaxSessionStreams 8) the router queues
# instead of overrunning the limit (the CGIs never see more than 8 of
# theirs at once), so all still succeed -- also when the requests were
# already waiting as the tunnel came up, before the backend's SETTINGS
# told the router its limit.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use List::Util qw(max);
use PTTH::Test qw(:DEFAULT cgi_group http_batch);

# $n requests that each wait until 6 of them are at the backend (at most
# 25 s: the router's Timeout is 30 s).
sub in_parallel {
    my ($r, $n, $label) = @_;
    my $g = cgi_group('par');
    my $t0 = time;
    my @res = http_batch(port => $r->{port}, host => 'a.example', max_time => 60,
                         paths => [map { "/cgi-bin/wait.cgi?g=$g&n=6&t=25&i=$_" } 1 .. $n]);
    my $wall = time - $t0;
    my @bad = grep { $_->{status} != 200 || $_->{body} !~ /^ok \d+$/ } @res;
    is(scalar @bad, 0, sprintf("$label: $n requests, at least 6 in flight at the backend at once "
                               . "(%.2f s)", $wall))
        or diag(join ', ', map { "$_->{status} '$_->{body}' ($_->{err})" } @bad);
}

# $n requests of $s seconds each: how many ran at once at the backend, at
# most; and all 200?
sub overlap {
    my ($r, $n, $s, $label) = @_;
    my $g = cgi_group('ovl');
    my @res = http_batch(port => $r->{port}, host => 'a.example', max_time => 60,
                         paths => [map { "/cgi-bin/wait.cgi?g=$g&s=$s&i=$_" } 1 .. $n]);
    my @bad = grep { $_->{status} != 200 || $_->{body} !~ /^max \d+$/ } @res;
    is(scalar @bad, 0, "$label: $n x $s s: all 200")
        or diag(join ', ', map { "$_->{status} '$_->{body}' ($_->{err})" } @bad);
    return max(0, map { $_->{body} =~ /^max (\d+)/ ? $1 : 0 } @res);
}

# Requests queue for a stream slot within PTTHWaitTimeout: with 8 slots
# the last of 20 half-second requests waits about 1 s, and below the queue
# waits for the backend to start.
my $r = router(wait_timeout => '60s', status => 1);
$r->start or give_up('router does not start');
my $b = backend(tport => $r->{tport}, tunnels => 1);
$b->start or give_up('backend does not start');
ok(defined wait_for_tunnel($r), 'tunnel up') or give_up('no tunnel');

in_parallel($r, 20, 'one tunnel');
in_parallel($r, 20, 'one tunnel, warm');

# Through h2load as well (HTTP/1.1 to the router, many connections): one
# after the other the 40 requests would take 20 s.
my $h = h2load('--h1', '-n', '40', '-c', '20', '-H', ':authority: b.example',
               "http://127.0.0.1:$r->{port}/cgi-bin/sleep.cgi?s=0.5");
is($h->{s2xx}, 40, "h2load --h1 -n 40 -c 20 (sleep 0.5 s): 40 x 2xx")
    or diag($h->{out});
cmp_ok($h->{seconds} // 99, '<', 16, sprintf('h2load run finished in %.2f s (< 16 s; 20 s one by one)',
                                             $h->{seconds} // 99));

# All of them went over HTTP/2 streams at the backend.  mod_http2 writes a
# stream's access-log line when it cleans the stream up, which on an idle
# session may wait for the session's next activity; stopping the backend
# cleans up every stream, so count after the stop.
$b->stop;
my @l = split /\n/, read_file($b->{acclog}) // '';
is(scalar(grep { /wait\.cgi\?g=\S+&i=\d+ HTTP\/2\.0" 200 / } @l), 40,
   'backend logged the 40 parallel requests as HTTP/2.0 200')
    or diag("backend access log:\n" . join("\n", @l));
is(scalar(grep { /sleep\.cgi\?s=0\.5 HTTP\/2\.0" 200 / } @l), 40,
   'and the 40 h2load requests as HTTP/2.0 200');

# A backend that allows only 8 concurrent streams per tunnel (mod_http2's
# limit, or ours with PTTHStreamPath ptth).
my $b8 = backend(tport => $r->{tport}, tunnels => 1,
                 extra => ['H2MaxSessionStreams 8', 'PTTHMaxStreams 8']);
$b8->start or give_up('backend (8 streams) does not start');
ok(defined wait_for_tunnel($r), 'tunnel to the 8-stream backend up');
my $most = overlap($r, 20, 0.5, 'SETTINGS_MAX_CONCURRENT_STREAMS=8');
ok($most >= 2 && $most <= 8, "8 streams max: at most 8 of the 20 ran at once, in parallel ($most)");
unlike(read_file($b8->{errlog}) // '', qr/FRAME_SIZE_ERROR|PROTOCOL_ERROR|REFUSED_STREAM/i,
       'backend saw no protocol error and refused no stream');

# 20 requests wait while no tunnel is up; then the 8-stream backend dials
# in.  The router must learn the limit from the backend's SETTINGS before
# it sends the queue, or the backend refuses the surplus (RFC 9113 5.1.2)
# and the router has to retry it.
$b8->stop;
my $roff = length(read_file($r->{errlog}) // '');
my $bg = in_background(sub {
    my @res = http_batch(port => $r->{port}, host => 'a.example', max_time => 90,
                         paths => [map { "/cgi-bin/sleep.cgi?s=0.5&q=$_" } 1 .. 20]);
    return join ',', map { $_->{status} } @res;
});
ok(wait_for(40, sub { my $st = PTTH::Test::ptth_status($r) or return 0;
                      my ($app) = grep { $_->{name} eq 'app' } @{ $st->{pools} || [] };
                      return $app && $app->{waiting} >= 20 }),
   'the 20 requests wait in the router for a tunnel');
my $b8b = backend(tport => $r->{tport}, tunnels => 1,
                  extra => ['H2MaxSessionStreams 8', 'PTTHMaxStreams 8']);
$b8b->start or give_up('second 8-stream backend does not start');
my @st = split /,/, collect($bg);
is(scalar(grep { $_ eq '200' } @st), 20, 'queued before the tunnel: 20 x 200')
    or diag("statuses: @st");
my $rlog = log_since($r->{errlog}, $roff);
like($rlog, qr/backend SETTINGS received/, 'router logged the tunnel opening on SETTINGS');
unlike($rlog, qr/not processed/, 'no stream was refused and retried');
unlike(read_file($b8b->{errlog}) // '', qr/PROTOCOL_ERROR|REFUSED_STREAM/i,
       'second 8-stream backend saw no protocol error');

finish();
