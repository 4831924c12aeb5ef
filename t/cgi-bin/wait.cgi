#!/usr/bin/perl
# A request that waits for a condition instead of a fixed time, so that
# tests check concurrency and in-flight behaviour whatever the machine's
# load.  Each request joins group ?g=NAME: it registers a file
# $PTTH_TEST_SCRATCH/wait-NAME/<pid> (the harness sets PTTH_TEST_SCRATCH in
# every backend vhost), then waits, polling every 20 ms, until
#   ?n=N    N requests of the group have arrived (a barrier: proves that N
#           were in flight at the backend at once), or
#   release the test created wait-NAME/release (PTTH::Test::cgi_release),
# at most ?t= seconds (default 30, at most 120).  It answers 200 with
# "ok <arrived>" or "timeout <arrived>", where <arrived> counts the
# requests of the group so far.
#   ?s=SECONDS instead: sleeps that long, sampling how many requests of the
#           group are running at the same time (each removes its file at
#           the end), and answers "max <most seen at once>".
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use Time::HiRes qw(time sleep);

my %q = map { /^([a-z])=([A-Za-z0-9_.-]{1,64})$/ ? ($1 => $2) : () }
        split /&/, $ENV{QUERY_STRING} // '';
my $root = $ENV{PTTH_TEST_SCRATCH};
sub answer { print "Content-Type: text/plain\r\n\r\n$_[0]\n"; exit 0 }
answer('error: no PTTH_TEST_SCRATCH') unless $root && -d $root;
answer('error: no g=') unless defined $q{g};
my $dir = "$root/wait-$q{g}";
mkdir $dir;
my $me = "$dir/$$";
open(my $fh, '>', $me) or answer("error: $me: $!");
close $fh;
sub members { opendir(my $d, $dir) or return 0; my $n = grep { /^\d+$/ } readdir $d; return $n }

if (defined $q{s} && $q{s} =~ /^\d+(?:\.\d+)?$/) {
    my $end = time + ($q{s} > 60 ? 60 : $q{s});
    my $max = 0;
    while (1) {
        my $n = members();
        $max = $n if $n > $max;
        last if time >= $end;
        sleep 0.02;
    }
    unlink $me;
    answer("max $max");
}

my $t = (defined $q{t} && $q{t} =~ /^\d+$/) ? $q{t} : 30;
$t = 120 if $t > 120;
my $deadline = time + $t;
while (1) {
    my $n = members();
    answer("ok $n") if (defined $q{n} && $q{n} =~ /^\d+$/ && $n >= $q{n})
                       || -e "$dir/release";
    answer("timeout $n") if time >= $deadline;
    sleep 0.02;
}
