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

/* The REQUEST of a forwarded request: the user's request mapped with the
 * rules of ap_proxy_create_hdrbrgd() (Via, X-Forwarded-*, Proxy-
 * Authorization, fixups) and the HTTP/2 mapping of mod_proxy_http2
 * (:authority, lowercase names, one cookie field), then sent on a link. */

#include <string.h>

#include <apr_optional.h>
#include <apr_strings.h>
#include <apr_uri.h>

#include <httpd.h>
#include <http_core.h>
#include <http_log.h>
#include <http_ssl.h>

#include "ptth_router.h"
#include "ptth_fields.h"
#include "ptth_fwd.h"
#include "ptth_fwd_fields.h"

static APR_OPTIONAL_FN_TYPE(ap_proxy_clear_connection) *clear_connection;

void ptth_fwd_request_init(void)
{
    clear_connection = APR_RETRIEVE_OPTIONAL_FN(ap_proxy_clear_connection);
}

static apr_uint32_t to_ms(apr_interval_time_t t)
{
    apr_int64_t ms = apr_time_as_msec(t);

    return ms <= 0 ? 0 : ms > APR_UINT32_MAX ? APR_UINT32_MAX : (apr_uint32_t)ms;
}

static void nv_push(apr_array_header_t *nvs, const char *name, const char *value)
{
    ptth_nv *nv = apr_array_push(nvs);

    nv->name = name;
    nv->nlen = strlen(name);
    nv->value = value;
    nv->vlen = strlen(value);
}

typedef struct {
    apr_pool_t *p;
    apr_array_header_t *nvs;
    const char *cookie;
} nv_ctx;

static int add_nv(void *data, const char *key, const char *val)
{
    nv_ctx *x = data;
    char *lname;

    if (!key || !val || !*key || *key == ':') {
        return 1;
    }
    lname = ptth_fwd_lower(x->p, key);
    if (ptth_field_request_skip(lname)) {
        return 1;
    }
    if (!strcmp(lname, "cookie")) {
        /* One field, joined as RFC 9113 8.2.3 allows. */
        x->cookie = x->cookie ? apr_pstrcat(x->p, x->cookie, "; ", val, NULL)
                              : val;
        return 1;
    }
    nv_push(x->nvs, lname, val);
    return 1;
}

apr_array_header_t *ptth_fwd_fields_of(apr_pool_t *p, apr_table_t *t)
{
    nv_ctx x;

    x.p = p;
    x.nvs = apr_array_make(p, apr_table_elts(t)->nelts + 4, sizeof(ptth_nv));
    x.cookie = NULL;
    apr_table_do(add_nv, &x, t, NULL);
    if (x.cookie) {
        nv_push(x.nvs, "cookie", x.cookie);
    }
    return x.nvs;
}

/* Via (RFC 9110 7.6.3) as mod_proxy writes it; with UseCanonicalName Off
 * the server name is the user's, not ours. */
static const char *via_value(ptth_fwd *fwd, const char *received)
{
    request_rec *r = fwd->r;
    const char *server_name = ap_get_server_name(r);

    if (server_name == r->hostname) {
        server_name = r->server->server_hostname;
    }
    return fwd->conf->viaopt == via_full
        ? apr_psprintf(r->pool, "%s %s%s (%s)", received, server_name,
                       fwd->portstr, AP_SERVER_BASEVERSION)
        : apr_psprintf(r->pool, "%s %s%s", received, server_name, fwd->portstr);
}

const char *ptth_fwd_via(ptth_fwd *fwd, const char *received)
{
    return via_value(fwd, received);
}

