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
 * which carries it to the hub over a pooled link (ptth_linkpool.h) as one
 * exchange (ptth_link.h): REQUEST, the body as DATA frames, then the
 * response frames back into the filter chain.  Plain blocking I/O in the
 * request thread, like mod_proxy_http; the only twist is that while a body
 * write waits, frames from the hub are still read (see ex_pump()), so an
 * early response or RESET never deadlocks against an unread body.
 *
 * Exchange states (transitions logged at debug):
 *   SENDING_HEAD       REQUEST frame on its way
 *   AWAITING_CONTINUE  end-to-end "Expect: 100-continue": body held back
 *   SENDING_BODY       client body streamed as DATA
 *   AWAITING_RESPONSE  request side done, no final response yet
 *   STREAMING_RESPONSE final head received, body going to the client
 *   PIPE               upgraded (WebSocket, RFC 8441): bytes both ways
 *   DONE               both sides ended cleanly: the link can be reused
 *   RESET              the hub gave up (RESET frame)
 *   ABORTED            link failure, protocol error or client gone
 *
 * Errors stay apr_status_t and flags inside; the HTTP status is chosen
 * once, in ex_result(). */

#include <string.h>

#include <apr_base64.h>
#include <apr_lib.h>
#include <apr_sha1.h>
#include <apr_strings.h>
#include <apr_uri.h>

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <http_ssl.h>
#include <mod_proxy.h>

#include "ptth_router.h"
#include "ptth_link.h"
#include "ptth_linkpool.h"
#include "ptth_ws.h"

#define PTTH_PROXY_FUNC       "PTTH"
/* Bytes asked from the client input filters per read. */
#define PTTH_BODY_READ        (4 * PTTH_LINK_MAX_DATA)
/* DATA frames framed per write to the link. */
#define PTTH_SBUF_SIZE        (4 * (PTTH_LINK_HDR_LEN + PTTH_LINK_MAX_DATA))
/* Request body kept in memory so a balancer failover can send it again. */
#define PTTH_BODY_REPLAY_MAX  (64 * 1024)
/* Response bytes collected before they are passed without a flush. */
#define PTTH_OUT_PENDING_MAX  (64 * 1024)
/* Error body read and dropped under ProxyErrorOverride to keep the link. */
#define PTTH_DRAIN_MAX        (64 * 1024)
/* The hub times out first (wait_ms + timeout_ms); the link timeout is the
 * safety net behind it. */
#define PTTH_LINK_SLACK       apr_time_from_sec(2)
#define PTTH_BODY_NOTE        "ptth-req-body"
/* Interim responses accepted per exchange (mod_proxy_http allows 10). */
#define PTTH_MAX_INTERIM      10
/* A hub that drains says so (GOAWAY, RESET SHUTDOWN) before it acts on
 * a request: the request goes again on a fresh link, which reaches the
 * next hub, at most this often and within the wait time. */
#define PTTH_MAX_HUB_ATTEMPTS 8

/*******************************************************************************
 * request body bookkeeping, across balancer failover attempts
 ******************************************************************************/

/* What has been read of the client body for this request_rec.  A failover
 * to another balancer member calls the handler again with the same r: it
 * can only send the body again if nothing consumed was lost. */
typedef struct ptth_proxy_body {
    apr_bucket_brigade *saved;   /* copy of the consumed bytes */
    apr_off_t saved_len;
    apr_off_t consumed;          /* bytes read from r->input_filters */
    unsigned int eos:1;          /* the input filters delivered EOS */
    unsigned int lost:1;         /* consumed more than saved: no replay */
} ptth_proxy_body;

static ptth_proxy_body *body_get(request_rec *r)
{
    ptth_proxy_body *body = NULL;

    apr_pool_userdata_get((void **)&body, PTTH_BODY_NOTE, r->pool);
    if (!body) {
        body = apr_pcalloc(r->pool, sizeof(*body));
        body->saved = apr_brigade_create(r->pool, r->connection->bucket_alloc);
        apr_pool_userdata_setn(body, PTTH_BODY_NOTE, NULL, r->pool);
    }
    return body;
}

static void body_keep(ptth_proxy_body *body, const char *data, apr_size_t len)
{
    body->consumed += (apr_off_t)len;
    if (body->lost) {
        return;
    }
    if (body->saved_len + (apr_off_t)len > PTTH_BODY_REPLAY_MAX) {
        body->lost = 1;
        body->saved_len = 0;
        apr_brigade_cleanup(body->saved);
        return;
    }
    APR_BRIGADE_INSERT_TAIL(body->saved,
        apr_bucket_heap_create(data, len, NULL, body->saved->bucket_alloc));
    body->saved_len += (apr_off_t)len;
}

/*******************************************************************************
 * the exchange
 ******************************************************************************/

typedef enum {
    PTTH_XS_INIT,
    PTTH_XS_SENDING_HEAD,
    PTTH_XS_AWAITING_CONTINUE,
    PTTH_XS_SENDING_BODY,
    PTTH_XS_AWAITING_RESPONSE,
    PTTH_XS_STREAMING_RESPONSE,
    PTTH_XS_PIPE,
    PTTH_XS_DONE,
    PTTH_XS_RESET,
    PTTH_XS_ABORTED
} ptth_proxy_state;

typedef struct ptth_proxy_ex {
    request_rec *r;
    conn_rec *c;
    proxy_worker *worker;
    proxy_server_conf *conf;
    proxy_dir_conf *dconf;
    const char *pool;
    const char *link_path;
    ptth_link_request req;
    ptth_link_conn *lc;
    ptth_proxy_body *body;
    ptth_proxy_state state;

    apr_interval_time_t wait;          /* for a tunnel (and for the hub) */
    apr_interval_time_t timeout;       /* backend silence */
    apr_interval_time_t link_timeout;  /* our own socket waits */

    apr_bucket_brigade *in;            /* client body */
    apr_bucket_brigade *out;           /* response to the client */
    apr_off_t out_pending;

    apr_size_t sb_len;                 /* bytes in lc->sbuf */
    apr_size_t sb_frame;               /* offset of the open DATA frame */

    int original_status;
    const char *original_status_line;
    char portstr[32];                  /* ":port" of this server, for Via */

    int status;                        /* final backend status, 0: none yet */
    apr_off_t resp_cl;                 /* its Content-Length, -1: none */
    apr_off_t resp_got;                /* DATA octets of it so far */
    int interim;                       /* interim responses seen */
    apr_off_t drained;                 /* error body dropped (override) */
    ptth_link_reset_t rst_code;
    apr_status_t link_rv;              /* link failure */
    apr_status_t input_rv;             /* client body failure */

    unsigned int has_body:1;
    unsigned int expect_100:1;         /* end-to-end 100-continue */
    unsigned int awaiting_100:1;
    unsigned int skip_body:1;          /* answered without asking for it */
    unsigned int sb_open:1;
    unsigned int req_ended:1;          /* we sent END_STREAM or TRAILERS */
    unsigned int resp_ended:1;         /* END_STREAM or TRAILERS received */
    unsigned int reset_in:1;           /* hub sent RESET */
    unsigned int proto_err:1;          /* hub broke the link protocol */
    unsigned int out_of_sync:1;        /* a frame write was cut short */
    unsigned int passed:1;             /* output went down the filters */
    unsigned int need_flush:1;
    unsigned int discard:1;            /* drop the response body */
    unsigned int override:1;           /* ProxyErrorOverride took it */
    unsigned int client_gone:1;
    unsigned int upgrade:1;            /* asked for a WebSocket upgrade */
    unsigned int upgraded:1;           /* the hub made the link a pipe */

    const char *ws_key;                /* client's Sec-WebSocket-Key */
    apr_array_header_t *up_headers;    /* the backend's 2xx fields */
} ptth_proxy_ex;

#define EX_MSG(ex, msg) "ptth(%s, link %u): " msg, (ex)->pool, \
                        (ex)->lc ? (ex)->lc->id : 0

static const char *xstate_str(ptth_proxy_state s)
{
    switch (s) {
    case PTTH_XS_INIT:               return "INIT";
    case PTTH_XS_SENDING_HEAD:       return "SENDING_HEAD";
    case PTTH_XS_AWAITING_CONTINUE:  return "AWAITING_CONTINUE";
    case PTTH_XS_SENDING_BODY:       return "SENDING_BODY";
    case PTTH_XS_AWAITING_RESPONSE:  return "AWAITING_RESPONSE";
    case PTTH_XS_STREAMING_RESPONSE: return "STREAMING_RESPONSE";
    case PTTH_XS_PIPE:               return "PIPE";
    case PTTH_XS_DONE:               return "DONE";
    case PTTH_XS_RESET:              return "RESET";
    case PTTH_XS_ABORTED:            return "ABORTED";
    }
    return "?";
}

static void ex_transit(ptth_proxy_ex *ex, ptth_proxy_state ns, const char *why)
{
    if (ex->state == ns) {
        return;
    }
    /* Terminal states stay. */
    if (ex->state == PTTH_XS_RESET || ex->state == PTTH_XS_ABORTED) {
        return;
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, ex->r, PTTHLOGNO(01520)
                  EX_MSG(ex, "%s -> %s (%s)"), xstate_str(ex->state),
                  xstate_str(ns), why);
    ex->state = ns;
}

