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

/* The router's section in mod_status's server-status, through its
 * optional status_hook (mod_status.h): the hub, each pool and each
 * tunnel in the HTML page, and "PTTH...: value" lines in ?auto.  The
 * numbers come from the same status document as ptth-status. */

#include <apr_strings.h>

#include <httpd.h>
#include <http_log.h>
#include <apr_optional_hooks.h>
#include <http_protocol.h>
#include <mod_status.h>

#include "ptth_router.h"
#include "ptth_esc.h"
#include "ptth_html.h"
#include "ptth_status.h"

static void auto_lines(request_rec *r, const ptth_sdoc *doc)
{
    const ptth_sdoc_hub *h = &doc->hub;
    ptth_sdoc_totals tot;
    int i, j;

    ptth_sdoc_sum(doc, &tot);
    ap_rprintf(r, "PTTHHubPid: %u\nPTTHHubState: %s\nPTTHHubUptime: %"
               APR_TIME_T_FMT "\nPTTHHubRestarts: %u\nPTTHPools: %d\n"
               "PTTHTunnels: %" APR_UINT64_T_FMT "\nPTTHTunnelsOpen: %"
               APR_UINT64_T_FMT "\nPTTHStreamsActive: %" APR_UINT64_T_FMT
               "\nPTTHRequestsWaiting: %" APR_UINT64_T_FMT "\nPTTHRequests: %"
               APR_UINT64_T_FMT "\nPTTHRetries: %" APR_UINT64_T_FMT "\n",
               h->pid, ptth_sdoc_hub_state_str(h->state),
               h->now > h->started ? apr_time_sec(h->now - h->started) : 0,
               h->restarts, doc->pools->nelts, tot.tunnels, tot.open,
               tot.active, tot.waiting, tot.requests, tot.retries);
    for (i = 0; i < doc->pools->nelts; ++i) {
        const ptth_sdoc_pool *pl = &APR_ARRAY_IDX(doc->pools, i, ptth_sdoc_pool);
        apr_uint64_t active = 0;

        for (j = 0; j < pl->tunnels->nelts; ++j) {
            active += APR_ARRAY_IDX(pl->tunnels, j, ptth_sdoc_tunnel).active;
        }
        /* Pool names are the configuration's (no white space). */
        ap_rprintf(r, "PTTHPool: %s tunnels=%u streams=%" APR_UINT64_T_FMT
                   " waiting=%u requests=%" APR_UINT64_T_FMT " retries=%"
                   APR_UINT64_T_FMT "\n", pl->name, pl->n_tunnels, active,
                   pl->waiting, pl->requests, pl->retries);
    }
}

static void html_section(request_rec *r, const ptth_sdoc *doc, int flags)
{
    const ptth_sdoc_hub *h = &doc->hub;
    ptth_sdoc_totals tot;
    char b1[PTTH_FMT_LEN];
    int i, j;

    ptth_sdoc_sum(doc, &tot);
    ap_rprintf(r, "<hr /><h2><a name=\"ptth\">PTTH router</a></h2>\n"
               "<dl><dt>Tunnel hub pid %u, %s, up %s, %u restart%s</dt>\n"
               "<dt>%" APR_UINT64_T_FMT " tunnel%s (%" APR_UINT64_T_FMT
               " open), %" APR_UINT64_T_FMT " stream%s now, %"
               APR_UINT64_T_FMT " request%s waiting</dt></dl>\n",
               h->pid, ptth_sdoc_hub_state_str(h->state),
               ptth_fmt_duration(b1, h->now - h->started), h->restarts,
               h->restarts == 1 ? "" : "s", tot.tunnels,
               tot.tunnels == 1 ? "" : "s", tot.open, tot.active,
               tot.active == 1 ? "" : "s", tot.waiting,
               tot.waiting == 1 ? "" : "s");
    if (flags & AP_STATUS_NOTABLE) {
        for (i = 0; i < doc->pools->nelts; ++i) {
            const ptth_sdoc_pool *pl = &APR_ARRAY_IDX(doc->pools, i, ptth_sdoc_pool);
            ap_rputs("<p>Pool ", r);
            ptth_esc_html(r, pl->name);
            ap_rprintf(r, ": %u tunnels, %u waiting, %" APR_UINT64_T_FMT
                       " requests</p>\n", pl->n_tunnels, pl->waiting,
                       pl->requests);
        }
        return;
    }
    ap_rputs("<table border=\"0\" id=\"ptth-tunnels\"><tr><th>Pool</th>"
             "<th>Tunnel</th><th>Backend</th><th>Peer</th><th>State</th>"
             "<th>Streams</th><th>Served</th><th>Waiting</th></tr>\n", r);
    for (i = 0; i < doc->pools->nelts; ++i) {
        const ptth_sdoc_pool *pl = &APR_ARRAY_IDX(doc->pools, i, ptth_sdoc_pool);

        if (!pl->tunnels->nelts) {
            ap_rputs("<tr><td>", r);
            ptth_esc_html(r, pl->name);
            ap_rprintf(r, "</td><td colspan=\"6\">no tunnel</td><td>%u</td>"
                       "</tr>\n", pl->waiting);
        }
        for (j = 0; j < pl->tunnels->nelts; ++j) {
            const ptth_sdoc_tunnel *t =
                &APR_ARRAY_IDX(pl->tunnels, j, ptth_sdoc_tunnel);
            ap_rputs("<tr><td>", r);
            ptth_esc_html(r, pl->name);
            ap_rprintf(r, "</td><td>%u</td><td>", t->id);
            ptth_esc_html(r, t->backend);
            ap_rputs("</td><td>", r);
            ptth_esc_html(r, t->peer);
            ap_rprintf(r, "</td><td>%s</td><td>%u</td><td>%" APR_UINT64_T_FMT
                       "</td><td>%u</td></tr>\n",
                       ptth_sdoc_tunnel_state_str(t->state), t->active,
                       t->served, pl->waiting);
        }
    }
    ap_rputs("</table>\n", r);
}

static int ptth_status_section(request_rec *r, int flags)
{
    ptth_sdoc *doc = NULL;
    apr_status_t rv;

    if (!ptth_router_link_path()) {
        return OK;      /* no PTTHListen: nothing to show */
    }
    rv = ptth_status_fetch(r, &doc);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, r, PTTHLOGNO(01603)
                      "server-status: the tunnel hub did not answer");
        ap_rputs((flags & AP_STATUS_SHORT) ? "PTTHHubState: unavailable\n"
                 : "<hr /><h2>PTTH router</h2>\n<p>The tunnel hub did not "
                   "answer.</p>\n", r);
        return OK;
    }
    if (flags & AP_STATUS_SHORT) {
        auto_lines(r, doc);
    }
    else {
        html_section(r, doc, flags);
    }
    return OK;
}

void ptth_status_hook_register(void)
{
    APR_OPTIONAL_HOOK(ap, status_hook, ptth_status_section, NULL, NULL,
                      APR_HOOK_MIDDLE);
}