apr_status_t ptth_fwd_build_request(ptth_fwd *fwd, const char *url)
{
    request_rec *r = fwd->r;
    conn_rec *c = fwd->c;
    apr_pool_t *p = r->pool;
    apr_table_t *hdrs, *saved_in;
    apr_array_header_t *nvs;
    apr_uri_t puri;
    const char *client_host, *authority, *cl, *te, *val;
    apr_off_t clen = 0;
    char *pool;
    int te_trailers;

    if (apr_uri_parse(p, url, &puri) != APR_SUCCESS || !puri.hostname
        || !*puri.hostname) {
        return APR_EINVAL;
    }
    pool = apr_pstrdup(p, puri.hostname);
    ap_str_tolower(pool);
    fwd->pool_name = pool;

    client_host = apr_table_get(r->headers_in, "Host");
    /* A pool name is no host name the backend knows: a backend serves
     * its own virtual hosts, so unless ProxyPreserveHost is explicitly
     * Off, the user's Host travels as :authority (RFC 9113 8.3.1). */
    if (fwd->dconf->preserve_host || !fwd->dconf->preserve_host_set) {
        authority = client_host;
        if (!authority) {
            authority = r->server->server_hostname;
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, PTTHLOGNO(01524)
                          "no Host in the request and ProxyPreserveHost on: "
                          "using %s as authority for %s", authority, r->uri);
        }
    }
    else {
        authority = puri.port_str ? apr_pstrcat(p, pool, ":", puri.port_str, NULL)
                                  : pool;
    }

    /* Work on a copy, as ap_proxy_create_hdrbrgd() does. */
    hdrs = apr_table_copy(p, r->headers_in);
    cl = apr_table_get(hdrs, "Content-Length");
    te = apr_table_get(hdrs, "Transfer-Encoding");
    val = apr_table_get(hdrs, "TE");
    te_trailers = val && ap_find_token(p, val, "trailers");
    if (cl && (apr_strtoff(&clen, cl, NULL, 10) != APR_SUCCESS || clen < 0)) {
        return APR_EINVAL;  /* HTTP_IN refuses these long before us */
    }
    /* An upgrade keeps the stream open: it becomes the pipe. */
    fwd->has_body = te || clen > 0 || fwd->upgrade;

    /* RFC 9110 7.6.1: what Connection names goes, with it. */
    if (clear_connection) {
        clear_connection(r, hdrs);
    }
    if (fwd->upgrade) {
        /* RFC 8441 5: the key/accept handshake is not used over HTTP/2;
         * the Accept for our user is computed here (ptth_ws.c). */
        apr_table_unset(hdrs, "Sec-WebSocket-Key");
    }
    /* Host becomes :authority; fixups below may still change it. */
    apr_table_setn(hdrs, "Host", authority);

    if (fwd->conf->viaopt == via_block) {
        apr_table_unset(hdrs, "Via");
    }
    else if (fwd->conf->viaopt != via_off) {
        apr_table_mergen(hdrs, "Via", via_value(fwd, apr_psprintf(p, "%d.%d",
                         HTTP_VERSION_MAJOR(r->proto_num),
                         HTTP_VERSION_MINOR(r->proto_num))));
    }
    if (fwd->dconf->add_forwarded_headers && r->proxyreq == PROXYREQ_REVERSE) {
        apr_table_mergen(hdrs, "X-Forwarded-For", r->useragent_ip);
        if (client_host) {
            apr_table_mergen(hdrs, "X-Forwarded-Host", client_host);
        }
        apr_table_mergen(hdrs, "X-Forwarded-Server", r->server->server_hostname);
    }
    /* Used for our own authentication: not the backend's business (unless
     * the admin says so, as in mod_proxy_http). */
    if (r->user && !apr_table_get(r->subprocess_env, "Proxy-Chain-Auth")) {
        apr_table_unset(hdrs, "Proxy-Authorization");
    }
    if (r->main) {
        apr_table_unset(hdrs, "If-Match");
        apr_table_unset(hdrs, "If-Modified-Since");
        apr_table_unset(hdrs, "If-Range");
        apr_table_unset(hdrs, "If-Unmodified-Since");
        apr_table_unset(hdrs, "If-None-Match");
    }
    if ((val = apr_table_get(r->notes, "proxy-basic-creds"))) {
        apr_table_mergen(hdrs, "Proxy-Authorization", val);
    }

    /* Let other modules edit what goes out, as for mod_proxy_http. */
    saved_in = r->headers_in;
    r->headers_in = hdrs;
    proxy_run_fixups(r);
    hdrs = r->headers_in;
    r->headers_in = saved_in;
    if ((val = apr_table_get(hdrs, "Host")) && *val) {
        authority = val;
    }

    nvs = ptth_fwd_fields_of(p, hdrs);
    /* A user's length stands; a chunked body simply streams (h2 framing). */
    if (cl && !te) {
        nv_push(nvs, "content-length", cl);
    }
    if (te_trailers) {
        nv_push(nvs, "te", "trailers");
    }
    if (fwd->expect_100 && fwd->has_body) {
        nv_push(nvs, "expect", "100-continue");
    }
    else {
        fwd->expect_100 = 0;
    }

    fwd->req.generation = (apr_uint32_t)ap_state_query(AP_SQ_CONFIG_GEN);
    fwd->req.sent = apr_time_now();
    fwd->req.wait_ms = to_ms(fwd->wait);
    fwd->req.timeout_ms = to_ms(fwd->timeout);
    fwd->req.pool_name = pool;
    fwd->req.method = r->method;
    fwd->req.scheme = ap_ssl_conn_is_ssl(c->master ? c->master : c) ? "https" : "http";
    fwd->req.authority = authority;
    fwd->req.path = apr_uri_unparse(p, &puri, APR_URI_UNP_OMITSITEPART);
    if (!fwd->req.path || !*fwd->req.path) {
        fwd->req.path = "/";
    }
    fwd->req.headers = nvs;
    fwd->req.protocol = fwd->upgrade ? "websocket" : NULL;

    if (APLOGrtrace2(r)) {
        int i;
        for (i = 0; i < nvs->nelts; ++i) {
            const ptth_nv *nv = &APR_ARRAY_IDX(nvs, i, ptth_nv);
            ap_log_rerror(APLOG_MARK, APLOG_TRACE2, 0, r,
                          "ptth: request header %s: %s", nv->name,
                          ptth_field_is_secret(nv->name) ? "[not logged]"
                                                         : nv->value);
        }
    }
    fwd->head = ptth_link_encode_request(p, &fwd->req, !fwd->has_body,
                                         &fwd->head_len);
    if (fwd->head_len - PTTH_LINK_HDR_LEN > PTTH_LINK_MAX_HEAD) {
        return APR_ENOSPC;
    }
    return APR_SUCCESS;
}

