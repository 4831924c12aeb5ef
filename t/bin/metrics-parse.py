#!/usr/bin/env python3
# Parses a metrics text from stdin with the Prometheus client library's
# parsers and prints what it found as JSON, for the status tests:
#   metrics-parse.py --openmetrics   the strict OpenMetrics 1.0 parser
#   metrics-parse.py --prometheus    the text format 0.0.4 parser
# Output: a list of families {name, type, unit, help, samples: [{name,
# labels, value}]}.  A text the parser rejects: the error on stderr,
# exit status 1.
# Licensed under the Apache License, Version 2.0.
import json
import sys

def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else '--openmetrics'
    text = sys.stdin.buffer.read().decode('utf-8')
    if mode == '--openmetrics':
        from prometheus_client.openmetrics.parser import text_string_to_metric_families
    else:
        from prometheus_client.parser import text_string_to_metric_families
    out = []
    try:
        for fam in text_string_to_metric_families(text):
            out.append({
                'name': fam.name, 'type': fam.type, 'unit': fam.unit,
                'help': fam.documentation,
                'samples': [{'name': s.name, 'labels': s.labels,
                             'value': s.value} for s in fam.samples],
            })
    except Exception as e:  # the parser's verdict is the test's point
        sys.stderr.write('parse error: %s: %s\n' % (type(e).__name__, e))
        return 1
    json.dump(out, sys.stdout)
    return 0

if __name__ == '__main__':
    sys.exit(main())
