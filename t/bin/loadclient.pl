#!/usr/bin/perl
# A bounded HTTP/1.1 load of real users: N workers, each sending GET
# requests one after another, one connection per request (so that a
# server closing idle keep-alive connections during a restart is not the
# client's problem), for D seconds; with --pause MS each worker waits that
# long after each response (users who read what they got: the load then
# keeps N requests coming without taking every core of the machine).  Every response must be 200 with the
# expected body.  Prints "total=T ok=O failed=F" and one line per failure
# kind.
#
#   loadclient.pl --port P --host a.example --path / --expect A \
#                 --workers 16 --seconds 10 [--pause 25]
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use Getopt::Long;
use IO::Socket::INET;
use POSIX qw(_exit);
use Time::HiRes qw(time sleep);

my %o = (host => 'a.example', path => '/', workers => 16, seconds => 10,
         timeout => 20, pause => 0);
GetOptions(\%o, 'port=i', 'host=s', 'path=s', 'expect=s', 'workers=i',
           'seconds=f', 'timeout=f', 'pause=f') or die "usage\n";
die "--port needed\n" unless $o{port};

sub one {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $o{port},
                                  Proto => 'tcp', Timeout => $o{timeout})
        or return "connect: $!";
    $s->autoflush(1);
    print $s "GET $o{path} HTTP/1.1\r\nHost: $o{host}\r\nConnection: close\r\n\r\n";
    my $buf = '';
    my $deadline = time + $o{timeout};
    my $rin = '';
    vec($rin, fileno($s), 1) = 1;
    while (time < $deadline) {
        my $n = select(my $rout = $rin, undef, undef, $deadline - time);
        last unless $n;
        my $r = sysread($s, $buf, 65536, length $buf);
        last unless $r;
    }
    close $s;
    return "no response" unless length $buf;
    my ($status) = $buf =~ m{^HTTP/1\.[01] (\d{3})};
    return "malformed: " . substr($buf, 0, 40) unless $status;
    return "status $status" unless $status == 200;
    my ($body) = $buf =~ /\r\n\r\n(.*)\z/s;
    return "body differs" if defined $o{expect} && ($body // '') ne $o{expect};
    return '';
}

my @pipes;
for my $w (1 .. $o{workers}) {
    pipe(my $r, my $wr) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $r;
        my ($n, $ok, %fail) = (0, 0);
        my $end = time + $o{seconds};
        while (time < $end) {
            my $err = one();
            ++$n;
            if ($err eq '') { ++$ok } else { $fail{$err}++ }
            sleep($o{pause} / 1000) if $o{pause} > 0;
        }
        print $wr "$n $ok\n";
        print $wr "F $fail{$_} $_\n" for keys %fail;
        close $wr;
        _exit(0);
    }
    close $wr;
    push @pipes, [$pid, $r];
}
my ($total, $ok, %fail) = (0, 0);
for my $p (@pipes) {
    my $fh = $p->[1];
    while (my $l = <$fh>) {
        if ($l =~ /^F (\d+) (.*)$/) { $fail{$2} += $1 }
        elsif ($l =~ /^(\d+) (\d+)$/) { $total += $1; $ok += $2 }
    }
    waitpid($p->[0], 0);
}
printf "total=%d ok=%d failed=%d\n", $total, $ok, $total - $ok;
print "failure: $fail{$_} x $_\n" for sort keys %fail;
