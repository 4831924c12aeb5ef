# The Debian package: `make deb` builds libapache2-mod-ptth, dpkg -i
# installs it into the machine's apache2 layout, `a2enmod ptth_router` and
# `a2enmod ptth_backend` enable the modules (and, through the "# Depends:"
# lines of their .load files, mod_proxy and mod_http2), and
# `apache2ctl configtest` passes with the shipped .conf files, with their
# defaults uncommented, and with a site that uses both modules.  Then the
# package is purged and the machine is put back as it was: the links in
# /etc/apache2/*-enabled, a2enmod's state in /var/lib/apache2, the run
# directories that apache2ctl creates.
#
# Installing needs root, and the harness (t/lib/PTTH/Test.pm) refuses root,
# so this file stands alone.  build/run-tests.sh, when started as root,
# runs it as root beside the unprivileged suite (and tells that suite's
# copy to skip).  Run by a user with password-less sudo, it re-runs itself
# through sudo; otherwise it skips.  It never starts an httpd: only
# configtest (`apache2ctl configtest`, `-M`, `-t`).  A policy-rc.d that
# forbids service starts is in place while the package is installed.
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use Cwd qw(abs_path);
use FindBin;
use Fcntl qw(:flock);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use Test::More;

my $ROOT = abs_path("$FindBin::Bin/..");
my $PKG = 'libapache2-mod-ptth';
my %MOD = (ptth_router => { dep => 'proxy', id => 'ptth_router_module' },
           ptth_backend => { dep => 'http2', id => 'ptth_backend_module' });
my $ETC = '/etc/apache2';
my $STATE = '/var/lib/apache2';
my $POLICY = '/usr/sbin/policy-rc.d';
my $LOCK = '/run/lock/ptth-debian-package-test.lock';
# Left while the package is installed: a later run purges a package that
# an interrupted run left behind, and only such a package.
my $MARKER = '/var/lib/ptth-tests/debian-package.installed';
my @PKG_FILES = ("/usr/lib/apache2/modules/mod_ptth_router.so",
                 "/usr/lib/apache2/modules/mod_ptth_backend.so",
                 map { ("$ETC/mods-available/$_.load", "$ETC/mods-available/$_.conf") }
                     sort keys %MOD);
my $SITE = 'ptth-pkgtest';

plan skip_all => 'run as root beside this suite by build/run-tests.sh, which '
               . 'prints its result after the suite'
    if $ENV{PTTH_DEB_TEST_AS_ROOT};

# Not root but password-less sudo: the whole file runs again as root,
# before it has printed any TAP (the new process numbers from 1).
if ($> != 0 && !$ENV{PTTH_DEB_TEST_NO_SUDO}
    && !system('sudo -n true >/dev/null 2>&1')) {
    exec('sudo', '-n', 'env', 'PTTH_DEB_TEST_NO_SUDO=1', $^X, $0)
        or die "exec sudo: $!";
}

# ------------------------------------------------ checks without root
# These hold for the packaging files in the tree, whoever runs the test.

sub slurp { my ($f) = @_; open(my $fh, '<', $f) or return undef; local $/; my $s = <$fh>; return $s }

