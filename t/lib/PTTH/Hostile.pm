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
use JSON::PP ();
use Time::HiRes qw(time sleep);
use Test::More ();
use PTTH::Test;

require(PTTH::Test::ROOT() . '/t/bin/rawclient.pl');

our @EXPORT = qw(
    two_pools h2peer peer_events peer_landed peer_closed peer_stop
    raw parse_raw marker_free fd_count hub_health land_request
    good_requests MARKER PYTHON
);

use constant MARKER => 'H2PEER-MARKER-7f3a';
use constant PYTHON => '/usr/bin/python3';   # Debian's, with python3-hpack

# A router (one child process, so every request shares one link pool)
# with pool "app" on $r->{tport} and pool "other" on $r->{oport}:
#   /o/...  -> ptth://other/...      everything else -> ptth://app/...
# and one real backend with a tunnel into each pool.  Options: router_extra
# (lines), timeout (ProxyPass timeout=, default 5), backend (hashref of
# backend() options).  Returns ($router, $backend).
sub two_pools {
    my (%o) = @_;
    my $oport = free_port();
    my $to = $o{timeout} // 5;
    my $r = router(
        mpm_conf => { StartServers => 1, ServerLimit => 1, MaxRequestWorkers => 50,
                      ThreadsPerChild => 50, ThreadLimit => 64,
                      MinSpareThreads => 1, MaxSpareThreads => 50 },
        pre_proxy => ["PTTHListen 127.0.0.1:$oport plain=other",
                      'PTTHPingInterval 2s',
                      @{ $o{router_extra} || [] }],
        proxy => ["ProxyPass /o/ ptth://other/ timeout=$to",
                  "ProxyPass / ptth://app/ timeout=$to",
                  'ProxyPassReverse / ptth://app/'],
        %{ $o{router} || {} },
    );
    $r->{oport} = $oport;
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
    my $name = 'h2peer' . (++$PEERS);
    my $log = TMP . "/$name.log";
    unlink $log;
    my $pid = spawn($name, TMP . "/$name.out", PYTHON, ROOT . '/t/bin/h2peer.py',
                    "--port=$port", "--log=$log", "--marker=" . MARKER, @args);
    my $p = { pid => $pid, log => $log, name => $name };
    my $joined = wait_for(10, sub {
        grep { $_->{ev} eq 'settings_ack_in' } peer_events($p);
    });
    return $joined ? $p : undef;
}

sub peer_events {
    my ($p) = @_;
    my @ev;
    for my $l (split /\n/, read_file($p->{log}) // '') {
        my $e = eval { JSON::PP::decode_json($l) } or next;
        push @ev, $e;
    }
    return @ev;
}

# The "request" event of the request carrying id=$id, if the peer got it.
sub peer_landed {
    my ($p, $id) = @_;
    my ($e) = grep { $_->{ev} eq 'request' && defined $_->{id} && $_->{id} eq $id }
              peer_events($p);
    return $e;
}

# The first "closed" event (the router closed the tunnel), if any.
sub peer_closed {
    my ($p) = @_;
    my ($e) = grep { $_->{ev} eq 'closed' } peer_events($p);
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

# $n plain requests to each pool, one after the other.  Returns the
# number that were 200 with a real answer (app: the backend's "A" or the
# hostile peer's own well-formed "ok" answer; other: "B").
sub good_requests {
    my ($r, $n) = @_;
    my $ok = 0;
    for my $i (1 .. $n) {
        my $a = http(port => $r->{port}, host => 'a.example', path => "/?good=$i",
                     max_time => 10);
        $ok++ if $a->{status} == 200 && ($a->{body} eq 'A' || $a->{body} =~ /^h2peer \d+ /);
        my $b = http(port => $r->{port}, host => 'b.example', path => "/o/?good=$i",
                     max_time => 10);
        $ok++ if $b->{status} == 200 && $b->{body} eq 'B';
    }
    return $ok;
}

# The checks after every attack: the hub is the same process, its RSS is
# within 16 MiB of $base_kb, and both pools serve.  $what names the attack.
sub hub_health {
    my ($r, $hub, $base_kb, $what) = @_;
    my $now = hub_pid($r, timeout => 2) // 0;
    Test::More::is($now, $hub, "$what: the hub is the same process");
    my $rss = PTTH::Test::proc_kb($hub, 'VmRSS') // 1e9;
    Test::More::cmp_ok($rss - $base_kb, '<=', 16 * 1024,
                       "$what: hub RSS within 16 MiB of its baseline ($rss kB, base $base_kb kB)");
    my $ok = good_requests($r, 3);
    Test::More::is($ok, 6, "$what: both pools serve afterwards (6 requests)");
}

1;
