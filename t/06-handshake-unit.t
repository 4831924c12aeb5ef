# Unit test of the PTTH handshake parser/builder (common/ptth_handshake.c)
# without httpd: compiles t/unit/handshake_unit.c with the parser against
# APR into the scratch directory, runs it, and reports each of its checks
# (request parsing and every refusal status, prefixes, limits, Bearer
# tokens, PTTH-Hosts, responses, builders) as a test here.  The driver is
# built with AddressSanitizer and UBSan when the compiler can, so an
# over-read of the input fails the run.
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use FindBin;
use Cwd qw(abs_path);
use File::Path qw(make_path remove_tree);
use Test::More;

my $ROOT = abs_path("$FindBin::Bin/..");
my $TMP  = ($ENV{PTTH_TEST_TMP} || "$ROOT/t/tmp") . '/06-handshake-unit';

sub in_path {
    my ($cmd) = @_;
    return $cmd if $cmd =~ m{/} && -x $cmd;
    for my $d (split /:/, $ENV{PATH} || '') {
        return "$d/$cmd" if -x "$d/$cmd";
    }
    return undef;
}

my ($CC) = grep { defined } map { in_path($_) }
    grep { defined && length } ($ENV{CC}, 'cc', 'gcc', 'clang');
plan skip_all => 'no C compiler (cc, gcc or clang) in PATH' unless $CC;

remove_tree($TMP) if -d $TMP;
make_path($TMP);

my $aprconf = in_path('apr-1-config');
unless ($aprconf) {
    fail('apr-1-config found (Debian package libapr1-dev; `make deps` installs it)');
    done_testing();
    exit 1;
}
my $aprflags = `'$aprconf' --cflags --cppflags --includes`;
my $aprlibs  = `'$aprconf' --link-ld`;
chomp($aprflags, $aprlibs);

my $bin  = "$TMP/handshake_unit";
my @srcs = ("$ROOT/t/unit/handshake_unit.c", "$ROOT/common/ptth_handshake.c");
my $base = "'$CC' -std=gnu11 -g -O1 -Wall -Wextra -Werror -I'$ROOT/include' $aprflags";

local $ENV{ASAN_OPTIONS}  = 'detect_leaks=0:abort_on_error=0:exitcode=66';
local $ENV{UBSAN_OPTIONS} = 'print_stacktrace=1:halt_on_error=1:exitcode=67';

sub build {
    my ($extra) = @_;
    my $cmd = "$base $extra -o '$bin' " . join(' ', map { "'$_'" } @srcs)
            . " $aprlibs 2>&1";
    my $out = `$cmd`;
    return ($? == 0, "$cmd\n$out");
}

# Sanitizers when this compiler and its runtime have them, else plain.
my $san = '-fsanitize=address,undefined -fno-sanitize-recover=undefined '
        . '-fno-omit-frame-pointer';
my ($built, $log) = build($san);
my $sanitized = $built && `'$bin' --ping 2>&1` =~ /^pong$/m;
unless ($sanitized) {
    note('building the driver without sanitizers');
    ($built, $log) = build('');
}
ok($built, 'unit driver compiles warning-free (-Wall -Wextra -Werror)')
    or do { diag($log); done_testing(); exit 1 };
note($sanitized ? 'driver built with AddressSanitizer and UBSan' : 'no sanitizers');

my $out = `'$bin' 2>&1`;
my $rc  = $?;

sub tail { my @l = split /\n/, $_[0]; join("\n", @l > 30 ? @l[-30 .. -1] : @l) }

my ($n, $failed) = (0, 0);
for my $line (split /\n/, $out) {
    if ($line =~ /^(not )?ok - (.*)$/) {
        $failed = !ok(!$1, $2);
        $n++;
    }
    elsif ($line =~ /^# (.*)$/) {
        diag($1) if $failed;
    }
}
my ($done) = $out =~ /^done (\d+)$/m;
ok(defined $done && $done == $n, "driver ran to its end ($n checks)")
    or diag(tail($out));
is($rc, 0, 'driver exited 0: no failed check, crash or sanitizer report')
    or diag(join("\n", grep { !/^ok - / } split /\n/, $out));
cmp_ok($n, '>=', 150, 'the driver ran the whole catalogue of cases');

done_testing();