/* Values never logged, also not at trace levels. */
static int hdr_is_secret(const char *name)
{
    return !ap_cstr_casecmp(name, "authorization")
        || !ap_cstr_casecmp(name, "proxy-authorization")
        || !ap_cstr_casecmp(name, "cookie")
        || !ap_cstr_casecmp(name, "set-cookie");
}

/*******************************************************************************
 * canonical URL (fixups)
 ******************************************************************************/

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

/*******************************************************************************
 * header mapping
 ******************************************************************************/

/* Never forwarded in a request (RFC 9110 7.6.1, RFC 9113 8.2.2), or set by
 * the exchange itself (host: authority; content-length, expect, te). */
static const char *const req_skip[] = {
    "connection", "keep-alive", "proxy-connection", "transfer-encoding",
    "upgrade", "te", "trailer", "host", "http2-settings", "content-length",
    "expect", NULL
};

/* Dropped from responses, as mod_proxy_http and mod_proxy_http2 do. */
static const char *const resp_skip[] = {
    "connection", "keep-alive", "proxy-connection", "transfer-encoding",
    "upgrade", "te", "trailer", "proxy-authenticate", "http2-settings",
    "alt-svc", NULL
};

static int in_list(const char *const *list, const char *lname)
{
    for (; *list; ++list) {
        if (!strcmp(*list, lname)) {
            return 1;
        }
    }
    return 0;
}

typedef struct {
    apr_pool_t *p;
    apr_array_header_t *names;
} conn_names;

static int collect_conn_names(void *data, const char *key, const char *val)
{
    conn_names *x = data;

    (void)key;
    while (*val) {
        const char *name;

        while (*val == ',' || *val == ';' || apr_isspace(*val)) {
            ++val;
        }
        if (!*val) {
            break;
        }
        name = ap_get_token(x->p, &val, 0);
        if (*name) {
            APR_ARRAY_PUSH(x->names, const char *) = name;
        }
    }
    return 1;
}

/* Remove the headers that Connection names, Connection itself and
 * Proxy-Connection (RFC 9110 7.6.1), as ap_proxy_clear_connection(). */
static void clear_connection(apr_pool_t *p, apr_table_t *headers)
{
    conn_names x;
    int i;

    apr_table_unset(headers, "Proxy-Connection");
    x.p = p;
    x.names = apr_array_make(p, 4, sizeof(const char *));
    /* Collect first: unsetting while iterating would skip entries. */
    apr_table_do(collect_conn_names, &x, headers, "Connection", NULL);
    for (i = 0; i < x.names->nelts; ++i) {
        apr_table_unset(headers, APR_ARRAY_IDX(x.names, i, const char *));
    }
    apr_table_unset(headers, "Connection");
}

static char *lower_dup(apr_pool_t *p, const char *s)
{
    char *l = apr_pstrdup(p, s);

    ap_str_tolower(l);
    return l;
}

static void nv_push(apr_array_header_t *nvs, const char *name,
                    const char *value)
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

