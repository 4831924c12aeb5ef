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

/* The gate, see ptth_gate.h. */

#include <string.h>

#include <apr_buckets.h>
#include <apr_tables.h>

#include <httpd.h>
#include <http_connection.h>
#include <http_log.h>
#include <ap_mpm.h>
#include <util_filter.h>

#include "ptth_backend.h"
#include "ptth_gate.h"

/* RFC 9113 section 3.4 (client preface), 4.1 (frame layout), 6. */
#define H2_PREFACE          "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN      24
#define H2_FRAME_HDR_LEN    9
#define H2_FT_DATA          0x0
#define H2_FT_HEADERS       0x1
#define H2_FT_RST_STREAM    0x3
#define H2_FT_CONTINUATION  0x9
#define H2_FLAG_END_STREAM  0x1

/* Where a byte stream is in the frame layout. */
typedef struct h2_wire {
    apr_size_t preface_left;       /* input: preface bytes still to come */
    unsigned char hdr[H2_FRAME_HDR_LEN];
    apr_size_t hdr_len;            /* frame header bytes collected */
    apr_size_t payload_left;       /* of the current frame */
    int dropping;                  /* input: the current frame is held */
} h2_wire;

typedef struct h2_frame_hdr {
    apr_size_t length;
    unsigned type;
    unsigned flags;
    apr_uint32_t sid;
} h2_frame_hdr;

typedef struct ptth_gate {
    ptth_tunnel *t;
    conn_rec *c;
    int off;                       /* not HTTP/2 after all: pass everything */
    h2_wire in, out;
    apr_uint32_t max_stream;       /* highest stream opened to mod_http2 */
    apr_uint32_t held_from;        /* 0, or the first stream held back */
    apr_array_header_t *open;      /* ids of the streams open on it;
                                    * as many as mod_http2 allows at
                                    * once (H2MaxSessionStreams) */
    apr_uint32_t opened;
} ptth_gate;

static ap_filter_rec_t *gate_in_rec;
static ap_filter_rec_t *gate_out_rec;

static void parse_hdr(const unsigned char *h, h2_frame_hdr *fh)
{
    fh->length = ((apr_size_t)h[0] << 16) | ((apr_size_t)h[1] << 8) | h[2];
    fh->type = h[3];
    fh->flags = h[4];
    fh->sid = ((apr_uint32_t)(h[5] & 0x7f) << 24) | ((apr_uint32_t)h[6] << 16)
              | ((apr_uint32_t)h[7] << 8) | h[8];
}

/*******************************************************************************
 * open streams
 ******************************************************************************/

static void streams_publish(ptth_gate *g)
{
    ptth_tunnel_streams(g->t, (apr_uint32_t)g->open->nelts, g->opened);
}

static void stream_open(ptth_gate *g, apr_uint32_t sid)
{
    APR_ARRAY_PUSH(g->open, apr_uint32_t) = sid;
    g->opened++;
    streams_publish(g);
}

static void stream_close(ptth_gate *g, apr_uint32_t sid)
{
    apr_uint32_t *ids = (apr_uint32_t *)g->open->elts;
    int i;

    for (i = 0; i < g->open->nelts; ++i) {
        if (ids[i] == sid) {
            ids[i] = ids[g->open->nelts - 1];
            g->open->nelts--;
            streams_publish(g);
            return;
        }
    }
}

/*******************************************************************************
 * input: the router's frames
 ******************************************************************************/

static int gate_stopping(ptth_gate *g)
{
    int state = 0;

    /* mod_http2 decides on AP_MPMQ_MPM_STATE, in this same thread and
     * before it reads: when it has seen STOPPING, so do we. */
    return ptth_tunnel_stopping(g->t) != PTTH_RUNNING
           || (ap_mpm_query(AP_MPMQ_MPM_STATE, &state) == APR_SUCCESS
               && state == AP_MPMQ_STOPPING);
}

