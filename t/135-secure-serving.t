# Serving secure tunnels: TLS runs in the thread that serves the tunnel
# (connection filters, mod_ptth_backend/ptth_tls_io.c), with no relay
# thread and no socketpair.
#
#  1. Under event, worker and prefork, through one TLS tunnel: a download
#     and an upload of several MiB checked by SHA-256, parallel streams
#     mixing both, and a graceful restart of the backend with requests in
#     flight (they complete; requests during the drain are answered).
#  2. A router that stops reading (a stand-in speaking TLS, the PTTH
#     handshake and HTTP/2 that requests a large file, then never reads
#     again): the backend's writes are bounded by the virtual host's
#     Timeout, so it loses that tunnel within Timeout instead of hanging,
#     and the seat is dialed again.
#  3. No thread per tunnel: a backend child with three TLS tunnels has as
#     many threads as the same child with three plain tunnels.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use Digest::SHA qw(sha256_hex);
use PTTH::Test;
use PTTH::PKI qw(make_pki);

my $pki = make_pki(TMP . '/pki');
my $tok = 'S-' . sha256_hex(rand());
my $tf = write_file(TMP . '/tok', "$tok\n");
chmod 0600, $tf;
my $sport = free_port();
my $r = router(pool => 'pp', wait_timeout => '10s',
               pre_proxy => [
                   "PTTHListen 127.0.0.1:$sport cert=$pki->{router_crt}"
                       . " key=$pki->{router_key}",
                   "<PTTHPool ps>",
                   "  PTTHToken sha256:" . sha256_hex($tok),
                   "</PTTHPool>",
               ],
               proxy => ["ProxyPass /ps/ ptth://ps/", "ProxyPass /pp/ ptth://pp/"]);
$r->start or give_up('router does not start');

sub tls_connect {
    my ($port, $pool) = @_;
    return "https://127.0.0.1:$port/$pool ca=$pki->{ca_crt} name=router.test"
         . " token_file=$tf";
}

# Several MiB each: thousands of TLS records (16 KiB at most, RFC 8446
# section 5.1) through the connection filters.
my ($down, $down_sha) = big_file('serve-4m', 4 << 20);
my ($up, $up_sha) = big_file('serve-3m', (3 << 20) + 4321);
my ($p4, $p4_sha) = big_file('serve-2m', 2 << 20);
my %h2 = (prefork => ['H2MinWorkers 4', 'H2MaxWorkers 25']);

