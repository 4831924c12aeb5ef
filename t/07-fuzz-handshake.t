# Every libFuzzer target t/fuzz/fuzz_*.c (today the handshake parser and
# builders) under ASan and UBSan for a bounded time: PTTH_FUZZ_SECONDS
# (default 10) in all, shared by the targets (at least 2 s each: the seeds
# run first).  Any crash, sanitizer report or broken promise fails.  The
# runner is t/fuzz/run-fuzz.sh; it compiles into the test scratch dir.
# Long runs: `make fuzz` (README, "How the tests work").
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

# One run of the runner for all targets: it checks the toolchain once.
# Built at -O0 (PTTH_FUZZ_OPT): for runs this short the compile costs more
# than the lost speed; `make fuzz` builds at -O1.  Three targets at once
# (PTTH_FUZZ_JOBS): the file's wall time is a third while the other test
# files share the cores.
my $out = `env PTTH_FUZZ_SECONDS=$secs PTTH_FUZZ_JOBS=3 PTTH_FUZZ_OPT=-O0 PTTH_FUZZ_TMP=${\ TMP}/fuzz bash ${\ ROOT}/t/fuzz/run-fuzz.sh @targets 2>&1`;
my $rc = $? >> 8;
if ($rc == 2) {
    # A tool is missing (the runner names the package).
    fail('the fuzzing tools are installed');
    diag($out);
    done_testing();
    exit;
}
my @lines = split /\n/, $out;
for my $t (@targets) {
    (my $name = $t) =~ s/^fuzz_//;
    my $clean = grep { /^run-fuzz: \Q$t\E clean;/ } @lines;
    my $failed = grep { /^run-fuzz: \Q$t\E(?::)? .*FAILED/ } @lines;
    diag(join "\n", grep { /^\Q$name\E: (?:stat::|Done|#\d+\s+DONE)/ } @lines);
    ok($clean && !$failed, "libFuzzer ran $t ${secs}s without a crash or report")
        or diag(join "\n", grep { /\Q$t\E|\Q$name\E|ERROR|SUMMARY|runtime error/ } @lines);
}
is($rc, 0, 'the runner exits 0') or diag($out);
done_testing();
