# Unit test of the response rules a tunnel's responses must keep
# (mod_ptth_router/ptth_respcheck.c) without httpd: content-length against
# DATA, statuses and pseudo-fields, connection-specific fields, field
# syntax, stream structure, interim and header-size budgets, HEAD/204/304
# and extended CONNECT (t/unit/response_unit.c; docs/protocol.md 2.6).
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PTTH::Unit;

run_unit_driver(name => 'response_unit', srcs => ['mod_ptth_router/ptth_respcheck.c', 'mod_ptth_router/ptth_fields.c'],
                incs => ['mod_ptth_router'], min_checks => 55);
