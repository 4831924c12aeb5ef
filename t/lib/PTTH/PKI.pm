package PTTH::PKI;
# Test certificates made with the openssl command line: a CA, the router's
# server certificate (router.test, 127.0.0.1), client certificates for
# backends (one trusted, one from another CA, one expired).  Keys are ECDSA
# P-256: an RSA key costs 0.1-0.2 s of CPU to make and a millisecond per
# TLS handshake to sign with, and the product does not care which.
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use File::Path qw(make_path);
use File::Copy qw(copy);
use File::Basename qw(basename);
use Fcntl qw(:flock);
use POSIX ();
use Exporter 'import';
our @EXPORT_OK = qw(make_pki make_client_cert);

sub run {
    my ($dir, @cmd) = @_;
    my $out = `cd '$dir' && @cmd 2>&1`;
    die "@cmd failed:\n$out" if $?;
    return $out;
}

sub write_ext {
    my ($path, $text) = @_;
    open(my $fh, '>', $path) or die "$path: $!";
    print $fh $text;
    close $fh;
}

sub ca {
    my ($dir, $name) = @_;
    run($dir, "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj '/CN=$name'"
            . " -keyout $name.key -out $name.crt");
}

sub leaf {
    my ($dir, $ca, $name, $cn, $san, $extra) = @_;
    write_ext("$dir/$name.ext", "subjectAltName=$san\n"
              . "basicConstraints=CA:FALSE\n");
    run($dir, "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN=$cn'"
            . " -keyout $name.key -out $name.csr");
    run($dir, "openssl x509 -req -in $name.csr -CA $ca.crt -CAkey $ca.key"
            . " -CAcreateserial -days 30 -extfile $name.ext -out $name.crt"
            . ($extra // ''));
}

# Returns a hash of file paths.  The test files of a run share one PKI:
# it is made once, under a lock, in $PTTH_TEST_TMP/.pki, and copied into
# $dir.
sub make_pki {
    my ($dir) = @_;
    make_path($dir);
    return _paths($dir) if -s "$dir/expired.crt";
    my $root = $ENV{PTTH_TEST_TMP};
    return generate($dir) unless $root && -d $root;
    my $shared = "$root/.pki";
    make_path($shared);
    open(my $lock, '>>', "$root/.pki.lock") or die "$root/.pki.lock: $!";
    my $until = time + 300;     # bounded: another file may be making it
    until (flock($lock, LOCK_EX | LOCK_NB)) {
        die "make_pki: $root/.pki.lock held for 300 s\n" if time > $until;
        select(undef, undef, undef, 0.1);
    }
    generate($shared) unless -s "$shared/expired.crt";
    close $lock;
    for my $f (glob("$shared/*.crt"), glob("$shared/*.key")) {
        copy($f, "$dir/" . basename($f)) or die "copy $f: $!";
    }
    chmod 0644, glob("$dir/*.key");
    return _paths($dir);
}

sub generate {
    my ($dir) = @_;
    make_path($dir);
    ca($dir, 'ca');
    ca($dir, 'otherca');
    leaf($dir, 'ca', 'router', 'router.test', 'DNS:router.test,IP:127.0.0.1');
    leaf($dir, 'ca', 'backend1', 'backend1.example', 'DNS:backend1.example');
    leaf($dir, 'ca', 'backend2', 'backend2.example', 'DNS:backend2.example');
    leaf($dir, 'otherca', 'rogue', 'backend1.example', 'DNS:backend1.example');
    # An expired certificate: openssl ca can set dates in the past.
    make_path("$dir/db");
    write_ext("$dir/db/index.txt", '');
    write_ext("$dir/db/serial", "1000\n");
    write_ext("$dir/ca.cnf", <<"EOC");
[ ca ]
default_ca = d
[ d ]
database = $dir/db/index.txt
serial = $dir/db/serial
new_certs_dir = $dir/db
default_md = sha256
policy = p
copy_extensions = copy
[ p ]
commonName = supplied
EOC
    run($dir, "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN=backend1.example'"
            . " -keyout expired.key -out expired.csr");
    run($dir, "openssl ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key"
            . " -startdate 20200101000000Z -enddate 20200201000000Z"
            . " -in expired.csr -out expired.crt");
    chmod 0644, glob("$dir/*.key");
    return _paths($dir);
}

# A client certificate signed by the CA of make_pki($dir), whose CN is $cn
# taken byte for byte (no shell: any character; the router takes printable
# names without spaces).  Returns (crt, key).
sub make_client_cert {
    my ($dir, $name, $cn) = @_;
    write_ext("$dir/$name.ext", "basicConstraints=CA:FALSE\n");
    (my $esc = $cn) =~ s{([\\/])}{\\$1}g;    # -subj escapes \ and /
    my $subj = "/CN=$esc";
    for my $cmd (['openssl', 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', $subj,
                  '-keyout', "$dir/$name.key", '-out', "$dir/$name.csr"],
                 ['openssl', 'x509', '-req', '-in', "$dir/$name.csr", '-CA', "$dir/ca.crt",
                  '-CAkey', "$dir/ca.key", '-CAcreateserial', '-days', '30',
                  '-extfile', "$dir/$name.ext", '-out', "$dir/$name.crt"]) {
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if (!$pid) {
            open(STDOUT, '>', '/dev/null');
            open(STDERR, '>', '/dev/null');
            exec(@$cmd) or POSIX::_exit(127);
        }
        waitpid($pid, 0);
        die "@$cmd failed" if $?;
    }
    chmod 0644, "$dir/$name.key";
    return ("$dir/$name.crt", "$dir/$name.key");
}

sub _paths {
    my ($dir) = @_;
    my %p;
    for my $n (qw(ca otherca router backend1 backend2 rogue expired)) {
        $p{"${n}_crt"} = "$dir/$n.crt";
        $p{"${n}_key"} = "$dir/$n.key";
    }
    return \%p;
}

1;
