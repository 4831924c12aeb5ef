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

/* The ptth:// scheme for mod_proxy, in the httpd children.
 *
 * "ProxyPass /app/ ptth://POOL/" hands a request to ptth_proxy_handler(),
 * which forwards it to the hub over a link as one exchange: the steps are
 * in ptth_fwd_run() below, the exchange itself in ptth_fwd.h. */

#include <string.h>

#include <apr_strings.h>

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <mod_proxy.h>

#include "ptth_router.h"
#include "ptth_fwd.h"
#include "ptth_ws.h"

#define PTTH_PROXY_FUNC       "PTTH"
/* The hub times out first (wait_ms + timeout_ms); the link timeout is the
 * safety net behind it. */
#define PTTH_LINK_SLACK       apr_time_from_sec(2)

static int ptth_proxy_canon(request_rec *r, char *url)
{
    char *host, *path, sport[sizeof(":65535")];
    const char *err, *search = NULL;
    apr_port_t port = 0;

    if (ap_cstr_casecmpn(url, PTTH_SCHEME "://", sizeof(PTTH_SCHEME) + 2)) {
        return DECLINED;
    }
    url += sizeof(PTTH_SCHEME);     /* keep the "//" */
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                  "ptth: canonicalising URL %s", url);

    err = ap_proxy_canon_netloc(r->pool, &url, NULL, NULL, &host, &port);
    if (err) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PTTHLOGNO(01521)
                      "error parsing URL %s: %s", url, err);
        return HTTP_BAD_REQUEST;
    }

    if (apr_table_get(r->notes, "proxy-nocanon")) {
        path = url;     /* the raw path */
    }
    else if (apr_table_get(r->notes, "proxy-noencode")) {
        path = url;     /* already encoded */
        search = r->args;
    }
    else {
        core_dir_config *d = ap_get_core_module_config(r->per_dir_config);
        int flags = d->allow_encoded_slashes && !d->decode_encoded_slashes
                    ? PROXY_CANONENC_NOENCODEDSLASHENCODING : 0;

        path = ap_proxy_canonenc_ex(r->pool, url, (int)strlen(url), enc_path,
                                    flags, r->proxyreq);
        if (!path) {
            return HTTP_BAD_REQUEST;
        }
        search = r->args;
    }
    if (apr_table_get(r->notes, "proxy-noquery")) {
        search = NULL;
    }
    /* A raw control character or space means encoding was missed. */
    if (path == url && *ap_scan_vchar_obstext(path)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PTTHLOGNO(01522)
                      "To be forwarded path contains control "
                      "characters or spaces");
        return HTTP_FORBIDDEN;
    }
    if (search && *ap_scan_vchar_obstext(search)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PTTHLOGNO(01523)
                      "To be forwarded query string contains control "
                      "characters or spaces");
        return HTTP_FORBIDDEN;
    }

    if (port) {
        apr_snprintf(sport, sizeof(sport), ":%u", (unsigned)port);
    }
    else {
        sport[0] = '\0';
    }
    if (ap_strchr_c(host, ':')) {   /* IPv6 literal */
        host = apr_pstrcat(r->pool, "[", host, "]", NULL);
    }
    r->filename = apr_pstrcat(r->pool, "proxy:" PTTH_SCHEME "://", host, sport,
                              "/", path, search ? "?" : "", search ? search : "",
                              NULL);
    return OK;
}