static int add_req_nv(void *data, const char *key, const char *val)
{
    nv_ctx *x = data;
    char *lname;

    if (!key || !val || !*key || *key == ':') {
        return 1;
    }
    lname = lower_dup(x->p, key);
    if (in_list(req_skip, lname)) {
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

/* "content-type" -> "Content-Type", for HTTP/1.1 clients and for logs;
 * the few fields that some clients match case-sensitively are spelled as
 * their RFCs do. */
static char *camel_dup(apr_pool_t *p, const char *s, apr_size_t len)
{
    static const char *const special[] = {
        "ETag", "WWW-Authenticate", "Content-MD5", NULL
    };
    char *n = apr_pstrmemdup(p, s, len);
    int start = 1;
    apr_size_t i;

    for (i = 0; special[i]; ++i) {
        if (!ap_cstr_casecmp(special[i], n)) {
            return apr_pstrdup(p, special[i]);
        }
    }
    for (i = 0; i < len; ++i) {
        if (start) {
            n[i] = apr_toupper(n[i]);
        }
        start = (n[i] == '-');
    }
    return n;
}

typedef const char *(*reverse_map_fn)(request_rec *r, proxy_dir_conf *conf,
                                      const char *url);

static reverse_map_fn reverse_map_for(const char *lname)
{
    if (!strcmp(lname, "location") || !strcmp(lname, "content-location")
        || !strcmp(lname, "uri") || !strcmp(lname, "destination")) {
        return ap_proxy_location_reverse_map;
    }
    if (!strcmp(lname, "set-cookie")) {
        return ap_proxy_cookie_reverse_map;
    }
    return NULL;
}

/* A backend reached as ptth://POOL sees the pool as its host (without
 * ProxyPreserveHost), so it writes absolute URLs as http(s)://POOL/...
 * ProxyPassReverse names the worker URL, ptth://POOL/: try the URL in that
 * form first, then as it came (for ProxyPassReverse http://POOL/). */
static const char *location_reverse_map(request_rec *r, proxy_dir_conf *dconf,
                                        const char *pool, const char *url)
{
    apr_size_t plen = strlen(pool), skip = 0;
    const char *rest, *as_ptth, *mapped;

    if (!ap_cstr_casecmpn(url, "http://", 7)) {
        skip = 7;
    }
    else if (!ap_cstr_casecmpn(url, "https://", 8)) {
        skip = 8;
    }
    if (skip && !ap_cstr_casecmpn(url + skip, pool, plen)) {
        rest = url + skip + plen;
        if (!*rest || *rest == '/' || *rest == '?' || *rest == '#') {
            as_ptth = apr_pstrcat(r->pool, PTTH_SCHEME "://", pool, rest, NULL);
            mapped = ap_proxy_location_reverse_map(r, dconf, as_ptth);
            if (mapped != as_ptth && strcmp(mapped, as_ptth)) {
                return mapped;
            }
        }
    }
    return ap_proxy_location_reverse_map(r, dconf, url);
}

/* Response head or trailers from the hub into an httpd table.  Hop-by-hop
 * fields go; in a head, ProxyPassReverse* applies. */
static apr_status_t map_resp_fields(request_rec *r, proxy_dir_conf *dconf,
                                    const char *pool,
                                    const apr_array_header_t *nvs,
                                    int trailers, apr_table_t **pt)
{
    apr_table_t *t = apr_table_make(r->pool, nvs ? nvs->nelts + 2 : 2);
    int i;

    for (i = 0; nvs && i < nvs->nelts; ++i) {
        const ptth_nv *nv = &APR_ARRAY_IDX(nvs, i, ptth_nv);
        char *lname, *name;
        const char *value;
        reverse_map_fn map;

        /* Strings are NUL-terminated by the codec; an embedded NUL would
         * silently cut a field. */
        if (!nv->nlen || strlen(nv->name) != nv->nlen
            || strlen(nv->value) != nv->vlen) {
            return APR_EINVAL;
        }
        if (nv->name[0] == ':') {
            continue;
        }
        lname = lower_dup(r->pool, nv->name);
        if (in_list(resp_skip, lname)
            || (trailers && in_list(req_skip, lname))) {
            continue;
        }
        name = camel_dup(r->pool, nv->name, nv->nlen);
        value = apr_pstrmemdup(r->pool, nv->value, nv->vlen);
        if (!trailers && (map = reverse_map_for(lname)) != NULL) {
            value = map == ap_proxy_location_reverse_map
                  ? location_reverse_map(r, dconf, pool, value)
                  : map(r, dconf, value);
        }
        if (APLOGrtrace2(r)) {
            ap_log_rerror(APLOG_MARK, APLOG_TRACE2, 0, r, "ptth: %s %s: %s",
                          trailers ? "trailer" : "header", name,
                          hdr_is_secret(lname) ? "[not logged]" : value);
        }
        apr_table_addn(t, name, value);
    }
    *pt = t;
    return APR_SUCCESS;
}

static int copy_field(void *data, const char *key, const char *val)
{
    apr_table_addn(data, key, val);
    return 1;
}

/*******************************************************************************
 * building the request
 ******************************************************************************/

static apr_uint32_t to_ms(apr_interval_time_t t)
{
    apr_int64_t ms = apr_time_as_msec(t);

    return ms <= 0 ? 0 : ms > APR_UINT32_MAX ? APR_UINT32_MAX : (apr_uint32_t)ms;
}

/* Map r to a REQUEST, with the rules of ap_proxy_create_hdrbrgd() and the
 * HTTP/2 mapping of mod_proxy_http2 (see notes/httpd-internals.md 1.7). */
static apr_status_t ex_build_request(ptth_proxy_ex *ex, const char *url,
                                     char **pframe, apr_size_t *pflen)
{
    request_rec *r = ex->r;
    conn_rec *c = ex->c;
    apr_pool_t *p = r->pool;
    apr_table_t *hdrs, *saved_in;
    apr_uri_t puri;
    const char *client_host, *authority, *cl, *te, *val;
    apr_off_t clen = 0;
    char *pool;
    int te_trailers;
    nv_ctx x;

    if (apr_uri_parse(p, url, &puri) != APR_SUCCESS || !puri.hostname
        || !*puri.hostname) {
        return APR_EINVAL;
    }
    pool = apr_pstrdup(p, puri.hostname);
    ap_str_tolower(pool);
    ex->pool = pool;

    client_host = apr_table_get(r->headers_in, "Host");
    /* A pool name is no host name the backend knows: a backend serves
     * its own virtual hosts, so unless ProxyPreserveHost is explicitly
     * Off, the user's Host travels as :authority (RFC 9113 8.3.1). */
    if (ex->dconf->preserve_host || !ex->dconf->preserve_host_set) {
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
    ex->has_body = te || clen > 0 || ex->upgrade;

    clear_connection(p, hdrs);
    apr_table_unset(hdrs, "Keep-Alive");
    apr_table_unset(hdrs, "Upgrade");
    apr_table_unset(hdrs, "Trailer");
    apr_table_unset(hdrs, "TE");
    apr_table_unset(hdrs, "Transfer-Encoding");
    apr_table_unset(hdrs, "Content-Length");
    apr_table_unset(hdrs, "HTTP2-Settings");
    apr_table_unset(hdrs, "Expect");
    if (ex->upgrade) {
        /* RFC 8441 5: the key/accept handshake is not used over HTTP/2;
         * the Accept for our client is computed here (ex_pipe()). */
        apr_table_unset(hdrs, "Sec-WebSocket-Key");
    }
    /* Host becomes :authority; fixups below may still change it. */
    apr_table_setn(hdrs, "Host", authority);

    if (ex->conf->viaopt == via_block) {
        apr_table_unset(hdrs, "Via");
    }
    else if (ex->conf->viaopt != via_off) {
        const char *server_name = ap_get_server_name(r);

        /* With UseCanonicalName Off that is the client's name: not ours. */
        if (server_name == r->hostname) {
            server_name = r->server->server_hostname;
        }
        apr_table_mergen(hdrs, "Via", (ex->conf->viaopt == via_full)
            ? apr_psprintf(p, "%d.%d %s%s (%s)", HTTP_VERSION_MAJOR(r->proto_num),
                           HTTP_VERSION_MINOR(r->proto_num), server_name,
                           ex->portstr, AP_SERVER_BASEVERSION)
            : apr_psprintf(p, "%d.%d %s%s", HTTP_VERSION_MAJOR(r->proto_num),
                           HTTP_VERSION_MINOR(r->proto_num), server_name,
                           ex->portstr));
    }

    if (ex->dconf->add_forwarded_headers && r->proxyreq == PROXYREQ_REVERSE) {
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

    x.p = p;
    x.nvs = apr_array_make(p, apr_table_elts(hdrs)->nelts + 4, sizeof(ptth_nv));
    x.cookie = NULL;
    apr_table_do(add_req_nv, &x, hdrs, NULL);
    if (x.cookie) {
        nv_push(x.nvs, "cookie", x.cookie);
    }
    /* A client length stands; a chunked body simply streams (h2 framing). */
    if (cl && !te) {
        nv_push(x.nvs, "content-length", cl);
    }
    if (te_trailers) {
        nv_push(x.nvs, "te", "trailers");
    }
    if (ex->expect_100 && ex->has_body) {
        nv_push(x.nvs, "expect", "100-continue");
    }
    else {
        ex->expect_100 = 0;
    }

    ex->req.generation = (apr_uint32_t)ap_state_query(AP_SQ_CONFIG_GEN);
    ex->req.sent = apr_time_now();
    ex->req.wait_ms = to_ms(ex->wait);
    ex->req.timeout_ms = to_ms(ex->timeout);
    ex->req.pool = pool;
    ex->req.method = r->method;
    ex->req.scheme = ap_ssl_conn_is_ssl(c->master ? c->master : c)
                     ? "https" : "http";
    ex->req.authority = authority;
    ex->req.path = apr_uri_unparse(p, &puri, APR_URI_UNP_OMITSITEPART);
    if (!ex->req.path || !*ex->req.path) {
        ex->req.path = "/";
    }
    ex->req.headers = x.nvs;
    ex->req.protocol = ex->upgrade ? "websocket" : NULL;

    if (APLOGrtrace2(r)) {
        int i;
        for (i = 0; i < x.nvs->nelts; ++i) {
            const ptth_nv *nv = &APR_ARRAY_IDX(x.nvs, i, ptth_nv);
            ap_log_rerror(APLOG_MARK, APLOG_TRACE2, 0, r,
                          "ptth: request header %s: %s", nv->name,
                          hdr_is_secret(nv->name) ? "[not logged]" : nv->value);
        }
    }

    *pframe = ptth_link_encode_request(p, &ex->req, !ex->has_body, pflen);
    if (*pflen - PTTH_LINK_HDR_LEN > PTTH_LINK_MAX_HEAD) {
        return APR_ENOSPC;
    }
    return APR_SUCCESS;
}

/*******************************************************************************
 * response side
 ******************************************************************************/

static apr_status_t ex_proto_error(ptth_proxy_ex *ex, const char *what)
{
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, ex->r, PTTHLOGNO(01525)
                  EX_MSG(ex, "link protocol error: %s"), what);
    ex->proto_err = 1;
    ex_transit(ex, PTTH_XS_ABORTED, what);
    return APR_EINVAL;
}

static apr_status_t ex_link_failed(ptth_proxy_ex *ex, apr_status_t rv,
                                   const char *what)
{
    if (rv == APR_EINVAL) {
        return ex_proto_error(ex, "oversized frame");
    }
    ex->link_rv = rv;
    ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, ex->r, PTTHLOGNO(01526)
                  EX_MSG(ex, "%s the link failed%s"), what,
                  APR_STATUS_IS_TIMEUP(rv) ? " (timeout)"
                  : APR_STATUS_IS_EOF(rv) ? " (hub closed it)" : "");
    ex_transit(ex, PTTH_XS_ABORTED, what);
    return rv;
}

/* Hand what we have to the client.  Failing here means the client is gone. */
static apr_status_t ex_pass(ptth_proxy_ex *ex, int flush)
{
    apr_status_t rv;

    if (flush) {
        APR_BRIGADE_INSERT_TAIL(ex->out,
                                apr_bucket_flush_create(ex->c->bucket_alloc));
    }
    ex->need_flush = 0;
    if (APR_BRIGADE_EMPTY(ex->out)) {
        return APR_SUCCESS;
    }
    rv = ap_pass_brigade(ex->r->output_filters, ex->out);
    apr_brigade_cleanup(ex->out);
    ex->passed = 1;
    ex->out_pending = 0;
    if (rv != APR_SUCCESS || ex->c->aborted) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, ex->r, PTTHLOGNO(01527)
                      EX_MSG(ex, "client went away during the response"));
        ex->client_gone = 1;
        ex_transit(ex, PTTH_XS_ABORTED, "client gone");
        return APR_ECONNABORTED;
    }
    return APR_SUCCESS;
}

static apr_status_t ex_on_end(ptth_proxy_ex *ex, const char *why)
{
    ex->resp_ended = 1;
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, ex->r,
                  EX_MSG(ex, "response ended: %s"), why);
    if (ex->override) {
        return APR_SUCCESS;     /* ErrorDocument answers instead */
    }
    APR_BRIGADE_INSERT_TAIL(ex->out, apr_bucket_eos_create(ex->c->bucket_alloc));
    return ex_pass(ex, 0);
}

static apr_status_t ex_on_interim(ptth_proxy_ex *ex,
                                  const ptth_link_response *resp)
{
    request_rec *r = ex->r;
    const char *policy = apr_table_get(r->subprocess_env,
                                       "proxy-interim-response");
    apr_table_t *saved_out = r->headers_out, *hdrs;
    const char *saved_line = r->status_line;
    int saved_status = r->status;
    apr_status_t rv;

    if (resp->status == HTTP_SWITCHING_PROTOCOLS) {
        return ex_proto_error(ex, "101 on a link stream");
    }
    if (++ex->interim > PTTH_MAX_INTERIM) {
        return ex_proto_error(ex, "too many interim responses");
    }
    if (resp->status == HTTP_CONTINUE && ex->awaiting_100) {
        /* The client waits for exactly this before sending its body. */
        ex->awaiting_100 = 0;
        ex_transit(ex, PTTH_XS_SENDING_BODY, "backend asked for the body");
    }
    else if (policy && !strcasecmp(policy, "Suppress")) {
        return APR_SUCCESS;
    }
    else if (policy && !strcasecmp(policy, "RFC")
             && resp->status == HTTP_CONTINUE) {
        r->expecting_100 = 1;   /* as mod_proxy_http */
    }

    rv = map_resp_fields(r, ex->dconf, ex->pool, resp->headers, 0, &hdrs);
    if (rv != APR_SUCCESS) {
        return ex_proto_error(ex, "bad interim response field");
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, PTTHLOGNO(01528)
                  EX_MSG(ex, "interim response %d"), resp->status);
    /* ap_send_interim_response() sends r->headers_out: lend it ours.  It
     * drops a 100 the client did not ask for and anything to HTTP/1.0. */
    r->status = resp->status;
    r->status_line = (resp->status == HTTP_EARLY_HINTS) ? "103 Early Hints"
                                                        : NULL;
    r->headers_out = hdrs;
    ap_send_interim_response(r, 1);
    r->headers_out = saved_out;
    r->status = saved_status;
    r->status_line = saved_line;
    return APR_SUCCESS;
}

