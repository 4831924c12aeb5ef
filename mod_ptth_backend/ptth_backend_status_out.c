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

/* The backend's status as HTML, JSON and metrics (ptth_backend_status.h),
 * in the look and the conventions of the router's (ptth_html.h,
 * ptth_metrics.h).  A refusal's reason may quote what a router said: it
 * is escaped like every other string. */

#include <apr_strings.h>

#include <httpd.h>
#include <http_core.h>
#include <http_protocol.h>

#include "ptth_backend_status.h"
#include "ptth_esc.h"
#include "ptth_html.h"
#include "ptth_metrics.h"

static apr_uint64_t requests_of(const ptth_bst_seat *s)
{
    return s->owner ? s->info.requests_before + s->info.requests : 0;
}

/* ---- HTML --------------------------------------------------------------- */

static void html_seat(request_rec *r, const ptth_bst *st, const ptth_bst_seat *s)
{
    const char *state = ptth_bst_state(s);
    char b1[PTTH_FMT_LEN], b2[PTTH_FMT_LEN];

    ap_rprintf(r, "<tr id=\"seat-%d\" class=\"tunnel s-%s\"><td class=\"n\">%d</td>"
               "<td class=\"state s-%s\">%s</td>", s->no, state, s->no, state, state);
    if (!s->owner) {
        ap_rputs("<td colspan=\"8\" class=\"muted\">no child holds this seat"
                 "</td></tr>\n", r);
        return;
    }
    ap_rprintf(r, "<td class=\"n\">%s</td><td class=\"n\">%u</td><td class=\"local\">",
               ptth_fmt_duration(b1, st->now - s->info.since), s->owner);
    ptth_esc_html(r, s->info.local);
    ap_rprintf(r, "</td><td class=\"n\">%u</td><td class=\"n requests\">%"
               APR_UINT64_T_FMT "</td><td class=\"n\">%" APR_UINT64_T_FMT
               " / %u</td><td class=\"w\">", s->info.active, requests_of(s),
               s->info.dials, s->info.failures);
    if (s->info.refused_at) {
        ap_rprintf(r, "<span class=\"err\">%s ago: ",
                   ptth_fmt_duration(b1, st->now - s->info.refused_at));
        ptth_esc_html(r, s->info.reason);
        ap_rputs("</span>", r);
    }
    ap_rputs("</td><td class=\"n\">", r);
    if (s->info.next_retry && s->info.next_retry > st->now) {
        ap_rprintf(r, "in %s", ptth_fmt_duration(b2, s->info.next_retry - st->now
                                                     + APR_USEC_PER_SEC - 1));
    }
    ap_rputs("</td></tr>\n", r);
}

void ptth_bst_html(request_rec *r, const ptth_bst *st, int refresh)
{
    int i, j;

    ptth_html_begin(r, apr_pstrcat(r->pool, "PTTH backend status for ",
                                   ap_get_server_name(r), NULL), refresh);
    ap_rprintf(r, "<dl><dt>Routers dialed (PTTHConnect): %d; configuration "
               "generation %d; answered by pid %u</dt></dl>\n",
               st->nrouters, st->generation, st->pid);
    if (!st->nrouters) {
        ap_rputs("<p class=\"muted\">No PTTHConnect: this server dials no "
                 "router.</p>\n", r);
    }
    for (i = 0; i < st->nrouters; ++i) {
        const ptth_bst_router *rt = &st->routers[i];

        ap_rprintf(r, "<h2 id=\"router-%d\">Router ", i);
        ptth_esc_html(r, rt->url);
        ap_rprintf(r, ": %d of %d tunnel%s serving (%s)</h2>\n", rt->serving,
                   rt->tunnels, rt->tunnels == 1 ? "" : "s",
                   !strcmp(rt->mode, "tcp") ? "plain mode"
                   : !strcmp(rt->mode, "https") ? "TLS" : "cleartext");
        ap_rputs("<table class=\"tunnels\" data-router=\"", r);
        ptth_esc_html(r, rt->url);
        ap_rputs("\">\n<tr><th>Tunnel</th><th>State</th><th>Since</th>"
                 "<th>Child</th><th>Local address</th><th>Streams</th>"
                 "<th>Requests</th><th>Dials / failures</th>"
                 "<th>Last refusal</th><th>Next retry</th></tr>\n", r);
        for (j = 0; j < rt->tunnels; ++j) {
            html_seat(r, st, &rt->seats[j]);
        }
        ap_rputs("</table>\n", r);
    }
    ap_rputs("<p class=\"muted\">A tunnel is a seat: the server keeps "
             "PTTHTunnels of them per router, whichever child holds them. "
             "Local address: the router sees it as the tunnel's peer. "
             "Failures: failed dials in a row. Also as <a href=\"?json\">JSON</a>"
             " and <a href=\"?metrics\">metrics</a>.", r);
    if (refresh) {
        ap_rprintf(r, " Reloads every %d s.", refresh);
    }
    ap_rputs("</p>\n", r);
    ptth_html_end(r);
}

