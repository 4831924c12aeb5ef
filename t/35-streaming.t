# Bodies stream through router child, hub, tunnel and backend without
# being held whole: a 160 MiB download and a 160 MiB upload (plain and
# chunked) each raise no process's peak memory (VmHWM) by more than 64 MiB
# (a process that held a body whole would grow by 160 MiB: 2.5 times the
# bound).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use PTTH::Test;

my $MB = 160;
my $LIMIT_KB = 64 * 1024;

# Under make test-asan, AddressSanitizer keeps freed memory in quarantine
# (256 MiB by default), which would show as growth of the peak: keep it
# small here, so that the peak measures what the modules hold.
my @san = (asan_options => 'quarantine_size_mb=8:thread_local_quarantine_size_kb=64');
my $r = router(@san);
$r->start or give_up('router does not start');
my $b = backend(tport => $r->{tport}, @san);
$b->start or give_up('backend does not start');
ok(defined wait_for_tunnel($r), 'tunnel up') or give_up('no tunnel');
# Warm up the processes, so their startup allocations are not counted.
http(port => $r->{port}, host => 'a.example', path => '/cgi-bin/gen.cgi?mb=4', discard => 1);

sub peaks {
    my %h;
    for my $s ($r, $b) {
        for my $p ($s->pid, $s->children) {
            my $kb = proc_kb($p, 'VmHWM');
            $h{$p} = [$kb, $s->{name}] if defined $kb;
        }
    }
    return \%h;
}

sub growth {
    my ($before, $after) = @_;
    my ($max, $who) = (0, '');
    for my $p (keys %$after) {
        next unless $before->{$p};
        my $d = $after->{$p}[0] - $before->{$p}[0];
        ($max, $who) = ($d, "$after->{$p}[1] pid $p") if $d > $max;
    }
    return ($max, $who);
}

# Download.
my $p0 = peaks();
my $t0 = time;
my $res = http(port => $r->{port}, host => 'a.example', path => "/cgi-bin/gen.cgi?mb=$MB",
               discard => 1, max_time => 120);
my $dt = time - $t0;
is($res->{status}, 200, "$MB MiB download: 200");
is($res->{downloaded}, $MB * 1024 * 1024, "$MB MiB download: all bytes arrived");
diag(sprintf('download: %.1f MiB/s', $MB / $dt));
my ($g, $who) = growth($p0, peaks());
cmp_ok($g, '<', $LIMIT_KB, sprintf("$MB MiB download: peak memory grew at most %.1f MiB (%s)",
                                   $g / 1024, $who || '-'));

# Upload, from a sparse file (zeros, no disk space).
my $file = TMP . '/upload.bin';
open(my $fh, '>', $file) or die "$file: $!";
truncate($fh, $MB * 1024 * 1024) or die "truncate: $!";
close $fh;
for my $chunked (0, 1) {
    my $what = $chunked ? 'chunked upload' : 'upload';
    $p0 = peaks();
    $t0 = time;
    $res = http(port => $r->{port}, host => 'a.example', path => '/cgi-bin/sha.cgi?count=1',
                upload_file => $file, chunked => $chunked, max_time => 120);
    $dt = time - $t0;
    my $e = parse_env($res->{body});
    is($res->{status}, 200, "$MB MiB $what: 200");
    is($e->{length}, $MB * 1024 * 1024, "$MB MiB $what: the backend read every byte");
    diag(sprintf("$what: %.1f MiB/s", $MB / $dt));
    ($g, $who) = growth($p0, peaks());
    cmp_ok($g, '<', $LIMIT_KB, sprintf("$MB MiB $what: peak memory grew at most %.1f MiB (%s)",
                                       $g / 1024, $who || '-'));
}
unlink $file;

finish();
