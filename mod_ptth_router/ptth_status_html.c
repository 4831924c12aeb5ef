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

/* The status page for people: what mod_status and balancer-manager look
 * like, for the hub, its pools and every tunnel.  Plain HTML, the inline
 * CSS of ptth_html.c, no script; ?refresh=N reloads it.  Every string a
 * peer chose (identity, hosts, peer, last error) is escaped. */

#include <apr_strings.h>

#include <httpd.h>
#include <http_core.h>
#include <http_protocol.h>

#include "ptth_esc.h"
#include "ptth_html.h"
#include "ptth_status.h"

static void hub_summary(request_rec *r, const ptth_sdoc *doc)
{
    const ptth_sdoc_hub *h = &doc->hub;
    ptth_sdoc_totals tot;
    char b1[PTTH_FMT_LEN], b2[PTTH_FMT_LEN], b3[PTTH_FMT_LEN];
    char date[APR_RFC822_DATE_LEN];

    ptth_sdoc_sum(doc, &tot);
    apr_rfc822_date(date, h->started);
    ap_rprintf(r, "<dl id=\"hub\">\n"
               "<dt>Tunnel hub: pid <b id=\"hub-pid\">%u</b>, "
               "<span class=\"s-%s\" id=\"hub-state\">%s</span>, "
               "configuration generation %u</dt>\n",
               h->pid, h->state == PTTH_SDOC_HUB_RUNNING ? "open" : "draining",
               ptth_sdoc_hub_state_str(h->state), h->generation);
    ap_rprintf(r, "<dt>Hub started: %s; uptime <span id=\"hub-uptime\">%s</span>"
               "</dt>\n", date, ptth_fmt_duration(b1, h->now - h->started));
    ap_rprintf(r, "<dt>Hub restarts since httpd started: "
               "<b id=\"hub-restarts\">%u</b></dt>\n", h->restarts);
    ap_rprintf(r, "<dt>Links from httpd children: %u; handshakes in progress: "
               "%u; refused: %" APR_UINT64_T_FMT "; links refused: %"
               APR_UINT64_T_FMT "</dt>\n", h->links, h->handshakes,
               h->refused, h->links_refused);
    ap_rprintf(r, "<dt>Hub memory: %s (peak %s, limit %s)</dt>\n",
               ptth_fmt_bytes(b1, h->memory), ptth_fmt_bytes(b2, h->memory_peak),
               h->memory_limit ? ptth_fmt_bytes(b3, h->memory_limit) : "none");
    ap_rprintf(r, "<dt>Tunnels: <b id=\"total-tunnels\">%" APR_UINT64_T_FMT
               "</b> (%" APR_UINT64_T_FMT " open); streams now: <b "
               "id=\"total-streams\">%" APR_UINT64_T_FMT "</b>; requests "
               "waiting: <b id=\"total-waiting\">%" APR_UINT64_T_FMT "</b>; "
               "requests: %" APR_UINT64_T_FMT "; retries: %" APR_UINT64_T_FMT
               "</dt>\n</dl>\n", tot.tunnels, tot.open, tot.active,
               tot.waiting, tot.requests, tot.retries);
}

static void pool_table(request_rec *r, const ptth_sdoc *doc)
{
    int i, j;

    ap_rputs("<h2>Pools</h2>\n<table id=\"pools\">\n<tr><th>Pool</th>"
             "<th>Kind</th><th>Tunnels</th><th>Streams now</th>"
             "<th>Waiting</th><th>Requests</th><th>Retries</th></tr>\n", r);
    for (i = 0; i < doc->pools->nelts; ++i) {
        const ptth_sdoc_pool *pl = &APR_ARRAY_IDX(doc->pools, i, ptth_sdoc_pool);
        apr_uint64_t active = 0;

        for (j = 0; j < pl->tunnels->nelts; ++j) {
            active += APR_ARRAY_IDX(pl->tunnels, j, ptth_sdoc_tunnel).active;
        }
        ap_rputs("<tr><td><a href=\"#pool-", r);
        ptth_esc_html(r, pl->name);
        ap_rputs("\">", r);
        ptth_esc_html(r, pl->name);
        ap_rprintf(r, "</a></td><td>%s</td><td class=\"n\">%u / %u</td>"
                   "<td class=\"n\">%" APR_UINT64_T_FMT "</td>"
                   "<td class=\"n\">%u</td><td class=\"n\">%" APR_UINT64_T_FMT
                   "</td><td class=\"n\">%" APR_UINT64_T_FMT "</td></tr>\n",
                   pl->declared ? "&lt;PTTHPool&gt;" : "plain=",
                   pl->n_tunnels, pl->max_tunnels, active, pl->waiting,
                   pl->requests, pl->retries);
    }
    ap_rputs("</table>\n", r);
}