/* ---- JSON --------------------------------------------------------------- */

void ptth_bst_json(request_rec *r, const ptth_bst *st)
{
    int i, j;

    ap_rprintf(r, "{\"pid\":%u,\"generation\":%d,\"routers\":[", st->pid,
               st->generation);
    for (i = 0; i < st->nrouters; ++i) {
        const ptth_bst_router *rt = &st->routers[i];

        ap_rputs(i ? ",{\"url\":" : "{\"url\":", r);
        ptth_json_str(r, rt->url);
        ap_rprintf(r, ",\"mode\":\"%s\",\"tunnels\":%d,\"serving\":%d,\"seats\":[",
                   rt->mode, rt->tunnels, rt->serving);
        for (j = 0; j < rt->tunnels; ++j) {
            const ptth_bst_seat *s = &rt->seats[j];
            ap_rprintf(r, "%s{\"seat\":%d,\"state\":\"%s\"", j ? "," : "", s->no,
                       ptth_bst_state(s));
            if (!s->owner) {
                ap_rputs(",\"pid\":null}", r);
                continue;
            }
            ap_rprintf(r, ",\"pid\":%u,\"since_s\":%" APR_TIME_T_FMT ",\"local\":",
                       s->owner, apr_time_sec(st->now - s->info.since));
            ptth_json_str(r, s->info.local[0] ? s->info.local : NULL);
            ap_rprintf(r, ",\"active\":%u,\"requests\":%" APR_UINT64_T_FMT
                       ",\"dials\":%" APR_UINT64_T_FMT ",\"failures\":%u,"
                       "\"last_refusal\":", s->info.active, requests_of(s),
                       s->info.dials, s->info.failures);
            if (s->info.refused_at) {
                ap_rprintf(r, "{\"status\":%u,\"ago_s\":%" APR_TIME_T_FMT
                           ",\"reason\":", s->info.refusal_status,
                           apr_time_sec(st->now - s->info.refused_at));
                ptth_json_str(r, s->info.reason);
                ap_rputc('}', r);
            }
            else {
                ap_rputs("null", r);
            }
            if (s->info.next_retry && s->info.next_retry > st->now) {
                ap_rprintf(r, ",\"next_retry_ms\":%" APR_TIME_T_FMT "}",
                           apr_time_as_msec(s->info.next_retry - st->now));
            }
            else {
                ap_rputs(",\"next_retry_ms\":null}", r);
            }
        }
        ap_rputs("]}", r);
    }
    ap_rputs("]}\n", r);
}

/* ---- metrics ------------------------------------------------------------ */

typedef enum {
    SV_STATE_SECS, SV_ACTIVE, SV_REQUESTS, SV_DIALS, SV_FAILURES,
    SV_REFUSED_AT, SV_RETRY
} seat_value;

static const struct {
    seat_value v;
    const char *name;
    ptth_metric_type type;
    const char *unit;
    const char *help;
} seat_families[] = {
    { SV_STATE_SECS, "ptth_backend_tunnel_state_seconds", PTTH_M_GAUGE, "seconds",
      "Time the tunnel has been in its state." },
    { SV_ACTIVE, "ptth_backend_tunnel_streams_active", PTTH_M_GAUGE, NULL,
      "Streams open on the tunnel." },
    { SV_REQUESTS, "ptth_backend_tunnel_requests", PTTH_M_COUNTER, NULL,
      "Requests served over the tunnel's seat (by its current child)." },
    { SV_DIALS, "ptth_backend_tunnel_dials", PTTH_M_COUNTER, NULL,
      "Connections made to the router." },
    { SV_FAILURES, "ptth_backend_tunnel_dial_failures", PTTH_M_GAUGE, NULL,
      "Failed dials in a row." },
    { SV_REFUSED_AT, "ptth_backend_tunnel_last_refusal_timestamp_seconds",
      PTTH_M_GAUGE, "seconds", "When the router last refused (or a dial failed)." },
    { SV_RETRY, "ptth_backend_tunnel_next_retry_seconds", PTTH_M_GAUGE, "seconds",
      "Time until the next dial (backing off)." },
};