/* A frame header from the router is complete: pass or hold the frame. */
static int gate_in_frame(ptth_gate *g, const h2_frame_hdr *fh)
{
    int is_new = (fh->type == H2_FT_HEADERS && fh->sid > g->max_stream);

    if (!g->held_from && is_new && gate_stopping(g)) {
        g->held_from = fh->sid;
        ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, g->c, PTTHLOGNO(03040)
                      "tunnel %s: stopping, holding back the streams the "
                      "router opens from stream %u on (it may retry them "
                      "after the GOAWAY)", g->t->name, (unsigned)fh->sid);
    }
    if (g->held_from
        && (fh->type == H2_FT_HEADERS || fh->type == H2_FT_CONTINUATION
            || (fh->sid != 0 && fh->sid >= g->held_from))) {
        return 1;
    }
    if (is_new) {
        g->max_stream = fh->sid;
        stream_open(g, fh->sid);
    }
    else if (fh->type == H2_FT_RST_STREAM) {
        stream_close(g, fh->sid);
    }
    return 0;
}

/* Remove n bytes at *off from bucket *pb; afterwards *pb is what follows
 * them (possibly the brigade's sentinel, then *have is 0). */
static apr_status_t remove_range(apr_bucket **pb, const char **data,
                                 apr_size_t *len, apr_size_t *off,
                                 apr_size_t n, int *have)
{
    apr_bucket *b = *pb, *rest;
    int more = (*off + n < *len);

    if (*off > 0) {
        apr_bucket_split(b, *off);
        b = APR_BUCKET_NEXT(b);
    }
    if (more) {
        apr_bucket_split(b, n);
    }
    rest = APR_BUCKET_NEXT(b);
    apr_bucket_delete(b);
    *pb = rest;
    *off = 0;
    *have = 0;
    if (more) {
        *have = 1;
        return apr_bucket_read(rest, data, len, APR_BLOCK_READ);
    }
    return APR_SUCCESS;
}

/* Frame headers wait in g->in.hdr until all 9 bytes are known; the
 * payload of a held frame is removed. */
static apr_status_t gate_in_rewrite(ptth_gate *g, apr_bucket_brigade *bb)
{
    h2_wire *w = &g->in;
    apr_bucket *b = APR_BRIGADE_FIRST(bb);
    const char *data = NULL;
    apr_size_t len = 0, off = 0, n;
    int have = 0;
    apr_status_t rv;

    while (b != APR_BRIGADE_SENTINEL(bb) && !g->off) {
        if (!have) {
            if (APR_BUCKET_IS_METADATA(b)) {
                b = APR_BUCKET_NEXT(b);
                continue;
            }
            if ((rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ))
                != APR_SUCCESS) {
                return rv;
            }
            off = 0;
            have = 1;
        }
        if (off >= len) {
            b = APR_BUCKET_NEXT(b);
            have = 0;
        }
        else if (w->preface_left) {
            apr_size_t seen = H2_PREFACE_LEN - w->preface_left;

            n = w->preface_left < len - off ? w->preface_left : len - off;
            if (memcmp(data + off, H2_PREFACE + seen, n)) {
                g->off = 1;     /* HTTP/1.1 on the tunnel: nothing to do */
            }
            w->preface_left -= n;
            off += n;
        }
        else if (w->payload_left) {
            n = w->payload_left < len - off ? w->payload_left : len - off;
            w->payload_left -= n;
            if (!w->dropping) {
                off += n;
            }
            else if ((rv = remove_range(&b, &data, &len, &off, n, &have))
                     != APR_SUCCESS) {
                return rv;
            }
        }
        else {
            h2_frame_hdr fh;

            n = H2_FRAME_HDR_LEN - w->hdr_len;
            n = n < len - off ? n : len - off;
            memcpy(w->hdr + w->hdr_len, data + off, n);
            w->hdr_len += n;
            if ((rv = remove_range(&b, &data, &len, &off, n, &have))
                != APR_SUCCESS) {
                return rv;
            }
            if (w->hdr_len == H2_FRAME_HDR_LEN) {
                w->hdr_len = 0;
                parse_hdr(w->hdr, &fh);
                w->payload_left = fh.length;
                w->dropping = gate_in_frame(g, &fh);
                if (!w->dropping) {
                    APR_BUCKET_INSERT_BEFORE(b, apr_bucket_heap_create(
                        (const char *)w->hdr, H2_FRAME_HDR_LEN, NULL,
                        g->c->bucket_alloc));
                }
            }
        }
    }
    return APR_SUCCESS;
}

