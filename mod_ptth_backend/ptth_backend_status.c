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

/* "SetHandler ptth-backend-status": every router this server dials
 * (PTTHConnect) and each of its tunnels, as the seats' records in shared
 * memory have them (ptth_seat.h), so any child shows the whole server.
 *
 *   <Location /ptth-backend-status>
 *       SetHandler ptth-backend-status
 *       Require ip 127.0.0.1
 *   </Location>
 *
 * Also here: the per-request variables PTTH_ROUTER and PTTH_TUNNEL for the
 * access log, and the configtest warnings about this handler and about
 * routers dialed in cleartext off loopback. */

#include <unistd.h>

#include <apr_strings.h>

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_main.h>
#include <http_protocol.h>
#include <http_request.h>

#include "ptth_backend.h"
#include "ptth_backend_config.h"
#include "ptth_backend_status.h"
#include "ptth_conf_audit.h"
#include "ptth_dialed.h"
#include "ptth_negotiate.h"
#include "ptth_serve.h"

#define HANDLER "ptth-backend-status"

const char *ptth_bst_state(const ptth_bst_seat *seat)
{
    if (!seat->owner) {
        return "free";
    }
    switch ((ptth_dialed_state)seat->info.state) {
    case PTTH_DIALED_IDLE:         return "idle";
    case PTTH_DIALED_CONNECTING:   return "dialing";
    case PTTH_DIALED_WAIT_PREFACE: return "waiting";
    case PTTH_DIALED_SERVING:      return "serving";
    case PTTH_DIALED_DRAINING:     return "draining";
    case PTTH_DIALED_CLOSED:       return "closed";
    case PTTH_DIALED_BACKOFF:      return "backoff";
    case PTTH_DIALED_DONE:         return "done";
    }
    return "unknown";
}

static const char *mode_of(const ptth_connect *pc)
{
    switch (pc->ep.scheme) {
    case PTTH_EP_TCP:   return "tcp";
    case PTTH_EP_HTTP:  return "http";
    case PTTH_EP_HTTPS: return "https";
    }
    return "?";
}

/* Every seat's record, copied once: the outputs read the copy. */
static ptth_bst *snapshot(request_rec *r, ptth_backend_sconf *conf)
{
    ptth_bst *st = apr_pcalloc(r->pool, sizeof(*st));
    int i, j;

    st->now = apr_time_now();
    st->pid = (apr_uint32_t)getpid();
    st->generation = ap_state_query(AP_SQ_CONFIG_GEN);
    st->nrouters = conf->connects->nelts;
    st->routers = apr_pcalloc(r->pool, sizeof(ptth_bst_router) * (st->nrouters + 1));
    for (i = 0; i < st->nrouters; ++i) {
        const ptth_connect *pc = &APR_ARRAY_IDX(conf->connects, i, ptth_connect);
        ptth_bst_router *rt = &st->routers[i];

        rt->url = pc->ep.url;
        rt->mode = mode_of(pc);
        rt->tunnels = ptth_connect_tunnels(conf, pc);
        rt->seats = apr_pcalloc(r->pool, sizeof(ptth_bst_seat) * (rt->tunnels + 1));
        for (j = 0; j < rt->tunnels; ++j) {
            ptth_bst_seat *seat = &rt->seats[j];
            seat->no = j;
            ptth_seat_read(conf->seats, pc->seat_base + j, &seat->info, &seat->owner);
            rt->serving += seat->owner && seat->info.state == PTTH_DIALED_SERVING;
        }
    }
    return st;
}

