#!/usr/bin/perl
# A misbehaving "backend" for the retry tests: it dials the router's tunnel
# port like mod_ptth_backend, speaks just enough HTTP/2 (RFC 9113) to be a
# server, and refuses every request it gets without processing it:
#   --mode=refuse  RST_STREAM(REFUSED_STREAM) for each HEADERS (RFC 9113 8.7)
#   --mode=goaway  GOAWAY(last-stream-id 0, NO_ERROR) at the first HEADERS,
#                  then close: every stream is above the last id, so none
#                  was processed
# It prints one line per refused stream, so the test can count them.
# --bind=ADDR dials from that local address (its identity in plain mode).
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use IO::Socket::INET;
use Getopt::Long;

$| = 1;
my ($port, $mode, $bind) = (0, 'refuse', undef);
GetOptions('port=i' => \$port, 'mode=s' => \$mode, 'bind=s' => \$bind)
    or die "bad options\n";
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                              Proto => 'tcp', ($bind ? (LocalAddr => $bind) : ()))
    or die "connect: $!\n";
print "connected\n";

sub frame {
    my ($type, $flags, $sid, $payload) = @_;
    $payload //= '';
    my $len = length $payload;
    return pack('C3CCN', $len >> 16, ($len >> 8) & 0xff, $len & 0xff,
                $type, $flags, $sid & 0x7fffffff) . $payload;
}

my $buf = '';
sub need {
    my ($n) = @_;
    while (length($buf) < $n) {
        my $r = sysread($s, $buf, 65536, length $buf);
        exit 0 unless $r;          # the router closed the tunnel
    }
    return substr($buf, 0, $n, '');
}

# The server's preface is its SETTINGS frame (RFC 9113 3.4).
syswrite($s, frame(4, 0, 0, pack('nN', 3, 100)));
my $magic = need(24);
die "no client preface\n" unless $magic eq "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
for (;;) {
    my ($l1, $l2, $l3, $type, $flags, $sid) = unpack('C3CCN', need(9));
    my $payload = need(($l1 << 16) | ($l2 << 8) | $l3);
    $sid &= 0x7fffffff;
    if ($type == 4 && !($flags & 1)) {                 # SETTINGS -> ACK
        syswrite($s, frame(4, 1, 0));
    }
    elsif ($type == 6 && !($flags & 1)) {              # PING -> ACK
        syswrite($s, frame(6, 1, 0, $payload));
    }
    elsif ($type == 1) {                               # HEADERS
        if ($mode eq 'goaway') {
            syswrite($s, frame(7, 0, 0, pack('NN', 0, 0)));
            print "refused stream $sid (goaway)\n";
            close $s;
            exit 0;
        }
        syswrite($s, frame(3, 0, $sid, pack('N', 7))); # REFUSED_STREAM
        print "refused stream $sid\n";
    }
}
