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

/* WebSocket through a tunnel, see ptth_ws.h. */

#include <string.h>

#include <apr_base64.h>
#include <apr_buckets.h>
#include <apr_sha1.h>
#include <apr_strings.h>

#include <httpd.h>
#include <http_connection.h>
#include <http_log.h>
#include <http_protocol.h>
#include <util_filter.h>

#include "ptth_router.h"
#include "ptth_fwd_fields.h"
#include "ptth_ws.h"

#define WS_OP_CLOSE 0x8

int ptth_ws_follow(ptth_ws_dir *d, const unsigned char *data, apr_size_t len)
{
    while (len && !d->closed) {
        if (d->payload_left) {
            apr_size_t n = d->payload_left < len ? (apr_size_t)d->payload_left : len;
            d->payload_left -= n;
            data += n;
            len -= n;
            if (!d->payload_left && d->in_close) {
                d->closed = 1;
            }
            continue;
        }
        if (!d->hdr_need) {
            d->hdr_need = 2;
        }
        d->hdr[d->hdr_len++] = *data++;
        --len;
        if (d->hdr_len == 2) {
            /* RFC 6455 5.2: 7-bit length, or 126/127 for 16/64 bits more;
             * a masking key (client to server) adds 4. */
            unsigned plen = d->hdr[1] & 0x7f;
            d->hdr_need = 2 + (plen == 126 ? 2 : plen == 127 ? 8 : 0)
                          + ((d->hdr[1] & 0x80) ? 4 : 0);
        }
        if (d->hdr_len == d->hdr_need) {
            unsigned plen = d->hdr[1] & 0x7f;
            apr_uint64_t n = plen;
            apr_size_t i;

            if (plen >= 126) {
                n = 0;
                for (i = 2; i < (plen == 126 ? 4u : 10u); ++i) {
                    n = (n << 8) | d->hdr[i];
                }
            }
            d->in_close = (d->hdr[0] & 0x0f) == WS_OP_CLOSE;
            d->payload_left = n;
            d->hdr_len = 0;
            d->hdr_need = 0;
            if (!n && d->in_close) {
                d->closed = 1;
            }
        }
    }
    return d->closed;
}

typedef struct ws_watch {
    ptth_ws_dir to_user;          /* backend -> user */
    ptth_ws_dir to_backend;       /* user -> backend */
    apr_socket_t *sock;
    int done;
} ws_watch;

static ap_filter_rec_t *ws_in_rec;
static ap_filter_rec_t *ws_out_rec;

static void ws_follow_brigade(ap_filter_t *f, ws_watch *w, ptth_ws_dir *d,
                              apr_bucket_brigade *bb)
{
    apr_bucket *b;

    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb) && !d->closed;
         b = APR_BUCKET_NEXT(b)) {
        const char *data;
        apr_size_t len;

        if (APR_BUCKET_IS_METADATA(b)
            || apr_bucket_read(b, &data, &len, APR_BLOCK_READ) != APR_SUCCESS) {
            continue;
        }
        ptth_ws_follow(d, (const unsigned char *)data, len);
    }
    if (!w->done && w->to_user.closed && w->to_backend.closed) {
        /* Both Close frames have passed (RFC 6455 7.1.1): the origin ends
         * here, whatever the backend's stream does. */
        w->done = 1;
        ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, f->c, PTTHLOGNO(01545)
                      "websocket: Close frames passed both ways, ending the "
                      "tunnel");
        apr_socket_shutdown(w->sock, APR_SHUTDOWN_READ);
    }
}

static apr_status_t ws_in_filter(ap_filter_t *f, apr_bucket_brigade *bb,
                                 ap_input_mode_t mode, apr_read_type_e block,
                                 apr_off_t readbytes)
{
    ws_watch *w = f->ctx;
    apr_status_t rv = ap_get_brigade(f->next, bb, mode, block, readbytes);

    if (rv == APR_SUCCESS && mode == AP_MODE_READBYTES && !w->done) {
        ws_follow_brigade(f, w, &w->to_user, bb);
    }
    return rv;
}

static apr_status_t ws_out_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    ws_watch *w = f->ctx;

    if (bb && !w->done) {
        ws_follow_brigade(f, w, &w->to_backend, bb);
    }
    return ap_pass_brigade(f->next, bb);
}

void ptth_ws_register(void)
{
    ws_in_rec = ap_register_input_filter("PTTH_WS_WATCH_IN", ws_in_filter,
                                         NULL, AP_FTYPE_CONNECTION);
    ws_out_rec = ap_register_output_filter("PTTH_WS_WATCH_OUT", ws_out_filter,
                                           NULL, AP_FTYPE_CONNECTION);
}

