#!/usr/bin/perl
# rawclient.pl -- a raw-socket HTTP/1.1 user client for the mod_ptth tests.
#
# It sends exact bytes and returns exactly what the server sent, so a test
# can check framing byte by byte: that no attacker byte reached the user,
# that a response never runs past its Content-Length, and that a second
# response on the same connection is the server's own.
#
# As a library (require it; package PTTH::RawClient):
#   my $x = PTTH::RawClient::exchange(port => $p, requests => [$r1, $r2],
#                                     mode => 'pipeline');
#     mode  pipeline   all requests in one write, then read
#           keepalive  request i+1 only once response i is complete
#     heads      => [0, 1]   which requests are HEAD (no body in the answer;
#                            default: those whose request line starts HEAD)
#     timeout    => 10       seconds for the whole exchange
#     linger     => 1        seconds to keep reading after the last
#                            expected response is complete (extra bytes?)
#     body_size  => N        after the (only) request head, stream N body
#                            bytes ('x'), while reading
#     close_after => s       go away (close) s seconds after the start
#     close_on_response => 1 with body_size: go away once the response is
#                            complete (and linger is over), body sent or not
#   returns { bytes, eof (server closed), time, sent (body bytes sent) }
#   my @r = PTTH::RawClient::parse_responses($bytes, heads => [...]);
#     each: { status, reason, fields => [[name, value]...], h => {lc name =>
#     joined value}, body, framing (length|chunked|close|none), complete,
#     interim => [status...] } and one last element { rest => bytes } when
#     bytes are left that are not a response head.
#
# As a program:
#   rawclient.pl --port P [--mode pipeline|keepalive] [--timeout S]
#                [--linger S] [--body-size N] [--close-after S] REQUEST...
#   Each REQUEST is a string with \r \n \t \xHH escapes; the raw answer goes
#   to stdout, a summary of the parsed responses to stderr.
#
# Licensed under the Apache License, Version 2.0.
package PTTH::RawClient;

use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time);
use Errno qw(EAGAIN EWOULDBLOCK EINTR);

# --------------------------------------------------------------- parsing

