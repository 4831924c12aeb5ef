# The backend's own HTTP/2 session (PTTHStreamPath ptth,
# mod_ptth_backend/ptth_h2s.c), driven directly, whatever PTTH_STREAM_PATH
# the rest of the suite runs with:
#
#  1. Through a real router: virtual hosts by :authority, HEAD (no body,
#     the GET's length), uploads with and without Content-Length checked by
#     SHA-256 at the CGI, end-to-end 100-continue (the 1xx goes back as a
#     HEADERS frame), a request head over the virtual host's
#     LimitRequestFieldSize (431), streams in parallel (a barrier of 6
#     CGIs), 12 uploads at once (request-body windows widened within the
#     session's budget), the access log; under event, worker and prefork,
#     and over a TLS tunnel.
#  2. A hostile router (t/bin/h2router.py, a raw HTTP/2 client the backend
#     dials): malformed requests reset while the connection serves on,
#     CONNECT answered 501 and :protocol refused, a 100 KiB head answered
#     431 and a 400 KiB one never served, DATA beyond the window, more
#     streams than announced, thousands of streams reset as they open,
#     request trailers after a body without length, a response the router
#     gives no window (ended within Timeout), and no preface at all.  After
#     each the backend dials again and serves; no child crashes.
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use PTTH::JSON;
use Time::HiRes qw(time);
use Digest::SHA qw(sha256_hex);
use PTTH::Test qw(:DEFAULT http_quick cgi_group http_batch);
use PTTH::PKI qw(make_pki);

my ($up, $up_sha) = big_file('sp-up-3m', (3 << 20) + 777);
my ($down, $down_sha) = big_file('sp-down-5m', 5 << 20);

# ------------------------------------------------- 1. through a real router
my $pki = make_pki(TMP . '/pki');
my $tok = 'SP-' . sha256_hex(rand());
my $tf = write_file(TMP . '/tok', "$tok\n");
chmod 0600, $tf;
my $sport = free_port();
my $r = router(wait_timeout => '10s',
               pre_proxy => ["PTTHListen 127.0.0.1:$sport cert=$pki->{router_crt}"
                                 . " key=$pki->{router_key}",
                             "<PTTHPool sec>",
                             "  PTTHToken sha256:" . sha256_hex($tok),
                             "</PTTHPool>"],
               proxy => ["ProxyPass /sec/ ptth://sec/", "ProxyPass / ptth://app/"]);
$r->start or give_up('router does not start');

