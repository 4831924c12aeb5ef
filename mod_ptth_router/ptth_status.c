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

/* "SetHandler ptth-status": the hub's pools and tunnels as JSON.
 *
 *   <Location /ptth-status>
 *       SetHandler ptth-status
 *       Require ip 127.0.0.1
 *   </Location>
 *
 * Any child can answer: it asks the hub over a link (PTTH_LF_STATUS),
 * which is where the tunnels live (docs/architecture.md, "The hub"). */

#include <apr_strings.h>

#include <httpd.h>
#include <http_config.h>
#include <http_protocol.h>
#include <http_request.h>
#include <http_log.h>

#include "ptth_router.h"
#include "ptth_link_child.h"

static apr_status_t fetch_status(request_rec *r, const char **json,
                                 apr_size_t *len)
{
    ptth_router_sconf *conf = ptth_router_sconf_get(r->server);
    ptth_link_conn *lc;
    unsigned char hdr[PTTH_LINK_HDR_LEN];
    struct iovec vec;
    ptth_link_fhdr fh;
    const char *payload;
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
        if (rv == APR_SUCCESS && fh.type != PTTH_LF_STATUS) {
            rv = APR_EGENERAL;
        }
        if (rv == APR_SUCCESS) {
            *json = apr_pstrmemdup(r->pool, payload, fh.length);
            *len = fh.length;
        }
        ptth_link_release(lc, rv == APR_SUCCESS);
        return rv;
    }
    return APR_EAGAIN;
}

static int ptth_status_handler(request_rec *r)
{
    const char *json = NULL;
    apr_size_t len = 0;
    apr_status_t rv;

    if (!r->handler || strcmp(r->handler, "ptth-status")) {
        return DECLINED;
    }
    r->allowed |= (AP_METHOD_BIT << M_GET);
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    rv = fetch_status(r, &json, &len);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, PTTHLOGNO(01601)
                      "ptth-status: the tunnel hub did not answer");
        return HTTP_SERVICE_UNAVAILABLE;
    }
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (!r->header_only) {
        ap_rwrite(json, (int)len, r);
    }
    return OK;
}

void ptth_status_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_handler(ptth_status_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
