# Bad directive arguments are refused by `apache2 -t` (what apachectl
# configtest runs) with a message that names the directive.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use PTTH::Test;

# The control configs are valid: the failures below come from the bad line.
my $r0 = router(name => 'router-ok');
my ($rc, $out) = $r0->configtest;
is($rc, 0, 'control: generated router config passes apache2 -t') or diag($out);
my $b0 = backend(name => 'backend-ok', tport => free_port());
($rc, $out) = $b0->configtest;
is($rc, 0, 'control: generated backend config passes apache2 -t') or diag($out);

my $p = free_port();
my @router_bad = (
    ['PTTHListen', "PTTHListen 127.0.0.1:99999 plain=other", 'port out of range'],
    ['PTTHListen', "PTTHListen nonsense plain=other", 'address without a port'],
    ['PTTHListen', "PTTHListen 127.0.0.1:$p plain=", 'plain= with no pool name'],
    ['PTTHListen', "PTTHListen 127.0.0.1:$p plain=other frobnicate=1", 'unknown key'],
    ['PTTHListen', "PTTHListen", 'no arguments'],
    ['PTTHWaitTimeout', "PTTHWaitTimeout abc", 'not a duration'],
    ['PTTHWaitTimeout', "PTTHWaitTimeout -5s", 'negative'],
    ['PTTHTunnelMaxRequests', "PTTHTunnelMaxRequests -1", 'negative'],
    ['PTTHTunnelMaxRequests', "PTTHTunnelMaxRequests lots", 'not a number'],
);
for my $c (@router_bad) {
    my ($directive, $line, $what) = @$c;
    my $r = router(name => 'router-bad', extra => $line);
    my ($rc, $out) = $r->configtest;
    ok($rc != 0 && $out =~ /\Q$directive\E/,
       "router: '$line' ($what) is refused, naming $directive")
        or diag("exit $rc: $out");
}

my @backend_bad = (
    ['PTTHConnect', "PTTHConnect tcp://", 'URL without host'],
    ['PTTHConnect', "PTTHConnect 127.0.0.1:$p", 'no scheme'],
    ['PTTHConnect', "PTTHConnect ftp://127.0.0.1:$p", 'unknown scheme'],
    ['PTTHConnect', "PTTHConnect tcp://127.0.0.1:99999", 'port out of range'],
    ['PTTHConnect', "PTTHConnect tcp://127.0.0.1:$p frobnicate=1", 'unknown key'],
    ['PTTHTunnels', "PTTHTunnels 0", 'zero tunnels'],
    ['PTTHTunnels', "PTTHTunnels abc", 'not a number'],
    ['PTTHTunnels', "PTTHTunnels -1", 'negative'],
    ['PTTHReconnect', "PTTHReconnect abc", 'not a duration'],
    ['PTTHStreamPath', "PTTHStreamPath h3", 'unknown path'],
    ['PTTHMaxStreams', "PTTHMaxStreams 0", 'zero streams'],
    ['PTTHMaxStreams', "PTTHMaxStreams 1001", 'above 1000'],
);
for my $c (@backend_bad) {
    my ($directive, $line, $what) = @$c;
    my $b = backend(name => 'backend-bad', tport => free_port(), extra => $line);
    my ($rc, $out) = $b->configtest;
    ok($rc != 0 && $out =~ /\Q$directive\E/,
       "backend: '$line' ($what) is refused, naming $directive")
        or diag("exit $rc: $out");
}

# A backend without mod_http2 refuses to start and says what to load, when
# mod_http2 is to serve the tunnels (PTTHStreamPath http2)...
{
    my $b = backend(name => 'backend-nohttp2', tport => free_port(), http2 => 0,
                    stream_path => 'http2');
    my ($rc, $out) = $b->configtest;
    my $refused = $rc != 0;
    my $msg = $out;
    unless ($refused) {
        # Maybe the check runs at startup (post_config) instead.
        ($rc, $out) = $b->apache('-k', 'start');
        my $pid;
        my $up = wait_for(3, sub {
            my $p = read_file($b->{pidfile});
            $pid = $1 if $p && $p =~ /(\d+)/;
            return $pid && alive($pid);
        });
        if ($up) {
            # It stays up: not refused.  Stop what we started.
            $b->{started} = 1;
            $b->{pid} = $pid;
            wait_for(2, sub { !alive($pid) });
            $refused = !alive($pid);
            $b->stop if alive($pid);
        }
        else {
            $refused = 1;
        }
        $msg = $out . (read_file($b->{errlog}) // '');
    }
    ok($refused && $msg =~ /LoadModule http2_module/,
       'backend without mod_http2 refuses to start, saying "LoadModule http2_module"')
        or diag($msg);
}

# ...and needs no mod_http2 when it serves them itself: ptth, and auto
# (also the default: no PTTHStreamPath line, whatever PTTH_STREAM_PATH
# says) without H2WebSockets on, which picks the module's own session.
for my $sp ('ptth', 'auto', undef) {
    my $what = defined $sp ? "PTTHStreamPath $sp" : 'no PTTHStreamPath (the default, auto)';
    my $b = backend(name => 'backend-' . ($sp // 'default') . '-nohttp2', tport => free_port(),
                    http2 => 0, stream_path => $sp);
    my ($rc, $out) = $b->configtest;
    is($rc, 0, "$what: a backend without mod_http2 passes configtest")
        or diag($out);
}

finish();
