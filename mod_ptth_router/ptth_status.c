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

/* "SetHandler ptth-status": the hub's pools and tunnels for people (HTML),
 * for programs (JSON) and for scrapers (OpenMetrics / Prometheus text).
 *
 *   <Location /ptth-status>
 *       SetHandler ptth-status
 *       Require ip 127.0.0.1
 *   </Location>
 *   ProxyPass /ptth-status !
 *
 * Any child can answer: it asks the hub over a link (PTTH_LF_STATUS),
 * which is where the tunnels live (docs/architecture.md, "The hub"), and
 * renders the document the hub sends (ptth_status.h).  Which output is
 * chosen by the query or Accept (ptth_negotiate.h). */

#include <apr_strings.h>

#include <httpd.h>
#include <http_config.h>
#include <http_protocol.h>
#include <http_request.h>
#include <http_log.h>

#include "ptth_router.h"
#include "ptth_link_child.h"
#include "ptth_metrics.h"
#include "ptth_negotiate.h"
#include "ptth_status.h"

apr_status_t ptth_status_fetch(request_rec *r, ptth_sdoc **pdoc)
{
    ptth_router_sconf *conf = ptth_router_sconf_get(r->server);
    ptth_link_conn *lc;
    unsigned char hdr[PTTH_LINK_HDR_LEN];
    struct iovec vec;
    ptth_link_fhdr fh;
    const char *payload;
    char *copy;
    apr_status_t rv;
    int attempt;

    if (!ptth_router_link_path()) {
        return APR_ENOENT;
    }
    /* A draining hub says GOAWAY on its idle links (ptth_link.h): ask
     * again on a fresh link, which reaches the current hub. */
    for (attempt = 0; attempt < 3; ++attempt) {
        rv = ptth_link_acquire(&lc, ptth_router_link_path(),
                               conf->wait_timeout, attempt > 0, r);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        ptth_link_conn_timeout_set(lc, apr_time_from_sec(5));
        ptth_link_hdr_pack(hdr, PTTH_LF_STATUS, 0, 0);
        vec.iov_base = hdr;
        vec.iov_len = sizeof(hdr);
        rv = ptth_link_conn_write(lc, &vec, 1, NULL, NULL);
        if (rv == APR_SUCCESS) {
            rv = ptth_link_conn_read_frame(lc, &fh, &payload, 1);
        }
        if (rv == APR_SUCCESS && fh.type == PTTH_LF_GOAWAY) {
            ptth_link_release(lc, 0);
            continue;
        }
        if (rv != APR_SUCCESS && lc->reused) {
            /* A pooled link to a hub that died meanwhile (EPIPE, reset,
             * EOF): ask the current hub on a new one, as the proxy does. */
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, PTTHLOGNO(01604)
                          "ptth-status: pooled link %u failed, asking again "
                          "on a new one", (unsigned)lc->id);
            ptth_link_release(lc, 0);
            continue;
        }
        if (rv == APR_SUCCESS && fh.type != PTTH_LF_STATUS) {
            rv = APR_EGENERAL;
        }
        if (rv == APR_SUCCESS) {
            /* The document's strings point into its payload: keep a copy
             * for the request, the link's buffer is reused. */
            copy = apr_pmemdup(r->pool, payload, fh.length ? fh.length : 1);
            rv = ptth_sdoc_decode(r->pool, copy, fh.length, pdoc);
            if (rv != APR_SUCCESS) {
                ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, PTTHLOGNO(01602)
                              "ptth-status: the hub's status document is "
                              "malformed (%u octets)", (unsigned)fh.length);
            }
        }
        ptth_link_release(lc, rv == APR_SUCCESS);
        return rv;
    }
    return APR_EAGAIN;
}

void ptth_sdoc_sum(const ptth_sdoc *doc, ptth_sdoc_totals *tot)
{
    int i, j;

    memset(tot, 0, sizeof(*tot));
    for (i = 0; i < doc->pools->nelts; ++i) {
        const ptth_sdoc_pool *pl = &APR_ARRAY_IDX(doc->pools, i, ptth_sdoc_pool);
        tot->tunnels += pl->n_tunnels;
        tot->waiting += pl->waiting;
        tot->requests += pl->requests;
        tot->retries += pl->retries;
        for (j = 0; j < pl->tunnels->nelts; ++j) {
            const ptth_sdoc_tunnel *t =
                &APR_ARRAY_IDX(pl->tunnels, j, ptth_sdoc_tunnel);
            tot->open += t->state == PTTH_SDOC_TUN_OPEN;
            tot->active += t->active;
            tot->served += t->served;
        }
    }
}

static int ptth_status_handler(request_rec *r)
{
    ptth_sdoc *doc = NULL;
    ptth_out_fmt fmt;
    apr_status_t rv;
    int refresh;

    if (!r->handler || strcmp(r->handler, "ptth-status")) {
        return DECLINED;
    }
    r->allowed |= (AP_METHOD_BIT << M_GET);
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    fmt = ptth_out_negotiate(r, &refresh);
    apr_table_mergen(r->headers_out, "Vary", "Accept");
    rv = ptth_status_fetch(r, &doc);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, PTTHLOGNO(01601)
                      "ptth-status: the tunnel hub did not answer");
        return HTTP_SERVICE_UNAVAILABLE;
    }
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    switch (fmt) {
    case PTTH_OUT_HTML:
        ap_set_content_type(r, "text/html; charset=utf-8");
        break;
    case PTTH_OUT_OPENMETRICS:
        ap_set_content_type(r, PTTH_CT_OPENMETRICS);
        break;
    case PTTH_OUT_PROMETHEUS:
        ap_set_content_type(r, PTTH_CT_PROMETHEUS);
        break;
    default:
        ap_set_content_type(r, "application/json");
        break;
    }
    if (r->header_only) {
        return OK;
    }
    switch (fmt) {
    case PTTH_OUT_HTML:
        ptth_status_html(r, doc, refresh);
        break;
    case PTTH_OUT_OPENMETRICS:
    case PTTH_OUT_PROMETHEUS:
        ptth_status_metrics(r, doc, fmt == PTTH_OUT_OPENMETRICS);
        break;
    default:
        ptth_status_json(r, doc);
        break;
    }
    return OK;
}

void ptth_status_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_handler(ptth_status_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ptth_status_hook_register();
}
