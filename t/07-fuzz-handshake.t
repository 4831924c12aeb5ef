# Every libFuzzer target t/fuzz/fuzz_*.c (today the handshake parser and
# builders) under ASan and UBSan for a bounded time: PTTH_FUZZ_SECONDS
# (default 10) in all, shared by the targets (at least 2 s each).  Any
# crash, sanitizer report or broken promise fails.  The runner is
# t/fuzz/run-fuzz.sh; it compiles into the test scratch dir.  Long runs:
# `make fuzz` (README, "How the tests work").
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Basename qw(basename);
use PTTH::Test;

my $total = $ENV{PTTH_FUZZ_SECONDS};
$total = 10 unless defined $total && length $total;
plan skip_all => 'PTTH_FUZZ_SECONDS=0' unless $total;
my @targets = map { basename($_, '.c') } glob(ROOT . '/t/fuzz/fuzz_*.c');
ok(scalar @targets, 'libFuzzer targets found: ' . join(' ', @targets));
# Whole seconds (libFuzzer's unit), at least 2 each: the seeds run first.
my $secs = int($total / (@targets || 1));
$secs = 2 if $secs < 2;

for my $t (@targets) {
    my $out = `env PTTH_FUZZ_SECONDS=$secs PTTH_FUZZ_TMP=${\ TMP}/fuzz bash ${\ ROOT}/t/fuzz/run-fuzz.sh $t 2>&1`;
    my $rc = $? >> 8;
    if ($rc == 2) {
        # A tool is missing (the runner names the package).
        fail("$t: the fuzzing tools are installed");
        diag($out);
        next;
    }
    my @lines = split /\n/, $out;
    diag(join "\n", grep { /Done|stat::|exec\/s|cov:|ERROR|SUMMARY|FAILED/ }
                    @lines[(@lines > 15 ? -15 : 0) .. -1]);
    is($rc, 0, "libFuzzer ran $t ${secs}s without a crash or report")
        or diag($out);
}
done_testing();