static apr_status_t ex_on_final(ptth_proxy_ex *ex,
                                const ptth_link_response *resp, int end_stream)
{
    request_rec *r = ex->r;
    apr_table_t *hdrs, *cookies;
    const char *ct;
    apr_status_t rv;
    int status = resp->status;

    rv = map_resp_fields(r, ex->dconf, ex->pool, resp->headers, 0, &hdrs);
    if (rv != APR_SUCCESS) {
        return ex_proto_error(ex, "bad response field");
    }
    ex->status = status;
    apr_table_setn(r->notes, "proxy-status", apr_itoa(r->pool, status));
    {
        /* The hub enforces the backend's framing (ptth_response.c); the
         * count here makes sure, whatever the link says, that the client
         * never gets octets beyond the length it was promised. */
        const char *cl = apr_table_get(hdrs, "Content-Length");
        ex->resp_cl = -1;
        if (cl && (apr_strtoff(&ex->resp_cl, cl, NULL, 10) != APR_SUCCESS
                   || ex->resp_cl < 0)) {
            return ex_proto_error(ex, "bad Content-Length");
        }
    }

    /* Cookies set before (e.g. mod_rewrite CO=) survive, as with
     * mod_proxy_http: earlier ones first. */
    cookies = apr_table_make(r->pool, 2);
    apr_table_do(copy_field, cookies, r->headers_out, "Set-Cookie", NULL);
    if (!apr_is_empty_table(cookies)) {
        apr_table_do(copy_field, cookies, hdrs, "Set-Cookie", NULL);
        apr_table_unset(hdrs, "Set-Cookie");
        hdrs = apr_table_overlay(r->pool, hdrs, cookies);
    }
    r->headers_out = hdrs;
    r->status = status;
    r->status_line = NULL;      /* httpd derives it */
    if ((ct = apr_table_get(r->headers_out, "Content-Type"))) {
        ap_set_content_type(r, apr_pstrdup(r->pool, ct));
    }
    if (ex->conf->viaopt != via_off && ex->conf->viaopt != via_block) {
        const char *server_name = ap_get_server_name(r);

        if (server_name == r->hostname) {
            server_name = r->server->server_hostname;
        }
        /* The received protocol is the backend's: HTTP/2. */
        apr_table_addn(r->headers_out, "Via", (ex->conf->viaopt == via_full)
            ? apr_psprintf(r->pool, "2 %s%s (%s)", server_name, ex->portstr,
                           AP_SERVER_BASEVERSION)
            : apr_psprintf(r->pool, "2 %s%s", server_name, ex->portstr));
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, PTTHLOGNO(01529)
                  EX_MSG(ex, "response %d%s"), status,
                  end_stream ? " without body" : "");

    if (ap_proxy_should_override(ex->dconf, status)) {
        /* As mod_proxy_http: our ErrorDocument answers, with the
         * backend's challenge; the backend's body is dropped. */
        if (status == HTTP_UNAUTHORIZED) {
            const char *wa = apr_table_get(r->headers_out, "WWW-Authenticate");
            if (wa) {
                apr_table_set(r->err_headers_out, "WWW-Authenticate", wa);
            }
        }
        /* Else ErrorDocument takes it for a recursive error. */
        r->status = HTTP_OK;
        ex->override = 1;
        ex->discard = 1;
        apr_table_setn(r->notes, "proxy-error-override", "1");
    }
    else {
        /* An ErrorDocument that is itself proxied keeps the error. */
        if (ap_proxy_should_override(ex->dconf, ex->original_status)) {
            r->status = ex->original_status;
            r->status_line = ex->original_status_line;
        }
        if (r->header_only || AP_STATUS_IS_HEADER_ONLY(status)) {
            ex->discard = 1;
        }
        r->sent_bodyct = 1;
        ex->need_flush = 1;     /* the head goes out even if data is slow */
    }
    if (ex->state != PTTH_XS_SENDING_BODY) {
        ex_transit(ex, PTTH_XS_STREAMING_RESPONSE, "final response");
    }
    if (end_stream) {
        return ex_on_end(ex, "no body");
    }
    return APR_SUCCESS;
}

static apr_status_t ex_on_response(ptth_proxy_ex *ex, const ptth_link_fhdr *fh,
                                   const char *payload)
{
    ptth_link_response resp;

    if (ex->status) {
        return ex_proto_error(ex, "second final response");
    }
    if (ptth_link_decode_response(ex->r->pool, payload, fh->length, &resp)
        != APR_SUCCESS || resp.status > 599) {
        return ex_proto_error(ex, "malformed RESPONSE");
    }
    ex->worker->s->read += fh->length;
    if (fh->flags & PTTH_LF_UPGRADED) {
        if (!ex->upgrade || resp.status < 200 || resp.status > 299
            || (fh->flags & PTTH_LF_END_STREAM)) {
            return ex_proto_error(ex, "unexpected upgrade");
        }
        /* The fields point into the link's buffer: ex_pipe() maps them
         * before anything else is read. */
        ex->upgraded = 1;
        ex->status = resp.status;
        ex->up_headers = resp.headers;
        return APR_SUCCESS;
    }
    if (resp.status < 200) {
        if (fh->flags & PTTH_LF_END_STREAM) {
            return ex_proto_error(ex, "interim response ends the stream");
        }
        return ex_on_interim(ex, &resp);
    }
    return ex_on_final(ex, &resp, fh->flags & PTTH_LF_END_STREAM);
}

static apr_status_t ex_on_data(ptth_proxy_ex *ex, const ptth_link_fhdr *fh,
                               const char *payload)
{
    if (!ex->status) {
        return ex_proto_error(ex, "DATA before the response head");
    }
    if (fh->length > PTTH_LINK_MAX_DATA) {
        return ex_proto_error(ex, "oversized DATA");
    }
    ex->worker->s->read += fh->length;
    ex->resp_got += fh->length;
    if (ex->resp_cl >= 0 && !ex->discard && ex->resp_got > ex->resp_cl) {
        return ex_proto_error(ex, "more DATA than Content-Length");
    }
    if (ex->override) {
        ex->drained += fh->length;
    }
    else if (!ex->discard && fh->length) {
        APR_BRIGADE_INSERT_TAIL(ex->out, apr_bucket_heap_create(payload,
                                fh->length, NULL, ex->c->bucket_alloc));
        ex->out_pending += fh->length;
        ex->need_flush = 1;
    }
    if (fh->flags & PTTH_LF_END_STREAM) {
        return ex_on_end(ex, "END_STREAM");
    }
    if (ex->worker->s->flush_packets == flush_on && ex->need_flush) {
        return ex_pass(ex, 1);
    }
    if (ex->out_pending >= PTTH_OUT_PENDING_MAX) {
        return ex_pass(ex, 0);
    }
    return APR_SUCCESS;
}

static apr_status_t ex_on_trailers(ptth_proxy_ex *ex, const ptth_link_fhdr *fh,
                                   const char *payload)
{
    apr_array_header_t *nvs;
    apr_table_t *t;

    if (!ex->status) {
        return ex_proto_error(ex, "TRAILERS before the response head");
    }
    if (ptth_link_decode_trailers(ex->r->pool, payload, fh->length, &nvs)
            != APR_SUCCESS
        || map_resp_fields(ex->r, ex->dconf, ex->pool, nvs, 1, &t) != APR_SUCCESS) {
        return ex_proto_error(ex, "malformed TRAILERS");
    }
    ex->worker->s->read += fh->length;
    if (!ex->discard) {
        apr_table_do(copy_field, ex->r->trailers_out, t, NULL);
    }
    return ex_on_end(ex, "trailers");
}

static apr_status_t ex_on_frame(ptth_proxy_ex *ex, const ptth_link_fhdr *fh,
                                const char *payload)
{
    ptth_link_reset_t code;

    if (ex->resp_ended || ex->reset_in) {
        return ex_proto_error(ex, "frame after the end of the exchange");
    }
    switch (fh->type) {
    case PTTH_LF_RESPONSE:
        return ex_on_response(ex, fh, payload);
    case PTTH_LF_DATA:
        return ex_on_data(ex, fh, payload);
    case PTTH_LF_TRAILERS:
        return ex_on_trailers(ex, fh, payload);
    case PTTH_LF_GOAWAY:
        /* The hub drains and did not take this request (ptth_link.h). */
        if (ex->status || ex->interim) {
            return ex_proto_error(ex, "GOAWAY during a response");
        }
        ex->reset_in = 1;
        ex->rst_code = PTTH_RST_SHUTDOWN;
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, ex->r, PTTHLOGNO(01546)
                      EX_MSG(ex, "the hub drains (GOAWAY)"));
        ex_transit(ex, PTTH_XS_RESET, "hub draining");
        return APR_SUCCESS;
    case PTTH_LF_RESET:
        if (ptth_link_decode_reset(payload, fh->length, &code) != APR_SUCCESS) {
            return ex_proto_error(ex, "malformed RESET");
        }
        ex->reset_in = 1;
        ex->rst_code = code;
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, ex->r, PTTHLOGNO(01530)
                      EX_MSG(ex, "reset by the hub: %s (%d)"),
                      ptth_link_reset_str(code), (int)code);
        ex_transit(ex, PTTH_XS_RESET, ptth_link_reset_str(code));
        return APR_SUCCESS;
    default:
        return ex_proto_error(ex, "unexpected frame type");
    }
}

