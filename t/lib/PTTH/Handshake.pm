package PTTH::Handshake;
# Runs t/bin/ptth-handshake.pl against a router's tunnel port and returns
# (HTTP status of the answer or 0, everything the script printed).
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use Exporter 'import';
use PTTH::Test qw(ROOT);
our @EXPORT_OK = qw(handshake);

sub handshake {
    my ($port, @args) = @_;
    my $script = ROOT . '/t/bin/ptth-handshake.pl';
    my $out = `$^X $script $port @args 2>&1`;
    my ($status) = $out =~ /^HTTP\/1\.1 (\d{3})/m;
    return ($status // 0, $out);
}

1;