static int status_handler(request_rec *r)
{
    ptth_backend_sconf *conf;
    ptth_out_fmt fmt;
    ptth_bst *st;
    int refresh;

    if (!r->handler || strcmp(r->handler, HANDLER)) {
        return DECLINED;
    }
    r->allowed |= (AP_METHOD_BIT << M_GET);
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    conf = ptth_backend_sconf_get(ap_server_conf);
    fmt = ptth_out_negotiate(r, &refresh);
    apr_table_mergen(r->headers_out, "Vary", "Accept");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    /* Without PTTHConnect the report is empty. */
    st = snapshot(r, conf);
    switch (fmt) {
    case PTTH_OUT_HTML:
        ap_set_content_type(r, "text/html; charset=utf-8");
        break;
    case PTTH_OUT_JSON:
        ap_set_content_type(r, "application/json");
        break;
    default:
        break;
    }
    switch (fmt) {
    case PTTH_OUT_HTML:
        if (!r->header_only) {
            ptth_bst_html(r, st, refresh);
        }
        break;
    case PTTH_OUT_OPENMETRICS:
    case PTTH_OUT_PROMETHEUS:
        ptth_bst_metrics(r, st, fmt == PTTH_OUT_OPENMETRICS);
        break;
    default:
        if (!r->header_only) {
            ptth_bst_json(r, st);
        }
        break;
    }
    return OK;
}

/* The router and the tunnel (its seat within the PTTHConnect) a request
 * came over, for %{PTTH_ROUTER}e and %{PTTH_TUNNEL}e. */
static int note_request(request_rec *r)
{
    ptth_dialed *d = ptth_serve_dialed_of(r->connection);

    if (d && d->seat_index >= 0) {
        apr_table_setn(r->subprocess_env, "PTTH_ROUTER", d->router);
        apr_table_setn(r->subprocess_env, "PTTH_TUNNEL",
                       apr_itoa(r->pool, d->seat_no));
    }
    return DECLINED;
}

/* Warnings (docs/mod_ptth_backend.md, "Security warnings"), once per
 * configuration read, as in mod_ptth_router. */
static void audit(server_rec *s, apr_pool_t *ptemp)
{
    ptth_backend_sconf *conf = ptth_backend_sconf_get(s);
    apr_array_header_t *open;
    int i;

    for (i = 0; i < conf->connects->nelts; ++i) {
        const ptth_connect *pc = &APR_ARRAY_IDX(conf->connects, i, ptth_connect);
        if (pc->ep.scheme != PTTH_EP_HTTPS
            && !ptth_host_is_loopback(ptemp, pc->ep.host)) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, PTTHLOGNO(03200)
                         "PTTHConnect %s: %s to a router that is not on "
                         "loopback: %s; use https:// across a network you do "
                         "not trust", pc->ep.url,
                         pc->ep.scheme == PTTH_EP_TCP ? "plain mode" : "cleartext",
                         pc->ep.scheme == PTTH_EP_TCP
                         ? "no authentication and no encryption, anyone on "
                           "the path can read and change every request"
                         : "the token and every request cross the network "
                           "unencrypted");
        }
    }
    open = ptth_find_open_handlers(ptemp, HANDLER);
    for (i = 0; i < open->nelts; ++i) {
        const ptth_open_handler *oh = &APR_ARRAY_IDX(open, i, ptth_open_handler);
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, PTTHLOGNO(03201)
                     "SetHandler " HANDLER " (%s:%d, in %s) has no access "
                     "control: no Require, Allow or Deny applies there, so "
                     "anyone who reaches this server can read which routers "
                     "it dials and why they refused; add e.g. \"Require ip "
                     "127.0.0.1\"", oh->file, oh->line, oh->section);
    }
}

static int audit_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp, server_rec *s)
{
    (void)pconf; (void)plog;
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        audit(s, ptemp);
    }
    return OK;
}

static int audit_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp, server_rec *s)
{
    (void)pconf; (void)plog;
    if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG) {
        audit(s, ptemp);
    }
    return OK;
}

void ptth_backend_status_register(apr_pool_t *p)
{
    (void)p;
    ap_hook_handler(status_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_read_request(note_request, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(audit_check_config, NULL, NULL, APR_HOOK_LAST);
    ap_hook_post_config(audit_post_config, NULL, NULL, APR_HOOK_LAST);
}
