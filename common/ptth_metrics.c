/* Licensed to the Apache Software Foundation (ASF) under one or more
 * contributor license agreements; and licensed under the Apache License,
 * Version 2.0 (the "License"); you may not use this file except in
 * compliance with the License.  You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */

/* The metrics writer (include/ptth_metrics.h). */

#include <stdarg.h>

#include <apr_strings.h>

#include <httpd.h>
#include <http_protocol.h>

#include "ptth_esc.h"
#include "ptth_metrics.h"

void ptth_metrics_begin(ptth_metrics *m, request_rec *r, int om)
{
    m->r = r;
    m->om = om;
    m->name = NULL;
    m->type = PTTH_M_GAUGE;
    ap_set_content_type(r, om ? PTTH_CT_OPENMETRICS : PTTH_CT_PROMETHEUS);
}

void ptth_metrics_family(ptth_metrics *m, const char *name,
                         ptth_metric_type type, const char *unit,
                         const char *help)
{
    const char *suffix = "", *tname;

    m->name = name;
    m->type = type;
    if (m->om) {
        tname = type == PTTH_M_COUNTER ? "counter"
              : type == PTTH_M_INFO ? "info" : "gauge";
        ap_rvputs(m->r, "# TYPE ", name, " ", tname, "\n", NULL);
        if (unit) {
            ap_rvputs(m->r, "# UNIT ", name, " ", unit, "\n", NULL);
        }
        ap_rvputs(m->r, "# HELP ", name, " ", help, "\n", NULL);
        return;
    }
    /* 0.0.4: the family is named as its samples; no info type. */
    if (type == PTTH_M_COUNTER) {
        suffix = "_total";
    }
    else if (type == PTTH_M_INFO) {
        suffix = "_info";
    }
    ap_rvputs(m->r, "# HELP ", name, suffix, " ", help, "\n", NULL);
    ap_rvputs(m->r, "# TYPE ", name, suffix, " ",
              type == PTTH_M_COUNTER ? "counter" : "gauge", "\n", NULL);
}

static void sample_head(ptth_metrics *m, va_list ap)
{
    const char *lname;
    int first = 1;

    ap_rputs(m->name, m->r);
    if (m->type == PTTH_M_COUNTER) {
        ap_rputs("_total", m->r);
    }
    else if (m->type == PTTH_M_INFO) {
        ap_rputs("_info", m->r);
    }
    while ((lname = va_arg(ap, const char *)) != NULL) {
        const char *val = va_arg(ap, const char *);
        ap_rvputs(m->r, first ? "{" : ",", lname, "=\"", NULL);
        ptth_esc_label(m->r, val ? val : "");
        ap_rputc('"', m->r);
        first = 0;
    }
    if (!first) {
        ap_rputc('}', m->r);
    }
}

void ptth_metrics_u64(ptth_metrics *m, apr_uint64_t v, ...)
{
    va_list ap;

    va_start(ap, v);
    sample_head(m, ap);
    va_end(ap);
    ap_rprintf(m->r, " %" APR_UINT64_T_FMT "\n", v);
}

void ptth_metrics_f64(ptth_metrics *m, double v, ...)
{
    va_list ap;

    va_start(ap, v);
    sample_head(m, ap);
    va_end(ap);
    ap_rprintf(m->r, " %.6f\n", v);
}

void ptth_metrics_end(ptth_metrics *m)
{
    if (m->om) {
        ap_rputs("# EOF\n", m->r);
    }
}
