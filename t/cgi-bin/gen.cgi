#!/usr/bin/perl
# Writes ?mb=N MiB (default 1) of a fixed pseudo-random pattern, streamed
# (no Content-Length), for the large-transfer tests.
use strict;
use warnings;
my $mb = 1;
if (($ENV{QUERY_STRING} // '') =~ /(?:^|&)mb=([0-9]+)/) {
    $mb = $1;
}
$mb = 4096 if $mb > 4096;
my $block = pack('N*', map { ($_ * 2654435761) % 4294967296 } 0 .. 262143);
binmode STDOUT;
$| = 1;
print "Content-Type: application/octet-stream\r\n\r\n";
print $block for 1 .. $mb;
