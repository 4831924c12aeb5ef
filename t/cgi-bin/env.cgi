#!/usr/bin/perl
# Prints the request variables that the proxy tests look at, one NAME=value
# a line (empty value when unset).
use strict;
use warnings;
print "Content-Type: text/plain\r\n\r\n";
for my $v (qw(REMOTE_ADDR HTTP_HOST HTTP_X_FORWARDED_FOR HTTP_X_FORWARDED_HOST
              HTTP_X_FORWARDED_SERVER HTTP_VIA SERVER_NAME SERVER_PROTOCOL
              REQUEST_METHOD REQUEST_URI QUERY_STRING HTTP_X_PTTH_TEST)) {
    print "$v=", ($ENV{$v} // ''), "\n";
}
