# WebSocket through the tunnel: the client speaks RFC 6455 (HTTP/1.1
# Upgrade) to the router; the hub sends an extended CONNECT (RFC 8441) on
# the tunnel; the backend httpd (H2WebSockets on, so that PTTHStreamPath
# auto has mod_http2 serve the tunnel) proxies it with ws:// to
# a WebSocket application (t/go/wsecho.go).  Checked: the 101 and its
# Sec-WebSocket-Accept, subprotocol and Host, echoes up to 1 MiB, ten
# clients at once, an idle pipe, a client that vanishes, close reaching
# the application, an application that closes first, the closing handshake
# ending the connection at once whichever side starts it, streams and links
# freed in the hub, and the two ways an upgrade
# is not made: a worker with upgrade=none, a backend without H2WebSockets.
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use PTTH::JSON;
use Time::HiRes qw(time sleep);
use PTTH::Test qw(:DEFAULT http_quick);

my ($wsecho, $why) = go_build('wsecho');
unless ($wsecho) {
    plan skip_all => $why if $why =~ /not installed|missing/;
    fail('t/go/wsecho.go builds');
    diag($why);
    done_testing();
    exit 1;
}

my $app_port = free_port();
spawn('wsecho', PTTH::Test::TMP() . '/wsecho.log', $wsecho, '-listen', "127.0.0.1:$app_port");
ok(wait_for(30, sub { PTTH::Test::port_open($app_port) }), 'WebSocket application listening')
    or give_up('wsecho does not listen');

sub app_stats {
    my $res = http_quick(port => $app_port, path => '/stats');
    return $res->{body} =~ /open=(\d+) served=(\d+)/ ? ($1, $2) : (-1, -1);
}

my $r = router(pre_proxy => ["<Location /ptth-status>",
                             "  SetHandler ptth-status",
                             "</Location>",
                             "ProxyPass /ptth-status !",
                             "ProxyPass /noup/ ptth://app/noup/ upgrade=none"]);
$r->start or give_up('router does not start');
# WebSocket over the tunnel is mod_http2's: with H2WebSockets on,
# PTTHStreamPath auto picks it (the backend's own session offers no
# extended CONNECT, as backend 2 below may show), whatever PTTH_STREAM_PATH
# says for the rest of the suite.
my $b = backend(tport => $r->{tport}, stream_path => 'auto',
                modules => [qw(proxy proxy_http proxy_wstunnel)],
                # KeepAliveTimeout 1: the idle pipe below outlives it.
                extra => ['H2WebSockets on', 'KeepAliveTimeout 1'],
                vhost_extra => ["ProxyPreserveHost On",
                                "ProxyPass /ws/ ws://127.0.0.1:$app_port/ws/",
                                "ProxyPass /noup/ ws://127.0.0.1:$app_port/ws/"]);
$b->start or give_up('backend does not start');
ok(defined wait_for_tunnel($r), 'tunnel up') or give_up('no tunnel');
like($b->errlog_text, qr/PTTHStreamPath auto: mod_http2 serves the tunnels \(H2WebSockets on/,
     'PTTHStreamPath auto: mod_http2 serves the tunnels of a backend with H2WebSockets on');

sub wsclient {
    my (@args) = @_;
    my $out = `'$wsecho' -connect 127.0.0.1:$r->{port} @args 2>&1`;
    return ($? >> 8, $out);
}

# One client, messages up to 1 MiB (more than the HTTP/2 windows and the
# hub's buffers: flow control end to end).
my ($rc, $out) = wsclient('-host', 'a.example', '-path', '/ws/echo', '-protocol', 'chat',
                          '-sizes', '1,1000,65536,300000,1048576');
is($rc, 0, 'WebSocket echo through the tunnel, 1 B to 1 MiB') or diag($out);
like($out, qr/^hello host=a\.example xff=\S* protocol=chat$/m,
     'the application saw the user\'s Host and the chosen subprotocol');

# Ten at once, with ordinary requests alongside on the same tunnel.
my $bg = in_background(sub {
    my @res = map { http(port => $r->{port}, host => 'b.example', path => "/?along=$_") } 1 .. 20;
    return join ',', map { "$_->{status}:$_->{body}" } @res;
});
($rc, $out) = wsclient('-clients', '10', '-sizes', '1000,100000,250000');
is($rc, 0, 'ten WebSocket clients at once') or diag($out);
my @along = split /,/, collect($bg);
is(scalar(grep { $_ eq '200:B' } @along), 20, 'ordinary requests alongside: 20 x 200')
    or diag("@along");

# An idle pipe stays up (within the proxy timeout), also past the
# backend's KeepAliveTimeout (1 s): the stream is open, the session busy.
($rc, $out) = wsclient('-sizes', '10', '-idle', '2s');
is($rc, 0, 'an echo after 2 s idle (KeepAliveTimeout 1)') or diag($out);

# Raw client: the 101 and the Accept (RFC 6455 4.2.2, the RFC's example
# key), the greeting frame; then the client vanishes without a close
# frame.
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $r->{port}, Timeout => 10)
    or die "connect: $!";
