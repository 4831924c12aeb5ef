#!/usr/bin/perl
# Sleeps ?s=SECONDS (default 1, fractions allowed), then prints "slept".
use strict;
use warnings;
my $s = 1;
if (($ENV{QUERY_STRING} // '') =~ /(?:^|&)s=([0-9]+(?:\.[0-9]+)?)/) {
    $s = $1;
}
$s = 60 if $s > 60;
select(undef, undef, undef, $s) if $s > 0;
$| = 1;
print "Content-Type: text/plain\r\n\r\nslept\n";
