package PTTH::Test;

# Test harness for mod_ptth: real httpd processes (a router and one or more
# backends) on loopback ports, real clients (curl, h2load), TAP via
# Test::More.  Every test file gets its own scratch directory; every httpd
# it starts is stopped by PID at the end, and every error_log is scanned for
# crashes and sanitizer reports.
#
# Licensed under the Apache License, Version 2.0.
#
# Environment:
#   PTTH_TEST_TMP     scratch root (default: <repo>/t/tmp); one sub-directory
#                     per test file, wiped when the file starts
#   PTTH_SANITIZE=1   start every httpd with LD_PRELOAD of libasan/libubsan
#                     (build/run-tests.sh builds the modules to match)
#   PTTH_SAN_PRELOAD  the LD_PRELOAD value to use (run-tests.sh sets it)
#   APACHE2           httpd binary (default /usr/sbin/apache2)
#   APACHE_MODULES    httpd's module dir (default /usr/lib/apache2/modules)
#   PTTH_PORT_DIR     directory of the machine-wide port reservations
#                     (default /tmp/ptth-ports; see free_port)
#   PTTH_PORT_RANGE   LO-HI: the ports free_port hands out (default: the
#                     12000 ports below the kernel's ephemeral range)
#   PTTH_GOCACHE      Go build cache shared by the test files of a run
#                     (default <scratch root>/.go/cache)
#   PTTH_STREAM_PATH  http2 or ptth: PTTHStreamPath of every backend the
#                     harness configures (default: not written, the
#                     module's default); a backend's stream_path option wins
#
# Several test files run at once (prove -j, and other people's runs on the
# same machine): nothing here may assume it is alone.  Each file has its
# own scratch directory and reserves its ports machine-wide; Go programs
# are built once per run, under a lock.

use strict;
use warnings;
use Exporter 'import';
use Cwd qw(abs_path);
use File::Basename qw(dirname basename);
use File::Path qw(make_path remove_tree);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Fcntl qw(:flock O_RDWR O_CREAT O_EXCL);
use Time::Local qw(timelocal);
use Time::HiRes qw(time sleep);
use Digest::SHA;
use Test::More ();
use PTTH::Client;
use PTTH::SockDiag ();

our @EXPORT = qw(
    ROOT TMP free_port router backend configtest_conf write_file read_file
    http http_parallel h2load wait_for wait_for_tunnel sha256_file sha256_str
    big_file hub_pid descendants alive kill9_tree go_build spawn stop_spawned
    finish give_up parse_env routed_count log_since in_background collect
    tunnel_count proc_kb
);
# Helpers added later are exported on request only, so that they never
# clash with a sub of the same name in a test file.
our @EXPORT_OK = qw(
    ptth_status wait_pool_tunnels wait_log log_time log_matches
    cgi_group cgi_arrived cgi_running cgi_release http_batch http_quick
);

my $ROOT = abs_path(dirname(__FILE__) . '/../../..');
sub ROOT () { $ROOT }

our $APACHE2 = $ENV{APACHE2} || '/usr/sbin/apache2';
our $MODDIR  = $ENV{APACHE_MODULES} || '/usr/lib/apache2/modules';
our $ROUTER_SO  = "$ROOT/mod_ptth_router/.libs/mod_ptth_router.so";
our $BACKEND_SO = "$ROOT/mod_ptth_backend/.libs/mod_ptth_backend.so";
our $CGI_DIR    = "$ROOT/t/cgi-bin";

my $TEST_NAME = basename($0, '.t');
$TEST_NAME =~ s/[^A-Za-z0-9_.-]/_/g;
my $TMP_ROOT = $ENV{PTTH_TEST_TMP} || "$ROOT/t/tmp";
my $TMP = "$TMP_ROOT/$TEST_NAME";
sub TMP () { $TMP }

if ($> == 0 && !$ENV{PTTH_TEST_ALLOW_ROOT}) {
    die "PTTH::Test: do not run the tests as root; `make test` runs them as "
      . "an unprivileged user (httpd would need a User directive otherwise)\n";
}

remove_tree($TMP) if -d $TMP;
make_path($TMP);
make_path("$TMP/htdocs/$_") for qw(a b default big);
make_path("$TMP/cgi");     # wait.cgi's groups (PTTH_TEST_SCRATCH)
write_file("$TMP/htdocs/a/index.html", "A");
write_file("$TMP/htdocs/b/index.html", "B");
write_file("$TMP/htdocs/default/index.html", "DEFAULT");

my $OWNER = $$;   # forked helpers must not stop servers at their exit
my @SERVERS;      # every PTTH::Test::Httpd created (started or not)
my @SPAWNED;      # [pid, name] of background helpers (Go programs)
my %PORTS;        # port => lock file handle, for the ports we reserved
my $SERIAL = 0;
my $FINISHED = 0;

# ---------------------------------------------------------------- helpers

sub write_file {
    my ($path, $content, $mode) = @_;
    make_path(dirname($path));
    open(my $fh, '>', $path) or die "write $path: $!";
    binmode $fh;
    print $fh $content;
    close $fh or die "close $path: $!";
    chmod($mode, $path) if defined $mode;
    return $path;
}

sub read_file {
    my ($path) = @_;
    open(my $fh, '<', $path) or return undef;
    binmode $fh;
    local $/;
    my $c = <$fh>;
    close $fh;
    return $c // '';
}

sub sha256_file {
    my ($path) = @_;
    my $sha = Digest::SHA->new(256);
    $sha->addfile($path, 'b');
    return $sha->hexdigest;
}

sub sha256_str { Digest::SHA::sha256_hex($_[0]) }

# ---------------------------------------------------------------- ports
#
# free_port() reserves a loopback TCP port machine-wide for the life of the
# test process: test files run in parallel, and other people's runs share
# the machine.  A reservation is an exclusive flock(2) on the file
# $PORT_DIR/<port>, held through a descriptor this process keeps open (not
# inherited across exec).  The kernel drops the lock when the process
# ends, however it ends, so a crashed run leaves no stale reservation and
# no owner check or clean-up is needed: the files themselves are only
# names (0666, in a sticky 1777 directory, so that every user can lock
# every one) and stay.  A port is handed out when its lock is ours and
# nothing listens on it.
#
# The ports come from below the kernel's ephemeral range
# (/proc/sys/net/ipv4/ip_local_port_range), where no outgoing connection
# (curl, a backend dialing its router) is ever given a local port, so a
# reserved port cannot be taken by a client between free_port and the
# server's bind.  PTTH_PORT_RANGE=LO-HI overrides the range.

my $PORT_DIR = $ENV{PTTH_PORT_DIR} || '/tmp/ptth-ports';
my ($PORT_LO, $PORT_HI);

sub port_range {
    return ($PORT_LO, $PORT_HI) if defined $PORT_LO;
    if (($ENV{PTTH_PORT_RANGE} // '') =~ /^\s*(\d+)\s*-\s*(\d+)\s*$/
        && $1 >= 1024 && $2 <= 65535 && $1 < $2) {
        return ($PORT_LO, $PORT_HI) = ($1, $2);
    }
    my ($elo, $ehi) = (32768, 60999);
    my $l = read_file('/proc/sys/net/ipv4/ip_local_port_range');
    ($elo, $ehi) = ($1, $2) if defined $l && $l =~ /^\s*(\d+)\s+(\d+)/;
    if ($elo - 1 - 1024 >= 2000) {
        my $lo = $elo - 12000 < 1024 ? 1024 : $elo - 12000;
        return ($PORT_LO, $PORT_HI) = ($lo, $elo - 1);
    }
    if (65535 - $ehi >= 2000) {
        return ($PORT_LO, $PORT_HI) = ($ehi + 1, $ehi + 12000 > 65535 ? 65535 : $ehi + 12000);
    }
    return ($PORT_LO, $PORT_HI) = (0, 0);   # no room: ask the kernel
}

sub port_dir {
    return $PORT_DIR if -d $PORT_DIR && -w _;
    my $old = umask 0;
    mkdir $PORT_DIR, 01777;
    umask $old;
    chmod 01777, $PORT_DIR if -o $PORT_DIR;
    return $PORT_DIR if -d $PORT_DIR && -w _;
    # Somebody made it unusable for us: keep to our own reservations.
    my $own = "$PORT_DIR-$<";
    mkdir $own, 0700;
    die "free_port: neither $PORT_DIR nor $own is a writable directory\n"
        unless -d $own && -w _;
    print STDERR "# free_port: $PORT_DIR is not writable, using $own "
        . "(no coordination with other users)\n";
    return $PORT_DIR = $own;
}

# Nothing listens on 127.0.0.1:$p (httpd binds with SO_REUSEADDR too, so
# connections in TIME_WAIT do not matter).
sub port_bindable {
    my ($p) = @_;
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $p,
                                  Proto => 'tcp', ReuseAddr => 1, Listen => 1)
        or return 0;
    close $s;
    return 1;
}

