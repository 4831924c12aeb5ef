# Every router child reaches every tunnel: a router with several children
# (prefork with 4, worker and event with 3) answers 300 requests over 30
# client connections, all 200, served by several child processes.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use PTTH::Test qw(:DEFAULT http_batch);

my @cases = (
    ['prefork', { StartServers => 4, MinSpareServers => 4, MaxSpareServers => 16 }],
    ['worker',  { StartServers => 3, ServerLimit => 4, ThreadsPerChild => 4,
                  ThreadLimit => 4, MinSpareThreads => 4, MaxSpareThreads => 16,
                  MaxRequestWorkers => 16 }],
    # event closes keep-alive connections when a child runs short of idle
    # threads (h2load --h1 then counts an error; stock httpd does it too
    # with 16 threads per child), so give each child room for all 30.
    ['event',   { StartServers => 3, ServerLimit => 4, ThreadsPerChild => 32,
                  ThreadLimit => 32, MinSpareThreads => 32, MaxSpareThreads => 128,
                  MaxRequestWorkers => 128 }],
);

# event spreads connections over its children less evenly than prefork and
# worker (one child may take most of them), so it only has to show >= 2.
my %min_children = (prefork => 3, worker => 3, event => 2);

for my $c (@cases) {
    my ($mpm, $conf) = @$c;
    my $r = router(name => "router-$mpm", mpm => $mpm, mpm_conf => $conf);
    unless ($r->start) { fail("$mpm router starts"); next }
    my $b = backend(name => "backend-$mpm", tport => $r->{tport}, tunnels => 2);
    unless ($b->start) { fail("backend for the $mpm router starts"); next }
    ok(defined wait_for_tunnel($r), "$mpm router: tunnel up");

    my $h = h2load('--h1', '-n', '300', '-c', '30', '-H', ':authority: a.example',
                   "http://127.0.0.1:$r->{port}/");
    is($h->{s2xx}, 300, "$mpm router: 300 requests over 30 connections, all 2xx")
        or diag($h->{out});

    my %pids;
    for my $l (split /\n/, read_file($r->{acclog}) // '') {
        # %h %a "%r" %>s %b %D %P ...: the pid follows the 3-word request
        next unless $l =~ /" 200 \S+ \d+ (\d+) /;
        $pids{$1}++;
    }
    cmp_ok(scalar(keys %pids), '>=', $min_children{$mpm},
           "$mpm router: 200s served by " . scalar(keys %pids)
           . " child processes (>= $min_children{$mpm})")
        or diag(join ', ', map { "$_: $pids{$_}" } sort keys %pids);

    # And over HTTP/1.0 without keep-alive: one child per connection.
    # (30 connections at once, from one curl process: --parallel)
    my @res = http_batch(port => $r->{port}, host => 'b.example',
                         headers => ['Connection: close'], paths => [map { "/?$_" } 1 .. 30]);
    is(scalar(grep { $_->{status} == 200 && $_->{body} eq 'B' } @res), 30,
       "$mpm router: 30 parallel curl requests all 200 'B'");
    $b->stop;
    $r->stop;
}

finish();