void ptth_ws_watch(conn_rec *oc, apr_socket_t *sock, const char *early,
                   apr_size_t early_len)
{
    ws_watch *w = apr_pcalloc(oc->pool, sizeof(*w));

    w->sock = sock;
    ptth_ws_follow(&w->to_user, (const unsigned char *)early, early_len);
    ap_add_input_filter_handle(ws_in_rec, w, NULL, oc);
    ap_add_output_filter_handle(ws_out_rec, w, NULL, oc);
}

int ptth_ws_wanted(ptth_fwd *fwd)
{
    request_rec *r = fwd->r;
    const char *upgrade = apr_table_get(r->headers_in, "Upgrade");
    const char *connection = apr_table_get(r->headers_in, "Connection");

    if (!upgrade || r->method_number != M_GET
        || r->proto_num < HTTP_VERSION(1, 1)
        || !ap_find_token(r->pool, upgrade, "websocket")
        /* RFC 9110 7.8: Upgrade comes with the "upgrade" option */
        || !connection || !ap_find_token(r->pool, connection, "upgrade")
        || !ap_proxy_worker_can_upgrade(r->pool, fwd->worker, "websocket",
                                        "WebSocket")) {
        return 0;
    }
    fwd->ws_key = apr_table_get(r->headers_in, "Sec-WebSocket-Key");
    /* RFC 6455 4.1: the key is 16 random octets, base64: 24 characters */
    return fwd->ws_key && strlen(fwd->ws_key) == 24;
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

int ptth_ws_pipe(ptth_fwd *fwd)
{
    request_rec *r = fwd->r;
    ptth_link_conn *lc = fwd->lc;
    proxy_tunnel_rec *tunnel;
    apr_interval_time_t t0;
    apr_bucket_alloc_t *ba;
    apr_table_t *hdrs;
    apr_pool_t *cp;
    conn_rec *oc;
    const char *early;
    apr_size_t early_len;
    apr_status_t rv = APR_EGENERAL;
    int rc, gone = 0;

    if (ptth_fwd_map_fields(fwd, fwd->up_headers, 0, &hdrs) != APR_SUCCESS) {
        ptth_fwd_proto_error(fwd, "bad response field");
        return ptth_fwd_result(fwd);
    }
    apr_table_unset(hdrs, "Content-Length");
    apr_table_unset(hdrs, "Content-Type");
    apr_table_setn(hdrs, "Upgrade", "websocket");
    apr_table_setn(hdrs, "Connection", "Upgrade");
    apr_table_setn(hdrs, "Sec-WebSocket-Accept", ws_accept(r->pool, fwd->ws_key));
    apr_table_setn(r->notes, "proxy-status", apr_itoa(r->pool, fwd->status));
    r->status = HTTP_SWITCHING_PROTOCOLS;
    r->status_line = NULL;
    r->headers_out = hdrs;
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, PTTHLOGNO(01542)
                  PTTH_FWD_MSG(fwd, "websocket: backend answered %d, tunnelling"),
                  fwd->status);
    ap_send_interim_response(r, 1);

    /* What the hub wrote right behind the RESPONSE frame is already ours. */
    early = lc->rbuf + lc->rpos;
    early_len = lc->rlen - lc->rpos;
    if (early_len) {
        apr_bucket_brigade *bb = apr_brigade_create(r->pool, fwd->c->bucket_alloc);

        apr_brigade_write(bb, NULL, NULL, early, early_len);
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(fwd->c->bucket_alloc));
        lc->rpos = lc->rlen;
        /* Past the 101 the user's connection carries raw bytes: below
         * the request's HTTP filters, as ap_proxy_tunnel_run() writes. */
        gone = ap_pass_brigade(fwd->c->output_filters, bb) != APR_SUCCESS;
        apr_brigade_cleanup(bb);
    }

    /* The origin side of ap_proxy_tunnel_run() is a conn_rec over the
     * link socket, set up as mod_proxy sets up its backend connections. */
    rc = DONE;
    apr_pool_create(&cp, r->pool);
    ba = apr_bucket_alloc_create(cp);
    oc = gone ? NULL : ap_run_create_connection(cp, r->server, lc->sock, 0, NULL, ba);
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
        tunnel->timeout = fwd->timeout;
        rc = ap_proxy_tunnel_run(tunnel);
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, PTTHLOGNO(01543)
                      PTTH_FWD_MSG(fwd, "websocket: tunnel ended (%d)"), rc);
        if (rc == HTTP_GATEWAY_TIME_OUT) {
            apr_table_setn(r->notes, "proxy_timedout", "1");
        }
        rc = DONE;
    }
    else if (!gone) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, PTTHLOGNO(01544)
                      PTTH_FWD_MSG(fwd, "websocket: cannot tunnel over the link"));
    }
    /* Both connections are done (ap_proxy_tunnel_create() marked them
     * so); a pipe never goes back to the link cache. */
    fwd->c->keepalive = AP_CONN_CLOSE;
    apr_pool_destroy(cp);
    ptth_link_release(lc, 0);
    fwd->lc = NULL;
    return rc;
}
