package PTTH::JSON;
# decode_json and encode_json for the tests: Cpanel::JSON::XS (Debian
# package libcpanel-json-xs-perl, which build/install-deps.sh installs)
# when it is there, else the core JSON::PP, with the same interface.
#
# Why: the tests decode status documents and the hostile peers' event
# logs in polls, tens of thousands of values per run; JSON::PP, pure Perl,
# was about a sixth of the test processes' own CPU (Devel::NYTProf over
# the suite).
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use Exporter 'import';
our @EXPORT = qw(decode_json encode_json);

my $XS = eval { require Cpanel::JSON::XS; 1 };
require JSON::PP unless $XS;

sub decode_json { $XS ? Cpanel::JSON::XS::decode_json($_[0]) : JSON::PP::decode_json($_[0]) }
sub encode_json { $XS ? Cpanel::JSON::XS::encode_json($_[0]) : JSON::PP::encode_json($_[0]) }

1;