/* Set up the exchange for r from the worker's and server's settings. */
static void fwd_init(ptth_fwd *fwd, request_rec *r, proxy_worker *worker,
                     proxy_server_conf *conf)
{
    ptth_router_sconf *sc = ptth_router_sconf_get(r->server);
    apr_port_t port;

    fwd->r = r;
    fwd->c = r->connection;
    fwd->worker = worker;
    fwd->conf = conf;
    fwd->dconf = ap_get_module_config(r->per_dir_config, &proxy_module);
    fwd->pool_name = worker->s->hostname_ex;
    apr_table_set(r->subprocess_env, PTTH_ENV_POOL, fwd->pool_name);
    fwd->link_path = ptth_router_link_path();
    fwd->body = ptth_fwd_body_get(r);
    fwd->in = apr_brigade_create(r->pool, fwd->c->bucket_alloc);
    fwd->out = apr_brigade_create(r->pool, fwd->c->bucket_alloc);
    fwd->original_status = r->status;
    fwd->original_status_line = r->status_line;
    fwd->resp_cl = -1;

    /* A worker's connectiontimeout= is the wait for a tunnel; timeout=
     * (else ProxyTimeout, else Timeout) how long the backend may be
     * silent. */
    fwd->wait = worker->s->conn_timeout_set ? worker->s->conn_timeout
              : (sc && sc->wait_timeout_set) ? sc->wait_timeout
              : PTTH_DEFAULT_WAIT_TIMEOUT;
    fwd->timeout = worker->s->timeout_set ? worker->s->timeout
                 : conf->timeout_set ? conf->timeout : r->server->timeout;
    fwd->link_timeout = fwd->wait + fwd->timeout + PTTH_LINK_SLACK;

    port = ap_get_server_port(r);
    if (ap_is_default_port(port, r)) {
        fwd->portstr[0] = '\0';
    }
    else {
        apr_snprintf(fwd->portstr, sizeof(fwd->portstr), ":%d", (int)port);
    }
    /* End-to-end 100-continue, unless an earlier attempt (failover) has
     * read the body already and HTTP_IN answered the user. */
    fwd->expect_100 = r->expecting_100 && fwd->dconf->forward_100_continue
                      && fwd->body->consumed == 0;
    fwd->upgrade = ptth_ws_wanted(fwd);
    if (fwd->upgrade) {
        fwd->expect_100 = 0;
    }
}

/* One exchange, from the REQUEST on: the body (after the 100 when the
 * user expects one), then the response. */
static void fwd_exchange(ptth_fwd *fwd)
{
    if (fwd->upgrade) {
        /* The backend takes the extended CONNECT (a pipe) or answers it
         * as the GET it also is: then its body, empty, is ended. */
        ptth_fwd_read_head(fwd);
        if (fwd->state == PTTH_FWD_PIPE || ptth_fwd_failed(fwd)) {
            return;
        }
        if (ptth_fwd_end_empty_body(fwd) != APR_SUCCESS) {
            return;
        }
    }
    else {
        if (fwd->expect_100 && !ptth_fwd_req_done(fwd)) {
            ptth_fwd_await_continue(fwd);
        }
        /* Not when the backend answered without asking for the body:
         * then it is never read (and the user's connection closes). */
        if (!ptth_fwd_req_done(fwd) && !fwd->status && !ptth_fwd_failed(fwd)) {
            ptth_fwd_send_body(fwd);
        }
        if (ptth_fwd_resp_done(fwd) && !fwd->body->eos) {
            /* Answered early: the rest of the body is not worth reading. */
            fwd->c->keepalive = AP_CONN_CLOSE;
        }
    }
    if (!ptth_fwd_failed(fwd) && !ptth_fwd_resp_done(fwd)) {
        ptth_fwd_read_response(fwd);
    }
}