/* Process whatever the hub has sent, without waiting for more.  Runs while
 * the body goes out: APR_ECONNABORTED tells the body writer to stop
 * because the exchange is over on the hub's side. */
static apr_status_t ex_pump(void *ctx)
{
    ptth_proxy_ex *ex = ctx;

    for (;;) {
        ptth_link_fhdr fh;
        const char *payload;
        apr_status_t rv;

        rv = ptth_link_conn_read_frame(ex->lc, &fh, &payload, 0);
        if (APR_STATUS_IS_EAGAIN(rv)) {
            break;
        }
        if (rv != APR_SUCCESS) {
            return ex_link_failed(ex, rv, "reading from");
        }
        rv = ex_on_frame(ex, &fh, payload);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        if (ex->resp_ended || ex->reset_in
            || (ex->override && ex->drained > PTTH_DRAIN_MAX)) {
            return APR_ECONNABORTED;
        }
    }
    /* The body write may wait a while: what came goes to the client now. */
    if (ex->need_flush && !ex->discard) {
        return ex_pass(ex, 1);
    }
    return APR_SUCCESS;
}

/* Wait for and process frames until the response is complete. */
static apr_status_t ex_read_response(ptth_proxy_ex *ex)
{
    apr_interval_time_t flush_wait = 0;
    apr_status_t rv;

    if (ex->worker->s->flush_packets == flush_auto) {
        flush_wait = ex->worker->s->flush_wait;
    }
    if (!ex->status) {
        ex_transit(ex, PTTH_XS_AWAITING_RESPONSE, "request sent");
    }
    else {
        ex_transit(ex, PTTH_XS_STREAMING_RESPONSE, "request sent");
    }
    while (!ex->resp_ended && !ex->reset_in) {
        ptth_link_fhdr fh;
        const char *payload;

        if (ex->override && ex->drained > PTTH_DRAIN_MAX) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, ex->r, PTTHLOGNO(01531)
                          EX_MSG(ex, "overridden error body too large to "
                                 "drain, cancelling"));
            return APR_ECONNABORTED;
        }
        /* Flush only when the hub has nothing more right now: streaming
         * without a write per frame. */
        if (ex->need_flush && !ex->discard
            && !ptth_link_conn_has_input(ex->lc, flush_wait)) {
            rv = ex_pass(ex, 1);
            if (rv != APR_SUCCESS) {
                return rv;
            }
        }
        rv = ptth_link_conn_read_frame(ex->lc, &fh, &payload, 1);
        if (rv != APR_SUCCESS) {
            return ex_link_failed(ex, rv, "reading from");
        }
        rv = ex_on_frame(ex, &fh, payload);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

/*******************************************************************************
 * request side
 ******************************************************************************/

static apr_status_t ex_write(ptth_proxy_ex *ex, const struct iovec *vec,
                             int nvec)
{
    apr_size_t total = 0;
    apr_status_t rv;
    int i;

    for (i = 0; i < nvec; ++i) {
        total += vec[i].iov_len;
    }
    rv = ptth_link_conn_write(ex->lc, vec, nvec, ex_pump, ex);
    if (rv == APR_SUCCESS) {
        ex->worker->s->transferred += total;
        return APR_SUCCESS;
    }
    /* Part of a frame may be out: no more frames on this link. */
    ex->out_of_sync = 1;
    if (ex->resp_ended || ex->reset_in || ex->proto_err || ex->client_gone
        || ex->link_rv != APR_SUCCESS) {
        return rv;      /* ex_pump() stopped it and knows why */
    }
    return ex_link_failed(ex, rv, "writing to");
}

/* DATA framing into the link's send buffer: up to four full frames per
 * write; a frame is never split between writes. */
static void sb_close(ptth_proxy_ex *ex, unsigned char flags)
{
    if (ex->sb_open) {
        apr_size_t plen = ex->sb_len - ex->sb_frame - PTTH_LINK_HDR_LEN;

        ptth_link_hdr_pack((unsigned char *)ex->lc->sbuf + ex->sb_frame,
                           PTTH_LF_DATA, flags, (apr_uint32_t)plen);
        ex->sb_open = 0;
    }
}

static apr_status_t sb_write(ptth_proxy_ex *ex, const struct iovec *extra)
{
    struct iovec vec[2];
    int n = 0;

    sb_close(ex, 0);
    if (ex->sb_len) {
        vec[n].iov_base = ex->lc->sbuf;
        vec[n].iov_len = ex->sb_len;
        ++n;
    }
    if (extra) {
        vec[n++] = *extra;
    }
    ex->sb_len = 0;
    return n ? ex_write(ex, vec, n) : APR_SUCCESS;
}

static apr_status_t sb_open(ptth_proxy_ex *ex)
{
    apr_status_t rv;

    if (ex->lc->scap - ex->sb_len <= PTTH_LINK_HDR_LEN) {
        if ((rv = sb_write(ex, NULL)) != APR_SUCCESS) {
            return rv;
        }
    }
    ex->sb_frame = ex->sb_len;
    ex->sb_len += PTTH_LINK_HDR_LEN;
    ex->sb_open = 1;
    return APR_SUCCESS;
}

static apr_status_t sb_add(ptth_proxy_ex *ex, const char *data, apr_size_t len)
{
    ptth_link_conn *lc = ex->lc;
    apr_status_t rv;

    while (len) {
        apr_size_t room, n;

        if (!ex->sb_open && (rv = sb_open(ex)) != APR_SUCCESS) {
            return rv;
        }
        room = PTTH_LINK_MAX_DATA
               - (ex->sb_len - ex->sb_frame - PTTH_LINK_HDR_LEN);
        if (room > lc->scap - ex->sb_len) {
            room = lc->scap - ex->sb_len;
        }
        n = len < room ? len : room;
        memcpy(lc->sbuf + ex->sb_len, data, n);
        ex->sb_len += n;
        data += n;
        len -= n;
        if (n == room) {
            sb_close(ex, 0);
        }
    }
    return APR_SUCCESS;
}

/* Client body at EOS: END_STREAM on the last DATA, or TRAILERS. */
static apr_status_t ex_end_body(ptth_proxy_ex *ex)
{
    request_rec *r = ex->r;
    apr_status_t rv;

    if (!apr_is_empty_table(r->trailers_in)) {
        nv_ctx x;
        struct iovec tv;
        apr_size_t flen;

        x.p = r->pool;
        x.nvs = apr_array_make(r->pool, 4, sizeof(ptth_nv));
        x.cookie = NULL;
        apr_table_do(add_req_nv, &x, r->trailers_in, NULL);
        if (x.nvs->nelts) {
            tv.iov_base = ptth_link_encode_trailers(r->pool, x.nvs, &flen);
            tv.iov_len = flen;
            if (flen - PTTH_LINK_HDR_LEN <= PTTH_LINK_MAX_HEAD) {
                if (ex->sb_open
                    && ex->sb_len - ex->sb_frame == PTTH_LINK_HDR_LEN) {
                    ex->sb_len = ex->sb_frame;      /* no empty DATA */
                    ex->sb_open = 0;
                }
                ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                              EX_MSG(ex, "sending %d request trailer(s)"),
                              x.nvs->nelts);
                rv = sb_write(ex, &tv);
                if (rv == APR_SUCCESS) {
                    ex->req_ended = 1;
                }
                return rv;
            }
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, PTTHLOGNO(01532)
                          EX_MSG(ex, "request trailers too large, dropped"));
        }
    }
    if (!ex->sb_open && (rv = sb_open(ex)) != APR_SUCCESS) {
        return rv;
    }
    sb_close(ex, PTTH_LF_END_STREAM);
    rv = sb_write(ex, NULL);
    if (rv == APR_SUCCESS) {
        ex->req_ended = 1;
    }
    return rv;
}

/* Stream the client body as DATA frames: bounded memory, whatever the
 * size, and with the same pace as the client. */
