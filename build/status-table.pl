#!/usr/bin/perl
# Prints the tables of a ptth-status (or ptth-backend-status) HTML page as
# text: the heading above each table, then its rows in aligned columns.
# Reads the page on stdin.  Used by `make demo` (build/demo.sh).
#   curl -s 'http://127.0.0.1:8080/ptth-status?html' | build/status-table.pl
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;

my %ent = (lt => '<', gt => '>', amp => '&', quot => '"',
           infin => "\x{221E}", middot => "\x{B7}");
sub entity {
    my ($e) = @_;
    return chr(hex substr($e, 2)) if $e =~ /^#x/i;
    return chr(substr($e, 1)) if $e =~ /^#/;
    return $ent{$e} // "&$e;";
}
sub text {
    my ($h) = @_;
    $h =~ s/<[^>]*>//g;
    $h =~ s/&(#x[0-9A-Fa-f]+|#\d+|\w+);/entity($1)/ge;
    $h =~ s/\s+/ /g;
    return $h =~ s/^ | $//gr;
}

binmode STDOUT, ':encoding(UTF-8)';
local $/;
my $page = <STDIN> // '';
my $heading = '';
while ($page =~ m{<h2[^>]*>(.*?)</h2>|<table\b[^>]*>(.*?)</table>}gs) {
    if (defined $1) {
        $heading = text($1);
        next;
    }
    my @rows;
    for my $tr ($2 =~ m{<tr\b[^>]*>(.*?)</tr>}gs) {
        push @rows, [map { text($_) } $tr =~ m{<t[hd]\b[^>]*>(.*?)</t[hd]>}gs];
    }
    next unless @rows;
    my @w;
    for my $r (@rows) {
        for my $i (0 .. $#$r) {
            my $l = length $r->[$i];
            $w[$i] = $l if !defined $w[$i] || $l > $w[$i];
        }
    }
    print "$heading\n" if length $heading;
    for my $r (@rows) {
        print '  ', join('  ', map { sprintf('%-*s', $w[$_], $r->[$_]) } 0 .. $#$r) =~ s/\s+$//r, "\n";
    }
    print "\n";
    $heading = '';
}
