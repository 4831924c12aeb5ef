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
#include "ptth_h2walk.h"

typedef struct ptth_gate {
    ptth_dialed *d;
    conn_rec *c;
    ptth_h2_walk in, out;
    apr_uint32_t max_stream;       /* highest stream opened to mod_http2 */
    apr_uint32_t held_from;        /* 0, or the first stream held back */
    apr_array_header_t *open;      /* ids of the streams open on it;
                                    * as many as mod_http2 allows at
                                    * once (H2MaxSessionStreams) */
    apr_uint32_t opened;
} ptth_gate;

static ap_filter_rec_t *gate_in_rec;
static ap_filter_rec_t *gate_out_rec;

/*******************************************************************************
 * open streams
 ******************************************************************************/

static void streams_publish(ptth_gate *g)
{
    ptth_dialed_streams(g->d, (apr_uint32_t)g->open->nelts, g->opened);
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
    return ptth_dialed_stopping(g->d) != PTTH_RUNNING
           || (ap_mpm_query(AP_MPMQ_MPM_STATE, &state) == APR_SUCCESS
               && state == AP_MPMQ_STOPPING);
}

/* A frame header from the router is complete: pass or hold the frame. */
static int gate_in_frame(void *ctx, const ptth_h2_frame *fh)
{
    ptth_gate *g = ctx;
    int is_new = (fh->type == PTTH_H2_HEADERS && fh->sid > g->max_stream);

    if (!g->held_from && is_new && gate_stopping(g)) {
        g->held_from = fh->sid;
        ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, g->c, PTTHLOGNO(03040)
                      "tunnel %s: stopping, holding back the streams the "
                      "router opens from stream %u on (it may retry them "
                      "after the GOAWAY)", g->d->name, (unsigned)fh->sid);
    }
    if (g->held_from
        && (fh->type == PTTH_H2_HEADERS || fh->type == PTTH_H2_CONTINUATION
            || (fh->sid != 0 && fh->sid >= g->held_from))) {
        return 1;
    }
    if (is_new) {
        g->max_stream = fh->sid;
        stream_open(g, fh->sid);
    }
    else if (fh->type == PTTH_H2_RST_STREAM) {
        stream_close(g, fh->sid);
    }
    return 0;
}

static apr_status_t gate_in_filter(ap_filter_t *f, apr_bucket_brigade *bb,
                                   ap_input_mode_t mode, apr_read_type_e block,
                                   apr_off_t readbytes)
{
    ptth_gate *g = f->ctx;
    apr_status_t rv;

    if (mode != AP_MODE_READBYTES || g->in.not_h2) {
        /* e.g. mod_http2's speculative look at the preface */
        return ap_get_brigade(f->next, bb, mode, block, readbytes);
    }
    for (;;) {
        apr_off_t want = readbytes;

        if (want > (apr_off_t)ptth_h2_walk_pending(&g->in)) {
            want -= (apr_off_t)ptth_h2_walk_pending(&g->in);
        }
        rv = ap_get_brigade(f->next, bb, mode, block, want);
        if (rv != APR_SUCCESS || APR_BRIGADE_EMPTY(bb)) {
            /* An empty brigade is the core's "nothing yet" in a
             * non-blocking read. */
            return rv;
        }
        rv = ptth_h2_walk_rewrite(&g->in, bb);
        if (rv != APR_SUCCESS || !APR_BRIGADE_EMPTY(bb)) {
            return rv;
        }
        /* All of it was held back, or is part of a frame header: read on. */
    }
}

/*******************************************************************************
 * output: mod_http2's frames
 ******************************************************************************/

static int gate_out_frame(void *ctx, const ptth_h2_frame *fh)
{
    ptth_gate *g = ctx;

    if (((fh->type == PTTH_H2_HEADERS || fh->type == PTTH_H2_DATA)
         && (fh->flags & PTTH_H2_FLAG_END_STREAM))
        || fh->type == PTTH_H2_RST_STREAM) {
        stream_close(g, fh->sid);
    }
    return 0;
}

static apr_status_t gate_out_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    ptth_gate *g = f->ctx;

    /* The server's side starts with a frame (its SETTINGS, RFC 9113
     * section 3.4), possibly before the router's preface was read. */
    if (bb && !g->in.not_h2) {
        apr_status_t rv = ptth_h2_walk_scan(&g->out, bb);
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

void ptth_gate_add(conn_rec *c, ptth_dialed *d)
{
    ptth_gate *g = apr_pcalloc(c->pool, sizeof(*g));

    g->d = d;
    g->c = c;
    ptth_h2_walk_init(&g->in, 1, gate_in_frame, g);
    ptth_h2_walk_init(&g->out, 0, gate_out_frame, g);
    g->open = apr_array_make(c->pool, 16, sizeof(apr_uint32_t));
    ap_add_input_filter_handle(gate_in_rec, g, NULL, c);
    ap_add_output_filter_handle(gate_out_rec, g, NULL, c);
}