# Takes the machine-wide reservation of $p; 1 when it is ours now.
sub reserve_port {
    my ($p) = @_;
    return 1 if $PORTS{$p};
    my $f = port_dir() . "/$p";
    my $fh;
    unless (sysopen($fh, $f, O_RDWR)) {
        return 0 unless $!{ENOENT};
        # O_EXCL: of two processes creating it, one opens the other's file.
        unless (sysopen($fh, $f, O_RDWR | O_CREAT | O_EXCL, 0666)) {
            return 0 unless $!{EEXIST};
            sysopen($fh, $f, O_RDWR) or return 0;
        }
        chmod 0666, $f;
    }
    unless (flock($fh, LOCK_EX | LOCK_NB)) {
        close $fh;
        return 0;
    }
    unless (port_bindable($p)) {
        close $fh;            # releases the lock
        return 0;
    }
    # Who holds it, for people looking at the directory.
    truncate($fh, 0);
    syswrite($fh, "$$ $0\n");
    $PORTS{$p} = $fh;
    return 1;
}

# A loopback TCP port that nobody listens on and nobody else has reserved;
# it stays reserved until this test process exits.
sub free_port {
    my ($lo, $hi) = port_range();
    if ($hi) {
        my $n = $hi - $lo + 1;
        my $start = int(rand($n));
        for my $i (0 .. $n - 1) {
            my $p = $lo + ($start + $i) % $n;
            next if $PORTS{$p};
            return $p if reserve_port($p);
        }
    }
    # No range (or all taken): ports the kernel picks, reserved the same way.
    for (1 .. 100) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                      Proto => 'tcp', Listen => 1)
            or die "free_port: bind: $!";
        my $p = $s->sockport;
        close $s;
        next if $PORTS{$p};
        return $p if reserve_port($p);
    }
    die "free_port: no free port";
}

sub port_open {
    my ($port, $host) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => $host || '127.0.0.1',
                                  PeerPort => $port, Proto => 'tcp',
                                  Timeout => 1);
    return 0 unless $s;
    close $s;
    return 1;
}

# True when something listens on TCP $port, without connecting to it (a
# connection to a tunnel port would be a tunnel): from the kernel's
# inet_diag (PTTH::SockDiag), else /proc/net/tcp*.  A reading can miss a
# socket while other processes open and close sockets (see
# established_inodes): "not listening" is read three times.
sub port_listening {
    my ($port) = @_;
    for my $try (1 .. 3) {
        my ($l) = PTTH::SockDiag::tcp_sockets(PTTH::SockDiag::TCP_LISTEN, $port);
        if ($l) {
            return 1 if @$l;
            next;
        }
        for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
            open(my $fh, '<', $f) or next;
            while (my $l = <$fh>) {
                my @f = split ' ', $l;
                next unless @f > 3 && $f[1] =~ /:([0-9A-F]{4})$/;
                if (hex($1) == $port && $f[3] eq '0A') {
                    close $fh;
                    return 1;
                }
            }
            close $fh;
        }
    }
    return 0;
}

# Poll $cond every $step seconds (<= 0.1) until it returns true or
# $timeout seconds passed.  Returns the true value or undef.
sub wait_for {
    my ($timeout, $cond, $step) = @_;
    $step ||= 0.1;
    my $deadline = time + $timeout;
    while (1) {
        my $r = $cond->();
        return $r if $r;
        return undef if time >= $deadline;
        sleep $step;
    }
}

# A 10 MiB (or $size bytes) file of random bytes in the shared docroot,
# served by every backend vhost as /big/<name>.  Returns (path, sha256).
sub big_file {
    my ($name, $size) = @_;
    $name ||= 'big.bin';
    $size ||= 10 * 1024 * 1024;
    my $path = "$TMP/htdocs/big/$name";
    unless (-s $path && -s $path == $size) {
        open(my $in, '<', '/dev/urandom') or die "urandom: $!";
        open(my $out, '>', $path) or die "$path: $!";
        binmode $in; binmode $out;
        my $left = $size;
        while ($left > 0) {
            my $n = read($in, my $buf, $left > 1048576 ? 1048576 : $left);
            die "urandom read: $!" unless $n;
            print $out $buf;
            $left -= $n;
        }
        close $out or die "$path: $!";
        close $in;
    }
    return ($path, sha256_file($path));
}

# --------------------------------------------------------- process helpers

sub proc_stat {
    my ($pid) = @_;
    open(my $fh, '<', "/proc/$pid/stat") or return;
    my $l = <$fh>;
    close $fh;
    return unless defined $l && $l =~ /^\d+ \(.*\) (\S) (\d+)/s;
    return ($1, $2);    # state, ppid
}

# True while $pid exists and is not a zombie.
sub alive {
    my ($pid) = @_;
    return 0 unless $pid && $pid > 1;
    my ($state) = proc_stat($pid);
    return 0 unless defined $state;
    return $state ne 'Z' && $state ne 'X';
}

# All live descendants of $pid (children, grandchildren, ...).
sub descendants {
    my ($pid) = @_;
    my (@out, @todo);
    @todo = ($pid);
    while (@todo) {
        my $p = shift @todo;
        # Each thread's children (Linux 3.5+): only this tree is read, not
        # every process on the machine.
        opendir(my $td, "/proc/$p/task") or next;
        for my $tid (grep { /^\d+$/ } readdir $td) {
            open(my $fh, '<', "/proc/$p/task/$tid/children") or next;
            my $list = <$fh> // '';
            close $fh;
            for my $k (split ' ', $list) {
                my ($state) = proc_stat($k);
                next unless defined $state && $state ne 'Z';
                push @out, $k;
                push @todo, $k;
            }
        }
        closedir $td;
    }
    return @out;
}

# SIGKILL $pid and every descendant (all of them ours: they were forked by
# an httpd this test started).  Waits until they are gone.
sub kill9_tree {
    my ($pid) = @_;
    my @all = ($pid, descendants($pid));
    kill 'KILL', @all;
    wait_for(10, sub { !grep { alive($_) } @all });
    return !grep { alive($_) } @all;
}

# ------------------------------------------------------------ HTTP clients

my $REQ = 0;

# One request: over HTTP/1.1 by the in-process client PTTH::Client (curl's
# cost without its process; PTTH_CURL=1 uses curl instead), over HTTP/2 by
# curl.  Options:
#   url | (port [, path])    target (path default "/")
#   host                     Host header
#   method, headers => [..], data_file (POST --data-binary @file), chunked
#   interface                local address to bind (e.g. 127.0.0.5)
#   resolve => "name:port:127.0.0.1"
#   max_time                 seconds (default 15)
#   sha => 1                 hash the body instead of returning it
#   http2 => 1               h2c prior knowledge
# Returns a hash: status (0 on failure), body, sha256, size, time, headers
# (lower-case names => last value), rc (curl's exit code), err (stderr).
sub http {
    my (%a) = @_;
    return (PTTH::Client::run(\%a))[0] if !$ENV{PTTH_CURL} && PTTH::Client::can_do(\%a);
    my @cmd = http_cmd(\%a);
    my $t0 = time;
    my $out = '';
    if (open(my $fh, '-|', @cmd)) {
        local $/;
        $out = <$fh> // '';
        close $fh;
    }
    my $rc = $? >> 8;
    return http_result(\%a, $out, $rc, time - $t0);
}

