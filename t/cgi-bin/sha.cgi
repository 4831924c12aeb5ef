#!/usr/bin/perl
# Reads the whole request body to EOF (CONTENT_LENGTH may be absent for
# chunked or HTTP/2 bodies) and prints its SHA-256 and length; with
# ?count=1 only its length (sha256=-), for bodies too big to hash cheaply.
use strict;
use warnings;
use Digest::SHA;
binmode STDIN;
my $count_only = ($ENV{QUERY_STRING} // '') =~ /(?:^|&)count=1(?:&|$)/;
my $sha = Digest::SHA->new(256);
my $len = 0;
while (1) {
    my $n = sysread(STDIN, my $buf, 262144);
    die "sha.cgi: read: $!" unless defined $n;
    last if $n == 0;
    $len += $n;
    $sha->add($buf) unless $count_only;
}
print "Content-Type: text/plain\r\n\r\n";
print "sha256=", ($count_only ? '-' : $sha->hexdigest), "\n";
print "length=$len\n";
print "content_length=", ($ENV{CONTENT_LENGTH} // '-'), "\n";
