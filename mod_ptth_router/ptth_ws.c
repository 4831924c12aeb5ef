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

/* WebSocket close handshake watching, see ptth_ws.h. */

#include <string.h>

#include <apr_buckets.h>

#include <httpd.h>
#include <http_connection.h>
#include <http_log.h>
#include <util_filter.h>

#include "ptth_router.h"
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