# Several requests at once (each a hashref of http() options): all on
# connections of the in-process client, or, when one needs curl, all curls
# started before any is waited for.  Returns the results in order.
sub http_parallel {
    my (@reqs) = @_;
    if (!$ENV{PTTH_CURL} && !grep { !PTTH::Client::can_do($_) } @reqs) {
        return PTTH::Client::run(map { +{ %$_ } } @reqs);
    }
    my @run;
    my $t0 = time;
    for my $r (@reqs) {
        my %a = %$r;
        my @cmd = http_cmd(\%a);
        open(my $fh, '-|', @cmd) or die "curl: $!";
        push @run, [\%a, $fh];
    }
    my @res;
    for my $x (@run) {
        my ($a, $fh) = @$x;
        local $/;
        my $out = <$fh> // '';
        close $fh;
        my $rc = $? >> 8;
        push @res, http_result($a, $out, $rc, time - $t0);
    }
    return @res;
}

# Many GETs at once, all on connections of the in-process client (the
# statuses and bodies, and a few response headers, are what matter).
# Options: port, paths => [...] (or urls => [...]), host, headers => [...]
# (sent), want => [...] (response header names to return), max_time
# (default 15).  Returns, in order, hashes with status (0 on failure), body,
# size, time, url, err, headers (the wanted ones, lower-case names, ''
# when absent).
sub http_batch {
    my (%a) = @_;
    my @urls = $a{urls} ? @{ $a{urls} }
             : map { "http://127.0.0.1:$a{port}$_" } @{ $a{paths} || [] };
    return () unless @urls;
    my @res = PTTH::Client::run(map { +{ url => $_, host => $a{host},
                                         headers => $a{headers}, max_time => $a{max_time} } } @urls);
    for my $i (0 .. $#urls) {
        my $r = $res[$i];
        $r->{url} = $urls[$i];
        my $h = $r->{headers};
        $r->{headers} = { map { lc($_) => $h->{lc $_} // '' } @{ $a{want} || [] } };
    }
    return @res;
}

sub http_cmd {
    my ($a) = @_;
    my $n = ++$REQ;
    make_path("$TMP/curl");
    # $$: requests made by forked helpers (in_background) must not collide.
    $a->{_body} = "$TMP/curl/$$-$n.body";
    $a->{_hdr}  = "$TMP/curl/$$-$n.hdr";
    $a->{_err}  = "$TMP/curl/$$-$n.err";
    unlink $a->{_body}, $a->{_hdr}, $a->{_err};
    my $url = $a->{url};
    unless ($url) {
        my $path = $a->{path} // '/';
        $url = "http://127.0.0.1:$a->{port}$path";
    }
    # HEAD: --head, or curl would wait for the body Content-Length
    # announces until the server closes the connection.
    my $head = uc($a->{method} // '') eq 'HEAD' && !$a->{upload_file};
    my @cmd = ('curl', '-s', '-S', '-g', '--max-time', $a->{max_time} || 15,
               '-o', ($a->{discard} || $head ? '/dev/null' : $a->{_body}),
               '-D', $a->{_hdr}, '--stderr', $a->{_err},
               '-w', '%{http_code} %{time_total} %{size_download}');
    push @cmd, '--http2-prior-knowledge' if $a->{http2};
    push @cmd, '-H', "Host: $a->{host}" if defined $a->{host};
    push @cmd, $head ? '--head' : ('-X', $a->{method}) if $a->{method} && !$a->{upload_file};
    push @cmd, '--interface', $a->{interface} if $a->{interface};
    push @cmd, '--resolve', $a->{resolve} if $a->{resolve};
    push @cmd, map { ('-H', $_) } @{ $a->{headers} || [] };
    if ($a->{upload_file}) {
        # streamed from the file (-T), unlike --data-binary which loads it
        push @cmd, '-H', 'Content-Type: application/octet-stream';
        push @cmd, '-H', 'Transfer-Encoding: chunked' if $a->{chunked};
        push @cmd, '-T', $a->{upload_file}, '-X', $a->{method} || 'POST';
    }
    if ($a->{data_file}) {
        push @cmd, '-H', 'Content-Type: application/octet-stream';
        push @cmd, '-H', 'Transfer-Encoding: chunked' if $a->{chunked};
        push @cmd, '--data-binary', '@' . $a->{data_file};
    }
    push @cmd, $url;
    return @cmd;
}

sub http_result {
    my ($a, $out, $rc, $elapsed) = @_;
    my ($code, $t, $dl) = split ' ', ($out // '');
    my %r = (status => ($code // 0) + 0, time => $t // $elapsed, rc => $rc,
             downloaded => $dl // 0,
             wall => $elapsed, err => read_file($a->{_err}) // '');
    my $hdr = read_file($a->{_hdr}) // '';
    my %h;
    # Keep the last header block (after any 100 Continue).
    my @blocks = split /\r?\n\r?\n/, $hdr;
    my $last = @blocks ? $blocks[-1] : '';
    for my $l (split /\r?\n/, $last) {
        next unless $l =~ /^([^:\s]+):\s*(.*?)\s*$/;
        my $k = lc $1;
        $h{$k} = exists $h{$k} ? "$h{$k}, $2" : $2;
    }
    $r{headers} = \%h;
    $r{raw_headers} = $hdr;
    if (-e $a->{_body}) {
        $r{size} = -s $a->{_body};
        if ($a->{sha}) {
            $r{sha256} = sha256_file($a->{_body});
        }
        else {
            $r{body} = read_file($a->{_body});
        }
        unlink $a->{_body};
    }
    else {
        $r{size} = $r{downloaded} + 0;    # HEAD, discard: what curl read
        $r{body} = '' unless $a->{sha};
    }
    $r{body} = '' if !defined $r{body} && !$a->{sha};
    return \%r;
}

# "NAME=value" lines (env.cgi, sha.cgi) into a hash.
sub parse_env {
    my ($body) = @_;
    my %e;
    for my $l (split /\n/, $body // '') {
        $e{$1} = $2 if $l =~ /^([A-Za-z0-9_]+)=(.*?)\r?$/;
    }
    return \%e;
}

# Run h2load (bounded by `timeout`).  Returns a hash with total, succeeded,
# failed, errored, timeout, s2xx, s3xx, s4xx, s5xx, out, rc.
sub h2load {
    my (@args) = @_;
    my $limit = 120;
    if (@args && ref $args[0] eq 'HASH') {
        my $o = shift @args;
        $limit = $o->{limit} if $o->{limit};
    }
    my $out = '';
    if (open(my $fh, '-|', 'timeout', '-k', '5', $limit, 'h2load', @args)) {
        local $/;
        $out = <$fh> // '';
        close $fh;
    }
    my %r = (rc => $? >> 8, out => $out);
    if ($out =~ /requests:\s+(\d+) total,\s+(\d+) started,\s+(\d+) done,\s+(\d+) succeeded,\s+(\d+) failed,\s+(\d+) errored,\s+(\d+) timeout/) {
        @r{qw(total started done succeeded failed errored timeout)} = ($1, $2, $3, $4, $5, $6, $7);
    }
    if ($out =~ /status codes:\s+(\d+) 2xx,\s+(\d+) 3xx,\s+(\d+) 4xx,\s+(\d+) 5xx/) {
        @r{qw(s2xx s3xx s4xx s5xx)} = ($1, $2, $3, $4);
    }
    if ($out =~ /finished in ([\d.]+)(m?s)/) {
        $r{seconds} = $2 eq 'ms' ? $1 / 1000 : $1;
    }
    $r{$_} //= 0 for qw(total succeeded failed errored timeout s2xx s3xx s4xx s5xx);
    return \%r;
}

# Poll the router with a Host until it answers 200 (and, when given, the
# body matches $o{expect}).  This is the "router has a tunnel" signal.
# Returns the seconds it took, or undef on timeout.
sub wait_for_tunnel {
    my ($router, %o) = @_;
    my $host = $o{host} // 'a.example';
    my $path = $o{path} // '/';
    my $timeout = $o{timeout} // 30;
    my $t0 = time;
    my $deadline = $t0 + $timeout;
    # A poll is an in-process request (http_quick: no process to start, which
    # costs more CPU than the request), every 50 ms at first and less often
    # the longer it takes.
    my $step = 0.05;
    while (1) {
        my $r = http_quick(port => $router->{port}, host => $host, path => $path,
                           max_time => 5);
        if ($r->{status} == 200) {
            return time - $t0 unless defined $o{expect};
            return time - $t0 if ref $o{expect} ? $r->{body} =~ $o{expect}
                                                : $r->{body} eq $o{expect};
        }
        return undef if time >= $deadline;
        sleep $step;
        $step = $step * 1.5 > 0.5 ? 0.5 : $step * 1.5;
    }
}

# One request over HTTP/1.1 from this process (PTTH::Client), whatever
# PTTH_CURL says: for polls, where starting a client process per attempt
# would cost more than the request.  Options: port, host, path (default
# "/"), method (default GET), max_time (default 5).  Returns a hash:
# status (0 on failure), body (for HEAD, nothing), headers (lower-case
# names).
sub http_quick {
    my (%a) = @_;
    return (PTTH::Client::run({ port => $a{port}, host => $a{host},
                                path => $a{path} // '/', method => $a{method},
                                max_time => $a{max_time} || 5 }))[0];
}

# --------------------------------------------------------------- servers

sub router  { PTTH::Test::Httpd->new(kind => 'router', @_) }
sub backend { PTTH::Test::Httpd->new(kind => 'backend', @_) }

# Run `apache2 -t` on a config text written into the scratch dir.
# Returns (exit code, combined output).
sub configtest_conf {
    my ($name, $text) = @_;
    my $dir = "$TMP/conf-$name";
    make_path("$dir/run", "$dir/logs");
    $text =~ s/\@DIR\@/$dir/g;
    my $conf = write_file("$dir/httpd.conf", $text);
    make_path("$dir/san");
    return PTTH::Test::Httpd::run_apache($dir, $conf, '-t',
                                         { PTTH::Test::Httpd::san_env_dir("$dir/san") });
}

# The pid of the router's hub process: from the router's error log ("hub
# ... pid N", loosely), checked to be a live descendant of the router's
# parent; else the process that holds the established tunnel sockets.
sub hub_pid {
    my ($router, %o) = @_;
    my $timeout = $o{timeout} // 10;
    my $exclude = $o{exclude} // 0;
    return wait_for($timeout, sub {
        my $ppid = $router->pid or return 0;
        my %desc = map { $_ => 1 } descendants($ppid);
        my $log = read_file($router->{errlog}) // '';
        my @cands;
        for my $l (split /\n/, $log) {
            # the message, without httpd's "[time] [module:level] [pid N:tid M]"
            $l =~ s/^(?:\[[^\]]*\]\s*)+//;
            push @cands, $1 if $l =~ /\bhub\b.*?\bpid[\s=:]+(\d+)/i;
        }
        for my $p (reverse @cands) {
            return $p if $desc{$p} && alive($p) && $p != $exclude;
        }
        my $p = tunnel_holder($router->{tport}, [keys %desc]);
        return $p if $p && $p != $exclude;
        return 0;
    }, 0.1);
}

# Socket inodes of the ESTABLISHED TCP connections whose local port (or,
# with $peer true, whose remote port) is $port: one entry per connection
# (not yet accepted ones have inode 0).  From the kernel's inet_diag
# (PTTH::SockDiag), which filters by state: a suite run leaves thousands
# of connections in TIME_WAIT, and /proc/net/tcp* (the fallback) lists
# them all.  When the kernel answers in parts (always for /proc, a page per
# read(); for inet_diag, when the answer does not fit one read) it walks
# its table anew for each part, so a reading taken while other processes
# open and close connections (parallel tests) can skip or repeat entries:
# entries are deduplicated by address pair, and the table is read again
# until two readings in a row agree.
sub established_inodes {
    my ($port, $peer) = @_;
    my ($prev, %conn);
    for my $try (1 .. 6) {
        %conn = ();
        my ($l, $one_pass) = PTTH::SockDiag::tcp_sockets(PTTH::SockDiag::TCP_ESTABLISHED,
                                                         $port, $peer);
        if ($l) {
            $conn{"$_->{local} $_->{peer}"} = $_->{inode} for @$l;
            # One pass of the kernel over its table skips nothing.
            last if $one_pass;
        }
        else {
            for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
                open(my $fh, '<', $f) or next;
                while (my $l = <$fh>) {
                    my @f = split ' ', $l;
                    next unless @f > 9 && $f[3] eq '01'
                        && $f[$peer ? 2 : 1] =~ /:([0-9A-F]{4})$/ && hex($1) == $port;
                    $conn{"$f[1] $f[2]"} = $f[9];
                }
                close $fh;
            }
        }
        my $now = join ',', sort keys %conn;
        last if defined $prev && $now eq $prev;
        $prev = $now;
    }
    return values %conn;
}

# Established TCP connections whose local port is $tport (the router's
# side of its tunnels).
sub tunnel_count {
    my ($tport) = @_;
    return scalar(my @c = established_inodes($tport));
}

# A field of /proc/<pid>/status in kB (VmRSS, VmHWM, ...), or undef.
sub proc_kb {
    my ($pid, $field) = @_;
    my $s = read_file("/proc/$pid/status") // return undef;
    return $s =~ /^\Q$field\E:\s+(\d+)\s+kB/m ? $1 : undef;
}

# Among $pids, the one holding a TCP connection whose *peer* port is $tport
# (a backend process with a tunnel to the router).
sub tunnel_holder_peer {
    my ($tport, $pids) = @_;
    return tunnel_fd_owner({ map { $_ => 1 } established_inodes($tport, 1) }, $pids);
}

sub tunnel_fd_owner {
    my ($inode, $pids) = @_;
    return 0 unless %$inode;
    for my $p (@$pids) {
        opendir(my $dh, "/proc/$p/fd") or next;
        for my $fd (readdir $dh) {
            my $t = readlink("/proc/$p/fd/$fd") // next;
            if ($t =~ /^socket:\[(\d+)\]/ && $inode->{$1}) {
                closedir $dh;
                return $p;
            }
        }
        closedir $dh;
    }
    return 0;
}

# Among $pids, the one holding a TCP connection whose local port is $tport
# (the hub, holding the router's side of a tunnel).
sub tunnel_holder {
    my ($tport, $pids) = @_;
    return tunnel_fd_owner({ map { $_ => 1 } established_inodes($tport) }, $pids);
}

# Count of access-log lines of $server with status $status (default 200).
sub routed_count {
    my ($server, $status) = @_;
    $status //= 200;
    my $log = read_file($server->{acclog}) // '';
    return scalar grep { /" $status / } split /\n/, $log;
}

# The part of a log file written after byte offset $off.
sub log_since {
    my ($path, $off) = @_;
    # Read only what follows $off: polls (wait_log) read a log many times,
    # and a busy router's log grows to megabytes.
    open(my $fh, '<:raw', $path) or return '';
    my $size = -s $fh // 0;
    return '' if $size <= ($off // 0);
    seek($fh, $off // 0, 0);
    local $/;
    my $c = <$fh> // '';
    return $c;
}

# ------------------------------------------------------------ log helpers

my %MON = (Jan => 0, Feb => 1, Mar => 2, Apr => 3, May => 4, Jun => 5,
           Jul => 6, Aug => 7, Sep => 8, Oct => 9, Nov => 10, Dec => 11);

# The time (epoch seconds, with httpd's microseconds) of an error_log line
# "[Sat Nov 29 14:40:00.123456 2025] ...", or undef.
sub log_time {
    my ($line) = @_;
    return undef unless defined $line
        && $line =~ /^\[\w{3} (\w{3}) +(\d+) (\d\d):(\d\d):(\d\d)(\.\d+)? (\d{4})\]/;
    return undef unless exists $MON{$1};
    return timelocal($5, $4, $3, $2, $MON{$1}, $7) + ($6 // 0);
}

# The lines of a log (a server's error_log, or a path) that match $re,
# from byte offset $from on.
sub log_matches {
    my ($what, $re, $from) = @_;
    my $path = ref $what ? $what->{errlog} : $what;
    return grep { /$re/ } split /\n/, log_since($path, $from // 0);
}

# Bounded poll until a log has at least $o{count} (default 1) lines that
# match $re (from byte offset $o{from}, within $o{timeout} seconds,
# default 10).  Returns those lines, or nothing on timeout.
sub wait_log {
    my ($what, $re, %o) = @_;
    my $count = $o{count} // 1;
    my @l;
    wait_for($o{timeout} // 10, sub {
        @l = log_matches($what, $re, $o{from});
        return @l >= $count;
    }) or return ();
    return @l;
}

# Groups of t/cgi-bin/wait.cgi requests (see there): cgi_group() names a
# new one ("/cgi-bin/wait.cgi?g=$g&n=20", "...?g=$g&t=30"), cgi_arrived($g)
# counts the requests of the group that reached a backend, cgi_running($g)
# those whose CGI still runs, cgi_release($g) lets those that wait for it
# answer.
my $GROUP = 0;
sub cgi_group { my ($label) = @_; return ($label // 'g') . '-' . (++$GROUP) . "-$$" }

sub cgi_arrived {
    my ($g) = @_;
    opendir(my $d, "$TMP/cgi/wait-$g") or return 0;
    my $n = grep { /^\d+$/ } readdir $d;
    closedir $d;
    return $n;
}

sub cgi_running {
    my ($g) = @_;
    opendir(my $d, "$TMP/cgi/wait-$g") or return 0;
    my $n = grep { /^(\d+)$/ && alive($1) } readdir $d;
    closedir $d;
    return $n;
}

sub cgi_release {
    my ($g) = @_;
    make_path("$TMP/cgi/wait-$g");
    write_file("$TMP/cgi/wait-$g/release", '');
}

# The router's status (SetHandler ptth-status; router(status => 1) maps it
# at /ptth-status) as a hash, or undef.
sub ptth_status {
    my ($router, $path) = @_;
    my $res = http_quick(port => $router->{port}, path => $path // '/ptth-status', max_time => 5);
    return undef unless $res->{status} == 200;
    require PTTH::JSON;
    return eval { PTTH::JSON::decode_json($res->{body}) };
}

# Wait up to $timeout s until the router's status (at /ptth-status) lists,
# for each pool named in %want, exactly that many tunnels in state open.
# An established TCP connection is not yet a tunnel: the handshake (and,
# on a secure listener, TLS and admission) runs after it, so tests that
# read the status wait here rather than on tunnel_count.
sub wait_pool_tunnels {
    my ($router, $timeout, %want) = @_;
    return wait_for($timeout, sub {
        my $st = ptth_status($router) or return 0;
        my %open;
        for my $p (@{ $st->{pools} || [] }) {
            $open{ $p->{name} } = grep { ($_->{state} // '') eq 'open' } @{ $p->{tunnels} || [] };
        }
        for my $name (keys %want) {
            return 0 unless ($open{$name} // 0) == $want{$name};
        }
        return 1;
    });
}

# ------------------------------------------------------------ Go helpers

# Build t/go/<name>.go in GOPATH mode against Debian's golang.org/x/net.
# Returns the binary path, or undef with a reason (go missing, build error).
# One build cache and one binary per input: <bin dir>/<name>-<key>, the key
# a SHA-256 of the source, the go tool and the installed x/net.  The bin
# dir is $PTTH_GOCACHE/ptth-bin when the build cache is kept between runs
# (run-tests.sh), else <scratch root>/.go/bin.  Builds take a lock, so
# files running at once neither race nor build a program twice.
sub go_build {
    my ($name) = @_;
    my $go = '';
    for my $d ((split /:/, $ENV{PATH} // ''), '/usr/lib/go/bin') {
        if (-x "$d/go") { $go = "$d/go"; last }
    }
    return (undef, 'go is not installed (apt-get install golang-go golang-golang-x-net-dev)')
        unless $go;
    return (undef, 'golang.org/x/net/http2 is missing (apt-get install golang-golang-x-net-dev)')
        unless -d '/usr/share/gocode/src/golang.org/x/net/http2';
    my $src = "$ROOT/t/go/$name.go";
    return (undef, "go build $name failed: no $src") unless -f $src;
    my $gdir = "$TMP_ROOT/.go";
    my $cache = $ENV{PTTH_GOCACHE} || "$gdir/cache";
    my $bdir = $ENV{PTTH_GOCACHE} ? "$ENV{PTTH_GOCACHE}/ptth-bin" : "$gdir/bin";
    make_path($gdir, $bdir);
    my $key = Digest::SHA->new(256);
    $key->add(read_file($src) // '');
    my $xnet = '/var/lib/dpkg/info/golang-golang-x-net-dev.list';
    $key->add(join ',', map { defined $_ ? $_ : '-' }
                            (stat $go)[7, 9], (stat $xnet)[7, 9],
                            (stat '/usr/share/gocode/src/golang.org/x/net/http2')[9]);
    my $bin = "$bdir/$name-" . substr($key->hexdigest, 0, 16);
    return ($bin, undef) if -x $bin;
    open(my $lock, '>>', "$bdir/lock") or return (undef, "go build $name: $bdir/lock: $!");
    my $locked = wait_for(1800, sub { flock($lock, LOCK_EX | LOCK_NB) }, 0.2);
    return (undef, "go build $name: another build held $bdir/lock for 1800 s") unless $locked;
    if (-x $bin) {              # built by another test file meanwhile
        close $lock;
        return ($bin, undef);
    }
    local $ENV{GO111MODULE} = 'off';
    local $ENV{GOPATH} = '/usr/share/gocode';
    local $ENV{GOCACHE} = $cache;
    local $ENV{HOME} = $ENV{HOME} && -w $ENV{HOME} ? $ENV{HOME} : $gdir;
    local $ENV{GOFLAGS} = '';
    local $ENV{CGO_ENABLED} = '0';   # pure Go: no C toolchain needed
    # A cold build cache costs about 15 s of CPU; on a loaded machine much
    # longer, hence the generous limit.
    my $out = `timeout -k 5 1200 '$go' build -o '$bin.tmp.$$' '$src' 2>&1`;
    my $ok = $? == 0 && -x "$bin.tmp.$$" && rename("$bin.tmp.$$", $bin);
    unlink "$bin.tmp.$$";
    close $lock;
    return (undef, "go build $name failed: $out") unless $ok;
    return ($bin, undef);
}

# Start a background helper; stdout+stderr go to $log.  Returns its pid.
sub spawn {
    my ($name, $log, @cmd) = @_;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>>', $log) or POSIX::_exit(127);
        open(STDERR, '>&', \*STDOUT);
        exec @cmd or POSIX::_exit(127);
    }
    push @SPAWNED, [$pid, $name];
    return $pid;
}

sub stop_spawned {
    my ($pid) = @_;
    for my $s (@SPAWNED) {
        next if defined $pid && $s->[0] != $pid;
        next unless $s->[0];
        kill 'TERM', $s->[0];
        my $gone = wait_for(5, sub { waitpid($s->[0], WNOHANG) != 0 });
        unless ($gone) {
            kill 'KILL', $s->[0];
            waitpid($s->[0], 0);
        }
        $s->[0] = 0;
    }
}

# ------------------------------------------------------------ the end

# Crashes and sanitizer reports; and the MPM's complaints about processes
# it did not start (the hub is ours: AH00546 "no record of generation",
# AH00488 "long lost child came home"), which an administrator would see
# at a stop or a restart.
my @CRASH_PATTERNS = ('Segmentation fault', 'exit signal', 'AddressSanitizer',
                      'runtime error:', 'LeakSanitizer', 'AH00546:', 'AH00488:');

my $CRASH_RE = join '|', map { quotemeta } @CRASH_PATTERNS;

sub scan_logs {
    my @bad;
    for my $s (@SERVERS) {
        next unless $s->{dir} && -d $s->{dir};
        my %files = map { $_ => 1 } grep { defined && -f } $s->{errlog}, glob("$s->{dir}/logs/*_log");
        for my $f (sort keys %files) {
            # One pass of the regex engine over the file: debug logs of
            # busy servers run to megabytes.
            my $c = read_file($f) // '';
            push @bad, "$f: $1" while $c =~ /^(.*(?:$CRASH_RE).*)$/mgo;
        }
        for my $f (glob("$s->{dir}/san/*")) {
            my $c = read_file($f) // '';
            push @bad, "sanitizer report $f:\n$c";
        }
    }
    my %seen;
    return grep { !$seen{$_}++ } @bad;
}

sub stop_all {
    my @problems;
    stop_spawned();
    for my $s (reverse @SERVERS) {
        next unless $s->{started};
        my $err = $s->stop;
        push @problems, $err if $err;
    }
    return @problems;
}

# Call at the end of every test file: stops everything, checks that the
# stops were clean and that no log shows a crash, then done_testing.
sub finish {
    $FINISHED = 1;
    my @problems = stop_all();
    Test::More::ok(!@problems, 'all servers stopped cleanly')
        or Test::More::diag(join("\n", @problems));
    my @bad = scan_logs();
    Test::More::ok(!@bad, 'no crash, sanitizer report or stray-process complaint in any log')
        or Test::More::diag(join("\n", @bad[0 .. ($#bad > 30 ? 30 : $#bad)]));
    unless (Test::More->builder->is_passing) {
        for my $s (@SERVERS) {
            next unless $s->{errlog} && -f $s->{errlog};
            my @l = split /\n/, read_file($s->{errlog}) // '';
            @l = @l[-40 .. -1] if @l > 40;
            Test::More::diag("---- tail of $s->{errlog}\n" . join("\n", @l));
        }
    }
    Test::More::done_testing();
}

# Stop here: one failed test with the reason, then the usual finish.
sub give_up {
    my ($why) = @_;
    Test::More::fail($why);
    finish();
    exit 1;
}

# Run $code in a child process; collect() returns the string it returned.
# The child leaves with _exit, so it never runs the END block.
sub in_background {
    my ($code) = @_;
    my $pid = open(my $fh, '-|');
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        my $out = eval { $code->() };
        $out = "error: $@" unless defined $out;
        print $out;
        close STDOUT;
        POSIX::_exit(0);
    }
    return { pid => $pid, fh => $fh };
}

sub collect {
    my ($h) = @_;
    my $fh = $h->{fh};
    local $/;
    my $out = <$fh>;
    close $fh;
    return $out // '';
}

END {
    return if !defined $OWNER || $$ != $OWNER;   # undef: the file died loading
    my $status = $?;
    unless ($FINISHED) {
        my @problems = stop_all();
        my @bad = scan_logs();
        if (@problems || @bad) {
            print STDERR "# PTTH::Test cleanup: $_\n" for @problems, @bad;
            $status ||= 1;
        }
    }
    $? = $status;
}

# =============================================================== Httpd

package PTTH::Test::Httpd;

use strict;
use warnings;
use File::Path qw(make_path);
use Time::HiRes qw(time sleep);

# event and worker, router and backend alike.  One child at the start (the
# MPM adds more under load, up to ServerLimit): each child started and
# stopped costs about 60 ms of CPU here (a quarter of an httpd's start and
# stop), and the tests that need several children from the start say so
# (mpm_conf).
my @THREADED = (StartServers => 1, ServerLimit => 4, ThreadsPerChild => 25,
                ThreadLimit => 64, MinSpareThreads => 25,
                MaxSpareThreads => 100, MaxRequestWorkers => 100);
my %MPM_DEFAULTS = (
    event => {
        router  => [@THREADED],
        backend => [@THREADED],
    },
    worker => {
        router  => [@THREADED],
        backend => [@THREADED],
    },
    prefork => {
        router  => [StartServers => 4, MinSpareServers => 4, MaxSpareServers => 16,
                    ServerLimit => 64, MaxRequestWorkers => 64],
        backend => [StartServers => 3, MinSpareServers => 2, MaxSpareServers => 10,
                    ServerLimit => 20, MaxRequestWorkers => 20],
    },
);

# Options (both kinds):
#   name      label (default router1/backend1/...)
#   mpm       event (default) | worker | prefork
#   mpm_conf  { Directive => value } overriding the MPM defaults
#   extra     string or arrayref of config lines appended at the end
#   port      Listen port (default: a free one)
#   modules   arrayref of extra httpd module names to load (e.g. proxy_http)
#   nofile    descriptor limit (soft and hard) the server starts with
#   asan_options  more ASAN_OPTIONS for this server under make test-asan
# router:
#   tport     tunnel port (default: a free one); pool  (default "app")
#   wait_timeout  PTTHWaitTimeout (default "2s"); undef => not written
#   proxy     arrayref of lines replacing the default ProxyPass lines
#   pre_proxy string/arrayref of lines written before the ProxyPass lines
#   preserve_host  (default 1) ProxyPreserveHost On; 0: Off; undef: not written
#   status    1: SetHandler ptth-status at /ptth-status (see ptth_status)
# backend:
#   tport     router's tunnel port (required unless connect is given)
#   connect   PTTHConnect argument (default tcp://127.0.0.1:<tport>)
#   tunnels   PTTHTunnels (default 1; undef: no PTTHTunnels line); reconnect (default "100ms 2s")
#   http2     load mod_http2 (default 1)
#   h2_directives  also write "Protocols h2c http/1.1" + "H2Direct on"
#   remoteip  (default 1) RemoteIPHeader X-Forwarded-For from 127.0.0.1
#   vhost_extra  lines added inside every <VirtualHost>; or a hash
#             { ServerName => lines } for some of them
#   stream_path  PTTHStreamPath (default $ENV{PTTH_STREAM_PATH}; undef and
#             no environment: not written)
sub new {
    my ($class, %o) = @_;
    my $self = bless { %o }, $class;
    $self->{mpm} ||= 'event';
    $self->{name} ||= $self->{kind} . (++$SERIAL);
    $self->{dir} = "$TMP/$self->{name}";
    $self->{port} ||= PTTH::Test::free_port();
    if ($self->{kind} eq 'router') {
        $self->{tport} ||= PTTH::Test::free_port();
        $self->{pool} //= 'app';
        $self->{wait_timeout} = '2s' unless exists $self->{wait_timeout};
        $self->{preserve_host} = 1 unless exists $self->{preserve_host};
    }
    else {
        # tunnels => undef: no PTTHTunnels line (the module's default)
        $self->{tunnels} = 1 unless exists $self->{tunnels};
        $self->{reconnect} //= '100ms 2s';
        $self->{http2} //= 1;
        $self->{remoteip} //= 1;
        $self->{stream_path} = $ENV{PTTH_STREAM_PATH}
            if !exists $self->{stream_path} && ($ENV{PTTH_STREAM_PATH} // '') ne '';
        die "backend needs tport or connect" unless $self->{tport} || $self->{connect};
    }
    $self->{conf}    = "$self->{dir}/httpd.conf";
    $self->{pidfile} = "$self->{dir}/run/httpd.pid";
    $self->{errlog}  = "$self->{dir}/logs/error_log";
    $self->{acclog}  = "$self->{dir}/logs/access_log";
    push @SERVERS, $self;
    $self->write_conf;
    return $self;
}

sub lines {
    my ($x) = @_;
    return () unless defined $x;
    return ref $x ? @$x : ($x);
}

sub mpm_block {
    my ($self) = @_;
    my $mpm = $self->{mpm};
    die "unknown MPM $mpm" unless $MPM_DEFAULTS{$mpm};
    my @kv = @{ $MPM_DEFAULTS{$mpm}{$self->{kind}} };
    my (@order, %v);
    while (@kv) {
        my ($k, $v) = splice(@kv, 0, 2);
        push @order, $k;
        $v{$k} = $v;
    }
    for my $k (sort keys %{ $self->{mpm_conf} || {} }) {
        push @order, $k unless exists $v{$k};
        $v{$k} = $self->{mpm_conf}{$k};
    }
    my $out = "LoadModule mpm_${mpm}_module $MODDIR/mod_mpm_$mpm.so\n";
    $out .= "$_ $v{$_}\n" for grep { defined $v{$_} } @order;
    return $out;
}

sub common_head {
    my ($self, @mods) = @_;
    my $d = $self->{dir};
    my $out = "# generated by t/lib/PTTH/Test.pm for $0\n"
        . "ServerRoot \"$d\"\n"
        . "DefaultRuntimeDir \"$d/run\"\n"
        . "PidFile \"$d/run/httpd.pid\"\n"
        . "Mutex file:$d/run default\n"
        . $self->mpm_block;
    for my $m (@mods) {
        # Some modules may be built in (log_config is, on Debian).
        $out .= "<IfModule !${m}_module>\n  LoadModule ${m}_module $MODDIR/mod_$m.so\n</IfModule>\n";
    }
    $out .= "ErrorLog \"$self->{errlog}\"\n"
        . "LogFormat \"%h %a \\\"%r\\\" %>s %b %D %P %{Host}i \\\"%{X-Forwarded-For}i\\\" %v %{ms}T\" ptth\n"
        . "CustomLog \"$self->{acclog}\" ptth\n"
        . "TypesConfig /etc/mime.types\n"
        . "Listen 127.0.0.1:$self->{port}\n";
    if ($> == 0) {
        # Only when the harness is explicitly allowed to run as root.
        $out .= "User nobody\nGroup nogroup\n";
    }
    return $out;
}

sub write_conf {
    my ($self) = @_;
    my $d = $self->{dir};
    make_path("$d/run", "$d/logs", "$d/san");
    my $c;
    if ($self->{kind} eq 'router') {
        $c = $self->common_head(qw(authz_core log_config mime headers proxy
                                   slotmem_shm proxy_balancer
                                   lbmethod_byrequests status),
                                @{ $self->{modules} || [] });
        $c .= "LoadModule ptth_router_module $ROUTER_SO\n"
            . "ServerName router.test\n"
            . "LogLevel info ptth_router:debug proxy:info\n"
            . "Timeout 30\n"
            . "PTTHListen 127.0.0.1:$self->{tport} plain=$self->{pool}\n";
        $c .= "PTTHWaitTimeout $self->{wait_timeout}\n" if defined $self->{wait_timeout};
        $c .= "ProxyPreserveHost " . ($self->{preserve_host} ? 'On' : 'Off') . "\n"
            if defined $self->{preserve_host};
        if ($self->{status}) {
            $c .= "<Location /ptth-status>\n  SetHandler ptth-status\n</Location>\n"
                . "ProxyPass /ptth-status !\n";
        }
        $c .= "$_\n" for lines($self->{pre_proxy});
        my @pp = $self->{proxy} ? @{ $self->{proxy} }
               : ("ProxyPass / ptth://$self->{pool}/",
                  "ProxyPassReverse / ptth://$self->{pool}/");
        $c .= "$_\n" for @pp;
    }
    else {
        my @mods = (qw(authz_core log_config mime dir alias cgid env headers remoteip),
                    @{ $self->{modules} || [] });
        push @mods, 'http2' if $self->{http2};
        $c = $self->common_head(@mods);
        my $connect = $self->{connect} // "tcp://127.0.0.1:$self->{tport}";
        $c .= "LoadModule ptth_backend_module $BACKEND_SO\n"
            . "ServerName default.example\n"
            . "LogLevel info ptth_backend:debug"
            . ($self->{http2} ? " http2:info" : "") . "\n"
            . "ScriptSock \"$d/run/cgid.sock\"\n"
            . "DirectoryIndex index.html\n"
            . "DocumentRoot \"$TMP/htdocs/default\"\n";
        $c .= "Protocols h2c http/1.1\nH2Direct on\n" if $self->{h2_directives};
        $c .= "PTTHConnect $connect\n" if length $connect;
        $c .= "PTTHTunnels $self->{tunnels}\n" if defined $self->{tunnels};
        $c .= "PTTHStreamPath $self->{stream_path}\n" if defined $self->{stream_path};
        $c .= "PTTHReconnect $self->{reconnect}\n" if defined $self->{reconnect};
        if ($self->{remoteip}) {
            $c .= "RemoteIPHeader X-Forwarded-For\nRemoteIPInternalProxy 127.0.0.1\n";
        }
        $c .= "<Directory \"$TMP/htdocs\">\n  Require all granted\n</Directory>\n"
            . "<Directory \"$CGI_DIR\">\n  Options +ExecCGI\n  Require all granted\n</Directory>\n";
        for my $vh (['default.example', 'default'], ['a.example', 'a'],
                    ['b.example', 'b']) {
            my ($sn, $root) = @$vh;
            $c .= "<VirtualHost *:$self->{port}>\n"
                . "  ServerName $sn\n"
                . "  DocumentRoot \"$TMP/htdocs/$root\"\n"
                . "  ScriptAlias /cgi-bin/ \"$CGI_DIR/\"\n"
                . "  ScriptAlias /t1/cgi-bin/ \"$CGI_DIR/\"\n"
                . "  Alias /big/ \"$TMP/htdocs/big/\"\n"
                . "  Redirect /old http://backend.internal/new\n"
                . "  Redirect /rel /new\n"
                . "  Header always set X-Backend-Vhost $sn\n"
                . "  SetEnv PTTH_TEST_SCRATCH \"$TMP/cgi\"\n";
            my $vx = $self->{vhost_extra};
            $c .= "  $_\n" for lines(ref $vx eq 'HASH' ? $vx->{$sn} : $vx);
            $c .= "</VirtualHost>\n";
        }
    }
    $c .= "$_\n" for lines($self->{extra});
    $c = selftest_rewrite($self, $c) if $ENV{PTTH_HARNESS_SELFTEST};
    PTTH::Test::write_file($self->{conf}, $c);
    return $self;
}

# Developer switch for checking the harness itself while the modules do not
# work yet: PTTH_HARNESS_SELFTEST=1 replaces the tunnel by a plain
# mod_proxy_http hop (the backend listens on the tunnel port, the router
# proxies ptth://POOL to it).  Hub tests cannot pass in this mode.  Never
# set by make test.
sub selftest_rewrite {
    my ($self, $c) = @_;
    if ($self->{kind} eq 'router') {
        my %pool;
        while ($c =~ /^PTTHListen\s+(\S+)\s+plain=(\S+)/mg) { $pool{$2} = $1 }
        $c =~ s/^(LoadModule ptth_router_module .*|PTTH\w+ .*|LogLevel .*)$/# $1/mg;
        $c =~ s{ptth://([A-Za-z0-9._-]+)}{"h2c://" . ($pool{lc $1} // '127.0.0.1:9')}ge;
        $c =~ s{^(\s*ProxyPass\s+\S+\s+h2c://\S+)}{$1 retry=0}mg;
        $c .= "LoadModule http2_module $MODDIR/mod_http2.so\n"
            . "LoadModule proxy_http2_module $MODDIR/mod_proxy_http2.so\nLogLevel info\n";
        # The tunnel listener "exists": the backend listens on it.
        $self->{selftest_no_tport} = 1;
    }
    else {
        my ($tport) = $c =~ m{^PTTHConnect tcp://127\.0\.0\.1:(\d+)}m;
        $c =~ s/^(LoadModule ptth_backend_module .*|PTTH\w+ .*|LogLevel .*)$/# $1/mg;
        $c .= "Protocols h2c http/1.1\nLogLevel info\n";
        if ($tport) {
            $c .= "Listen 127.0.0.1:$tport\n";
            $c =~ s/<VirtualHost \*:$self->{port}>/<VirtualHost *:$self->{port} *:$tport>/g;
        }
    }
    return $c;
}

sub san_env {
    my ($self) = @_;
    return san_env_dir("$self->{dir}/san", $self->{asan_options});
}

# $extra: more ASAN_OPTIONS (the Httpd option asan_options).
sub san_env_dir {
    my ($d, $extra) = @_;
    return () unless $ENV{PTTH_SANITIZE};
    my %e;
    $e{LD_PRELOAD} = $ENV{PTTH_SAN_PRELOAD} if $ENV{PTTH_SAN_PRELOAD};
    # detect_leaks=0: httpd frees its pools at exit, not every allocation,
    # so LeakSanitizer reports are noise for a server process.
    # use_sigaltstack=0: with the runtime preloaded into an uninstrumented
    # httpd, ASan's own thread teardown (UnsetAlternateSignalStack) reports
    # a false stack-use-after-scope at every thread exit.
    $e{ASAN_OPTIONS} = "halt_on_error=1:abort_on_error=0:detect_leaks=0:"
        . "use_sigaltstack=0:log_path=$d/asan:verify_asan_link_order=0"
        . (defined $extra && length $extra ? ":$extra" : '');
    $e{UBSAN_OPTIONS} = "halt_on_error=1:print_stacktrace=1:log_path=$d/ubsan";
    return %e;
}

# Run the httpd binary with the given arguments; returns (exit, output).
sub run_apache {
    my ($dir, $conf, @args) = @_;
    my %env = ref $_[-1] eq 'HASH' ? %{ pop @args } : ();
    my $out = '';
    my $pid = open(my $fh, '-|');
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open(STDERR, '>&', \*STDOUT);
        open(STDIN, '<', '/dev/null');
        my $nofile = delete $env{PTTH_NOFILE};
        $ENV{$_} = $env{$_} for keys %env;
        # nofile: a descriptor limit for the server (soft and hard)
        my @pre = $nofile ? ('prlimit', "--nofile=$nofile:$nofile") : ();
        exec(@pre, 'timeout', '-k', '5', '60', $APACHE2, '-d', $dir, '-f', $conf, @args)
            or POSIX::_exit(127);
    }
    {
        local $/;
        $out = <$fh> // '';
    }
    close $fh;
    return ($? >> 8, $out);
}

sub apache {
    my ($self, @args) = @_;
    my %env = $self->san_env;
    $env{PTTH_NOFILE} = $self->{nofile} if $self->{nofile};
    return run_apache($self->{dir}, $self->{conf}, @args, { %env });
}

sub configtest {
    my ($self) = @_;
    return $self->apache('-t');
}

# Start: `-k start` (which checks the configuration as `-t` does, and
# fails with the same message), then wait for the pid file and the Listen
# port (and the router's tunnel port).  Returns 1, or 0 after a failed test
# naming the reason.
sub start {
    my ($self, %o) = @_;
    unlink $self->{pidfile};
    $self->{errlog_off} = -s $self->{errlog} || 0;
    my ($rc, $out) = $self->apache('-k', 'start');
    if ($rc != 0) {
        Test::More::fail("$self->{name}: apache2 -k start");
        Test::More::diag("apache2 -k start failed ($rc):\n$out");
        return 0;
    }
    my $pid = PTTH::Test::wait_for(30, sub {
        my $p = PTTH::Test::read_file($self->{pidfile});
        return ($p && $p =~ /(\d+)/) ? $1 : 0;
    });
    unless ($pid) {
        Test::More::fail("$self->{name}: pid file written");
        Test::More::diag("no pid file $self->{pidfile} after 30 s; error_log:\n"
                         . PTTH::Test::log_since($self->{errlog}, $self->{errlog_off}));
        return 0;
    }
    $self->{pid} = $pid;
    $self->{started} = 1;
    my @ports = ([$self->{port}, \&PTTH::Test::port_open]);
    push @ports, [$self->{tport}, \&PTTH::Test::port_listening]
        if $self->{kind} eq 'router' && !$o{no_tport} && !$self->{selftest_no_tport};
    for my $pp (@ports) {
        my ($p, $check) = @$pp;
        my $up = PTTH::Test::wait_for(30, sub {
            return -1 unless PTTH::Test::alive($pid);
            return $check->($p);
        });
        if (!$up || $up == -1) {
            Test::More::fail("$self->{name}: port $p answers");
            Test::More::diag("port $p not answering (httpd pid $pid "
                             . (PTTH::Test::alive($pid) ? 'alive' : 'gone')
                             . "); error_log:\n"
                             . PTTH::Test::log_since($self->{errlog}, $self->{errlog_off}));
            return 0;
        }
    }
    return 1;
}

sub pid {
    my ($self) = @_;
    my $p = PTTH::Test::read_file($self->{pidfile});
    return ($p && $p =~ /(\d+)/) ? $1 : $self->{pid};
}

sub url {
    my ($self, $path) = @_;
    return "http://127.0.0.1:$self->{port}" . ($path // '/');
}

sub graceful {
    my ($self) = @_;
    my ($rc, $out) = $self->apache('-k', 'graceful');
    Test::More::diag("apache2 -k graceful ($rc): $out") if $rc != 0;
    return $rc == 0;
}

sub children { PTTH::Test::descendants($_[0]->pid) }

# SIGKILL the parent and every process it forked (the whole instance).
sub kill9 {
    my ($self) = @_;
    my $pid = $self->pid;
    my $ok = PTTH::Test::kill9_tree($pid);
    $self->{started} = 0;
    return $ok;
}

# SIGTERM the parent (graceful for nothing: a plain stop) and wait until it
# and all its descendants are gone.  Returns undef, or a problem string.
sub stop {
    my ($self, %o) = @_;
    return undef unless $self->{started};
    $self->{started} = 0;
    my $pid = $self->pid;
    return "$self->{name}: httpd parent $pid was no longer running at stop"
        unless PTTH::Test::alive($pid);
    my @procs = ($pid, PTTH::Test::descendants($pid));
    my $t0 = time;
    kill 'TERM', $pid;
    my $limit = $o{timeout} // 30;
    my $gone = PTTH::Test::wait_for($limit, sub { !grep { PTTH::Test::alive($_) } @procs });
    $self->{stop_time} = time - $t0;
    return undef if $gone;
    my @left = grep { PTTH::Test::alive($_) } @procs;
    kill 'KILL', @left;
    PTTH::Test::wait_for(5, sub { !grep { PTTH::Test::alive($_) } @left });
    return "$self->{name}: still running $limit s after SIGTERM (pids @left); "
         . "sent SIGKILL";
}

sub errlog_text { PTTH::Test::read_file($_[0]->{errlog}) // '' }

1;
