#!/usr/bin/perl
# Reads the whole request body to EOF (CONTENT_LENGTH may be absent for
# chunked or HTTP/2 bodies) and prints its SHA-256 and length; with
# ?count=1 only its length (sha256=-), for bodies too big to hash cheaply.
# With ?g=NAME&n=N it stops once it has read 128 KiB and waits (polling
# every 20 ms, at most 60 s) until N requests of group NAME got there too
# (as wait.cgi's barrier: files in $PTTH_TEST_SCRATCH/wait-NAME), then
# reads the rest: N uploads in flight at once, each well into its body.
use strict;
use warnings;
use Digest::SHA;
use Time::HiRes qw(time sleep);
binmode STDIN;
my %q = map { /^([a-z]+)=([A-Za-z0-9_.-]{1,64})$/ ? ($1 => $2) : () }
        split /&/, $ENV{QUERY_STRING} // '';
my $count_only = ($q{count} // '') eq '1';
my $barrier = defined $q{g} && ($q{n} // '') =~ /^\d+$/ && $ENV{PTTH_TEST_SCRATCH};
my $sha = Digest::SHA->new(256);
my $len = 0;
while (1) {
    if ($barrier && $len >= 131072) {
        my $dir = "$ENV{PTTH_TEST_SCRATCH}/wait-$q{g}";
        mkdir $dir;
        if (open(my $fh, '>', "$dir/$$")) {
            close $fh;
            my $end = time + 60;
            while (time < $end) {
                opendir(my $d, $dir) or last;
                last if (grep { /^\d+$/ } readdir $d) >= $q{n};
                sleep 0.02;
            }
        }
        $barrier = 0;
    }
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
