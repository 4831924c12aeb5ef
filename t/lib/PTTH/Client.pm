package PTTH::Client;

# An HTTP/1.1 client inside the test process, for PTTH::Test::http() and
# http_parallel(): one request per connection, as a curl per request made
# them, without starting a process (a curl costs about 40 ms of CPU to
# start here, far more than the request: with some 850 requests per run it
# was an eighth of the suite's CPU).  Requests over HTTP/2 still go through
# curl (PTTH::Test::http_cmd).
#
# It speaks the way curl 7.88 does where the tests can tell: "Host",
# "User-Agent", "Accept: */*" and the caller's headers (a caller's Host
# replaces ours), a request body from a file with Content-Length or chunked
# (caller's "Transfer-Encoding: chunked"), and "Expect: 100-continue" when
# the body is chunked or larger than 1 MiB or the caller asks for it: the
# body then waits for the 100 (or a final answer, which ends the request,
# or 1 s, as curl).  A final response that comes while the body is still
# being sent ends the upload.  The response: every header block (1xx
# first), the body by Content-Length, chunked or until the close; none for
# HEAD, 1xx, 204 and 304.
#
# Results as PTTH::Test::http_result makes them from curl's output: status
# (the final status received, 0 if none), time (seconds), size and
# downloaded (body bytes), body or sha256, headers (lower-case, repeated
# fields joined with ", "), raw_headers, and rc/err in curl's terms
# (0, 7 connect failed, 18 body cut short, 28 time limit, 52 nothing
# received, 56 receive error or bad chunked encoding).
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use Socket qw(inet_aton pack_sockaddr_in SOL_SOCKET SO_ERROR IPPROTO_TCP
              TCP_NODELAY PF_INET SOCK_STREAM);
use Errno qw(EINPROGRESS EAGAIN EWOULDBLOCK EINTR);
use Fcntl qw(F_GETFL F_SETFL O_NONBLOCK);
use Time::HiRes qw(time);
use Digest::SHA;

my $EXPECT_THRESHOLD = 1024 * 1024;   # curl's EXPECT_100_THRESHOLD
my $EXPECT_WAIT = 1.0;                # curl's default --expect100-timeout
my $CHUNK = 262144;