static apr_status_t ex_send_body(ptth_proxy_ex *ex)
{
    request_rec *r = ex->r;
    ptth_proxy_body *body = ex->body;
    ptth_link_conn *lc = ex->lc;
    apr_bucket *b;
    apr_status_t rv;

    ex_transit(ex, PTTH_XS_SENDING_BODY, "request has a body");
    if (!lc->sbuf) {
        lc->sbuf = malloc(PTTH_SBUF_SIZE);
        if (!lc->sbuf) {
            return ex_link_failed(ex, APR_ENOMEM, "buffering for");
        }
        lc->scap = PTTH_SBUF_SIZE;
    }
    ex->sb_len = 0;
    ex->sb_open = 0;

    /* A failover attempt first sends again what an earlier one read. */
    for (b = APR_BRIGADE_FIRST(body->saved);
         b != APR_BRIGADE_SENTINEL(body->saved); b = APR_BUCKET_NEXT(b)) {
        const char *data;
        apr_size_t len;

        if (apr_bucket_read(b, &data, &len, APR_BLOCK_READ) == APR_SUCCESS
            && (rv = sb_add(ex, data, len)) != APR_SUCCESS) {
            return rv;
        }
    }

    while (!body->eos) {
        rv = ap_get_brigade(r->input_filters, ex->in, AP_MODE_READBYTES,
                            APR_BLOCK_READ, PTTH_BODY_READ);
        for (b = APR_BRIGADE_FIRST(ex->in);
             rv == APR_SUCCESS && b != APR_BRIGADE_SENTINEL(ex->in);
             b = APR_BUCKET_NEXT(b)) {
            const char *data;
            apr_size_t len;

            if (APR_BUCKET_IS_EOS(b)) {
                body->eos = 1;
                break;
            }
            if (APR_BUCKET_IS_METADATA(b)) {
                continue;
            }
            rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ);
            if (rv == APR_SUCCESS && len) {
                body_keep(body, data, len);
                if (sb_add(ex, data, len) != APR_SUCCESS) {
                    apr_brigade_cleanup(ex->in);
                    return APR_EGENERAL;    /* the link failure is noted */
                }
            }
        }
        apr_brigade_cleanup(ex->in);
        if (rv != APR_SUCCESS) {
            ex->input_rv = rv;
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, PTTHLOGNO(01533)
                          EX_MSG(ex, "reading the request body failed after "
                                 "%" APR_OFF_T_FMT " bytes"), body->consumed);
            ex_transit(ex, PTTH_XS_ABORTED, "client body failed");
            return rv;
        }
        if (body->eos) {
            break;
        }
        /* Forward what came now: the client may be slow. */
        if ((rv = sb_write(ex, NULL)) != APR_SUCCESS) {
            return rv;
        }
        /* An early answer or a RESET ends the body. */
        if (ptth_link_conn_has_input(lc, 0)
            && (rv = ex_pump(ex)) != APR_SUCCESS) {
            return rv;
        }
    }
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                  EX_MSG(ex, "request body complete: %" APR_OFF_T_FMT
                         " bytes"), body->consumed);
    return ex_end_body(ex);
}

/* End-to-end "Expect: 100-continue": the body stays with the client until
 * the backend asks for it (a 100) or answers without it. */
static apr_status_t ex_await_continue(ptth_proxy_ex *ex)
{
    proxy_worker *w = ex->worker;
    apr_status_t rv = APR_SUCCESS;

    ex_transit(ex, PTTH_XS_AWAITING_CONTINUE, "Expect: 100-continue");
    ex->awaiting_100 = 1;
    if (w->s->ping_timeout_set) {
        ptth_link_conn_timeout_set(ex->lc, ex->wait + w->s->ping_timeout);
    }
    while (ex->awaiting_100 && !ex->status && !ex->reset_in) {
        ptth_link_fhdr fh;
        const char *payload;

        rv = ptth_link_conn_read_frame(ex->lc, &fh, &payload, 1);
        if (APR_STATUS_IS_TIMEUP(rv) && w->s->ping_timeout_set) {
            /* RFC 9110 10.1.1: do not wait forever for the 100.  Reading
             * the body makes HTTP_IN send the client its own 100. */
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, ex->r, PTTHLOGNO(01534)
                          EX_MSG(ex, "no 100-continue within ping=, sending "
                                 "the body anyway"));
            rv = APR_SUCCESS;
            break;
        }
        if (rv != APR_SUCCESS) {
            rv = ex_link_failed(ex, rv, "reading from");
            break;
        }
        if ((rv = ex_on_frame(ex, &fh, payload)) != APR_SUCCESS) {
            break;
        }
    }
    ex->awaiting_100 = 0;
    ptth_link_conn_timeout_set(ex->lc, ex->link_timeout);
    if (ex->status) {
        /* Answered without the body: it is never read (the client
         * connection then closes, see ap_set_keepalive()). */
        ex->skip_body = 1;
    }
    return rv;
}

/* Take a link and send the REQUEST.  A pooled link can have been closed by
 * the hub just now: then once more on a fresh one (nothing was sent). */
static apr_status_t ex_send_head(ptth_proxy_ex *ex, char *frame,
                                 apr_size_t flen, int fresh)
{
    struct iovec iov;
    apr_status_t rv;
    int attempt;

    ex_transit(ex, PTTH_XS_SENDING_HEAD, fresh ? "again, on a fresh link"
                                               : "new request");
    iov.iov_base = frame;
    iov.iov_len = flen;
    for (attempt = 0; attempt < 2; ++attempt) {
        rv = ptth_linkpool_acquire(&ex->lc, ex->link_path, ex->wait,
                                   fresh || attempt > 0, ex->r);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        ptth_link_conn_timeout_set(ex->lc, ex->link_timeout);
        rv = ptth_link_conn_write(ex->lc, &iov, 1, NULL, NULL);
        if (rv == APR_SUCCESS) {
            ex->worker->s->transferred += flen;
            ex->req_ended = !ex->has_body;
            return APR_SUCCESS;
        }
        if (attempt == 0 && ex->lc->reused
            && (APR_STATUS_IS_EPIPE(rv) || APR_STATUS_IS_ECONNRESET(rv))) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, ex->r, PTTHLOGNO(01535)
                          EX_MSG(ex, "pooled link was closed, retrying on a "
                                 "new one"));
            ptth_linkpool_release(ex->lc, 0);
            ex->lc = NULL;
            continue;
        }
        break;
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, ex->r, PTTHLOGNO(01536)
                  EX_MSG(ex, "sending the request to the hub failed"));
    ptth_linkpool_release(ex->lc, 0);
    ex->lc = NULL;
    return rv;
}

/*******************************************************************************
 * the boundary: link fate and HTTP status
 ******************************************************************************/

static void ex_finish_link(ptth_proxy_ex *ex)
{
    ptth_link_conn *lc = ex->lc;
    int clean, over, reusable;

    if (!lc) {
        return;
    }
    clean = !ex->proto_err && !ex->out_of_sync && ex->link_rv == APR_SUCCESS;
    over = (ex->req_ended && ex->resp_ended) || ex->reset_in;
    /* After a RESET the hub may still be dropping (or, with its body
     * buffer full, not reading) body frames: only a body-less exchange
     * leaves the link certainly in step. */
    reusable = clean && over && ex->req_ended
               && (!ex->reset_in || !ex->has_body);
    if (clean && !over) {
        /* The hub cancels the stream and closes the link (a child that
         * resets does not reuse it).  Only if it fits right now: a hub
         * that stopped reading learns the same from the closed link. */
        unsigned char frame[PTTH_LINK_HDR_LEN + 4];
        struct iovec iov;

        ptth_link_encode_reset(frame, PTTH_RST_CANCEL);
        iov.iov_base = frame;
        iov.iov_len = sizeof(frame);
        ptth_link_conn_timeout_set(lc, 0);
        ptth_link_conn_write(lc, &iov, 1, NULL, NULL);
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, ex->r, PTTHLOGNO(01537)
                      EX_MSG(ex, "exchange cancelled (%s)"),
                      ex->client_gone ? "client gone"
                      : ex->input_rv != APR_SUCCESS ? "request body failed"
                      : "response complete before the request");
    }
    if (reusable) {
        ex_transit(ex, PTTH_XS_DONE, "both sides ended");
    }
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, ex->r,
                  EX_MSG(ex, "link %s"), reusable ? "kept" : "closed");
    ptth_linkpool_release(lc, reusable);
    ex->lc = NULL;
}

static int reset_status(ptth_proxy_ex *ex)
{
    switch (ex->rst_code) {
    case PTTH_RST_NO_TUNNEL:
    case PTTH_RST_OVERLOAD:
    case PTTH_RST_UNKNOWN_POOL:
    case PTTH_RST_SHUTDOWN:
        /* The request reached no backend: a balancer may fail over.  A body
         * that cannot be sent again stops that in ex_run(). */
        return HTTP_SERVICE_UNAVAILABLE;
    case PTTH_RST_UNPROCESSED:
        return ex->body->lost ? HTTP_BAD_GATEWAY : HTTP_SERVICE_UNAVAILABLE;
    case PTTH_RST_TIMEOUT:
        return HTTP_GATEWAY_TIME_OUT;
    default:
        return HTTP_BAD_GATEWAY;
    }
}

