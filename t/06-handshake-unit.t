# Unit test of the PTTH handshake parser/builder (common/ptth_hs_*.c)
# without httpd: compiles t/unit/handshake_unit.c with the parser against
# APR into the scratch directory, runs it, and reports each of its checks
# (request parsing and every refusal status, prefixes, limits, Bearer
# tokens, PTTH-Hosts, responses, builders) as a test here.  The driver is
# built with AddressSanitizer and UBSan when the compiler can, so an
# over-read of the input fails the run.
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PTTH::Unit;

run_unit_driver(name => 'handshake_unit',
                srcs => ['common/ptth_hs_syntax.c', 'common/ptth_hs_request.c',
                         'common/ptth_hs_response.c'],
                min_checks => 150);