# Parse one response at the start of $buf.  Returns (response, bytes used)
# or () when the head is not complete yet.  $head: the request was HEAD.
# $eof: no more bytes will come (a body delimited by close is complete).
sub parse_one {
    my ($buf, $head, $eof) = @_;
    my $end = index($buf, "\r\n\r\n");
    return () if $end < 0;
    my $hd = substr($buf, 0, $end);
    my @lines = split /\r\n/, $hd, -1;
    my $sl = shift @lines;
    my %r = (raw_head => $hd, fields => [], h => {}, body => '', complete => 0);
    unless ($sl =~ m{^HTTP/(\d)\.(\d) (\d{3})(?: (.*))?$}) {
        return ({ %r, bad => "bad status line: " . substr($sl, 0, 80) }, 0);
    }
    @r{qw(version status reason)} = ("$1.$2", $3 + 0, $4 // '');
    for my $l (@lines) {
        if ($l =~ /^([!#\$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/) {
            push @{ $r{fields} }, [$1, $2];
            my $k = lc $1;
            $r{h}{$k} = exists $r{h}{$k} ? "$r{h}{$k}, $2" : $2;
        }
        else {
            $r{bad} = "bad field line: " . substr($l, 0, 80);
        }
    }
    my $pos = $end + 4;
    my $st = $r{status};
    if ($st < 200 || $st == 204 || $st == 304 || $head) {
        $r{framing} = 'none';
        $r{complete} = 1;
        return (\%r, $pos);
    }
    my $te = $r{h}{'transfer-encoding'};
    my $cl = $r{h}{'content-length'};
    if (defined $te && $te =~ /chunked\s*$/i) {
        $r{framing} = 'chunked';
        my $p = $pos;
        while (1) {
            my $e = index($buf, "\r\n", $p);
            return () if $e < 0 && !$eof;
            last if $e < 0;
            my $line = substr($buf, $p, $e - $p);
            unless ($line =~ /^([0-9A-Fa-f]+)(?:;.*)?$/) {
                $r{bad} = "bad chunk size line";
                last;
            }
            my $n = hex $1;
            $p = $e + 2;
            if ($n == 0) {
                # trailer section up to an empty line
                my $t = index($buf, "\r\n", $p);
                while ($t >= 0 && $t != $p) {
                    my $tl = substr($buf, $p, $t - $p);
                    push @{ $r{trailers} }, $tl;
                    $p = $t + 2;
                    $t = index($buf, "\r\n", $p);
                }
                if ($t < 0) {
                    return () unless $eof;
                    last;
                }
                $r{complete} = 1;
                return (\%r, $t + 2);
            }
            if (length($buf) < $p + $n + 2) {
                return () unless $eof;
                $r{body} .= substr($buf, $p);
                $p = length $buf;
                last;
            }
            $r{body} .= substr($buf, $p, $n);
            $p += $n;
            if (substr($buf, $p, 2) ne "\r\n") {
                $r{bad} = "chunk not followed by CRLF";
                last;
            }
            $p += 2;
        }
        return (\%r, $p);       # incomplete at EOF, or bad
    }
    if (defined $cl) {
        $r{framing} = 'length';
        unless ($cl =~ /^\d+$/) {
            $r{bad} = "bad Content-Length '$cl'";
            return (\%r, $pos);
        }
        if (length($buf) - $pos >= $cl) {
            $r{body} = substr($buf, $pos, $cl);
            $r{complete} = 1;
            return (\%r, $pos + $cl);
        }
        return () unless $eof;
        $r{body} = substr($buf, $pos);
        return (\%r, length $buf);
    }
    $r{framing} = 'close';
    return () unless $eof;
    $r{body} = substr($buf, $pos);
    $r{complete} = 1;
    return (\%r, length $buf);
}

# All responses in $bytes (interim ones are folded into the next final
# one as interim => [...]).  heads => [bool per request].
sub parse_responses {
    my ($bytes, %o) = @_;
    my @heads = @{ $o{heads} || [] };
    my $eof = exists $o{eof} ? $o{eof} : 1;
    my (@out, @interim);
    my $buf = $bytes;
    while (length $buf) {
        my $head = $heads[scalar @out] // 0;
        my ($r, $used) = parse_one($buf, $head, $eof);
        unless ($r) {
            push @out, { rest => $buf };
            last;
        }
        if ($r->{bad} && !$used) {
            push @out, { rest => $buf, bad => $r->{bad} };
            last;
        }
        substr($buf, 0, $used, '');
        if ($r->{status} && $r->{status} < 200) {
            push @interim, $r->{status};
            next;
        }
        $r->{interim} = [@interim];
        @interim = ();
        push @out, $r;
        last if $r->{bad};
        if (!$r->{complete}) {
            push @out, { rest => $buf } if length $buf;
            last;
        }
    }
    return @out;
}

# How many complete final responses are at the start of $bytes.
sub complete_count {
    my ($bytes, $heads) = @_;
    my $n = 0;
    for my $r (parse_responses($bytes, heads => $heads, eof => 0)) {
        last if exists $r->{rest} || !$r->{complete} || $r->{bad};
        $n++;
    }
    return $n;
}

# ------------------------------------------------------------ the client

sub exchange {
    my (%o) = @_;
    my @reqs = @{ $o{requests} || [] };
    my $mode = $o{mode} || 'pipeline';
    my $timeout = $o{timeout} // 10;
    my $linger = $o{linger} // 1;
    my $heads = $o{heads} || [map { /^HEAD / ? 1 : 0 } @reqs];
    local $SIG{PIPE} = 'IGNORE';    # a server that closes early: EPIPE, not death
    my $t0 = time;
    my $s = IO::Socket::INET->new(PeerAddr => $o{host} || '127.0.0.1',
                                  PeerPort => $o{port}, Proto => 'tcp',
                                  Timeout => 5)
        or return { bytes => '', eof => 1, error => "connect: $!", time => 0 };
    $s->blocking(0);
    my $sel = IO::Select->new($s);
    my ($in, $out, $eof, $sent_body) = ('', '', 0, 0);
    my $next = 0;           # next request to queue
    my $body_left = $o{body_size} // 0;
    my $done_at;            # when the last expected response completed
    if ($mode eq 'pipeline') {
        $out = join '', @reqs;
        $next = @reqs;
    }
    else {
        $out = $reqs[0] // '';
        $next = 1;
    }
    my $head_len = length $out;   # body bytes start after the heads
    while (1) {
        my $now = time;
        last if $now - $t0 >= $timeout;
        last if defined $o{close_after} && $now - $t0 >= $o{close_after};
        last if $eof;
        last if defined $done_at && $now - $done_at >= $linger;
        if (!length $out && $body_left > 0 && $head_len == 0) {
            my $n = $body_left > 65536 ? 65536 : $body_left;
            $out = 'x' x $n;
            $body_left -= $n;
        }
        my @w = length $out ? ($s) : ();
        my ($r, $w) = IO::Select::select($sel, @w ? IO::Select->new(@w) : undef,
                                         undef, 0.05);
        if ($w && @$w && length $out) {
            my $n = syswrite($s, $out);
            if (defined $n) {
                if ($head_len) {
                    my $h = $n < $head_len ? $n : $head_len;
                    $head_len -= $h;
                    $sent_body += $n - $h;
                }
                else {
                    $sent_body += $n;
                }
                substr($out, 0, $n, '');
            }
            elsif ($! != EAGAIN && $! != EWOULDBLOCK && $! != EINTR) {
                $body_left = 0;
                $out = '';
            }
        }
        if ($r && @$r) {
            my $n = sysread($s, my $buf, 65536);
            if (defined $n && $n == 0) {
                $eof = 1;
            }
            elsif (defined $n) {
                $in .= $buf;
            }
            elsif ($! != EAGAIN && $! != EWOULDBLOCK && $! != EINTR) {
                $eof = 1;     # reset
            }
        }
        my $complete = complete_count($in, $heads);
        if ($mode eq 'keepalive' && $next < @reqs && $complete >= $next) {
            $out .= $reqs[$next++];
            $head_len = length $out;
        }
        $done_at //= time if $complete >= @reqs
                             && (!$o{body_size} || $o{close_on_response});
    }
    close $s;
    return { bytes => $in, eof => $eof, time => time - $t0, sent => $sent_body };
}

# ----------------------------------------------------------------- CLI

sub unescape {
    my ($s) = @_;
    $s =~ s/\\(r|n|t|x([0-9A-Fa-f]{2})|\\)/
        $1 eq 'r' ? "\r" : $1 eq 'n' ? "\n" : $1 eq 't' ? "\t"
        : $1 eq '\\' ? '\\' : chr(hex $2)/ge;
    return $s;
}

sub cli {
    require Getopt::Long;
    my %o = (mode => 'pipeline', timeout => 10, linger => 1);
    Getopt::Long::GetOptions(\%o, 'port=i', 'host=s', 'mode=s', 'timeout=f',
                             'linger=f', 'body_size|body-size=i',
                             'close_after|close-after=f')
        or die "bad options\n";
    die "usage: $0 --port P [options] REQUEST...\n" unless $o{port} && @ARGV;
    my @reqs = map { unescape($_) } @ARGV;
    my @heads = map { /^HEAD / ? 1 : 0 } @reqs;
    my $x = exchange(%o, requests => \@reqs);
    binmode STDOUT;
    print $x->{bytes};
    my $i = 0;
    for my $r (parse_responses($x->{bytes}, heads => \@heads)) {
        if (exists $r->{rest}) {
            printf STDERR "rest: %d bytes%s\n", length $r->{rest},
                $r->{bad} ? " ($r->{bad})" : '';
            next;
        }
        printf STDERR "response %d: %s %s, %s, body %d bytes, %s%s\n", ++$i,
            $r->{status}, $r->{reason}, $r->{framing}, length $r->{body},
            $r->{complete} ? 'complete' : 'incomplete',
            $r->{bad} ? " ($r->{bad})" : '';
    }
    printf STDERR "%s after %.2f s\n", $x->{eof} ? 'closed by the server' : 'still open',
        $x->{time};
    return 0;
}

exit(cli()) unless caller;

1;