static int ex_result(ptth_proxy_ex *ex)
{
    request_rec *r = ex->r;
    const char *msg;
    int status, timed_out;

    ex_finish_link(ex);

    if (ex->client_gone) {
        return DONE;
    }
    if (ex->input_rv != APR_SUCCESS) {
        return ex->passed ? DONE
                          : ap_map_http_request_error(ex->input_rv,
                                                      HTTP_BAD_REQUEST);
    }
    if (!ex->reset_in && !ex->proto_err && ex->link_rv == APR_SUCCESS) {
        /* Complete, or an overridden error cut short: both fine. */
        return ex->override ? ex->status : OK;
    }

    timed_out = (ex->reset_in && ex->rst_code == PTTH_RST_TIMEOUT)
                || (!ex->reset_in && APR_STATUS_IS_TIMEUP(ex->link_rv));
    if (timed_out) {
        apr_table_setn(r->notes, "proxy_timedout", "1");
    }
    if (ex->passed) {
        /* Too late for a status: the client sees a broken response. */
        apr_bucket_brigade *bb = apr_brigade_create(r->pool,
                                                    ex->c->bucket_alloc);

        ap_log_rerror(APLOG_MARK, APLOG_ERR, ex->link_rv, r, PTTHLOGNO(01538)
                      "ptth pool %s: response broken after it started (%s)",
                      ex->pool, ex->reset_in ? ptth_link_reset_str(ex->rst_code)
                      : ex->proto_err ? "link protocol error" : "link failed");
        ap_proxy_backend_broke(r, bb);
        ap_pass_brigade(r->output_filters, bb);
        return DONE;
    }
    if (ex->override) {
        return ex->status;      /* ErrorDocument does not need the body */
    }
    /* Backend headers must not reach the error response, and ap_die()
     * must not take the backend's status for an earlier error. */
    r->status = ex->original_status;
    r->status_line = ex->original_status_line;
    if (ex->reset_in) {
        status = reset_status(ex);
        msg = apr_psprintf(r->pool, "ptth pool %s: %s", ex->pool,
                           ptth_link_reset_str(ex->rst_code));
    }
    else if (timed_out) {
        status = HTTP_GATEWAY_TIME_OUT;
        msg = apr_psprintf(r->pool, "ptth pool %s: no answer from the tunnel "
                           "hub in time", ex->pool);
    }
    else {
        status = HTTP_BAD_GATEWAY;
        msg = apr_psprintf(r->pool, "ptth pool %s: %s", ex->pool,
                           ex->proto_err ? "link protocol error"
                                         : "link to the tunnel hub failed");
    }
    return ap_proxyerror(r, status, msg);
}

static int ex_failed(const ptth_proxy_ex *ex)
{
    return ex->reset_in || ex->proto_err || ex->client_gone
        || ex->link_rv != APR_SUCCESS || ex->input_rv != APR_SUCCESS;
}

/*******************************************************************************
 * WebSocket: RFC 6455 towards the client, RFC 8441 over the tunnel
 ******************************************************************************/

/* A GET asking for "Upgrade: websocket" that this worker may upgrade
 * (ProxyPass ... upgrade=; WebSocket by default, as for ws:// workers).
 * A request coming over HTTP/2 with H2WebSockets on looks the same:
 * mod_http2 hands it over as an HTTP/1.1 style upgrade. */
static int want_websocket(ptth_proxy_ex *ex)
{
    request_rec *r = ex->r;
    const char *upgrade = apr_table_get(r->headers_in, "Upgrade");
    const char *connection = apr_table_get(r->headers_in, "Connection");

    if (!upgrade || r->method_number != M_GET
        || r->proto_num < HTTP_VERSION(1, 1)
        || !ap_find_token(r->pool, upgrade, "websocket")
        /* RFC 9110 7.8: Upgrade comes with the "upgrade" option */
        || !connection || !ap_find_token(r->pool, connection, "upgrade")
        || !ap_proxy_worker_can_upgrade(r->pool, ex->worker, "websocket",
                                        "WebSocket")) {
        return 0;
    }
    ex->ws_key = apr_table_get(r->headers_in, "Sec-WebSocket-Key");
    /* RFC 6455 4.1: the key is 16 random octets, base64: 24 characters */
    return ex->ws_key && strlen(ex->ws_key) == 24;
}

/* RFC 6455 4.2.2: base64(SHA-1(key + the protocol's GUID)). */
static const char *ws_accept(apr_pool_t *p, const char *key)
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char digest[APR_SHA1_DIGESTSIZE];
    apr_sha1_ctx_t sha;
    char *out = apr_palloc(p, apr_base64_encode_len(sizeof(digest)));

    apr_sha1_init(&sha);
    apr_sha1_update(&sha, key, (unsigned int)strlen(key));
    apr_sha1_update(&sha, guid, sizeof(guid) - 1);
    apr_sha1_final(digest, &sha);
    apr_base64_encode(out, (const char *)digest, sizeof(digest));
    return out;
}

/* The backend took the extended CONNECT and the hub made the link a byte
 * pipe: answer the client 101 and let httpd's own tunnel loop carry the
 * bytes (as mod_proxy_http does after a 101), with the link as origin. */
static int ex_pipe(ptth_proxy_ex *ex)
{
    request_rec *r = ex->r;
    ptth_link_conn *lc = ex->lc;
    proxy_tunnel_rec *tunnel;
    apr_interval_time_t t0;
    apr_bucket_alloc_t *ba;
    apr_table_t *hdrs;
    apr_pool_t *cp;
    conn_rec *oc;
    const char *early;
    apr_size_t early_len;
    apr_status_t rv;
    int rc;

    rv = map_resp_fields(r, ex->dconf, ex->pool, ex->up_headers, 0, &hdrs);
    if (rv != APR_SUCCESS) {
        ex_proto_error(ex, "bad response field");
        return ex_result(ex);
    }
    ex_transit(ex, PTTH_XS_PIPE, "backend accepted the upgrade");
    apr_table_unset(hdrs, "Content-Length");
    apr_table_unset(hdrs, "Content-Type");
    apr_table_setn(hdrs, "Upgrade", "websocket");
    apr_table_setn(hdrs, "Connection", "Upgrade");
    apr_table_setn(hdrs, "Sec-WebSocket-Accept", ws_accept(r->pool, ex->ws_key));
    apr_table_setn(r->notes, "proxy-status", apr_itoa(r->pool, ex->status));
    r->status = HTTP_SWITCHING_PROTOCOLS;
    r->status_line = NULL;
    r->headers_out = hdrs;
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, PTTHLOGNO(01542)
                  EX_MSG(ex, "websocket: backend answered %d, tunnelling"),
                  ex->status);
    ap_send_interim_response(r, 1);

    /* What the hub wrote right behind the RESPONSE frame is already ours. */
    early = lc->rbuf + lc->rpos;
    early_len = lc->rlen - lc->rpos;
    if (early_len) {
        apr_bucket_brigade *bb = apr_brigade_create(r->pool, ex->c->bucket_alloc);

        apr_brigade_write(bb, NULL, NULL, early, early_len);
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(ex->c->bucket_alloc));
        lc->rpos = lc->rlen;
        /* Past the 101 the client connection carries raw bytes: below
         * the request's HTTP filters, as ap_proxy_tunnel_run() writes. */
        if (ap_pass_brigade(ex->c->output_filters, bb) != APR_SUCCESS) {
            ex->client_gone = 1;
        }
        apr_brigade_cleanup(bb);
    }

    /* The origin side of ap_proxy_tunnel_run() is a conn_rec over the
     * link socket, set up as mod_proxy sets up its backend connections. */
    rc = DONE;
    apr_pool_create(&cp, r->pool);
    ba = apr_bucket_alloc_create(cp);
    oc = ex->client_gone ? NULL
       : ap_run_create_connection(cp, r->server, lc->sock, 0, NULL, ba);
    if (oc) {
        ap_proxy_ssl_engine(oc, r->per_dir_config, 0);
        apr_socket_timeout_get(lc->sock, &t0);
        rc = ap_run_pre_connection(oc, lc->sock);
        apr_socket_timeout_set(lc->sock, t0);
        if (rc != OK && rc != DONE) {
            oc = NULL;
        }
        else {
            ptth_ws_watch(oc, lc->sock, early, early_len);
        }
        rc = DONE;
    }
    if (oc && (rv = ap_proxy_tunnel_create(&tunnel, r, oc, "websocket"))
              == APR_SUCCESS) {
        /* Idle limit: the worker's timeout, as for the request itself. */
        tunnel->timeout = ex->timeout;
        rc = ap_proxy_tunnel_run(tunnel);
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, PTTHLOGNO(01543)
                      EX_MSG(ex, "websocket: tunnel ended (%d)"), rc);
        if (rc == HTTP_GATEWAY_TIME_OUT) {
            apr_table_setn(r->notes, "proxy_timedout", "1");
        }
        rc = DONE;
    }
    else if (!ex->client_gone) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, PTTHLOGNO(01544)
                      EX_MSG(ex, "websocket: cannot tunnel over the link"));
    }
    /* Both connections are done (ap_proxy_tunnel_create() marked them
     * so); a pipe never goes back to the pool. */
    ex->c->keepalive = AP_CONN_CLOSE;
    apr_pool_destroy(cp);
    ptth_linkpool_release(lc, 0);
    ex->lc = NULL;
    return rc;
}