# Can this client make the request (else: curl)?
sub can_do {
    my ($a) = @_;
    return 0 if $a->{http2};
    return 1 unless defined $a->{url};
    return $a->{url} =~ m{^http://}i ? 1 : 0;
}

# Runs the requests (hashrefs of PTTH::Test::http options) at once;
# returns their results in order.
sub run {
    my (@reqs) = @_;
    local $SIG{PIPE} = 'IGNORE';   # a server that closed: EPIPE, not death
    my $t0 = time;
    my @st = map { start($_, $t0) } @reqs;
    while (my @live = grep { !$_->{done} } @st) {
        my ($rin, $win) = ('', '');
        my $now = time;
        my $wait = 0.5;
        for my $s (@live) {
            if ($now >= $s->{deadline}) {
                finish($s, 28, sprintf('Operation timed out after %d milliseconds with %d bytes received',
                                       ($now - $s->{t0}) * 1000, $s->{size}));
                next;
            }
            if ($s->{phase} eq 'expect' && $now >= $s->{expect_until}) {
                $s->{phase} = 'body';          # no 100 in time: send anyway
            }
            my $fd = fileno($s->{sock});
            vec($rin, $fd, 1) = 1 if $s->{phase} ne 'connect';
            vec($win, $fd, 1) = 1 if wants_write($s);
            my $left = $s->{deadline} - $now;
            $left = $s->{expect_until} - $now
                if $s->{phase} eq 'expect' && $s->{expect_until} - $now < $left;
            $wait = $left if $left < $wait;
        }
        last unless grep { !$_->{done} } @st;
        $wait = 0 if $wait < 0;
        my ($rout, $wout) = ($rin, $win);
        my $n = select($rout, $wout, undef, $wait);
        next if !defined $n || $n <= 0;
        for my $s (grep { !$_->{done} } @st) {
            my $fd = fileno($s->{sock});
            if (vec($wout, $fd, 1)) {
                on_writable($s);
            }
            if (!$s->{done} && vec($rout, $fd, 1)) {
                on_readable($s);
            }
        }
    }
    return map { result($_) } @st;
}

sub start {
    my ($a, $t0) = @_;
    my $s = { a => $a, t0 => $t0, in => '', blocks => [], body => '',
              size => 0, phase => 'connect', out => '', deadline => $t0 + ($a->{max_time} || 15) };
    $s->{sha} = Digest::SHA->new(256) if $a->{sha};
    my ($host, $port, $path);
    if (defined $a->{url}) {
        ($host, $port, $path) = $a->{url} =~ m{^http://(\[[^\]]+\]|[^/:]+)(?::(\d+))?(/.*)?$}i
            or return failed($s, 3, "URL using bad/illegal format: $a->{url}");
        $port //= 80;
        $path //= '/';
    }
    else {
        ($host, $port, $path) = ('127.0.0.1', $a->{port}, $a->{path} // '/');
    }
    my $addr = $host;
    if ($a->{resolve} && $a->{resolve} =~ /^([^:]+):(\d+):(.+)$/
            && lc $1 eq lc $host && $2 == $port) {
        $addr = $3;
    }
    $addr =~ s/^\[(.*)\]$/$1/;
    my $ip = inet_aton($addr)
        or return failed($s, 6, "Could not resolve host: $addr");
    socket(my $sock, PF_INET, SOCK_STREAM, 0)
        or return failed($s, 7, "socket: $!");
    $s->{sock} = $sock;
    if ($a->{interface}) {
        my $lip = inet_aton($a->{interface})
            or return failed($s, 45, "Couldn't bind to '$a->{interface}'");
        bind($sock, pack_sockaddr_in(0, $lip))
            or return failed($s, 45, "Couldn't bind to '$a->{interface}': $!");
    }
    my $fl = fcntl($sock, F_GETFL, 0);
    fcntl($sock, F_SETFL, $fl | O_NONBLOCK);
    setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1);
    if (!connect($sock, pack_sockaddr_in($port, $ip)) && $! != EINPROGRESS) {
        return failed($s, 7, "Failed to connect to $addr port $port: $!");
    }
    $s->{head_only} = uc($a->{method} // '') eq 'HEAD' && !$a->{upload_file};
    build_request($s, $host, $port, $path);
    return $s;
}

sub failed {
    my ($s, $rc, $err) = @_;
    finish($s, $rc, $err);
    return $s;
}

sub build_request {
    my ($s, $host, $port, $path) = @_;
    my $a = $s->{a};
    my @user = @{ $a->{headers} || [] };
    my $file = $a->{upload_file} // $a->{data_file};
    my $chunked = $a->{chunked} ? 1 : 0;
    my $method = $a->{method};
    $method = 'POST' if defined $file && !defined $method;
    $method //= 'GET';
    my %has = map { /^([^:]+):/ ? (lc $1 => 1) : () } @user;
    my ($uhost) = reverse grep { /^host:/i } @user;
    my @h = (defined $uhost ? $uhost
             : 'Host: ' . ($a->{host} // ($port == 80 ? $host : "$host:$port")));
    @user = grep { !/^host:/i } @user;
    push @h, 'User-Agent: curl/7.88.1' unless $has{'user-agent'};
    push @h, 'Accept: */*' unless $has{accept};
    my $len;
    if (defined $file) {
        open(my $fh, '<:raw', $file) or return failed($s, 26, "Failed to open/read local data from file $file: $!");
        $s->{file} = $fh;
        $len = -s $fh;
        push @h, 'Content-Type: application/octet-stream';
        if ($chunked) {
            push @h, 'Transfer-Encoding: chunked';
            $s->{chunked_out} = 1;
        }
        else {
            push @h, "Content-Length: $len";
        }
        my $expect = $has{expect}
            ? grep({ /^expect:\s*100-continue/i } @user)
            : ($chunked || $len > $EXPECT_THRESHOLD);
        if ($expect && !$has{expect}) {
            push @h, 'Expect: 100-continue';
        }
        $s->{expect} = $expect ? 1 : 0;
    }
    for my $u (@user) {
        next unless $u =~ /^([^:]+):\s*(.*)$/;
        next if $2 eq '';          # "Name:" removes a header, as in curl
        push @h, $u;
    }
    $s->{out} = "$method $path HTTP/1.1\r\n" . join('', map { "$_\r\n" } @h) . "\r\n";
    $s->{body_left} = defined $file ? 1 : 0;
}

sub wants_write {
    my ($s) = @_;
    return 1 if $s->{phase} eq 'connect';
    return 1 if length $s->{out};
    return $s->{phase} eq 'body' && $s->{body_left};
}

sub on_writable {
    my ($s) = @_;
    if ($s->{phase} eq 'connect') {
        my $err = unpack('i', getsockopt($s->{sock}, SOL_SOCKET, SO_ERROR) // pack('i', 0));
        if ($err) {
            local $! = $err;
            return finish($s, 7, "Failed to connect: $!");
        }
        $s->{phase} = 'head';
    }
    while (1) {
        if (!length $s->{out}) {
            if ($s->{phase} eq 'head') {
                if ($s->{body_left} && $s->{expect}) {
                    $s->{phase} = 'expect';
                    $s->{expect_until} = time + $EXPECT_WAIT;
                    return;
                }
                $s->{phase} = 'body';
            }
            return unless $s->{phase} eq 'body' && $s->{body_left};
            my $n = read($s->{file}, my $buf, $CHUNK);
            if (!$n) {
                $s->{body_left} = 0;
                $s->{out} = "0\r\n\r\n" if $s->{chunked_out};
                return unless length $s->{out};
            }
            else {
                $s->{out} = $s->{chunked_out} ? sprintf("%x\r\n", $n) . $buf . "\r\n" : $buf;
            }
        }
        my $n = syswrite($s->{sock}, $s->{out});
        if (!defined $n) {
            return if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
            # The server may have answered and closed: read what it said.
            $s->{out} = '';
            $s->{body_left} = 0;
            return;
        }
        substr($s->{out}, 0, $n, '');
        return if length $s->{out};
    }
}

sub on_readable {
    my ($s) = @_;
    my $n = sysread($s->{sock}, my $buf, 262144);
    if (!defined $n) {
        return if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
        return closed($s, "Recv failure: $!");
    }
    return closed($s, undef) if $n == 0;
    $s->{in} .= $buf;
    parse($s);
}

# Parse what has come in: header blocks, then the body.
sub parse {
    my ($s) = @_;
    while (!$s->{done}) {
        if (!$s->{final}) {
            my $end = index($s->{in}, "\r\n\r\n");
            my $lf = index($s->{in}, "\n\n");
            my ($cut, $sep) = ($end, 4);
            ($cut, $sep) = ($lf, 2) if $lf >= 0 && ($end < 0 || $lf < $end);
            return if $cut < 0;
            my $block = substr($s->{in}, 0, $cut + $sep, '');
            push @{ $s->{blocks} }, $block;
            my ($code) = $block =~ m{^HTTP/\d(?:\.\d)? (\d{3})}
                or return finish($s, 8, 'Weird server reply');
            $s->{status} = $code + 0;
            if ($code >= 100 && $code < 200) {
                if ($code == 100 && $s->{phase} eq 'expect') {
                    $s->{phase} = 'body';
                }
                next;
            }
            $s->{final} = 1;
            # A final answer before the body was sent: curl sends no body.
            if ($s->{phase} eq 'expect') {
                $s->{body_left} = 0;
                $s->{phase} = 'body';
            }
            my %h;
            for my $l (split /\r?\n/, $block) {
                $h{lc $1} = $2 if $l =~ /^([^:\s]+):\s*(.*?)\s*$/;
            }
            if ($s->{head_only} || $code == 204 || $code == 304) {
                return finish($s, 0, '');
            }
            if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
                $s->{te} = 'chunked';
                $s->{chunk_left} = undef;
            }
            elsif (defined $h{'content-length'} && $h{'content-length'} =~ /^(\d+)$/) {
                $s->{cl} = $1 + 0;
                return finish($s, 0, '') if $s->{cl} == 0;
            }
            next;
        }
        # body
        if (($s->{te} // '') eq 'chunked') {
            if (!defined $s->{chunk_left}) {
                my $i = index($s->{in}, "\r\n");
                return if $i < 0;
                my $line = substr($s->{in}, 0, $i + 2, '');
                $line =~ /^([0-9a-fA-F]+)/ or return finish($s, 56, 'invalid chunk size');
                $s->{chunk_left} = hex $1;
                if ($s->{chunk_left} == 0) {
                    $s->{trailers} = 1;
                }
                next;
            }
            if ($s->{trailers}) {
                # trailer fields, then an empty line
                while (1) {
                    my $i = index($s->{in}, "\r\n");
                    return if $i < 0;
                    my $line = substr($s->{in}, 0, $i + 2, '');
                    return finish($s, 0, '') if $line eq "\r\n";
                }
            }
            if ($s->{chunk_left} > 0) {
                return unless length $s->{in};
                my $take = length $s->{in} < $s->{chunk_left} ? length $s->{in} : $s->{chunk_left};
                body($s, substr($s->{in}, 0, $take, ''));
                $s->{chunk_left} -= $take;
                return if $s->{chunk_left} > 0;
            }
            return if length $s->{in} < 2;
            substr($s->{in}, 0, 2) eq "\r\n" or return finish($s, 56, 'chunk not ended by CRLF');
            substr($s->{in}, 0, 2, '');
            $s->{chunk_left} = undef;
            next;
        }
        return unless length $s->{in};
        if (defined $s->{cl}) {
            my $want = $s->{cl} - $s->{size};
            my $take = length $s->{in} < $want ? length $s->{in} : $want;
            body($s, substr($s->{in}, 0, $take, ''));
            return finish($s, 0, '') if $s->{size} >= $s->{cl};
            return;
        }
        body($s, $s->{in});
        $s->{in} = '';
        return;
    }
}

sub body {
    my ($s, $data) = @_;
    $s->{size} += length $data;
    if ($s->{sha}) {
        $s->{sha}->add($data);
    }
    elsif (!$s->{a}{discard}) {
        $s->{body} .= $data;
    }
}

sub closed {
    my ($s, $why) = @_;
    parse($s) unless $s->{done};
    return if $s->{done};
    if (!@{ $s->{blocks} } && !length $s->{in}) {
        return finish($s, defined $why ? 56 : 52,
                      $why // 'Empty reply from server');
    }
    if (!$s->{final}) {
        return finish($s, 52, 'Empty reply from server') unless @{ $s->{blocks} };
        return finish($s, 56, $why // 'Connection closed before the final response');
    }
    if (defined $s->{cl} || ($s->{te} // '') eq 'chunked') {
        my $left = defined $s->{cl} ? $s->{cl} - $s->{size} : -1;
        return finish($s, 18, $left >= 0
            ? "transfer closed with $left bytes remaining to read"
            : 'transfer closed with outstanding read data remaining');
    }
    return finish($s, defined $why ? 56 : 0, $why // '');   # read until close
}

sub finish {
    my ($s, $rc, $err) = @_;
    return if $s->{done};
    $s->{done} = 1;
    $s->{rc} = $rc;
    $s->{err} = $rc ? "curl: ($rc) $err\n" : '';
    $s->{time} = time - $s->{t0};
    close $s->{sock} if $s->{sock};
    close $s->{file} if $s->{file};
    delete $s->{sock};
    delete $s->{file};
}

sub result {
    my ($s) = @_;
    my $raw = join '', @{ $s->{blocks} };
    my %h;
    my $last = @{ $s->{blocks} } ? $s->{blocks}[-1] : '';
    for my $l (split /\r?\n/, $last) {
        next unless $l =~ /^([^:\s]+):\s*(.*?)\s*$/;
        my $k = lc $1;
        $h{$k} = exists $h{$k} ? "$h{$k}, $2" : $2;
    }
    my %r = (status => $s->{final} ? $s->{status} : 0, time => $s->{time},
             wall => $s->{time}, rc => $s->{rc}, err => $s->{err},
             downloaded => $s->{size}, size => $s->{size},
             headers => \%h, raw_headers => $raw);
    if ($s->{a}{sha}) {
        $r{sha256} = $s->{sha}->hexdigest;
    }
    else {
        $r{body} = $s->{a}{discard} || $s->{head_only} ? '' : $s->{body};
    }
    return \%r;
}

1;
