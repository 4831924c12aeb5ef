# The status page in a real browser: headless Chromium loads
# /ptth-status (asking for HTML as a browser does), and the rendered DOM
# has a row for every tunnel the JSON lists, with its backend identity;
# a certificate name full of markup stays text (no element made of it).
# A screenshot is kept with the test's output (its path is printed).
#
# Chromium runs as the test user, with a fresh profile under the test's
# scratch directory, without its sandbox (it needs privileges for that)
# and bounded by `timeout`.
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use PTTH::JSON;
use File::Path qw(make_path);
use Time::HiRes qw(time);
use PTTH::Test qw(:DEFAULT wait_pool_tunnels);
use PTTH::PKI qw(make_pki make_client_cert);

my ($chromium) = grep { -x $_ } qw(/usr/bin/chromium /usr/bin/chromium-browser);
give_up('chromium is not installed (build/install-deps.sh installs the Debian package chromium)')
    unless $chromium;

my $pki = make_pki(TMP . '/pki');
my $CN = q{<b>x</b>&amp;};
my ($crt, $key) = make_client_cert(TMP . '/pki', 'markup', $CN);
my $sport = free_port();
my $r = router(modules => ['authz_host'], pre_proxy => [
    "PTTHListen 127.0.0.1:$sport cert=$pki->{router_crt} key=$pki->{router_key}"
        . " client_ca=$pki->{ca_crt}",
    "<PTTHPool certs>", "  PTTHClientCertificate *", "</PTTHPool>",
    "<Location /ptth-status>", "  SetHandler ptth-status", "  Require ip 127.0.0.1",
    "</Location>", "ProxyPass /ptth-status !", "ProxyPass /certs/ ptth://certs/",
]);
$r->start or give_up('router does not start');
my $b = backend(tport => $r->{tport}, tunnels => 2);
$b->start or give_up('backend does not start');
my $bm = backend(name => 'markup', tport => 1,
                 connect => "https://127.0.0.1:$sport/certs ca=$pki->{ca_crt}"
                          . " cert=$crt key=$key name=router.test hosts=a.example");
$bm->start or give_up('certificate backend does not start');
ok(wait_pool_tunnels($r, 15, app => 2, certs => 1),
   'three tunnels') or give_up('tunnels missing');
http(port => $r->{port}, host => 'a.example', path => "/?$_") for 1 .. 4;

my $st = eval { decode_json(http(port => $r->{port}, path => '/ptth-status?json')->{body}) } || {};
my @tunnels = map { my $p = $_; map { { %$_, pool => $p->{name} } } @{ $p->{tunnels} } }
              @{ $st->{pools} || [] };
is(scalar @tunnels, 3, 'JSON lists three tunnels');

my $profile = TMP . '/chromium';
make_path("$profile/home", "$profile/data");
# Bounded by `timeout`: 90 s, since a cold Chromium start takes seconds
# alone and 20 s was not enough beside the rest of the suite and a
# package build (t/95) on two cores.
sub chromium {
    my (@args) = @_;
    my $t0 = time;
    my $pid = open(my $fh, '-|');
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        open(STDERR, '>', "$profile/stderr.log");
        $ENV{HOME} = "$profile/home";
        $ENV{XDG_CONFIG_HOME} = "$profile/home/.config";
        $ENV{XDG_CACHE_HOME} = "$profile/home/.cache";
        # One process (--single-process, --no-zygote): the page is a single
        # local document, and Chromium's usual browser, zygote, GPU and
        # renderer processes cost half as much CPU again.
        exec('timeout', '-k', '5', '90', $chromium, '--headless', '--no-sandbox',
             '--single-process', '--no-zygote',
             '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
             '--no-default-browser-check', '--disable-extensions',
             '--disable-background-networking', '--disable-sync',
             '--disable-component-update', '--mute-audio', '--hide-scrollbars',
             "--user-data-dir=$profile/data", @args)
            or POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? >> 8, $out, time - $t0);
}

my $url = "http://127.0.0.1:$r->{port}/ptth-status";
my $shot = TMP . '/ptth-status.png';
unlink $shot;
# One run: the DOM on stdout, the screenshot into a file.
my ($rc, $dom, $secs) = chromium('--dump-dom', "--screenshot=$shot",
                                 '--window-size=1280,900', $url);
is($rc, 0, sprintf('chromium --dump-dom --screenshot exits 0 (%.1f s)', $secs))
    or diag(read_file("$profile/stderr.log") // '');
like($dom, qr{<h1>PTTH router status for }, 'the rendered page is the HTML status (Accept: text/html)');
for my $t (@tunnels) {
    like($dom, qr{<tr id="tunnel-$t->{id}" class="tunnel s-open">}, "row for tunnel $t->{id} (pool $t->{pool})");
}
my @app_rows = $dom =~ m{<table class="tunnels" data-pool="app">(.*?)</table>}s;
my $app_cells = () = ($app_rows[0] // '') =~ m{<td class="backend w">127\.0\.0\.1</td>}g;
is($app_cells, 2, 'pool app: two rows with the backend identity 127.0.0.1');
my ($cell) = $dom =~ m{<table class="tunnels" data-pool="certs">.*?<td class="backend w">(.*?)</td>}s;
is($cell, 'cert:&lt;b&gt;x&lt;/b&gt;&amp;amp;',
   'the certificate name is text in the DOM, entities and all');
unlike($dom, qr{<b>x</b>}, 'no element was made from the certificate name');
like($dom, qr{<td class="hosts w">a\.example</td>}, 'its claimed host');
my $png = read_file($shot) // '';
ok(length($png) > 5000 && substr($png, 0, 8) eq "\x89PNG\r\n\x1a\n", 'a PNG screenshot of the page')
    or diag('screenshot size ' . length $png);
note("screenshot: $shot");
diag("screenshot of the status page: $shot") if $ENV{PTTH_SHOW_SCREENSHOT};
finish();
