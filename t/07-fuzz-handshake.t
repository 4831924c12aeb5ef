# The handshake parser under libFuzzer (with ASan and UBSan) for a bounded
# time: PTTH_FUZZ_SECONDS, default 60.  Any crash or sanitizer report fails.
# The runner is t/fuzz/run-fuzz.sh; it compiles into the test scratch dir.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use PTTH::Test;

my $secs = $ENV{PTTH_FUZZ_SECONDS} // 60;
plan skip_all => 'PTTH_FUZZ_SECONDS=0' unless $secs;
my $out = `env PTTH_FUZZ_SECONDS=$secs PTTH_FUZZ_TMP=${\ TMP}/fuzz bash ${\ ROOT}/t/fuzz/run-fuzz.sh 2>&1`;
my $rc = $? >> 8;
my @lines = split /\n/, $out;
diag(join "\n", grep { defined && /Done|stat::|exec\/s|cov:|ERROR|SUMMARY/ } @lines[(@lines > 15 ? -15 : 0) .. -1]);
is($rc, 0, "libFuzzer ran the handshake parser ${secs}s without a crash or report")
    or diag($out);
done_testing();