{
    my $cl = slurp("$ROOT/build/debian/changelog") // '';
    my ($pkgver) = $cl =~ /^\Q$PKG\E \(([^)]+)\)/;
    my ($modver) = (slurp("$ROOT/include/ptth_version.h") // '') =~ /MOD_PTTH_VERSION\s+"([^"]+)"/;
    ok(defined $modver, 'include/ptth_version.h defines MOD_PTTH_VERSION');
    is($pkgver, $modver, 'build/debian/changelog has the modules\' version');

    my $a2 = slurp("$ROOT/build/debian/$PKG.apache2") // '';
    for my $m (sort keys %MOD) {
        (my $dir = $m) =~ s/^ptth_/mod_ptth_/;
        like($a2, qr{^mod \Q$dir/.libs/$dir.so\E$}m, "$PKG.apache2 installs $dir.so");
        like($a2, qr{^mod debian/\Q$m\E\.load$}m, "$PKG.apache2 installs $m.load");
        like($a2, qr{^mod debian/\Q$m\E\.conf$}m, "$PKG.apache2 installs $m.conf");
        my $load = slurp("$ROOT/build/debian/$m.load") // '';
        # a2enmod reads "# Depends:" only above the first directive.
        like($load, qr{\A# Depends: \Q$MOD{$m}{dep}\E\n}, "$m.load: first line # Depends: $MOD{$m}{dep}");
        like($load, qr{^LoadModule \Q$MOD{$m}{id}\E /usr/lib/apache2/modules/\Q$dir\E\.so$}m,
             "$m.load loads $MOD{$m}{id}");
        my ($decl) = (slurp("$ROOT/$dir/$dir.c") // '') =~ /AP_DECLARE_MODULE\((\w+)\)/;
        is(($decl // '?') . '_module', $MOD{$m}{id}, "$dir.c declares $MOD{$m}{id}");
    }
}

# ------------------------------------------------ root: who runs the rest

if ($> != 0) {
    SKIP: { skip('installing a package needs root (run `make test` as root, '
                 . 'or give this user password-less sudo)', 1) }
    done_testing();
    exit 0;
}

sub run {   # run a command, return (exit status, stdout+stderr)
    my (@cmd) = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) {
        open(STDERR, '>&', \*STDOUT);
        open(STDIN, '<', '/dev/null');
        exec(@cmd) or do { print "exec @cmd: $!\n"; POSIX::_exit(127) };
    }
    local $/;
    my $out = <$fh> // '';
    close($fh);
    return ($? >> 8, $out);
}

sub need_tools {
    for my $t (qw(dpkg-buildpackage dh dh_apache2 dpkg a2enmod a2dismod a2ensite
                  a2dissite a2query apache2ctl make)) {
        return $t if system("command -v $t >/dev/null 2>&1");
    }
    return undef;
}

# apache2ctl creates its run and lock directories (so may the package's
# maintainer scripts, through apache2ctl configtest): note which exist
# before this file runs apache2ctl at all.
my @RUNDIRS = ('/var/run/apache2', '/var/lock/apache2');
my %RUNDIRS_BEFORE = map { $_ => (-e $_ ? 1 : 0) } @RUNDIRS;
sub remove_new_rundirs { for (@RUNDIRS) { remove_tree($_) if -d $_ && !$RUNDIRS_BEFORE{$_} } }

my $skip;
if (my $t = need_tools()) {
    $skip = "$t is missing: `make deps` (build/install-deps.sh) installs it";
}

# One run at a time on a machine: several worktrees may run the suite.
my $lock_fh;
if (!$skip) {
    open($lock_fh, '>', $LOCK) or BAIL_OUT("open $LOCK: $!");
    my $until = time + 600;
    until (flock($lock_fh, LOCK_EX | LOCK_NB)) {
        if (time > $until) { $skip = "another run of this test holds $LOCK for 600 s"; last }
        sleep 0.5;
    }
}

sub pkg_status {
    my ($rc, $out) = run('dpkg-query', '-W', '-f=${Status}', $PKG);
    return $rc == 0 ? $out : 'not-installed';
}

sub pkg_present { pkg_status() !~ /not-installed$/ }

sub dpkg {   # dpkg may find its lock held by an apt-get of another run
    my (@args) = @_;
    my $until = time + 120;
    while (1) {
        my ($rc, $out) = run('dpkg', @args);
        return ($rc, $out) if $rc == 0 || $out !~ /lock/i || time > $until;
        sleep 1;
    }
}

if (!$skip && pkg_present()) {
    if (-e $MARKER) {
        diag("$PKG was left installed by an interrupted run of this test: purging it");
        my ($rc, $out) = run('a2dismod', '-q', '-f', sort keys %MOD);
        ($rc, $out) = dpkg('--purge', $PKG);
        diag($out) if $rc;
        unlink($MARKER);
    }
    else {
        $skip = "$PKG is installed on this machine (" . pkg_status()
              . "); this test installs and purges its own build, so it leaves it alone";
    }
}
if (!$skip) {
    for my $f (@PKG_FILES) {
        next unless -e $f;
        $skip = "$f exists and no package owns it (make install?); not overwriting it";
        last;
    }
}
if (!$skip && -e $POLICY) {
    # The package's scripts may ask invoke-rc.d to restart apache2.
    my ($rc) = run($POLICY, 'apache2', 'restart');
    $skip = "$POLICY allows starting apache2 (exit $rc, not 101): installing the "
          . "package could start the system's httpd" if $rc != 101;
}
if (!$skip) {
    my ($rc, $out) = run('apache2ctl', 'configtest');
    $skip = "this machine's apache2 configuration fails configtest already:\n$out" if $rc;
    remove_new_rundirs();
}
if ($skip) {
    SKIP: { skip($skip, 1) }
    done_testing();
    exit 0;
}

# ------------------------------------------------ the machine before

# What this test can change, and only that (the machine is shared: other
# runs may enable or disable other things meanwhile): the links and
# a2enmod/a2ensite state markers of the two modules, their dependencies
# and the test site, the directories the markers live in, policy-rc.d,
# the package's files.
my %NAMES = map { $_ => 1 } (keys %MOD, (map { $_->{dep} } values %MOD), $SITE);

sub snapshot {
    my %s;
    for my $d (map { "$ETC/$_" } qw(mods-enabled sites-enabled)) {
        opendir(my $dh, $d) or next;
        for my $e (grep { /^(.+)\.(load|conf)$/ && $NAMES{$1} } readdir($dh)) {
            my $p = "$d/$e";
            $s{$p} = -l $p ? 'link:' . readlink($p) : 'file';
        }
    }
    if (-d $STATE) {
        my ($rc, $out) = run('find', $STATE, '-mindepth', '1');
        for my $p (split /\n/, $out) {
            if (-d $p) { $s{$p} = 'dir' }
            elsif ($NAMES{$p =~ s{.*/}{}r}) { $s{$p} = 'file' }
        }
    }
    for my $d ($POLICY, "$ETC/sites-available/$SITE.conf", @PKG_FILES) {
        $s{$d} = 'exists' if -e $d;
    }
    return \%s;
}

sub root_httpds {   # pids of httpds running as root
    my @p;
    for my $pid (grep { /^\d+$/ } map { s{^/proc/}{}r } glob('/proc/[0-9]*')) {
        my $exe = readlink("/proc/$pid/exe") // next;
        next unless $exe =~ m{/(apache2|httpd)$};
        my @st = stat("/proc/$pid") or next;
        push @p, $pid if $st[4] == 0;
    }
    return join(',', sort { $a <=> $b } @p);
}

my $before = snapshot();
my $httpds_before = root_httpds();
my $tmp = tempdir('ptth-deb-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $own_policy = 0;
my $restored = 0;

# Put back every link, state marker and directory that differs from the
# snapshot (a2enmod left the dependencies enabled and wrote markers; the
# purge removed the package's own files).
sub restore {
    return if $restored++;
    run('a2dissite', '-q', $SITE) if -l "$ETC/sites-enabled/$SITE.conf";
    unlink("$ETC/sites-available/$SITE.conf") unless $before->{"$ETC/sites-available/$SITE.conf"};
    if (pkg_present()) {
        run('a2dismod', '-q', '-f', sort keys %MOD);
        my ($rc, $out) = dpkg('--purge', $PKG);
        diag("dpkg --purge: $out") if $rc;
    }
    unlink($MARKER);
    rmdir('/var/lib/ptth-tests');
    my $now = snapshot();
    # Deepest paths first, so that directories are empty when removed.
    for my $p (sort { length($b) <=> length($a) } keys %$now) {
        next if exists $before->{$p};
        if (-l $p || -f $p) { unlink($p) }
        elsif (-d $p) { rmdir($p) }   # only if empty: not ours otherwise
    }
    for my $p (sort { length($a) <=> length($b) } keys %$before) {
        next if exists $now->{$p};
        my $v = $before->{$p};
        if ($v =~ /^link:(.*)$/) { symlink($1, $p) }
        elsif ($v eq 'dir') { make_path($p) }
        elsif ($v eq 'file' && $p =~ m{^\Q$STATE\E/}) {
            make_path($p =~ s{/[^/]+$}{}r);
            open(my $fh, '>', $p);
        }
    }
    unlink($POLICY) if $own_policy;
    remove_new_rundirs();
}
END { restore() if $before && !$restored }
$SIG{$_} = sub { restore(); exit 1 } for qw(INT TERM HUP);

# The package's scripts may ask invoke-rc.d to restart apache2: forbid it
# (exit 101 = action forbidden), as build/install-deps.sh does.
if (!-e $POLICY) {
    open(my $fh, '>', $POLICY) or BAIL_OUT("write $POLICY: $!");
    print $fh "#!/bin/sh\n# written by t/95-debian-package.t while it runs\nexit 101\n";
    close($fh);
    chmod(0755, $POLICY);
    $own_policy = 1;
    pass("$POLICY written for the test's duration");
}

# ------------------------------------------------ build

# DEB_REUSE_BUILD=1: the package's build starts from this tree's objects
# (`make test` built them with the same flags just before), so the Makefile
# in the package tree compiles only what is out of date there.  What this
# file tests is the packaging (debian/rules, dh_apache2, the .load/.conf
# files, install and purge); t/00-build.t tests the compile, and a plain
# `make deb` still builds from clean sources.
my $t0 = time;
my ($rc, $out) = run('make', '-s', '-C', $ROOT, 'deb', "DEB_DIR=$tmp/deb",
                     'DEB_REUSE_BUILD=' . ($ENV{PTTH_DEB_CLEAN_BUILD} ? 0 : 1));
is($rc, 0, sprintf('make deb (%.0f s)', time - $t0)) or diag($out);
my ($deb) = grep { !/-dbgsym_/ } glob("$tmp/deb/${PKG}_*.deb");
ok($deb && -f $deb, "make deb leaves the package in DEB_DIR: " . ($deb // 'none'))
    or BAIL_OUT("no package built:\n$out");
like($out, qr/\Q$deb\E/, 'make deb names the package it built');

($rc, $out) = run('dpkg-deb', '-c', $deb);
for my $f (@PKG_FILES, "/usr/share/doc/$PKG/copyright",
           "/usr/share/doc/$PKG/mod_ptth_router.md.gz",
           "/usr/share/doc/$PKG/mod_ptth_backend.md.gz") {
    like($out, qr{ \.\Q$f\E$}m, "package ships $f");
}
($rc, $out) = run('dpkg-deb', '-f', $deb, 'Depends');
chomp($out);
like($out, qr/apache2-api-\d+/, "package depends on the apache2 module ABI: $out");
# --noenable: installing enables nothing; the admin picks a module.
($rc, $out) = run('dpkg-deb', '-I', $deb, 'postinst');
unlike($out, qr/enmod/, 'installing does not enable a module');

# ------------------------------------------------ install, enable, configtest

make_path('/var/lib/ptth-tests');
{ open(my $fh, '>', $MARKER) or BAIL_OUT("write $MARKER: $!"); print $fh "$$\n" }
($rc, $out) = dpkg('-i', $deb);
is($rc, 0, 'dpkg -i') or diag($out);
like(pkg_status(), qr/install ok installed/, "$PKG is installed");
ok(-f $_, "installed: $_") for @PKG_FILES;
for my $m (sort keys %MOD) {
    ok(!-e "$ETC/mods-enabled/$m.load", "$m is not enabled by the installation");
}

for my $m (sort keys %MOD) {
    ($rc, $out) = run('a2enmod', $m);
    is($rc, 0, "a2enmod $m") or diag($out);
    ok(-l "$ETC/mods-enabled/$m.load" && -l "$ETC/mods-enabled/$m.conf",
       "$m.load and $m.conf are enabled");
    ok(-e "$ETC/mods-enabled/$MOD{$m}{dep}.load",
       "a2enmod $m enabled its dependency $MOD{$m}{dep}");
}

($rc, $out) = run('apache2ctl', 'configtest');
is($rc, 0, 'apache2ctl configtest with both modules and the shipped .conf files') or diag($out);
like($out, qr/Syntax OK/, 'Syntax OK');

($rc, $out) = run('apache2ctl', '-M');
is($rc, 0, 'apache2ctl -M') or diag($out);
for my $id ((map { $_->{id} } values %MOD), 'proxy_module', 'http2_module') {
    like($out, qr/^\s*\Q$id\E \(shared\)$/m, "$id is loaded");
}

# The shipped defaults, uncommented, are accepted by the installed modules
# (the lines inside the commented <PTTHPool> example need a TLS listener
# and files, so only the top-level lines count).
my $defaults = '';
for my $m (sort keys %MOD) {
    my $in_pool = 0;
    for (split /\n/, slurp("$ETC/mods-available/$m.conf") // '') {
        $in_pool = 1 if /^\s*#\s*<PTTHPool/;
        if (!$in_pool && /^\s*#(PTTH\w+\s.*)$/) { $defaults .= "$1\n" }
        $in_pool = 0 if /^\s*#\s*<\/PTTHPool>/;
    }
}
my $n_defaults = () = $defaults =~ /\n/g;
ok($n_defaults >= 12, "found $n_defaults commented directives in the shipped .conf files");
open(my $dfh, '>', "$tmp/defaults.conf") or die;
print $dfh $defaults;
close($dfh);
($rc, $out) = run('apache2ctl', '-t', '-c', "Include $tmp/defaults.conf");
is($rc, 0, 'configtest with the shipped .conf lines uncommented') or diag("$out\n$defaults");

# A site that uses both modules, as a relay would: a tunnel listener on
# loopback with a ProxyPass to its pool, and a backend dialing it.
open(my $sfh, '>', "$ETC/sites-available/$SITE.conf") or die;
print $sfh <<'EOC';
# Written by t/95-debian-package.t; removed at its end.
PTTHListen 127.0.0.1:18887 plain=pkgtest
PTTHConnect tcp://127.0.0.1:18887 tunnels=1
<VirtualHost 127.0.0.1:18880>
    ServerName pkgtest.invalid
    ProxyPass        /  ptth://pkgtest/
    ProxyPassReverse /  ptth://pkgtest/
</VirtualHost>
EOC
close($sfh);
($rc, $out) = run('a2ensite', $SITE);
is($rc, 0, "a2ensite $SITE") or diag($out);
($rc, $out) = run('apache2ctl', 'configtest');
is($rc, 0, 'configtest with a site that has a PTTHListen, a ProxyPass ptth:// and a PTTHConnect')
    or diag($out);

# The installed modules check their directives (configtest would pass
# with an IfModule that never matched, or with modules that ignored them).
($rc, $out) = run('apache2ctl', '-t', '-c', 'PTTHWaitTimeout forever');
isnt($rc, 0, 'a bad PTTHWaitTimeout fails configtest');
like($out, qr/PTTHWaitTimeout/, 'and the message names PTTHWaitTimeout');
($rc, $out) = run('apache2ctl', '-t', '-c', 'ProxyPass /x/ ptth://nopool/');
isnt($rc, 0, 'a ProxyPass to an unknown pool fails configtest');
like($out, qr/nopool/, 'and the message names the pool');

# ------------------------------------------------ disable, purge, restore

for my $m (sort keys %MOD) {
    ($rc, $out) = run('a2dismod', '-q', $m);
    is($rc, 0, "a2dismod $m") or diag($out);
}
($rc, $out) = dpkg('--purge', $PKG);
is($rc, 0, 'dpkg --purge') or diag($out);
like(pkg_status(), qr/^(not-installed|unknown ok not-installed)$/, "$PKG is gone");
ok(!-e $_, "removed: $_") for @PKG_FILES;

restore();
my $after = snapshot();
# Marker directories do not count: others' markers may live in them.
my @diff = grep { ($before->{$_} // '') ne ($after->{$_} // '')
                  && ($before->{$_} // '') ne 'dir' && ($after->{$_} // '') ne 'dir' }
           sort(keys %{{ %$before, %$after }});
my @rundirs = grep { (-e $_ ? 1 : 0) != $RUNDIRS_BEFORE{$_} } @RUNDIRS;
is_deeply([@diff, @rundirs], [], 'links in /etc/apache2/*-enabled, a2enmod state, run '
                                 . 'directories and policy-rc.d are as before')
    or diag(join("\n", map { "$_: " . ($before->{$_} // 'absent') . ' -> '
                                     . ($after->{$_} // 'absent') } @diff));
is(root_httpds(), $httpds_before, 'no httpd was started as root');
($rc, $out) = run('apache2ctl', 'configtest');
is($rc, 0, "apache2 configuration passes configtest as before") or diag($out);
remove_new_rundirs();

done_testing();