static void tunnel_row(request_rec *r, const ptth_sdoc_tunnel *t, apr_time_t now)
{
    const char *state = ptth_sdoc_tunnel_state_str(t->state);
    char b1[PTTH_FMT_LEN], b2[PTTH_FMT_LEN], b3[PTTH_FMT_LEN];
    char mx[PTTH_FMT_LEN];
    int i;

    ap_rprintf(r, "<tr id=\"tunnel-%u\" class=\"tunnel s-%s\"><td class=\"n\">"
               "%u</td><td class=\"backend w\">", t->id, state, t->id);
    ptth_esc_html(r, t->backend);
    ap_rputs("</td><td class=\"hosts w\">", r);
    if (!t->hosts || !t->hosts->nelts) {
        ap_rputs("<span class=\"muted\">(any)</span>", r);
    }
    for (i = 0; t->hosts && i < t->hosts->nelts; ++i) {
        if (i) {
            ap_rputs(", ", r);
        }
        ptth_esc_html(r, APR_ARRAY_IDX(t->hosts, i, const char *));
    }
    ap_rputs("</td><td class=\"peer\">", r);
    ptth_esc_html(r, t->peer);
    /* Before the backend's SETTINGS nghttp2 assumes no limit. */
    if (t->max_streams >= 0x7fffffffu) {
        apr_cpystrn(mx, "&infin;", sizeof(mx));
    }
    else {
        apr_snprintf(mx, sizeof(mx), "%u", t->max_streams);
    }
    ap_rprintf(r, "</td><td class=\"state s-%s\">%s%s</td><td class=\"n\">%s</td>"
               "<td class=\"n streams\">%u / %s</td><td class=\"n served\">%"
               APR_UINT64_T_FMT "</td>",
               state, state, t->penalized ? " (penalized)" : "",
               ptth_fmt_duration(b1, now - t->opened), t->active, mx, t->served);
    ap_rprintf(r, "<td class=\"n\">%s</td><td class=\"n\">%s</td>"
               "<td class=\"n\">%s</td><td class=\"n\">%s</td>"
               "<td class=\"w err\">",
               ptth_fmt_bytes(b1, t->bytes_in), ptth_fmt_bytes(b2, t->bytes_out),
               ptth_fmt_rtt(b3, t->rtt), ptth_fmt_duration(mx, now - t->last_read));
    if (t->last_error) {
        ptth_esc_html(r, t->last_error);
    }
    ap_rputs("</td></tr>\n", r);
}

static void tunnel_tables(request_rec *r, const ptth_sdoc *doc)
{
    int i, j;

    for (i = 0; i < doc->pools->nelts; ++i) {
        const ptth_sdoc_pool *pl = &APR_ARRAY_IDX(doc->pools, i, ptth_sdoc_pool);

        ap_rputs("<h2 id=\"pool-", r);
        ptth_esc_html(r, pl->name);
        ap_rputs("\">Pool ", r);
        ptth_esc_html(r, pl->name);
        ap_rprintf(r, ": %u tunnel%s, %u request%s waiting</h2>\n",
                   pl->n_tunnels, pl->n_tunnels == 1 ? "" : "s",
                   pl->waiting, pl->waiting == 1 ? "" : "s");
        if (!pl->tunnels->nelts) {
            ap_rputs("<p class=\"muted\">No tunnel.</p>\n", r);
            continue;
        }
        ap_rputs("<table class=\"tunnels\" data-pool=\"", r);
        ptth_esc_html(r, pl->name);
        ap_rputs("\">\n<tr><th>Tunnel</th><th>Backend</th><th>Hosts</th>"
                 "<th>Peer</th><th>State</th><th>Age</th><th>Streams</th>"
                 "<th>Served</th><th>Bytes in</th><th>Bytes out</th>"
                 "<th>PING RTT</th><th>Idle</th><th>Last error</th></tr>\n", r);
        for (j = 0; j < pl->tunnels->nelts; ++j) {
            tunnel_row(r, &APR_ARRAY_IDX(pl->tunnels, j, ptth_sdoc_tunnel),
                       doc->hub.now);
        }
        ap_rputs("</table>\n", r);
    }
}

void ptth_status_html(request_rec *r, const ptth_sdoc *doc, int refresh)
{
    const char *title = apr_pstrcat(r->pool, "PTTH router status for ",
                                    ap_get_server_name(r), NULL);

    ptth_html_begin(r, title, refresh);
    hub_summary(r, doc);
    pool_table(r, doc);
    tunnel_tables(r, doc);
    if (doc->omitted) {
        ap_rprintf(r, "<p class=\"err\">%u tunnel%s not shown: the status "
                   "document is limited to 16 MiB.</p>\n", doc->omitted,
                   doc->omitted == 1 ? "" : "s");
    }
    ap_rputs("<p class=\"muted\">Streams: in flight now / the backend's "
             "SETTINGS_MAX_CONCURRENT_STREAMS. Bytes in: read from the "
             "backend. Also as <a href=\"?json\">JSON</a> and "
             "<a href=\"?metrics\">metrics</a>.", r);
    if (refresh) {
        ap_rprintf(r, " Reloads every %d s.", refresh);
    }
    ap_rputs("</p>\n", r);
    ptth_html_end(r);
}