print $s "GET /ws/echo HTTP/1.1\r\nHost: a.example\r\nUpgrade: websocket\r\n"
       . "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
       . "Sec-WebSocket-Version: 13\r\nOrigin: http://a.example\r\n\r\n";
my $head = '';
while ($head !~ /\r\n\r\n/) {
    my $n = sysread($s, my $buf, 1) or last;
    $head .= $buf;
}
like($head, qr/^HTTP\/1\.1 101 /, 'raw client: 101 Switching Protocols') or diag($head);
like($head, qr/^Upgrade: websocket\r$/mi, '... Upgrade: websocket');
like($head, qr/^Connection: Upgrade\r$/mi, '... Connection: Upgrade');
like($head, qr/^Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r$/mi,
     '... Sec-WebSocket-Accept computed from the client\'s key');
# RFC 6455 5.2/5.3: a masked text frame "hello?" from the client.
my @mask = (0x12, 0x34, 0x56, 0x78);
my $i = 0;
print $s pack('C2', 0x81, 0x80 | 6), pack('C4', @mask),
         join('', map { chr(ord($_) ^ $mask[$i++ % 4]) } split //, 'hello?');
my $frame = '';
my $t0 = time;
while (length($frame) < 2 || length($frame) < 2 + (ord(substr($frame, 1, 1)) & 0x7f)) {
    last if time - $t0 > 10;
    my $n = sysread($s, my $buf, 512) or last;
    $frame .= $buf;
}
like($frame, qr/hello host=a\.example/, 'raw client: greeting frame from the application');
my ($open_before) = app_stats();
cmp_ok($open_before, '>=', 1, "application has the connection open ($open_before)");
close $s;

ok(wait_for(30, sub { (app_stats())[0] == 0 }),
   'every WebSocket is closed at the application once its client has gone')
    or diag(join ' ', app_stats());

# The hub freed every stream.
sub hub_status {
    return eval { decode_json(http_quick(port => $r->{port}, path => '/ptth-status')->{body}) } || {};
}
# (The application saw the close first; the stream's end then travels
# back through backend and tunnel: poll.)
my $active;
wait_for(20, sub {
    my ($pool) = grep { $_->{name} eq 'app' } @{ hub_status()->{pools} || [] };
    $active = 0;
    $active += $_->{active} for @{ $pool->{tunnels} || [] };
    return $active == 0;
});
is($active, 0, 'no stream left open on the tunnel');

# The application closes first, five times: each time the close reaches
# the client, and the hub lets go of the link (a pipe is never pooled, so
# a link it kept would stay counted).
my $links0 = hub_status()->{hub}{links} // -1;
my @closed;
my $t5 = time;
for (1 .. 5) {
    ($rc, $out) = wsclient('-path', '/ws/close', '-expect-close');
    push @closed, $rc;
}
my $tclose = time - $t5;
is(scalar(grep { $_ == 0 } @closed), 5, 'application closes first: the client sees the close (5 times)')
    or diag($out);
# (A client that missed a close would wait for its 60 s deadline.)
cmp_ok($tclose, '<', 30, sprintf('... at once (5 closes in %.2f s)', $tclose));
my $links1;
ok(wait_for(20, sub { $links1 = hub_status()->{hub}{links} // 99; $links1 < $links0 + 5 }),
   "... and the hub keeps no link of them ($links0 links before, $links1 after)");

# The closing handshake ends the connection at once, whichever side
# closes first (RFC 6455 7.1.1; the router watches the Close frames,
# ptth_ws.c): the backend's HTTP/2 stream would otherwise stay open until
# the router's timeout (30 s here), and with it the user's connection.
sub ws_open {
    my ($path) = @_;
    my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $r->{port},
                                  Timeout => 10) or return;
    print $c "GET $path HTTP/1.1\r\nHost: a.example\r\nUpgrade: websocket\r\n"
           . "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           . "Sec-WebSocket-Version: 13\r\nOrigin: http://a.example\r\n\r\n";
    my $h = '';
    while ($h !~ /\r\n\r\n/) {
        my $n = sysread($c, my $b, 1) or return;
        $h .= $b;
    }
    return $h =~ /^HTTP\/1\.1 101 / ? $c : undef;
}
sub ws_send {       # a masked frame (RFC 6455 5.3)
    my ($c, $op, $payload) = @_;
    my @m = map { int rand 256 } 1 .. 4;
    my $k = 0;
    print $c pack('C2', 0x80 | $op, 0x80 | length $payload), pack('C4', @m),
             join('', map { chr(ord($_) ^ $m[$k++ % 4]) } split //, $payload);
}
my %wsbuf;
sub ws_recv {       # one frame: (opcode, payload); small frames only
    my ($c, $secs) = @_;
    my $t = time;
    my $b = \$wsbuf{fileno $c};
    $$b //= '';
    while (time - $t < $secs) {
        if (length($$b) >= 2 && length($$b) >= 2 + (ord(substr($$b, 1, 1)) & 0x7f)) {
            my $len = ord(substr($$b, 1, 1)) & 0x7f;
            my $op = ord(substr($$b, 0, 1)) & 0x0f;
            my $p = substr($$b, 2, $len);
            substr($$b, 0, 2 + $len) = '';
            return ($op, $p);
        }
        my $rin = '';
        vec($rin, fileno($c), 1) = 1;
        select(my $rout = $rin, undef, undef, 0.2) or next;
        my $n = sysread($c, $$b, 4096, length $$b);
        return (-1, '') unless $n;
    }
    return (-2, '');
}
sub ws_eof_after {  # seconds until the router closes, or undef
    my ($c, $secs) = @_;
    my $t = time;
    while (time - $t < $secs) {
        my $rin = '';
        vec($rin, fileno($c), 1) = 1;
        select(my $rout = $rin, undef, undef, 0.2) or next;
        my $n = sysread($c, my $b, 4096);
        return time - $t if defined $n && $n == 0;
        return time - $t unless defined $n;
    }
    return undef;
}
for my $case (['application', '/ws/close'], ['client', '/ws/echo']) {
    my ($first, $path) = @$case;
    my $c = ws_open($path);
    ok($c, "$first closes first: 101") or next;
    ws_send($c, 1, 'hello?');
    my ($op, $p) = ws_recv($c, 10);
    like($p, qr/^hello host=/, "$first closes first: greeting");
    if ($first eq 'application') {
        ($op) = ws_recv($c, 10);
        is($op, 8, 'the application\'s Close frame reaches the client');
        ws_send($c, 8, pack('n', 1000));
    }
    else {
        ws_send($c, 8, pack('n', 1000));
        ($op) = ws_recv($c, 10);
        is($op, 8, 'the client\'s Close is answered with the application\'s Close');
    }
    my $after = ws_eof_after($c, 20);
    ok(defined $after && $after < 3, sprintf('%s closes first: the router closes the '
        . 'connection right after the closing handshake (%s s)', $first,
        defined $after ? sprintf('%.2f', $after) : 'not within 20'));
    close $c;
}
ok(wait_for(10, sub { (app_stats())[0] == 0 }), 'the application has no WebSocket left open');
ok(wait_for(10, sub {
        my ($pl) = grep { $_->{name} eq 'app' } @{ hub_status()->{pools} || [] };
        my $a = 0;
        $a += $_->{active} for @{ $pl->{tunnels} || [] };
        return $a == 0;
    }), 'and no stream is left open on the tunnel');

# Not upgraded: a worker with upgrade=none sends the request as a GET; the
# client gets the application's refusal, not a 101.
($rc, $out) = wsclient('-path', '/noup/echo');
isnt($rc, 0, 'upgrade=none: no WebSocket');
like($out, qr/handshake/, '... the handshake fails (no 101)') or diag($out);
my $res = http(port => $r->{port}, host => 'a.example', path => '/');
is($res->{body}, 'A', 'and the tunnel serves on');

# A backend without H2WebSockets does not offer extended CONNECT
# (SETTINGS_ENABLE_CONNECT_PROTOCOL), nor does one with PTTHStreamPath
# ptth (whichever PTTH_STREAM_PATH chose here): the hub sends a plain GET.
my $r2 = router();
$r2->start or give_up('router 2 does not start');
my $b2 = backend(tport => $r2->{tport},
                 modules => [qw(proxy proxy_http proxy_wstunnel)],
                 vhost_extra => ["ProxyPass /ws/ ws://127.0.0.1:$app_port/ws/"]);
$b2->start or give_up('backend 2 does not start');
ok(defined wait_for_tunnel($r2), 'tunnel 2 up') or give_up('no tunnel 2');
$t0 = time;
$out = `'$wsecho' -connect 127.0.0.1:$r2->{port} -path /ws/echo 2>&1`;
isnt($? >> 8, 0, 'backend without H2WebSockets: no WebSocket');
like($out, qr/handshake/, '... the client gets an answer, not a 101') or diag($out);
cmp_ok(time - $t0, '<', 15, '... at once (the client would wait 60 s)');
$res = http(port => $r2->{port}, host => 'a.example', path => '/');
is($res->{body}, 'A', 'and that tunnel serves on');
unlike(read_file($r->{errlog}) // '', qr/link protocol error|out of step/,
       'no link protocol error in the router');

finish();
