#!/usr/bin/perl
# Sends one raw PTTH handshake (or any bytes) to a router's tunnel port and
# prints what came back: the status line, the headers, and whether the
# HTTP/2 client preface followed a 101.  For the handshake tests.
#   ptth-handshake.pl PORT [--token T] [--target /app] [--hosts a,b]
#                     [--raw FILE] [--tls] [--ca FILE] [--cert F --key F]
#                     [--bind 127.0.0.2]  (local address to connect from)
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use IO::Socket::INET;
use Getopt::Long;

my %o = (target => '/app');
GetOptions(\%o, 'token=s', 'target=s', 'hosts=s', 'backend=s', 'raw=s',
           'tls', 'ca=s', 'cert=s', 'key=s', 'timeout=i', 'bind=s') or die "bad options\n";
my $port = shift or die "port?\n";
my $s;
if ($o{tls}) {
    require IO::Socket::SSL;
    $s = IO::Socket::SSL->new(PeerAddr => '127.0.0.1', PeerPort => $port,
        ($o{bind} ? (LocalAddr => $o{bind}) : ()),
        SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_PEER(), SSL_ca_file => $o{ca},
        SSL_hostname => 'router.test', SSL_verifycn_name => 'router.test',
        ($o{cert} ? (SSL_cert_file => $o{cert}, SSL_key_file => $o{key}) : ()))
        or do { print "TLS-FAILED $IO::Socket::SSL::SSL_ERROR\n"; exit 0 };
}
else {
    $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                               ($o{bind} ? (LocalAddr => $o{bind}) : ()))
        or die "connect: $!\n";
}
my $req;
if ($o{raw}) {
    open(my $fh, '<', $o{raw}) or die "$o{raw}: $!\n";
    binmode $fh; local $/; $req = <$fh>;
}
else {
    $req = "GET $o{target} HTTP/1.1\r\nHost: router.test\r\nConnection: upgrade\r\n"
         . "Upgrade: ptth\r\nALPN: h2\r\n";
    $req .= "Authorization: Bearer $o{token}\r\n" if defined $o{token};
    $req .= "PTTH-Hosts: $o{hosts}\r\n" if $o{hosts};
    $req .= "PTTH-Backend: $o{backend}\r\n" if $o{backend};
    $req .= "\r\n";
}
print $s $req;
my $got = '';
my $deadline = time + ($o{timeout} || 5);
while (time < $deadline) {
    my $rin = ''; vec($rin, fileno($s), 1) = 1;
    last unless select($rin, undef, undef, 0.2) || ($o{tls} && $s->pending);
    my $n = sysread($s, my $buf, 65536);
    last unless $n;
    $got .= $buf;
    last if $got =~ /\r\n\r\n/ && $got !~ /^HTTP\/1\.1 101/;
    last if $got =~ /PRI \* HTTP\/2\.0/;
}
my ($head) = split /\r\n\r\n/, $got, 2;
print "HEAD\n", $head // '', "\n";
print "PREFACE\n" if $got =~ /\r\n\r\nPRI \* HTTP\/2\.0\r\n\r\nSM\r\n\r\n/;
my $rin = ''; vec($rin, fileno($s), 1) = 1;
if (select($rin, undef, undef, 1)) {
    my $n = sysread($s, my $x, 1);
    print "CLOSED\n" if defined $n && $n == 0;
}
