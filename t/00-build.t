# Both modules are built, load into httpd, and the configuration contract
# of issue 2 (the README's quick-start configs) passes `apache2 -t`.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use PTTH::Test;

ok(-f $PTTH::Test::ROUTER_SO, "router module built: $PTTH::Test::ROUTER_SO")
    or diag('run `make router` (build errors are printed by build/run-tests.sh)');
ok(-f $PTTH::Test::BACKEND_SO, "backend module built: $PTTH::Test::BACKEND_SO")
    or diag('run `make backend`');

my $M = $PTTH::Test::MODDIR;
my $head = <<"EOC";
ServerRoot "\@DIR\@"
DefaultRuntimeDir "\@DIR\@/run"
PidFile "\@DIR\@/run/httpd.pid"
ErrorLog "\@DIR\@/logs/error_log"
LoadModule mpm_event_module $M/mod_mpm_event.so
LoadModule authz_core_module $M/mod_authz_core.so
ServerName contract.test
EOC

# Router: exactly the contract's lines.
my $tport = free_port();
my ($rc, $out) = configtest_conf('router-contract', $head . <<"EOC");
Listen 127.0.0.1:${\ free_port()}
LoadModule proxy_module $M/mod_proxy.so
LoadModule ptth_router_module $PTTH::Test::ROUTER_SO
PTTHListen 127.0.0.1:$tport plain=app
ProxyPass        /  ptth://app/
ProxyPassReverse /  ptth://app/
EOC
is($rc, 0, 'router contract config: apache2 -t passes') or diag($out);
like($out, qr/Syntax OK/, 'router contract config: Syntax OK');

# Backend: exactly the contract's lines (no Protocols/H2Direct).  The module
# either arranges h2 for its own connections or refuses with a message that
# says what to add.
my $bport = free_port();
($rc, $out) = configtest_conf('backend-contract', $head . <<"EOC");
Listen 127.0.0.1:$bport
LoadModule http2_module $M/mod_http2.so
LoadModule ptth_backend_module $PTTH::Test::BACKEND_SO
PTTHConnect tcp://127.0.0.1:$tport
<VirtualHost *:$bport>
  ServerName a.example
  DocumentRoot "\@DIR\@"
</VirtualHost>
<VirtualHost *:$bport>
  ServerName b.example
  DocumentRoot "\@DIR\@"
</VirtualHost>
EOC
ok($rc == 0 || $out =~ /(Protocols|H2Direct)/,
   'backend contract config: passes, or names the h2 directive to add') or diag($out);
is($rc, 0, 'backend contract config: apache2 -t passes') or diag($out);

# Log message numbers are unique (make lognos).
my $lognos = `cd '${\ ROOT}' && make -s lognos 2>&1`;
is($?, 0, 'PTTHLOGNO numbers are unique') or diag($lognos);

finish();
