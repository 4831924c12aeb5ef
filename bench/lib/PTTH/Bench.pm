package PTTH::Bench;

# Helpers shared by the benchmarks in bench/ (compare.pl, scale.pl): CPU
# ticks and memory of process trees from /proc, percentiles, the host's
# load average, httpd instances from configurations written here (not the
# test harness's: no access log, no vhost set, production log level),
# Go programs built in GOPATH mode like the tests' Go peers.  Process
# start/stop, free ports and h2load come from t/lib/PTTH/Test.pm.
#
# Licensed under the Apache License, Version 2.0.

use strict;
use warnings;
use Exporter 'import';
use POSIX ();
use File::Path qw(make_path);
use Time::HiRes qw(time sleep);
# Transfers a benchmark times go through curl, a client in a process of
# its own as users have, not the test harness's in-process client
# (PTTH::Client), whose CPU would count as the benchmark script's.
BEGIN { $ENV{PTTH_CURL} //= 1 }
use PTTH::Test ();

our @EXPORT_OK = qw(
    proc_ticks tree_ticks role_ticks ticks_to_us pss_kb status_kb
    percentile median minmax loadavg bench_httpd go_build_file tool_versions
    fmt_num all_children
);

my $CLK_TCK = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;

# Options for the test harness's router() and backend() that start a
# threaded MPM with every child at once (the harness starts one): a single
# event child with fewer idle threads than h2load has clients closes
# keep-alive connections to make room, and h2load --h1 gives up a client
# whose connection closes (thousands of "failed" requests in the first
# round).  Prefork keeps the harness's settings.
sub all_children {
    my ($mpm) = @_;
    return () if ($mpm // 'event') eq 'prefork';
    return (mpm_conf => { StartServers => 4, ServerLimit => 4 });
}

# utime+stime (and, with $reaped, cutime+cstime: children it has waited
# for) of one process in clock ticks, or undef when it is gone.
sub proc_ticks {
    my ($pid, $reaped) = @_;
    open(my $fh, '<', "/proc/$pid/stat") or return undef;
    my $l = <$fh>;
    close $fh;
    return undef unless defined $l && $l =~ /\)\s+(.*)$/s;
    my @f = split ' ', $1;   # $f[0] is field 3 (state)
    my $t = $f[11] + $f[12];
    $t += $f[13] + $f[14] if $reaped;
    return $t;
}

# Ticks of $pid and all its live descendants except those in %$skip.
# With $reaped, processes that exited and were reaped meanwhile still
# count (through their parent's cutime/cstime), so the figure is
# monotonic while the tree lives.
sub tree_ticks {
    my ($pid, $skip) = @_;
    $skip ||= {};
    my $t = proc_ticks($pid, 1) // 0;
    for my $p (PTTH::Test::descendants($pid)) {
        next if $skip->{$p};
        $t += proc_ticks($p, 1) // 0;
    }
    return $t;
}

# A snapshot of the ticks of every role: { name => [root pid, {skip}] }
# or { name => pid-list-code }.  Returns { name => ticks }.
sub role_ticks {
    my ($roles) = @_;
    my %t;
    for my $name (keys %$roles) {
        my $r = $roles->{$name};
        if (ref $r eq 'CODE') {
            my $sum = 0;
            $sum += proc_ticks($_, 1) // 0 for $r->();
            $t{$name} = $sum;
        }
        else {
            my ($pid, $skip) = @$r;
            $t{$name} = tree_ticks($pid, $skip ? $skip->() : {});
        }
    }
    return \%t;
}

sub ticks_to_us { $_[0] * 1e6 / $CLK_TCK }

# Proportional set size (kB) of one process (shared pages split between
# the processes that map them), or undef.
sub pss_kb {
    my ($pid) = @_;
    open(my $fh, '<', "/proc/$pid/smaps_rollup") or return undef;
    while (my $l = <$fh>) {
        if ($l =~ /^Pss:\s+(\d+)\s+kB/) {
            close $fh;
            return $1;
        }
    }
    close $fh;
    return undef;
}

sub status_kb { PTTH::Test::proc_kb(@_) }

# Nearest-rank percentile of a sorted array ref.
sub percentile {
    my ($sorted, $p) = @_;
    return undef unless @$sorted;
    my $i = int($p / 100 * @$sorted + 0.999999) - 1;
    $i = 0 if $i < 0;
    $i = $#$sorted if $i > $#$sorted;
    return $sorted->[$i];
}

sub median {
    my @s = sort { $a <=> $b } grep { defined } @_;
    return undef unless @s;
    return @s % 2 ? $s[$#s / 2] : ($s[@s / 2 - 1] + $s[@s / 2]) / 2;
}

sub minmax {
    my @s = sort { $a <=> $b } grep { defined } @_;
    return @s ? ($s[0], $s[-1]) : (undef, undef);
}

sub loadavg {
    open(my $fh, '<', '/proc/loadavg') or return '?';
    my $l = <$fh>;
    close $fh;
    my @f = split ' ', $l;
    return "@f[0 .. 2]";
}

sub fmt_num {
    my ($v, $fmt) = @_;
    return '-' unless defined $v;
    return sprintf($fmt // '%.0f', $v);
}

# An httpd instance with our own configuration text: a PTTH::Test::Httpd
# (so that start, stop by PID and the end-of-run cleanup are the
# harness's), whose httpd.conf is then replaced by $text.  In $text,
# @DIR@ is the instance's directory, @PORT@ its Listen port and @MPM@ the
# LoadModule line of the event MPM followed by the given MPM directives.
sub bench_httpd {
    my (%o) = @_;
    my $kind = $o{kind} || 'router';
    my $h = $kind eq 'router'
        ? PTTH::Test::router(name => $o{name}, port => $o{port}, tport => $o{tport})
        : PTTH::Test::backend(name => $o{name}, port => $o{port}, tport => 1);
    my $dir = $h->{dir};
    my $mpm = "LoadModule mpm_event_module $PTTH::Test::MODDIR/mod_mpm_event.so\n";
    for my $kv (@{ $o{mpm} || [] }) {
        $mpm .= "$kv->[0] $kv->[1]\n";
    }
    my $head = "# generated by bench/lib/PTTH/Bench.pm for $0\n"
        . "ServerRoot \"$dir\"\n"
        . "DefaultRuntimeDir \"$dir/run\"\n"
        . "PidFile \"$dir/run/httpd.pid\"\n"
        . "Mutex file:$dir/run default\n"
        . $mpm
        . "ErrorLog \"$h->{errlog}\"\n"
        . "Listen 127.0.0.1:$h->{port}\n";
    $head .= "User nobody\nGroup nogroup\n" if $> == 0;
    my $text = $o{text};
    $text =~ s/\@DIR\@/$dir/g;
    $text =~ s/\@PORT\@/$h->{port}/g;
    PTTH::Test::write_file($h->{conf}, $head . $text);
    return $h;
}

# Build a Go program (GOPATH mode against Debian's golang.org/x/net, as
# PTTH::Test::go_build does for t/go/) from an absolute source path.
# $cache is a GOCACHE kept across runs (the scratch dir is wiped).
# Returns (binary, undef) or (undef, reason).
sub go_build_file {
    my ($src, $bin, $cache) = @_;
    my $go = '';
    for my $d ((split /:/, $ENV{PATH} // ''), '/usr/lib/go/bin') {
        if (-x "$d/go") { $go = "$d/go"; last }
    }
    return (undef, 'go is not installed (apt-get install golang-go golang-golang-x-net-dev)')
        unless $go;
    return (undef, 'golang.org/x/net/http2 is missing (apt-get install golang-golang-x-net-dev)')
        unless -d '/usr/share/gocode/src/golang.org/x/net/http2';
    make_path($cache);
    local $ENV{GO111MODULE} = 'off';
    local $ENV{GOPATH} = '/usr/share/gocode';
    local $ENV{GOCACHE} = $cache;
    local $ENV{HOME} = $ENV{HOME} && -w $ENV{HOME} ? $ENV{HOME} : $cache;
    local $ENV{GOFLAGS} = '';
    local $ENV{CGO_ENABLED} = '0';
    my $out = `$go build -o '$bin' '$src' 2>&1`;
    return (undef, "go build $src failed: $out") if $? != 0 || !-x $bin;
    return ($bin, undef);
}

# Versions of what is measured, for the report header.
sub tool_versions {
    my %v;
    my $a = `$PTTH::Test::APACHE2 -v 2>/dev/null`;
    ($v{httpd}) = $a =~ m{Apache/(\S+)};
    my $h2 = `strings $PTTH::Test::MODDIR/mod_http2.so 2>/dev/null | grep -m1 -E '^2\\.[0-9]+\\.[0-9]+'`;
    chomp $h2;
    $v{mod_http2} = $h2 || undef;
    my $l = `h2load --version 2>/dev/null`;
    ($v{h2load}) = $l =~ /nghttp2\/(\S+)/;
    my ($ngx) = grep { -x } map { "$_/nghttpx" } (split /:/, $ENV{PATH} // ''), '/usr/sbin';
    my $n = $ngx ? `$ngx --version 2>/dev/null` : '';
    ($v{nghttpx}) = $n =~ /nghttp2\/(\S+)/;
    my $g = `go version 2>/dev/null`;
    ($v{go}) = $g =~ /(go\d\S*)/;
    my $root = PTTH::Test::ROOT();
    my $c = `git -C '$root' rev-parse --short HEAD 2>/dev/null`;
    chomp $c;
    $v{commit} = $c || undef;
    my $dirty = `git -C '$root' status --porcelain --untracked-files=no 2>/dev/null`;
    $v{commit} .= '+dirty' if $v{commit} && length $dirty;
    # Outside a git checkout (a release tarball): the version it says.
    if (!$v{commit} && open(my $fh, '<', "$root/include/ptth_version.h")) {
        while (<$fh>) { $v{commit} = $1 if /^#define MOD_PTTH_VERSION "([^"]+)"/ }
        close $fh;
    }
    $v{cpus} = `nproc` + 0;
    return \%v;
}

1;
