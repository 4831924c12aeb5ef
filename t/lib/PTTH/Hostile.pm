package PTTH::Hostile;

# Helpers for the "untrusted tunnel peer" tests (t/125-*.t): a router with
# two plain pools served by one real backend, hostile HTTP/2 peers
# (t/bin/h2peer.py) joining pool "app", raw HTTP/1.1 users
# (t/bin/rawclient.pl), and the checks every attack must pass: no attacker
# byte reaches a user, the hub survives with bounded memory, and the good
# backend and the other pool keep serving.
#
# Licensed under the Apache License, Version 2.0.

use strict;
use warnings;
use Exporter 'import';
use PTTH::JSON ();
use POSIX ();
use Time::HiRes qw(time sleep);
use Test::More ();
use PTTH::Test;

require(PTTH::Test::ROOT() . '/t/bin/rawclient.pl');

our @EXPORT = qw(
    two_pools h2peer h2peers peer_events peer_landed peer_closed peer_stop
    raw parse_raw marker_free fd_count hub_health land_request trigger done_trigger during raw_attack genuine_b flood_case
    get_many
    good_requests MARKER PYTHON
);

use constant MARKER => 'H2PEER-MARKER-7f3a';
use constant PYTHON => '/usr/bin/python3';   # Debian's, with python3-hpack

# A router (one child process, so every request shares one link pool)
# with pool "app" on $r->{tport}, pool "other" on $r->{oport} and pool
# "evil" on $r->{eport} (for hostile peers only, so that a request surely
# reaches them):
#   /o/... -> ptth://other/...   /e/... -> ptth://evil/...   else ptth://app/...
# and one real backend with a tunnel into app and other.  Options: router_extra
# (lines), timeout (ProxyPass timeout=, default 5), backend (hashref of
# backend() options).  Returns ($router, $backend).
sub two_pools {
    my (%o) = @_;
    my $oport = free_port();
    my $eport = free_port();
    my $to = $o{timeout} // 5;
    my $r = router(
        mpm_conf => { StartServers => 1, ServerLimit => 1, MaxRequestWorkers => 50,
                      ThreadsPerChild => 50, ThreadLimit => 64,
                      MinSpareThreads => 1, MaxSpareThreads => 50 },
        pre_proxy => ["PTTHListen 127.0.0.1:$oport plain=other",
                      "PTTHListen 127.0.0.1:$eport plain=evil",
                      'PTTHPingInterval 2s',
                      @{ $o{router_extra} || [] }],
        # hub_health() bounds the hub's RSS: under make test-asan keep
        # AddressSanitizer's quarantine of freed memory (256 MiB by
        # default) at 8 MiB, under that bound (as t/35), or a test that
        # frees 50 MiB of upload buffers measures the quarantine.
        asan_options => 'quarantine_size_mb=8:thread_local_quarantine_size_kb=64',
        proxy => ["ProxyPass /o/ ptth://other/ timeout=$to",
                  "ProxyPass /e/ ptth://evil/ timeout=$to",
                  "ProxyPass / ptth://app/ timeout=$to",
                  'ProxyPassReverse / ptth://app/'],
        %{ $o{router} || {} },
    );
    $r->{oport} = $oport;
    $r->{eport} = $eport;
    $r->start or return;
    my $b = backend(tport => $r->{tport}, tunnels => 1,
                    extra => ["PTTHConnect tcp://127.0.0.1:$oport"],
                    %{ $o{backend} || {} });
    $b->start or return;
    my $ok = wait_for_tunnel($r, host => 'a.example', expect => 'A')
          && wait_for_tunnel($r, host => 'b.example', path => '/o/', expect => 'B');
    return unless $ok;
    return ($r, $b);
}

my $PEERS = 0;

# Start t/bin/h2peer.py against $port with @args; wait until the router
# has acknowledged its SETTINGS (it takes streams then).  Returns a hash
# (pid, log, name) or undef when it did not join within 10 s.
sub h2peer {
    my ($port, @args) = @_;
    my ($p) = h2peers($port, 1, @args);
    return $p;
}

# $n peers started at once; returns the list of those that joined.
sub h2peers {
    my ($port, $n, @args) = @_;
    my @p;
    for (1 .. $n) {
        my $name = 'h2peer' . (++$PEERS);
        my $log = TMP . "/$name.log";
        unlink $log;
        my $pid = spawn($name, TMP . "/$name.out", PYTHON, ROOT . '/t/bin/h2peer.py',
                        "--port=$port", "--log=$log", "--marker=" . MARKER, @args);
        push @p, { pid => $pid, log => $log, name => $name };
    }
    my $joined = sub { grep { $_->{ev} eq 'settings_ack_in' } peer_events($_[0]) };
    wait_for(15, sub { !grep { !$joined->($_) } @p });
    return grep { $joined->($_) } @p;
}

