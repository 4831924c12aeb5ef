#!/usr/bin/perl
# Reads the whole request body to EOF (CONTENT_LENGTH may be absent for
# chunked or HTTP/2 bodies) and prints its SHA-256 and length.
use strict;
use warnings;
use Digest::SHA;
binmode STDIN;
my $sha = Digest::SHA->new(256);
my $len = 0;
while (1) {
    my $n = sysread(STDIN, my $buf, 65536);
    die "sha.cgi: read: $!" unless defined $n;
    last if $n == 0;
    $len += $n;
    $sha->add($buf);
}
print "Content-Type: text/plain\r\n\r\n";
print "sha256=", $sha->hexdigest, "\n";
print "length=$len\n";
print "content_length=", ($ENV{CONTENT_LENGTH} // '-'), "\n";