static int fwd_run(ptth_fwd *fwd, const char *url)
{
    request_rec *r = fwd->r;
    apr_status_t rv;
    int attempt;

    /* 1. The REQUEST, from the user's request and mod_proxy's rules. */
    rv = ptth_fwd_build_request(fwd, url);
    if (rv == APR_ENOSPC) {
        return ap_proxyerror(r, HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
                             "request head too large for a ptth link");
    }
    if (rv != APR_SUCCESS) {
        return ap_proxyerror(r, HTTP_BAD_REQUEST,
                             apr_pstrcat(r->pool, "invalid ptth URL ", url, NULL));
    }
    /* 2. A pool this router serves, and a body that can still be sent. */
    if (!ptth_router_pool_known(r->server, fwd->pool_name)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PTTHLOGNO(01539)
                      "ptth: pool '%s' is not configured (PTTHListen plain=)",
                      fwd->pool_name);
        return ap_proxyerror(r, HTTP_SERVICE_UNAVAILABLE,
                             apr_psprintf(r->pool, "unknown ptth pool %s",
                                          fwd->pool_name));
    }
    if (fwd->body->lost) {
        /* Balancer failover after an attempt that streamed more body than
         * we keep: what the user sent is gone. */
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PTTHLOGNO(01540)
                      "ptth pool %s: cannot fail over, %" APR_OFF_T_FMT
                      " request body bytes went to an earlier attempt",
                      fwd->pool_name, fwd->body->consumed);
        return ap_proxyerror(r, HTTP_BAD_GATEWAY, "request body already consumed");
    }
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                  "ptth: %s %s%s to pool %s, wait %u ms, timeout %u ms",
                  fwd->req.method, fwd->req.authority, fwd->req.path,
                  fwd->pool_name, fwd->req.wait_ms, fwd->req.timeout_ms);

    for (attempt = 0;; ++attempt) {
        /* 3. A link, and the REQUEST on it. */
        if (ptth_fwd_send_head(fwd, attempt > 0) != APR_SUCCESS) {
            return ap_proxyerror(r, HTTP_SERVICE_UNAVAILABLE,
                                 "tunnel hub unavailable");
        }
        /* 4. The exchange: body and response, or an upgrade's pipe. */
        fwd_exchange(fwd);
        if (fwd->state == PTTH_FWD_PIPE) {
            return ptth_ws_pipe(fwd);
        }
        /* 5. Again on a fresh link if a draining hub did not take it. */
        if (!ptth_fwd_may_resend(fwd, attempt)) {
            return ptth_fwd_result(fwd);
        }
        ptth_fwd_finish_link(fwd);
        ptth_fwd_new_attempt(fwd);
        if (attempt) {
            /* The old hub closes its listener as soon as it drains. */
            apr_sleep(apr_time_from_msec(10 << (attempt < 4 ? attempt : 4)));
        }
    }
}

static int ptth_proxy_handler(request_rec *r, proxy_worker *worker,
                              proxy_server_conf *conf, char *url,
                              const char *proxyname, apr_port_t proxyport)
{
    proxy_conn_rec *backend = NULL;
    ptth_fwd *fwd;
    int status;

    (void)proxyport;
    if (ap_cstr_casecmpn(url, PTTH_SCHEME "://", sizeof(PTTH_SCHEME) + 2)) {
        return DECLINED;
    }
    if (proxyname) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, PTTHLOGNO(01541)
                      "ptth: ProxyRemote %s does not apply to ptth://, "
                      "ignored", proxyname);
    }
    /* Pools are internal names: no forward proxying into them. */
    if (r->proxyreq != PROXYREQ_REVERSE) {
        return ap_proxyerror(r, HTTP_FORBIDDEN,
                             "ptth:// is only for reverse proxying");
    }
    if (!ptth_router_link_path()) {
        return ap_proxyerror(r, HTTP_SERVICE_UNAVAILABLE,
                             "tunnel hub not configured");
    }
    /* Only for the usability/retry check of balancer members and the
     * max= limit: it neither resolves nor connects anything. */
    status = ap_proxy_acquire_connection(PTTH_PROXY_FUNC, &backend, worker,
                                         r->server);
    if (status != OK) {
        return status;
    }
    fwd = apr_pcalloc(r->pool, sizeof(*fwd));
    fwd_init(fwd, r, worker, conf);
    status = fwd_run(fwd, url);
    ap_proxy_release_connection(PTTH_PROXY_FUNC, backend, r->server);
    return status;
}

static void ptth_proxy_child_init(apr_pool_t *pchild, server_rec *s)
{
    ptth_link_child_init(pchild, s);
}

static void ptth_proxy_optional_fn_retrieve(void)
{
    ptth_fwd_request_init();
}

void ptth_proxy_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_child_init(ptth_proxy_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_optional_fn_retrieve(ptth_proxy_optional_fn_retrieve, NULL, NULL,
                                 APR_HOOK_MIDDLE);
    proxy_hook_scheme_handler(ptth_proxy_handler, NULL, NULL, APR_HOOK_FIRST);
    proxy_hook_canon_handler(ptth_proxy_canon, NULL, NULL, APR_HOOK_FIRST);
    ptth_ws_register();
}