# The peer's events so far.  Polls call this many times: each call decodes
# only the complete lines appended since the last one.
sub peer_events {
    my ($p) = @_;
    my $new = log_since($p->{log}, $p->{log_off} //= 0);
    my $end = rindex($new, "\n") + 1;
    $p->{log_off} += $end;
    for my $l (split /\n/, substr($new, 0, $end)) {
        my $e = eval { PTTH::JSON::decode_json($l) } or next;
        push @{ $p->{events} }, $e;
    }
    return @{ $p->{events} || [] };
}

# The "request" event of the request carrying id=$id, if the peer got it.
sub peer_landed {
    my ($p, $id) = @_;
    my ($e) = grep { $_->{ev} eq 'request' && defined $_->{id} && $_->{id} eq $id }
              peer_events($p);
    return $e;
}

# The first "closed" event by the router (it closed the tunnel), if any.
sub peer_closed {
    my ($p) = @_;
    my ($e) = grep { $_->{ev} eq 'closed' && $_->{by} eq 'router' } peer_events($p);
    return $e;
}

sub peer_stop {
    my ($p) = @_;
    stop_spawned($p->{pid}) if $p && $p->{pid};
}

# One raw exchange (see t/bin/rawclient.pl) on the router's user port.
sub raw {
    my ($r, %o) = @_;
    return PTTH::RawClient::exchange(port => $r->{port}, %o);
}

sub parse_raw {
    my ($x, @heads) = @_;
    return PTTH::RawClient::parse_responses($x->{bytes}, heads => \@heads,
                                            eof => 1);
}

sub marker_free { index($_[0] // '', MARKER) < 0 }

sub fd_count {
    my ($pid) = @_;
    opendir(my $dh, "/proc/$pid/fd") or return undef;
    my $n = grep { /^\d+$/ } readdir $dh;
    closedir $dh;
    return $n;
}

# Send requests made by $make->($id) (it returns whatever the test wants
# back, after doing the request) until one lands on peer $p, at most
# $max tries.  Returns ($result, $landed_event); $landed_event is undef
# when no try reached the peer (the others went to the good backend).
my $ID = 0;
sub land_request {
    my ($p, $make, $max) = @_;
    $max //= 8;
    my $res;
    for (1 .. $max) {
        my $id = $$ . '-' . (++$ID);
        $res = $make->($id);
        my $ev = wait_for(1, sub { peer_landed($p, $id) }, 0.05);
        return ($res, $ev) if $ev;
    }
    return ($res, undef);
}

# The path prefix that routes to a pool: "evil" (the default: hostile
# peers only, so a request surely reaches one) or "app" (next to the real
# backend; the pool's balancing decides, so land_request() tries again).
sub pool_prefix {
    my ($pool) = @_;
    return ($pool // 'evil') eq 'evil' ? '/e' : '';
}

# Start a request (in the background: the scenario may never answer it)
# that names scenario $sc (to pool => evil or app, see pool_prefix),
# until one lands on peer $p.  Returns a hash
# (ev => the peer's request event or undef, bg => the running request, or
# undef when it ended already).  done_trigger() collects its result.
sub trigger {
    my ($r, $p, $sc, %o) = @_;
    for (1 .. ($o{tries} // 8)) {
        my $id = $$ . '-' . (++$ID);
        my $path = pool_prefix($o{pool}) . "/?h2peer=$sc&id=$id"
                 . (defined $o{arg} ? "&h2arg=$o{arg}" : '');
        my $bg = in_background(sub {
            my $x = http(port => $r->{port}, host => 'a.example', path => $path,
                         max_time => $o{max_time} // 12);
            return "$x->{status} " . (marker_free($x->{body}) ? 'clean' : 'MARKER');
        });
        my ($ev, $ended);
        # Until it lands or the request ends: under ASan at a load of 20
        # a request took over 3 s to reach the peer.
        wait_for($o{max_time} // 12, sub {
            $ev = peer_landed($p, $id);
            $ended = !$ev && waitpid($bg->{pid}, POSIX::WNOHANG()) > 0;
            return $ev || $ended;
        }, 0.02);
        $ev //= wait_for(0.3, sub { peer_landed($p, $id) }, 0.05);
        return { ev => $ev, bg => $bg, id => $id } if $ev;
        collect($bg);
    }
    return { ev => undef };
}

sub done_trigger {
    my ($t) = @_;
    return '' unless $t && $t->{bg};
    my $out = collect($t->{bg});
    delete $t->{bg};
    return $out;
}

# The genuine answer of the other pool: the real backend's "B", with the
# field only the real backend's vhost sets.
sub genuine_b {
    my ($x) = @_;
    return $x && $x->{status} == 200 && $x->{complete} && $x->{body} eq 'B'
        && ($x->{h}{'x-backend-vhost'} // '') eq 'b.example';
}

# Attack $sc (an h2peer scenario of $peer) with a raw client: the attack
# request to pool app, then a request to pool other on the same
# connection (mode => pipeline or keepalive; arg => h2arg; pool => evil
# or app, see pool_prefix).  $expect:
#   502      the first response is a 502
#   cut      a 502, or a 200 after which the connection is closed (a
#            truncated response) with nothing else on it
#   head200  (HEAD) a 200 without body, then the genuine second response
sub raw_attack {
    my ($r, $peer, $sc, $expect, %o) = @_;
    my $method = $o{method} // 'GET';
    my $mode = $o{mode} // 'pipeline';
    my $label = "$sc ($mode" . ($method ne 'GET' ? ", $method" : '')
              . (defined $o{arg} ? ", $o{arg}" : '')
              . (($o{pool} // 'evil') eq 'evil' ? '' : ", pool $o{pool}") . ')';
    my $q = defined $o{arg} ? "&h2arg=$o{arg}" : '';
    my ($x, $ev) = land_request($peer, sub {
        my ($id) = @_;
        my $pre = pool_prefix($o{pool});
        my @reqs = ("$method $pre/?h2peer=$sc&id=$id$q HTTP/1.1\r\nHost: a.example\r\n"
                    . "User-Agent: rawclient\r\n\r\n",
                    "GET /o/?after=$id HTTP/1.1\r\nHost: b.example\r\n"
                    . "User-Agent: rawclient\r\n\r\n");
        return raw($r, requests => \@reqs, mode => $mode, timeout => $o{timeout} // 10,
                   linger => 0.5, heads => [$method eq 'HEAD' ? 1 : 0, 0]);
    });
    Test::More::ok($ev, "$label: the attack request reached the hostile peer") or return;
    my $bytes = $x->{bytes};
    Test::More::ok(marker_free($bytes), "$label: no attacker byte reaches the user")
        or Test::More::diag(substr($bytes, 0, 500));
    Test::More::ok($bytes !~ /pwn=1/, "$label: no forged Set-Cookie");
    my @resp = parse_raw($x, $method eq 'HEAD' ? 1 : 0, 0);
    my @rest = grep { exists $_->{rest} || $_->{bad} } @resp;
    Test::More::ok(!@rest, "$label: the bytes parse as well-framed HTTP/1.1 responses")
        or Test::More::diag(join ' / ', map { $_->{bad} // ('rest ' . length $_->{rest}) } @rest);
    my @final = grep { $_->{status} } @resp;
    my ($first, $second) = @final;
    Test::More::cmp_ok(scalar @final, '<=', 2,
                       "$label: at most two responses on the connection");
    if ($second) {
        Test::More::ok(genuine_b($second),
                       "$label: the second response is the other pool's genuine one")
            or Test::More::diag("second: $second->{status} '"
                                . substr($second->{body}, 0, 80) . "'");
    }
    if (!$first) {
        Test::More::fail("$label: a response to the attack request");
        Test::More::diag("got: '" . substr($bytes, 0, 300) . "'");
        return;
    }
    if ($expect eq '502') {
        Test::More::is($first->{status}, 502, "$label: 502")
            or Test::More::diag(substr($bytes, 0, 200));
    }
    elsif ($expect eq 'cut') {
        my $ok = $first->{status} == 502
              || ($first->{status} == 200 && $x->{eof} && !$second);
        Test::More::ok($ok, "$label: 502, or a truncated 200 and the connection closed")
            or Test::More::diag(sprintf("status %d, %s, body %d bytes, eof %d, second %s",
                                        $first->{status},
                                        $first->{complete} ? 'complete' : 'incomplete',
                                        length $first->{body}, $x->{eof},
                                        $second ? 'yes' : 'no'));
    }
    elsif ($expect eq 'head200') {
        Test::More::is($first->{status}, 200, "$label: 200");
        Test::More::is($first->{body}, '', "$label: no body");
        Test::More::ok($second, "$label: the connection goes on with the next response");
    }
    return;
}

# While an attack runs: requests to both pools, one after the other, for
# $secs seconds, sampling the hub's RSS.  Returns (requests, 200s with a
# genuine answer, peak RSS in kB).  Pool app's requests go to the good
# backend as long as the hostile tunnel has a stream open (the pool
# balances by streams in flight).
sub during {
    my ($r, $hub, $secs) = @_;
    my ($n, $ok, $peak) = (0, 0, 0);
    my $t0 = time;
    while (time - $t0 < $secs) {
        my $rss = PTTH::Test::proc_kb($hub, 'VmRSS') // 0;
        $peak = $rss if $rss > $peak;
        $n += 2;
        $ok += good_requests($r, 1);
    }
    my $rss = PTTH::Test::proc_kb($hub, 'VmRSS') // 0;
    $peak = $rss if $rss > $peak;
    return ($n, $ok, $peak);
}

# One flood: a fresh peer, alone in pool "evil" (or, with $pool "app",
# next to the real backend), floods when a request reaches it ($sc, with
# h2arg $arg).  Checks: both pools serve meanwhile, the hub closes the
# flooding tunnel within $CLOSE_WITHIN s of the flood's start, the user
# whose request started it sees no attacker byte, and hub_health().
my $CLOSE_WITHIN = 3;
sub flood_case {
    my ($r, $hub, $sc, $arg, $pool) = @_;
    $pool //= 'evil';
    my $label = $sc . ($arg ? " ($arg)" : '') . ($pool eq 'app' ? ' in pool app' : '');
    my $before = proc_kb($hub, 'VmRSS');
    my $p = h2peer($pool eq 'app' ? $r->{tport} : $r->{eport},
                   '--flood-time=' . ($CLOSE_WITHIN + 1), '--max-time=20');
    Test::More::ok($p, "$label: the hostile peer joins pool $pool") or return;
    my $t = trigger($r, $p, $sc, arg => $arg, max_time => 10, pool => $pool);
    Test::More::ok($t->{ev}, "$label: a request reached the peer and started the flood")
        or do { peer_stop($p); return };
    my ($n, $ok, $peak) = during($r, $hub, 1);
    Test::More::is($ok, $n, "$label: during the flood both pools answer every request ($ok/$n)");
    my $closed = wait_for($CLOSE_WITHIN + 1, sub { peer_closed($p) });
    Test::More::ok($closed && defined $closed->{flood_s} && $closed->{flood_s} <= $CLOSE_WITHIN,
       "$label: the hub closes the flooding tunnel within $CLOSE_WITHIN s")
        or Test::More::diag($closed ? "closed after $closed->{flood_s} s ($closed->{why})"
                        : 'not closed while the flood lasted');
    my $res = done_trigger($t);
    Test::More::unlike($res, qr/MARKER/, "$label: no attacker byte in the flooded user's answer");
    peer_stop($p);
    hub_health($r, $hub, $before, $label, $peak);
}

# GET each of @paths with Host $host, one after the other (the harness's
# in-process client: no process per request, cheap on a loaded machine).
# Returns a list of [status, body size, body].
sub get_many {
    my ($r, $host, @paths) = @_;
    return map {
        my $x = PTTH::Test::http(port => $r->{port}, host => $host, path => $_,
                                 max_time => 10);
        [$x->{status}, $x->{size} // 0, $x->{body} // '']
    } @paths;
}

# $n plain requests to each pool, one after the other.  Returns the
# number that were 200 with a real answer (app: the backend's "A" or the
# hostile peer's own well-formed "ok" answer; other: "B").
sub good_requests {
    my ($r, $n) = @_;
    my $ok = grep { $_->[0] == 200 && ($_->[2] eq 'A' || $_->[2] =~ /^h2peer \d+ /) }
             get_many($r, 'a.example', map { "/?good=$_" } 1 .. $n);
    $ok += grep { $_->[0] == 200 && $_->[2] eq 'B' }
           get_many($r, 'b.example', map { "/o/?good=$_" } 1 .. $n);
    return $ok;
}

# The checks after every attack: the hub is the same process, its RSS
# (or $peak_kb, the most seen during the attack, when larger) is within
# 16 MiB of $base_kb, and both pools serve.  $what names the attack.
sub hub_health {
    my ($r, $hub, $base_kb, $what, $peak_kb) = @_;
    my $now = hub_pid($r, timeout => 2) // 0;
    Test::More::is($now, $hub, "$what: the hub is the same process");
    my $rss = PTTH::Test::proc_kb($hub, 'VmRSS') // 1e9;
    $rss = $peak_kb if $peak_kb && $peak_kb > $rss;
    Test::More::cmp_ok($rss - $base_kb, '<=', 16 * 1024,
                       "$what: hub RSS within 16 MiB of its baseline ($rss kB, base $base_kb kB)");
    my $ok = good_requests($r, 3);
    Test::More::is($ok, 6, "$what: both pools serve afterwards (6 requests)");
}

1;
