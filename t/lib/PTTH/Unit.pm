package PTTH::Unit;

# Runs a C unit driver of t/unit/ without httpd: compiles it with the
# sources it tests against APR into the test's scratch directory (with
# AddressSanitizer and UBSan when the compiler has them), runs it, and
# reports each of its "ok - " / "not ok - " lines as a test.  A driver
# prints "done N" at its end and exits 0 when every check passed; it
# answers "--ping" with "pong" (how the sanitizer runtime is probed).
#
# Licensed under the Apache License, Version 2.0.

use strict;
use warnings;
use Exporter 'import';
use FindBin;
use Cwd qw(abs_path);
use File::Path qw(make_path remove_tree);
use Test::More;

our @EXPORT = qw(run_unit_driver);

sub in_path {
    my ($cmd) = @_;
    return $cmd if $cmd =~ m{/} && -x $cmd;
    for my $d (split /:/, $ENV{PATH} || '') {
        return "$d/$cmd" if -x "$d/$cmd";
    }
    return undef;
}

# run_unit_driver(name => 'handshake_unit', srcs => [...relative to the
# repository...], incs => [...], min_checks => N)
sub run_unit_driver {
    my (%o) = @_;
    my $root = abs_path("$FindBin::Bin/..");
    my $test = $0 =~ m{([^/]+)\.t$} ? $1 : $o{name};
    my $tmp = ($ENV{PTTH_TEST_TMP} || "$root/t/tmp") . "/$test";

    my ($cc) = grep { defined } map { in_path($_) }
        grep { defined && length } ($ENV{CC}, 'cc', 'gcc', 'clang');
    plan skip_all => 'no C compiler (cc, gcc or clang) in PATH' unless $cc;
    remove_tree($tmp) if -d $tmp;
    make_path($tmp);

    my $aprconf = in_path('apr-1-config');
    unless ($aprconf) {
        fail('apr-1-config found (Debian package libapr1-dev; `make deps` installs it)');
        done_testing();
        exit 1;
    }
    my $aprflags = `'$aprconf' --cflags --cppflags --includes`;
    my $aprlibs  = `'$aprconf' --link-ld`;
    chomp($aprflags, $aprlibs);

    my $bin  = "$tmp/$o{name}";
    my @srcs = map { "$root/$_" } ("t/unit/$o{name}.c", @{ $o{srcs} || [] });
    my $incs = join ' ', map { "-I'$root/$_'" } ('include', @{ $o{incs} || [] });
    # -O0: the driver runs for a fraction of a second, its compile with the
    # sanitizers is what costs (the modules' own build, -O2, has the
    # optimiser's warnings).
    my $base = "'$cc' -std=gnu11 -g -O0 -Wall -Wextra -Werror $incs $aprflags";

    local $ENV{ASAN_OPTIONS}  = 'detect_leaks=0:abort_on_error=0:exitcode=66';
    local $ENV{UBSAN_OPTIONS} = 'print_stacktrace=1:halt_on_error=1:exitcode=67';

    my $build = sub {
        my ($extra) = @_;
        my $cmd = "$base $extra -o '$bin' " . join(' ', map { "'$_'" } @srcs)
                . " $aprlibs 2>&1";
        my $out = `$cmd`;
        return ($? == 0, "$cmd\n$out");
    };
    # Sanitizers when this compiler and its runtime have them, else plain.
    my $san = '-fsanitize=address,undefined -fno-sanitize-recover=undefined '
            . '-fno-omit-frame-pointer';
    my ($built, $log) = $build->($san);
    my $sanitized = $built && `'$bin' --ping 2>&1` =~ /^pong$/m;
    unless ($sanitized) {
        note('building the driver without sanitizers');
        ($built, $log) = $build->('');
    }
    ok($built, "$o{name} compiles warning-free (-Wall -Wextra -Werror)")
        or do { diag($log); done_testing(); exit 1 };
    note($sanitized ? 'driver built with AddressSanitizer and UBSan' : 'no sanitizers');

    my $out = `'$bin' 2>&1`;
    my $rc  = $?;
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
    my @l = split /\n/, $out;
    my ($done) = $out =~ /^done (\d+)$/m;
    ok(defined $done && $done == $n, "driver ran to its end ($n checks)")
        or diag(join("\n", @l > 30 ? @l[-30 .. -1] : @l));
    is($rc, 0, 'driver exited 0: no failed check, crash or sanitizer report')
        or diag(join("\n", grep { !/^ok - / } @l));
    cmp_ok($n, '>=', $o{min_checks} || 1, 'the driver ran the whole catalogue of cases');
    done_testing();
}

1;
