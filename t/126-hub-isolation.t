# A CGI running on the router is an untrusted local program (it runs as
# the same User as httpd's children).  It must get no handle on the hub:
#   (a) none of its open descriptors is the hub's Unix socket, a link
#       between a router child and the hub, a tunnel listener or a tunnel
#       (the CGI lists /proc/self/fd; the test classifies each socket
#       inode with ss and /proc/net/tcp*);
#   (b) connecting to the hub's socket path (PTTHHubSocket) and speaking
#       the link protocol (ptth_link.h: a REQUEST for pool "app", then a
#       STATUS) gets it nothing: the connection is closed at once, no
#       frame comes back, and the request never reaches a backend.
# Checked with mod_cgid under the event MPM and with mod_cgi under
# prefork (where CGIs are forked from the router child itself).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use PTTH::Test;

my $cgidir = TMP . '/router-cgi';
write_file("$cgidir/hubprobe.cgi", <<'CGI', 0755);
#!/usr/bin/perl
# Reports this CGI's open descriptors, then tries the hub's socket path.
use strict;
use warnings;
use IO::Socket::UNIX;
use IO::Select;
use Socket qw(SOCK_STREAM);
use Time::HiRes qw(time);

$| = 1;
$SIG{PIPE} = 'IGNORE';      # a hub that closes at once must not kill us
print "Content-Type: text/plain\r\n\r\n";
opendir(my $d, '/proc/self/fd') or die;
for my $fd (sort { $a <=> $b } grep { /^\d+$/ } readdir $d) {
    my $t = readlink("/proc/self/fd/$fd") // next;
    print "fd $fd $t\n";
}
closedir $d;

my $path = $ENV{PTTH_HUB_SOCKET} // '';
my ($id) = ($ENV{QUERY_STRING} // '') =~ /id=([\w-]+)/;
$id //= 'none';
sub str { my ($s) = @_; return pack('N', length $s) . $s . "\0" }
my $payload = pack('NN', 2000, 5000) . str('app') . str('GET') . str('http')
            . str('a.example') . str("/from-cgi-$id") . str('')
            . pack('N', 1) . str('user-agent') . str('hubprobe');
my %frames = (
    request => pack('CCnN', 1, 1, 0, length $payload) . $payload,
    status  => pack('CCnN', 6, 0, 0, 0),
);
for my $what (qw(request status)) {
    my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $path);
    unless ($s) {
        print "$what connect failed: $!\n";
        next;
    }
    my $t0 = time;
    my $wrote = syswrite($s, $frames{$what}) // 0;
    my ($in, $eof) = ('', 0);
    my $sel = IO::Select->new($s);
    while (time - $t0 < 3) {
        next unless $sel->can_read(0.1);
        my $n = sysread($s, my $buf, 65536);
        if (!$n) { $eof = 1; last }
        $in .= $buf;
    }
    printf "%s connected, wrote %d, got %d bytes%s, %s\n", $what, $wrote, length $in,
        length($in) >= 8 ? ', first frame type ' . ord($in) : '',
        $eof ? sprintf('closed after %.2f s', time - $t0) : 'still open after 3 s';
}
CGI

