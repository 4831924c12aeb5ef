# Bodies stream through the tunnel intact in both directions: a 10 MB
# response, a 10 MB upload (Content-Length), a chunked 10 MB upload, an
# empty POST, and three 10 MB downloads at once (multiplexed streams).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use PTTH::Test;

my ($big, $big_sha) = big_file('big.bin', 10 * 1024 * 1024);
my ($odd, $odd_sha) = big_file('odd.bin', 3 * 1024 * 1024 + 12345);

my $r = router();
$r->start or give_up('router does not start');
my $b = backend(tport => $r->{tport});
$b->start or give_up('backend does not start');
ok(defined wait_for_tunnel($r), 'tunnel up') or give_up('no tunnel');

my $res = http(port => $r->{port}, host => 'a.example', path => '/big/big.bin',
               sha => 1, max_time => 60);
is($res->{status}, 200, '10 MB GET: 200');
is($res->{size}, 10 * 1024 * 1024, '10 MB GET: size');
is($res->{sha256}, $big_sha, '10 MB GET: sha256 matches');

$res = http(port => $r->{port}, host => 'a.example', path => '/big/odd.bin',
            sha => 1, max_time => 60);
is($res->{sha256}, $odd_sha, 'odd-sized (3 MB + 12345) GET: sha256 matches');

$res = http(port => $r->{port}, host => 'a.example', path => '/big/big.bin',
            method => 'HEAD');
is($res->{headers}{'content-length'}, 10 * 1024 * 1024, 'HEAD: Content-Length of the 10 MB file');

$res = http(port => $r->{port}, host => 'a.example', path => '/cgi-bin/sha.cgi',
            data_file => $big, max_time => 60);
my $e = parse_env($res->{body});
is($res->{status}, 200, '10 MB POST: 200');
is($e->{length}, 10 * 1024 * 1024, '10 MB POST: backend read 10 MB');
is($e->{sha256}, $big_sha, '10 MB POST: sha256 at the backend matches');

$res = http(port => $r->{port}, host => 'a.example', path => '/cgi-bin/sha.cgi',
            data_file => $big, chunked => 1, max_time => 60);
$e = parse_env($res->{body});
is($res->{status}, 200, 'chunked 10 MB POST: 200');
is($e->{length}, 10 * 1024 * 1024, 'chunked 10 MB POST: backend read 10 MB');
is($e->{sha256}, $big_sha, 'chunked 10 MB POST: sha256 matches');

$res = http(port => $r->{port}, host => 'a.example', path => '/cgi-bin/sha.cgi',
            data_file => $odd, chunked => 1, max_time => 60);
is(parse_env($res->{body})->{sha256}, $odd_sha, 'chunked odd-sized POST: sha256 matches');

my $empty = write_file(TMP . '/empty.bin', '');
$res = http(port => $r->{port}, host => 'a.example', path => '/cgi-bin/sha.cgi',
            data_file => $empty);
$e = parse_env($res->{body});
is($res->{status}, 200, 'empty POST: 200');
is($e->{length}, 0, 'empty POST: length 0');

my $small = write_file(TMP . '/small.txt', "hello\n");
$res = http(port => $r->{port}, host => 'b.example', path => '/cgi-bin/sha.cgi',
            data_file => $small);
is(parse_env($res->{body})->{sha256}, sha256_str("hello\n"), 'small POST: sha256 matches');

my @res = http_parallel(map { { port => $r->{port}, host => 'a.example',
                                path => "/big/big.bin?$_", sha => 1,
                                max_time => 60 } } 1 .. 3);
is(scalar(grep { $_->{status} == 200 && ($_->{sha256} // '') eq $big_sha } @res), 3,
   'three 10 MB GETs at once: all intact');

@res = http_parallel(map { { port => $r->{port}, host => 'a.example',
                             path => "/cgi-bin/sha.cgi?$_", data_file => $big,
                             max_time => 60 } } 1 .. 3);
is(scalar(grep { $_->{status} == 200 && parse_env($_->{body})->{sha256} eq $big_sha } @res), 3,
   'three 10 MB POSTs at once: all intact');

finish();
