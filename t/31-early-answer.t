# A backend that answers before it has read the request body (RFC 9113
# 8.1): the user gets the whole response at once and the upload ends
# there.  Over HTTP/1.1 the router closes the connection after the
# response (the rest of the body is not worth reading); over HTTP/2 it
# ends the user's stream with RST_STREAM(NO_ERROR) after the response, as
# for a local handler.  The hub drops what the child still sends, resets
# the backend's stream and keeps no link (window games, 125-hostile-windows).
#
# nghttp is the HTTP/2 client here: curl 7.88 sometimes keeps waiting for
# its own time limit after a complete response and RST_STREAM(NO_ERROR)
# when it had resumed uploading (it does the same against any server).
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use PTTH::Test;

my $r = router(modules => ['http2'], extra => ['Protocols h2c http/1.1']);
$r->start or give_up('router does not start');
my $b = backend(tport => $r->{tport});
$b->start or give_up('backend does not start');
ok(defined wait_for_tunnel($r), 'tunnel up') or give_up('no tunnel');

my %body = (small => 100 * 1024, large => 8 * 1024 * 1024);
for my $size (sort keys %body) {
    my ($path) = big_file("up-$size.bin", $body{$size});
    my ($slow, $ok, $rst) = (0, 0, 0);
    for my $i (1 .. 10) {
        my $t0 = time;
        my $out = `timeout 10 nghttp -v -H ':method: POST' -d '$path' -H 'host: a.example' http://127.0.0.1:$r->{port}/index.html?i=$i 2>&1`;
        my $dt = time - $t0;
        # A hang lasts until `timeout 10`; 6 s tells the two apart even on
        # a loaded machine (3 s failed at a load average of 14 on 2 cores).
        $slow++ if $dt > 6;
        $ok++ if $out =~ /:status: 200/ && $out =~ /END_STREAM/;
        $rst++ if $out =~ /recv RST_STREAM.*\n.*error_code=NO_ERROR/ || $out =~ /RST_STREAM[^\n]*NO_ERROR/;
    }
    is($ok, 10, "HTTP/2, $size upload answered early: 10 of 10 got the whole response");
    is($slow, 0, "... each ended at once (none took over 6 s, a hang takes 10)");
    cmp_ok($rst, '>=', 1, "... the upload was ended with RST_STREAM(NO_ERROR) ($rst of 10; "
                          . "the rest had sent their body by then)");
    my $t0 = time;
    my $res = http(port => $r->{port}, host => 'a.example', path => '/index.html?h1',
                   upload_file => $path, method => 'POST', max_time => 10);
    is($res->{status}, 200, "HTTP/1.1, $size upload answered early: 200");
    # A hang lasts until max_time (10 s); 6 s, as for HTTP/2 above.
    cmp_ok(time - $t0, '<', 6, '... at once');
}
my $res = http(port => $r->{port}, host => 'b.example', path => '/');
is($res->{body}, 'B', 'the tunnel serves on');
finish();