# ------------------------------------------------- 1. serving, per MPM
for my $mpm (qw(event worker prefork)) {
    my $b = backend(name => "secure-$mpm", mpm => $mpm, tport => 1,
                    connect => tls_connect($sport, 'ps'), extra => $h2{$mpm});
    unless ($b->start && defined wait_for_tunnel($r, path => '/ps/', expect => 'A')) {
        fail("$mpm: backend up with a TLS tunnel");
        $b->stop;
        next;
    }
    like($b->errlog_text, qr/TLSv1\.3 session \(TLS_AES_128_GCM_SHA256\) moved into the connection filters/,
         "$mpm: the TLS session is served by the connection filters, "
         . "with the cipher both modules put first (AES-128-GCM)");

    my $res = http(port => $r->{port}, host => 'a.example', path => '/ps/big/serve-4m',
                   sha => 1, max_time => 60);
    is($res->{sha256}, $down_sha, "$mpm: 4 MiB GET through TLS, SHA-256 intact");
    $res = http(port => $r->{port}, host => 'a.example', path => '/ps/cgi-bin/sha.cgi',
                data_file => $up, max_time => 60);
    my $e = parse_env($res->{body});
    is("$res->{status} " . ($e->{sha256} // '-'), "200 $up_sha",
       "$mpm: 3 MiB POST through TLS, SHA-256 at the backend intact");

    # Parallel streams on the one tunnel: downloads, uploads, small ones.
    my @req = ((map { { port => $r->{port}, host => 'a.example', sha => 1,
                        path => "/ps/big/serve-2m?i=$_", max_time => 60 } } 1 .. 3),
               (map { { port => $r->{port}, host => 'b.example',
                        path => "/ps/cgi-bin/sha.cgi?i=$_", data_file => $p4,
                        chunked => 1, max_time => 60 } } 1 .. 2),
               (map { { port => $r->{port}, host => 'b.example',
                        path => "/ps/?i=$_" } } 1 .. 5));
    my @res = http_parallel(@req);
    my $ok = 0;
    for my $i (0 .. $#res) {
        my $x = $res[$i];
        if ($i < 3) {
            $ok++ if $x->{status} == 200 && ($x->{sha256} // '') eq $p4_sha;
        }
        elsif ($i < 5) {
            $ok++ if $x->{status} == 200
                && (parse_env($x->{body})->{sha256} // '') eq $p4_sha;
        }
        else {
            $ok++ if $x->{status} == 200 && $x->{body} eq 'B';
        }
    }
    is($ok, scalar @req, "$mpm: " . scalar(@req) . " parallel streams (3 x 2 MiB down, "
       . "2 x 2 MiB up, 5 small) all intact")
        or diag(join ' | ', map { "$_->{status} $_->{err}" } @res);

    # Graceful restart with requests in flight.
    my $pid_before = $b->pid;
    my @bg = map {
        my $i = $_;
        in_background(sub {
            my $x = http(port => $r->{port}, host => 'a.example',
                         path => "/ps/cgi-bin/sleep.cgi?s=3&i=$i", max_time => 30);
            return "$x->{status} $x->{body}";
        })
    } 1 .. 3;
    my $n = wait_for(10, sub {
        my @c = grep { (read_file("/proc/$_/cmdline") // '') =~ /sleep\.cgi/ } $b->children;
        return @c >= 3 ? scalar @c : 0;
    });
    ok($n, "$mpm: 3 requests in flight at the backend");
    ok($b->graceful, "$mpm: apache2 -k graceful");
    my @during = map {
        my $i = $_;
        in_background(sub {
            my $x = http(port => $r->{port}, host => 'b.example',
                         path => "/ps/?during=$i", max_time => 30);
            return "$x->{status} $x->{body}";
        })
    } 1 .. 3;
    my @st = map { collect($_) } @bg;
    is(scalar(grep { $_ eq "200 slept\n" } @st), 3,
       "$mpm: the 3 in-flight requests completed with 200 over TLS")
        or diag(join ' | ', @st);
    my @dst = map { collect($_) } @during;
    is(scalar(grep { $_ eq '200 B' } @dst), 3,
       "$mpm: 3 requests sent during the drain got 200")
        or diag(join ' | ', @dst);
    is($b->pid, $pid_before, "$mpm: same parent after graceful");
    $res = http(port => $r->{port}, host => 'a.example', path => '/ps/big/serve-2m',
                sha => 1, max_time => 60);
    is($res->{sha256}, $p4_sha, "$mpm: 2 MiB GET through the new generation's tunnel");
    my $err = $b->stop;
    ok(!$err, "$mpm: stops cleanly") or diag($err);
}

# ------------------------------------------- 2. a router that stops reading
# The stand-in: TLS with the router's certificate, reads the PTTH request
# head, answers 101, sends the HTTP/2 preface with the largest windows
# (RFC 9113 section 6.5.2, 6.9) so that flow control does not stop the
# backend first, and on its first connection a GET of a 32 MiB file.  Then
# it never reads that connection again.  It logs each handshake.
my $stall_src = <<'EOF';
use strict;
use warnings;
use IO::Select;
use IO::Socket::INET;
use IO::Socket::SSL;
use Net::SSLeay;
use Time::HiRes qw(time);
my ($port, $cert, $key, $log, $path) = @ARGV;
my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                Listen => 16, ReuseAddr => 1) or die "listen: $!";
open(my $lf, '>>', $log) or die "$log: $!";
$lf->autoflush(1);
sub frame {
    my ($type, $flags, $sid, $payload) = @_;
    my $l = length $payload;
    return pack('C3CCN', ($l >> 16) & 255, ($l >> 8) & 255, $l & 255,
                $type, $flags, $sid) . $payload;
}
my $sel = IO::Select->new($srv);
my (@stalled, %no, $n);
while (1) {
    for my $h ($sel->can_read(1)) {
        if ($h == $srv) {
            my $c = $srv->accept or next;
            my $s = IO::Socket::SSL->start_SSL($c, SSL_server => 1,
                        SSL_cert_file => $cert, SSL_key_file => $key,
                        Timeout => 10) or next;
            my $head = '';
            while ($head !~ /\r\n\r\n/) {
                my $got = sysread($s, my $buf, 4096);
                last unless $got;
                $head .= $buf;
            }
            next unless $head =~ /\r\n\r\n/;
            $n++;
            my $out = "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n"
                    . "Upgrade: ptth\r\nALPN: h2\r\n\r\n" . "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                    . frame(4, 0, 0, pack('nN', 4, 0x7fffffff))
                    . frame(8, 0, 0, pack('N', 0x7fffffff - 65535));
            if ($n == 1) {
                # :method GET, :scheme http (static table 2, 6); :path and
                # :authority as literals with indexed names (4, 1).
                my $hb = "\x82\x86\x04" . chr(length $path) . $path
                       . "\x01" . chr(9) . 'a.example';
                $out .= frame(1, 5, 1, $hb);
            }
            printf $lf "handshake %d %.3f\n", $n, time;
            print $s $out;
            if ($n == 1) {
                push @stalled, $s;      # never read again
            }
            else {
                $no{fileno $s} = $n;
                $sel->add($s);
            }
            next;
        }
        # Later connections are read to their end, which tells how the
        # backend ended the TLS session.
        my $got;
        do { $got = sysread($h, my $buf, 65536) } while ($got && $h->pending);
        next if $got || (!defined $got && ($!{EAGAIN} || $!{EINTR}));
        my $ssl = $h->_get_ssl_object;
        my $clean = $ssl && (Net::SSLeay::get_shutdown($ssl)
                             & Net::SSLeay::RECEIVED_SHUTDOWN());
        printf $lf "end %d %s %.3f\n", $no{fileno $h},
               $clean ? 'close_notify' : 'no-close_notify', time;
        $sel->remove($h);
        close $h;
    }
}
EOF
my $stall_pl = write_file(TMP . '/stall-router.pl', $stall_src);
my (undef, $s32_sha) = big_file('stall-32m', 32 << 20);
my $timeout = 3;
for my $mpm (qw(event prefork)) {
    my $fport = free_port();
    my $slog = TMP . "/stall-$mpm.log";
    unlink $slog;
    my $spid = spawn("stall-router-$mpm", TMP . "/stall-$mpm.out", $^X, $stall_pl,
                     $fport, $pki->{router_crt}, $pki->{router_key}, $slog,
                     '/big/stall-32m');
    # A poll: 30 s costs nothing when it is quick (10 s ran out at a load of 25).
    ok(wait_for(30, sub { PTTH::Test::port_listening($fport) }), "$mpm: the stalling router listens");
    my $b = backend(name => "stalled-$mpm", mpm => $mpm, tport => 1,
                    connect => tls_connect($fport, 'ps'),
                    extra => [@{ $h2{$mpm} || [] }, "Timeout $timeout"]);
    $b->start or do { fail("$mpm: backend starts"); stop_spawned($spid); next };
    my $log = sub { read_file($slog) // '' };
    my $t1 = wait_for(15, sub { $log->() =~ /^handshake 1 ([\d.]+)/m ? $1 : 0 });
    ok($t1, "$mpm: the backend dialed and got the request");
    my $t2 = wait_for(3 * $timeout + 10, sub { $log->() =~ /^handshake 2 ([\d.]+)/m ? $1 : 0 });
    ok($t2, "$mpm: the seat was dialed again after the router stopped reading");
    # Writes to a router that does not read: Timeout, then the tunnel is
    # lost and re-dialed at once (it served a request).  Loopback socket
    # buffers take a few MiB first, which a slow machine may need a moment
    # to fill.
    my $took = ($t1 && $t2) ? $t2 - $t1 : 1e9;
    cmp_ok($took, '<', $timeout + 6,
           "$mpm: ... within Timeout ($timeout s) and a margin, not hanging");
    cmp_ok($took, '>=', $timeout - 1,
           "$mpm: ... after the write had waited about Timeout");
    like($b->errlog_text, qr/tunnel to https:\S+ lost after [\d.]+s and 1 request/,
         "$mpm: the backend logs the lost tunnel");
    # A clean end over TLS: a graceful restart drains the idle tunnel,
    # which ends with mod_http2's GOAWAY and close_notify (RFC 8446
    # section 6.1); the new generation dials in.
    ok($b->graceful, "$mpm: apache2 -k graceful");
    is(wait_for(15, sub { $log->() =~ /^end 2 (\S+)/m ? $1 : 0 }) // '', 'close_notify',
       "$mpm: the drained tunnel ended with close_notify");
    ok(wait_for(15, sub { $log->() =~ /^handshake 3 /m }),
       "$mpm: the new generation dialed in");
    my $err = $b->stop;
    ok(!$err, "$mpm: the backend stops cleanly with the router still not reading")
        or diag($err);
    stop_spawned($spid);
}

# ---------------------------------------------- 3. no thread per tunnel
my %one_child = (StartServers => 1, ServerLimit => 1, ThreadsPerChild => 25,
                 MaxRequestWorkers => 25, MinSpareThreads => 5,
                 MaxSpareThreads => 50);
# mod_http2 serves these tunnels, with a fixed number of workers, so that
# the two children's thread counts can be compared exactly: the module's
# own stream path starts its workers as streams come, and a burst of
# requests may start one more in either child (its TLS runs in the
# tunnel's thread as well, over the same filters; t/36 drives it).
my %tb = (
    plain => backend(name => 'threads-plain', mpm => 'event', tunnels => 3,
                     tport => $r->{tport}, mpm_conf => \%one_child, stream_path => 'http2',
                     extra => ['H2MinWorkers 4', 'H2MaxWorkers 4']),
    tls   => backend(name => 'threads-tls', mpm => 'event', tunnels => 3, tport => 1,
                     connect => tls_connect($sport, 'ps'), mpm_conf => \%one_child,
                     stream_path => 'http2',
                     extra => ['H2MinWorkers 4', 'H2MaxWorkers 4']),
);
my %port = (plain => $r->{tport}, tls => $sport);
my %holder;
for my $k (qw(plain tls)) {
    $tb{$k}->start or give_up("threads-$k backend does not start");
}
for my $k (qw(plain tls)) {
    # All three tunnels up, in the one child.
    $holder{$k} = wait_for(20, sub {
        my @in = PTTH::Test::established_inodes($port{$k}, 1);
        return 0 unless @in == 3;
        return PTTH::Test::tunnel_holder_peer($port{$k}, [$tb{$k}->children]);
    });
    ok($holder{$k}, "$k: three tunnels up in one backend child");
}
# Streams on every tunnel, so that mod_http2 is at its steady state.
for my $k (qw(plain tls)) {
    my $pool = $k eq 'plain' ? 'pp' : 'ps';
    my @res = http_parallel(map { { port => $r->{port}, host => 'a.example',
                                    path => "/$pool/?t=$_" } } 1 .. 12);
    is(scalar(grep { $_->{status} == 200 } @res), 12, "$k: 12 requests through the tunnels");
}
sub threads_of {
    my ($pid) = @_;
    opendir(my $dh, "/proc/$pid/task") or return -1;
    my $n = grep { /^\d+$/ } readdir $dh;
    closedir $dh;
    return $n;
}
my %thr;
# Equal once the event MPM's start-up threads are gone (bounded wait).
wait_for(10, sub {
    %thr = map { $_ => ($holder{$_} ? threads_of($holder{$_}) : -1) } qw(plain tls);
    return $thr{plain} > 0 && $thr{plain} == $thr{tls};
}, 0.5);
cmp_ok($thr{tls}, '>', 0, "the TLS backend child has $thr{tls} threads");
is($thr{tls}, $thr{plain},
   "three TLS tunnels take no thread more than three plain ones ($thr{plain})");
for my $k (qw(plain tls)) {
    my $err = $tb{$k}->stop;
    ok(!$err, "threads-$k backend stops cleanly") or diag($err);
}

finish();