/* Take a link and send the REQUEST.  A pooled link can have been closed
 * by the hub just now: then once more on a fresh one (nothing was sent). */
apr_status_t ptth_fwd_send_head(ptth_fwd *fwd, int fresh)
{
    struct iovec iov;
    apr_status_t rv;
    int attempt;

    iov.iov_base = fwd->head;
    iov.iov_len = fwd->head_len;
    for (attempt = 0; attempt < 2; ++attempt) {
        rv = ptth_link_acquire(&fwd->lc, fwd->link_path, fwd->wait,
                                   fresh || attempt > 0, fwd->r);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        ptth_link_conn_timeout_set(fwd->lc, fwd->link_timeout);
        rv = ptth_link_conn_write(fwd->lc, &iov, 1, NULL, NULL);
        if (rv == APR_SUCCESS) {
            fwd->worker->s->transferred += fwd->head_len;
            ptth_fwd_transit(fwd, PTTH_FWD_OPEN, fresh ? "REQUEST sent again"
                                                       : "REQUEST sent");
            if (!fwd->has_body) {
                ptth_fwd_request_ended(fwd);
            }
            return APR_SUCCESS;
        }
        if (attempt == 0 && fwd->lc->reused
            && (APR_STATUS_IS_EPIPE(rv) || APR_STATUS_IS_ECONNRESET(rv))) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, fwd->r, PTTHLOGNO(01535)
                          PTTH_FWD_MSG(fwd, "pooled link was closed, retrying "
                                       "on a new one"));
            ptth_link_release(fwd->lc, 0);
            fwd->lc = NULL;
            continue;
        }
        break;
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, fwd->r, PTTHLOGNO(01536)
                  PTTH_FWD_MSG(fwd, "sending the request to the hub failed"));
    ptth_link_release(fwd->lc, 0);
    fwd->lc = NULL;
    return rv;
}