void ptth_bst_metrics(request_rec *r, const ptth_bst *st, int om)
{
    ptth_metrics m;
    char seat[16], status[16];
    unsigned k;
    int i, j;

    ptth_metrics_begin(&m, r, om);
    ptth_metrics_family(&m, "ptth_backend_tunnels", PTTH_M_GAUGE, NULL,
                        "Tunnels serving, per router.");
    for (i = 0; i < st->nrouters; ++i) {
        ptth_metrics_u64(&m, (apr_uint64_t)st->routers[i].serving,
                         "router", st->routers[i].url, NULL);
    }
    ptth_metrics_family(&m, "ptth_backend_tunnels_wanted", PTTH_M_GAUGE, NULL,
                        "Tunnels the server keeps to the router (PTTHTunnels).");
    for (i = 0; i < st->nrouters; ++i) {
        ptth_metrics_u64(&m, (apr_uint64_t)st->routers[i].tunnels,
                         "router", st->routers[i].url, NULL);
    }
    ptth_metrics_family(&m, "ptth_backend_tunnel", PTTH_M_INFO, NULL,
                        "A tunnel (seat): its state and local address.");
    for (i = 0; i < st->nrouters; ++i) {
        for (j = 0; j < st->routers[i].tunnels; ++j) {
            const ptth_bst_seat *s = &st->routers[i].seats[j];
            apr_snprintf(seat, sizeof(seat), "%d", s->no);
            ptth_metrics_u64(&m, 1, "router", st->routers[i].url, "seat", seat,
                             "state", ptth_bst_state(s),
                             "local", s->owner ? s->info.local : "", NULL);
        }
    }
    ptth_metrics_family(&m, "ptth_backend_tunnel_last_refusal", PTTH_M_INFO, NULL,
                        "The last refusal: the router's status (0: no answer) "
                        "and why.");
    for (i = 0; i < st->nrouters; ++i) {
        for (j = 0; j < st->routers[i].tunnels; ++j) {
            const ptth_bst_seat *s = &st->routers[i].seats[j];
            if (!s->owner || !s->info.refused_at) {
                continue;
            }
            apr_snprintf(seat, sizeof(seat), "%d", s->no);
            apr_snprintf(status, sizeof(status), "%u", s->info.refusal_status);
            ptth_metrics_u64(&m, 1, "router", st->routers[i].url, "seat", seat,
                             "status", status, "reason", s->info.reason, NULL);
        }
    }
    for (k = 0; k < sizeof(seat_families) / sizeof(seat_families[0]); ++k) {
        ptth_metrics_family(&m, seat_families[k].name, seat_families[k].type,
                            seat_families[k].unit, seat_families[k].help);
        for (i = 0; i < st->nrouters; ++i) {
            const ptth_bst_router *rt = &st->routers[i];
            for (j = 0; j < rt->tunnels; ++j) {
                const ptth_bst_seat *s = &rt->seats[j];
                const ptth_seat_info *in = &s->info;

                if (!s->owner) {
                    continue;
                }
                apr_snprintf(seat, sizeof(seat), "%d", s->no);
#define U64(v) ptth_metrics_u64(&m, (v), "router", rt->url, "seat", seat, NULL)
#define SECS(us) ptth_metrics_f64(&m, (double)(us) / APR_USEC_PER_SEC, \
                                  "router", rt->url, "seat", seat, NULL)
                switch (seat_families[k].v) {
                case SV_STATE_SECS:
                    SECS(st->now > in->since ? st->now - in->since : 0);
                    break;
                case SV_ACTIVE:   U64(in->active); break;
                case SV_REQUESTS: U64(requests_of(s)); break;
                case SV_DIALS:    U64(in->dials); break;
                case SV_FAILURES: U64(in->failures); break;
                case SV_REFUSED_AT:
                    if (in->refused_at) {
                        SECS(in->refused_at);
                    }
                    break;
                case SV_RETRY:
                    if (in->next_retry && in->next_retry > st->now) {
                        SECS(in->next_retry - st->now);
                    }
                    break;
                }
#undef U64
#undef SECS
            }
        }
    }
    ptth_metrics_end(&m);
}