sub serve_checks {
    my ($label, $b, $prefix) = @_;
    my $p = $r->{port};

    my $res = http(port => $p, host => 'a.example', path => "$prefix/");
    my $res2 = http(port => $p, host => 'b.example', path => "$prefix/");
    is("$res->{status} $res->{body} $res2->{body}", '200 A B',
       "$label: each virtual host by :authority");

    $res = http(port => $p, host => 'a.example', path => "$prefix/big/sp-down-5m",
                sha => 1, max_time => 60);
    is($res->{sha256}, $down_sha, "$label: 5 MiB GET intact");
    $res = http(port => $p, host => 'a.example', path => "$prefix/big/sp-down-5m",
                method => 'HEAD');
    is("$res->{status} $res->{size} " . ($res->{headers}{'content-length'} // '-'),
       "200 0 " . (5 << 20), "$label: HEAD: no body, the GET's Content-Length");

    $res = http(port => $p, host => 'a.example', path => "$prefix/cgi-bin/sha.cgi",
                data_file => $up, max_time => 60);
    my $e = parse_env($res->{body});
    is("$res->{status} " . ($e->{sha256} // '-') . ' ' . ($e->{content_length} // '-'),
       "200 $up_sha " . -s $up, "$label: 3 MiB POST with Content-Length intact at the CGI");
    $res = http(port => $p, host => 'a.example', path => "$prefix/cgi-bin/sha.cgi",
                data_file => $up, chunked => 1, max_time => 60);
    $e = parse_env($res->{body});
    is("$res->{status} " . ($e->{sha256} // '-') . ' ' . ($e->{length} // '-'),
       "200 $up_sha " . -s $up, "$label: 3 MiB chunked POST (no length on the stream) intact");

    my $roff = -s $r->{errlog} // 0;
    my $t0 = time;
    $res = http(port => $p, host => 'a.example', path => "$prefix/cgi-bin/sha.cgi",
                upload_file => $up, headers => ['Expect: 100-continue'], max_time => 60);
    $e = parse_env($res->{body});
    is("$res->{status} " . ($e->{sha256} // '-'), "200 $up_sha",
       "$label: upload behind Expect: 100-continue intact");
    unlike(log_since($r->{errlog}, $roff), qr/no 100-continue within/,
           "$label: ... the backend's 100 reached the router (it did not give up waiting)");

    $res = http(port => $p, host => 'a.example', path => "$prefix/",
                headers => ['X-Long: ' . ('q' x 1500)]);
    is($res->{status}, 431, "$label: a field over the vhost's LimitRequestFieldSize: 431");

    if ($label eq 'event' || $label eq 'TLS') {
        # An upload that read a whole window gets a wider one (512 KiB),
        # within the session's budget (4 MiB: nine at once).  Twelve
        # uploads on the one tunnel, all 128 KiB into their bodies at
        # once (a barrier in sha.cgi): nine widened, three kept 64 KiB
        # (widened later, once others ended); every body intact.
        my $boff = -s $b->{errlog} // 0;
        my $ug = cgi_group('spup');
        my @up = http_parallel(map { +{ port => $p, host => 'a.example',
                                        path => "$prefix/cgi-bin/sha.cgi?g=$ug&n=12",
                                        upload_file => $up, max_time => 90 } } 1 .. 12);
        is(scalar(grep { $_->{status} == 200
                         && (parse_env($_->{body})->{sha256} // '') eq $up_sha } @up), 12,
           "$label: 12 uploads of 3 MiB at once on one tunnel: all intact");
        my $blog = log_since($b->{errlog}, $boff);
        my $wide = () = $blog =~ /request body window widened to 524288 bytes/g;
        my $kept = () = $blog =~ /request body window stays at 65535 bytes/g;
        is($kept, 3, "$label: ... with 12 in flight, 3 kept the 64 KiB window "
                     . "(the budget widens 9 at once; $wide widened in all)");
    }

    my $g = cgi_group('sp');
    my @par = http_batch(port => $p, host => 'a.example', max_time => 60,
                         paths => [map { "$prefix/cgi-bin/wait.cgi?g=$g&n=6&t=25&i=$_" } 1 .. 8]);
    is(scalar(grep { $_->{status} == 200 && $_->{body} =~ /^ok \d+$/ } @par), 8,
       "$label: 8 requests, 6 of them at a barrier at once: all 200");

}

my $vx = ['LimitRequestFieldSize 1000'];
for my $mpm (qw(event worker prefork)) {
    # prefork: PTTHStreamPath auto, which without H2WebSockets on is ptth.
    my $sp = $mpm eq 'prefork' ? 'auto' : 'ptth';
    my $b = backend(name => "sp-$mpm", mpm => $mpm, tport => $r->{tport},
                    stream_path => $sp, vhost_extra => $vx);
    $b->start && defined wait_for_tunnel($r)
        or do { fail("$mpm: backend with PTTHStreamPath $sp up"); $b->stop; next };
    like($b->errlog_text, qr/streams served by mod_ptth_backend/,
         "$mpm: the tunnels are served by mod_ptth_backend (PTTHStreamPath $sp)");
    like($b->errlog_text, qr/PTTHStreamPath auto: mod_ptth_backend serves the tunnels/,
         "$mpm: PTTHStreamPath auto without H2WebSockets picks mod_ptth_backend") if $sp eq 'auto';
    serve_checks($mpm, $b, '');
    $b->stop;
    my $acc = read_file($b->{acclog}) // '';
    like($acc, qr{"POST /cgi-bin/sha\.cgi HTTP/2\.0" 200 }, "$mpm: access log: HTTP/2.0 requests");
}

# Over a TLS tunnel (the session's writes and reads go through the TLS
# filters, from the workers too).
{
    my $b = backend(name => 'sp-tls', tport => 1, stream_path => 'ptth', vhost_extra => $vx,
                    connect => "https://127.0.0.1:$sport/sec ca=$pki->{ca_crt}"
                               . " name=router.test token_file=$tf");
    if ($b->start && defined wait_for_tunnel($r, path => '/sec/', expect => 'A')) {
        serve_checks('TLS', $b, '/sec');
    }
    else {
        fail('TLS: backend with PTTHStreamPath ptth up');
    }
    $b->stop;
}
$r->stop;

# ------------------------------------------------- 2. a hostile router
my $PY = '/usr/bin/python3';
my $hport = free_port();
my (undef, $nowin_sha) = big_file('nowin.bin', 4 << 20);
my $b = backend(name => 'sp-hostile', tport => $hport, stream_path => 'ptth',
                reconnect => '50ms 500ms',
                extra => ['PTTHMaxStreams 4', 'Timeout 3']);
$b->start or give_up('backend for the hostile router does not start');
my @sc = qw(ok bad-header connect big-head huge-head over-window ok too-many
            rapid-reset ok trailers no-window garbage ok);
my $out = TMP . '/h2router.jsonl';
unlink $out;
my $t0 = time;
my $pid = spawn('h2router', TMP . '/h2router.log', $PY, ROOT . '/t/bin/h2router.py',
                '--port', $hport, '--scenarios', join(',', @sc), '--timeout', 10,
                '--out', $out);
my %res;
ok(wait_for(240, sub { my @l = split /\n/, read_file($out) // ''; @l >= @sc }, 0.2),
   'the hostile router played every scenario') or diag(read_file(TMP . '/h2router.log'));
stop_spawned($pid);
my $i = 0;
for my $l (split /\n/, read_file($out) // '') {
    my $j = eval { decode_json($l) } or next;
    $res{$j->{scenario} . ($j->{scenario} eq 'ok' ? '#' . $i++ : '')} = $j;
    diag("$j->{scenario}: $j->{error}") if $j->{error};
}

sub st  { my ($j, $sid) = @_; return join ',', @{ $j->{status}{$sid} || [] } }
sub rst { my ($j, $sid) = @_; return $j->{rst}{$sid} }

for my $k (grep { /^ok#/ } sort keys %res) {
    is(st($res{$k}, 1), '200', "hostile router: $k: a plain GET is answered 200 (the backend serves)");
}
my $j = $res{'ok#0'} // {};
is($j->{settings}{3}, 4, 'SETTINGS_MAX_CONCURRENT_STREAMS is PTTHMaxStreams');
ok(!$j->{settings}{8}, 'no SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441)');

$j = $res{'bad-header'} // {};
is(join(' ', map { rst($j, $_) // '-' } 1, 3, 5), '1 1 1',
   'uppercase field name, Connection field, no :path: each RST_STREAM(PROTOCOL_ERROR)');
is(st($j, 7), '200', '... and the next request on that connection is answered');

$j = $res{connect} // {};
is(st($j, 1), '501', 'CONNECT: 501');
ok(defined rst($j, 3) || ($j->{goaway} && $j->{goaway}[1]), ':protocol without the setting: refused')
    or diag(encode_json($j));

$j = $res{'big-head'} // {};
is(st($j, 1) . ' ' . st($j, 3), '431 200', 'a 100 KiB request head: 431; the next one 200');

$j = $res{'huge-head'} // {};
ok(!st($j, 1) && (defined rst($j, 1) || $j->{goaway} || $j->{closed}),
   'a 400 KiB request head: never served (reset or session ended)') or diag(encode_json($j));

$j = $res{'over-window'} // {};
ok((rst($j, 1) // -1) == 3 || ($j->{goaway} && $j->{goaway}[1] == 3),
   'DATA beyond the window: FLOW_CONTROL_ERROR') or diag(encode_json($j));

$j = $res{'too-many'} // {};
ok($j->{goaway} && $j->{goaway}[1] == 1,
   "more streams than announced ($j->{limit}): GOAWAY(PROTOCOL_ERROR)") or diag(encode_json($j));

$j = $res{'rapid-reset'} // {};
ok(st($j, $j->{last} // 0) eq '200' || grep({ $_->[1] } @{ $j->{goaways} || [] }),
   '2000 streams reset as they open, then a GET: answered (or the session ended for the flood)')
    or diag(encode_json($j));

$j = $res{trailers} // {};
like($j->{body_text} // '', qr/^sha256=\Q$j->{sent_sha256}\E$/m,
     'a body without length, then trailers: the CGI read every byte') or diag(encode_json($j));

$j = $res{'no-window'} // {};
ok(defined rst($j, 1) && $j->{took} < 3 + 5,
   sprintf('a response the router gives no window: reset within Timeout (%.1f s)', $j->{took} // -1))
    or diag(encode_json($j));

$j = $res{garbage} // {};
ok($j->{closed} || $j->{goaway}, 'no preface: the connection ends') or diag(encode_json($j));

unlike($b->errlog_text, qr/Segmentation fault|AH00052|ASAN|runtime error/,
       'no backend child crashed');
$b->stop;
cmp_ok(time - $t0, '<', 240, 'the hostile scenarios took bounded time');

finish();