/* After the head of an upgrade request: the backend either takes the
 * extended CONNECT (pipe), or answers it as a plain GET, whose response
 * goes to the client as usual once the empty body is ended. */
static void ex_upgrade(ptth_proxy_ex *ex)
{
    ex_transit(ex, PTTH_XS_AWAITING_RESPONSE, "upgrade request sent");
    while (!ex->status && !ex->upgraded && !ex_failed(ex)) {
        ptth_link_fhdr fh;
        const char *payload;
        apr_status_t rv;

        rv = ptth_link_conn_read_frame(ex->lc, &fh, &payload, 1);
        if (rv != APR_SUCCESS) {
            ex_link_failed(ex, rv, "reading from");
            break;
        }
        ex_on_frame(ex, &fh, payload);
    }
    if (!ex->upgraded && !ex_failed(ex)) {
        /* End the empty request body (ptth_link.h). */
        unsigned char hdr[PTTH_LINK_HDR_LEN];
        struct iovec iov;

        ex_transit(ex, PTTH_XS_STREAMING_RESPONSE, "not upgraded");
        ptth_link_hdr_pack(hdr, PTTH_LF_DATA, PTTH_LF_END_STREAM, 0);
        iov.iov_base = hdr;
        iov.iov_len = sizeof(hdr);
        if (ex_write(ex, &iov, 1) == APR_SUCCESS) {
            ex->req_ended = 1;
            if (!ex->resp_ended) {
                ex_read_response(ex);
            }
        }
    }
}

/* A request the hub did not act on (GOAWAY, RESET SHUTDOWN: it drains)
 * goes again, on a fresh link, if nothing of it is lost: no response
 * begun, the body consumed so far still kept, time left to wait. */
static int ex_may_resend(ptth_proxy_ex *ex, int attempt)
{
    return ex->reset_in && ex->rst_code == PTTH_RST_SHUTDOWN && !ex->status
           && !ex->interim && !ex->passed && !ex->client_gone
           && ex->input_rv == APR_SUCCESS && !ex->body->lost
           && attempt + 1 < PTTH_MAX_HUB_ATTEMPTS
           && apr_time_now() < ex->req.sent + ex->wait;
}

/* Back to the state of a request not yet sent (the body kept for a
 * failover is what will be sent again). */
static void ex_new_attempt(ptth_proxy_ex *ex)
{
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, ex->r, PTTHLOGNO(01547)
                  EX_MSG(ex, "%s -> INIT (the hub did not take it: again)"),
                  xstate_str(ex->state));
    ex->state = PTTH_XS_INIT;
    ex->status = 0;
    ex->interim = 0;
    ex->resp_got = 0;
    ex->drained = 0;
    ex->rst_code = PTTH_RST_NONE;
    ex->link_rv = APR_SUCCESS;
    ex->sb_len = ex->sb_frame = 0;
    ex->awaiting_100 = ex->skip_body = ex->sb_open = ex->req_ended = 0;
    ex->resp_ended = ex->reset_in = ex->proto_err = ex->out_of_sync = 0;
    ex->need_flush = ex->discard = ex->override = ex->upgraded = 0;
    ex->up_headers = NULL;
    /* HTTP_IN answered the client's 100-continue once the body was read. */
    ex->expect_100 = ex->expect_100 && ex->body->consumed == 0;
    apr_brigade_cleanup(ex->out);
    ex->out_pending = 0;
}

/*******************************************************************************
 * the scheme handler
 ******************************************************************************/

static int ex_run(ptth_proxy_ex *ex, const char *url)
{
    request_rec *r = ex->r;
    char *frame;
    apr_size_t flen;
    apr_status_t rv;
    int attempt;

    rv = ex_build_request(ex, url, &frame, &flen);
    if (rv == APR_ENOSPC) {
        return ap_proxyerror(r, HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
                             "request head too large for a ptth link");
    }
    if (rv != APR_SUCCESS) {
        return ap_proxyerror(r, HTTP_BAD_REQUEST,
                             apr_pstrcat(r->pool, "invalid ptth URL ", url,
                                         NULL));
    }
    if (!ptth_router_pool_known(r->server, ex->pool)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PTTHLOGNO(01539)
                      "ptth: pool '%s' is not configured (PTTHListen plain=)",
                      ex->pool);
        return ap_proxyerror(r, HTTP_SERVICE_UNAVAILABLE,
                             apr_psprintf(r->pool, "unknown ptth pool %s",
                                          ex->pool));
    }
    if (ex->body->lost) {
        /* Balancer failover after an attempt that streamed more body than
         * we keep: what the client sent is gone. */
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PTTHLOGNO(01540)
                      "ptth pool %s: cannot fail over, %" APR_OFF_T_FMT
                      " request body bytes went to an earlier attempt",
                      ex->pool, ex->body->consumed);
        return ap_proxyerror(r, HTTP_BAD_GATEWAY,
                             "request body already consumed");
    }
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                  "ptth: %s %s%s to pool %s, wait %u ms, timeout %u ms",
                  ex->req.method, ex->req.authority, ex->req.path, ex->pool,
                  ex->req.wait_ms, ex->req.timeout_ms);

    for (attempt = 0;; ++attempt) {
        rv = ex_send_head(ex, frame, flen, attempt > 0);
        if (rv != APR_SUCCESS) {
            return ap_proxyerror(r, HTTP_SERVICE_UNAVAILABLE,
                                 "tunnel hub unavailable");
        }
        if (ex->upgrade) {
            ex_upgrade(ex);
            if (ex->upgraded) {
                return ex_pipe(ex);
            }
        }
        else {
            if (ex->expect_100 && !ex->req_ended) {
                ex_await_continue(ex);
            }
            if (!ex->req_ended && !ex->skip_body && !ex_failed(ex)
                && !ex->resp_ended) {
                ex_send_body(ex);
                if (ex->resp_ended && !ex->body->eos) {
                    /* Answered early: the rest of the body is not worth
                     * reading. */
                    ex->c->keepalive = AP_CONN_CLOSE;
                }
            }
            if (!ex_failed(ex) && !ex->resp_ended) {
                ex_read_response(ex);
            }
        }
        if (!ex_may_resend(ex, attempt)) {
            return ex_result(ex);
        }
        ex_finish_link(ex);
        ex_new_attempt(ex);
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
    ptth_router_sconf *sc;
    ptth_proxy_ex *ex;
    apr_port_t port;
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

    ex = apr_pcalloc(r->pool, sizeof(*ex));
    ex->r = r;
    ex->c = r->connection;
    ex->worker = worker;
    ex->conf = conf;
    ex->dconf = ap_get_module_config(r->per_dir_config, &proxy_module);
    ex->pool = worker->s->hostname_ex;
    ex->link_path = ptth_router_link_path();
    if (!ex->link_path) {
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

    ex->body = body_get(r);
    ex->in = apr_brigade_create(r->pool, ex->c->bucket_alloc);
    ex->out = apr_brigade_create(r->pool, ex->c->bucket_alloc);
    ex->original_status = r->status;
    ex->original_status_line = r->status_line;

    sc = ptth_router_sconf_get(r->server);
    if (worker->s->conn_timeout_set) {
        ex->wait = worker->s->conn_timeout;
    }
    else {
        ex->wait = (sc && sc->wait_timeout_set) ? sc->wait_timeout
                                                : PTTH_DEFAULT_WAIT_TIMEOUT;
    }
    if (worker->s->timeout_set) {
        ex->timeout = worker->s->timeout;
    }
    else if (conf->timeout_set) {
        ex->timeout = conf->timeout;
    }
    else {
        ex->timeout = r->server->timeout;
    }
    ex->link_timeout = ex->wait + ex->timeout + PTTH_LINK_SLACK;

    port = ap_get_server_port(r);
    if (ap_is_default_port(port, r)) {
        ex->portstr[0] = '\0';
    }
    else {
        apr_snprintf(ex->portstr, sizeof(ex->portstr), ":%d", (int)port);
    }
    /* End-to-end 100-continue, unless an earlier attempt (failover) has
     * read the body already and HTTP_IN answered the client. */
    ex->expect_100 = r->expecting_100 && ex->dconf->forward_100_continue
                     && ex->body->consumed == 0;
    ex->upgrade = want_websocket(ex);
    if (ex->upgrade) {
        ex->expect_100 = 0;
    }

    status = ex_run(ex, url);
    ap_proxy_release_connection(PTTH_PROXY_FUNC, backend, r->server);
    return status;
}

static void ptth_proxy_child_init(apr_pool_t *pchild, server_rec *s)
{
    ptth_linkpool_child_init(pchild, s);
}

void ptth_proxy_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_child_init(ptth_proxy_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    proxy_hook_scheme_handler(ptth_proxy_handler, NULL, NULL, APR_HOOK_FIRST);
    ptth_ws_register();
    proxy_hook_canon_handler(ptth_proxy_canon, NULL, NULL, APR_HOOK_FIRST);
}