# Socket inodes that are the hub's: from `ss -xan` (path, inode, peer
# inode) and /proc/net/tcp* (local port).  Returns inode => description.
sub hub_sockets {
    my ($hubsock, @tports) = @_;
    my %out;
    my (%path_of, %peer_of, %state_of);
    for my $l (split /\n/, `ss -xan 2>/dev/null`) {
        my @f = split ' ', $l;
        # Netid State Recv-Q Send-Q Local-path Local-inode Peer-path Peer-inode
        next unless @f >= 8 && $f[0] =~ /^u_/ && $f[5] =~ /^\d+$/;
        $path_of{$f[5]} = $f[4];
        $peer_of{$f[5]} = $f[7];
        $state_of{$f[5]} = $f[1];
    }
    for my $ino (keys %path_of) {
        if ($path_of{$ino} eq $hubsock) {
            $out{$ino} = $state_of{$ino} eq 'LISTEN' ? 'the hub\'s listening socket'
                                                     : 'the hub\'s end of a link';
        }
        elsif (($path_of{$peer_of{$ino} // ''} // '') eq $hubsock) {
            $out{$ino} = 'a child\'s link to the hub';
        }
    }
    my %tp = map { $_ => 1 } @tports;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open(my $fh, '<', $f) or next;
        while (my $l = <$fh>) {
            my @f = split ' ', $l;
            next unless @f > 9 && $f[1] =~ /:([0-9A-F]{4})$/;
            $out{$f[9]} = "tunnel port " . hex($1) . ($f[3] eq '0A' ? ' (listener)' : ' (tunnel)')
                if $tp{hex $1};
        }
        close $fh;
    }
    return \%out;
}

my @routers;
for my $v (['event', 'cgid'], ['prefork', 'cgi']) {
    my ($mpm, $cgimod) = @$v;
    my $name = "r$cgimod";
    my $dir = TMP . "/$name";
    my $hubsock = "$dir/run/hub.sock";
    my $oport = free_port();
    my $r = router(
        name => $name, mpm => $mpm, modules => [$cgimod, 'alias', 'env'],
        pre_proxy => [
            "PTTHHubSocket $hubsock",
            "PTTHListen 127.0.0.1:$oport plain=other",
            ($cgimod eq 'cgid' ? ("ScriptSock $dir/run/cgid.sock") : ()),
            "ScriptAlias /cgi/ $cgidir/",
            "<Directory $cgidir>", "  Options +ExecCGI", "  Require all granted", "</Directory>",
            "SetEnv PTTH_HUB_SOCKET $hubsock",
        ],
        proxy => ['ProxyPass /cgi/ !', 'ProxyPass /o/ ptth://other/', 'ProxyPass / ptth://app/'],
    );
    $r->{hubsock} = $hubsock;
    $r->{oport} = $oport;
    $r->{label} = "$mpm + mod_$cgimod";
    $r->start or give_up("router ($r->{label}) does not start");
    push @routers, $r;
}
my $b = backend(tport => $routers[0]{tport},
                extra => [map { "PTTHConnect tcp://127.0.0.1:$_" }
                          $routers[0]{oport}, $routers[1]{tport}, $routers[1]{oport}]);
$b->start or give_up('backend does not start');

for my $r (@routers) {
    my $l = $r->{label};
    ok(defined wait_for_tunnel($r, expect => 'A'), "$l: a tunnel serves pool app")
        or next;
    # A few requests first, so the router child has links to the hub open
    # (and pooled) when the CGI is forked.
    http(port => $r->{port}, host => 'a.example', path => "/?warm=$_") for 1 .. 3;
    http(port => $r->{port}, host => 'b.example', path => "/o/?warm=$_") for 1 .. 3;
    my $id = "$$-" . int(rand(1e9));
    my $res = http(port => $r->{port}, path => "/cgi/hubprobe.cgi?id=$id", max_time => 20);
    is($res->{status}, 200, "$l: the probing CGI ran") or diag($res->{body});
    my $body = $res->{body} // '';
    note($body);

    # (a) descriptors
    my $hubs = hub_sockets($r->{hubsock}, $r->{tport}, $r->{oport});
    cmp_ok(scalar(keys %$hubs), '>', 0, "$l: the hub's sockets are found (ss, /proc/net)");
    my @leaks;
    while ($body =~ /^fd (\d+) socket:\[(\d+)\]$/mg) {
        push @leaks, "fd $1: $hubs->{$2}" if $hubs->{$2};
    }
    is(scalar(@leaks), 0, "$l: the CGI holds no hub socket, link, tunnel listener or tunnel")
        or diag(join "\n", @leaks);

    # (b) the socket path
    for my $what (qw(request status)) {
        my ($line) = $body =~ /^(\Q$what\E (?:connect failed|connected).*)$/m;
        ok(defined $line, "$l: the CGI tried the hub socket path ($what)") or next;
        diag("$l: $line") if $line !~ /connect failed/;
        my $nothing = $line =~ /connect failed/
            || ($line =~ /got 0 bytes, closed after ([\d.]+) s/ && $1 <= 2);
        ok($nothing, "$l: a $what from the CGI gets no answer and the connection is closed")
            or diag($line);
    }
    my $reached = wait_for(1.5, sub { (read_file($b->{acclog}) // '') =~ /from-cgi-\Q$id\E/ });
    ok(!$reached, "$l: the CGI's request never reaches a backend");
    is(http(port => $r->{port}, host => 'a.example', path => '/?after=1')->{body}, 'A',
       "$l: the router still serves");
}

finish();