static apr_status_t gate_in_filter(ap_filter_t *f, apr_bucket_brigade *bb,
                                   ap_input_mode_t mode, apr_read_type_e block,
                                   apr_off_t readbytes)
{
    ptth_gate *g = f->ctx;
    apr_status_t rv;

    if (mode != AP_MODE_READBYTES || g->off) {
        /* e.g. mod_http2's speculative look at the preface */
        return ap_get_brigade(f->next, bb, mode, block, readbytes);
    }
    for (;;) {
        apr_off_t want = readbytes;

        if (want > (apr_off_t)g->in.hdr_len) {
            want -= (apr_off_t)g->in.hdr_len;
        }
        rv = ap_get_brigade(f->next, bb, mode, block, want);
        if (rv != APR_SUCCESS || APR_BRIGADE_EMPTY(bb)) {
            /* An empty brigade is the core's "nothing yet" in a
             * non-blocking read. */
            return rv;
        }
        rv = gate_in_rewrite(g, bb);
        if (rv != APR_SUCCESS || !APR_BRIGADE_EMPTY(bb)) {
            return rv;
        }
        /* All of it was held back, or is part of a frame header: read on. */
    }
}

/*******************************************************************************
 * output: mod_http2's frames
 ******************************************************************************/

static void gate_out_frame(ptth_gate *g, const h2_frame_hdr *fh)
{
    if (((fh->type == H2_FT_HEADERS || fh->type == H2_FT_DATA)
         && (fh->flags & H2_FLAG_END_STREAM))
        || fh->type == H2_FT_RST_STREAM) {
        stream_close(g, fh->sid);
    }
}

/* Watch only: payloads are skipped by length, without reading them (they
 * may be file buckets meant for sendfile). */
static apr_status_t gate_out_scan(ptth_gate *g, apr_bucket_brigade *bb)
{
    h2_wire *w = &g->out;
    apr_bucket *b;
    apr_status_t rv;

    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
         b = APR_BUCKET_NEXT(b)) {
        const char *data;
        apr_size_t len, off = 0;

        if (APR_BUCKET_IS_METADATA(b)) {
            continue;
        }
        if (w->payload_left && b->length != (apr_size_t)-1
            && b->length <= w->payload_left) {
            w->payload_left -= b->length;
            continue;
        }
        if ((rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ))
            != APR_SUCCESS) {
            return rv;
        }
        while (off < len) {
            if (w->payload_left) {
                apr_size_t n = w->payload_left < len - off
                               ? w->payload_left : len - off;
                w->payload_left -= n;
                off += n;
            }
            else {
                apr_size_t n = H2_FRAME_HDR_LEN - w->hdr_len;
                h2_frame_hdr fh;

                n = n < len - off ? n : len - off;
                memcpy(w->hdr + w->hdr_len, data + off, n);
                w->hdr_len += n;
                off += n;
                if (w->hdr_len == H2_FRAME_HDR_LEN) {
                    w->hdr_len = 0;
                    parse_hdr(w->hdr, &fh);
                    w->payload_left = fh.length;
                    gate_out_frame(g, &fh);
                }
            }
        }
    }
    return APR_SUCCESS;
}

static apr_status_t gate_out_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    ptth_gate *g = f->ctx;

    /* The server's side starts with a frame (its SETTINGS, RFC 9113
     * section 3.4), possibly before the router's preface was read. */
    if (bb && !g->off) {
        apr_status_t rv = gate_out_scan(g, bb);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    return ap_pass_brigade(f->next, bb);
}

/*******************************************************************************
 * setup
 ******************************************************************************/

void ptth_gate_register(void)
{
    gate_in_rec = ap_register_input_filter("PTTH_TUNNEL_GATE_IN",
                                           gate_in_filter, NULL,
                                           AP_FTYPE_CONNECTION);
    gate_out_rec = ap_register_output_filter("PTTH_TUNNEL_GATE_OUT",
                                             gate_out_filter, NULL,
                                             AP_FTYPE_CONNECTION);
}

void ptth_gate_add(conn_rec *c, ptth_tunnel *t)
{
    ptth_gate *g = apr_pcalloc(c->pool, sizeof(*g));

    g->t = t;
    g->c = c;
    g->in.preface_left = H2_PREFACE_LEN;
    g->open = apr_array_make(c->pool, 16, sizeof(apr_uint32_t));
    ap_add_input_filter_handle(gate_in_rec, g, NULL, c);
    ap_add_output_filter_handle(gate_out_rec, g, NULL, c);
}
