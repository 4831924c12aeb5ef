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

/* The ptth stream path's HTTP/2 server session, see ptth_h2s.h and "The
 * ptth stream path" in docs/architecture.md.
 *
 * Threads: the tunnel's thread (ptth_h2s_serve) reads the connection,
 * runs nghttp2's input side and queues complete request heads; the
 * workers (ptth_c2.c through the ptth_stream_* functions) give responses
 * and read request bodies.  Whoever holds the lock and changed something
 * sends what nghttp2 has to send (h2s_send): usually the worker that just
 * produced a response, so the tunnel's thread is not woken per request.
 * Output the socket does not take at once stays in the connection's core
 * output filter (c1->data_in_output_filters); then nothing more is framed
 * until the tunnel's thread, polling for POLLOUT, got it out.
 *
 * Stream states, as seen here (nghttp2 keeps RFC 9113 section 5.1's):
 *
 *   HEADERS begun --head complete--> QUEUED --a worker took it--> RUNNING
 *        |                             |                              |
 *        +--- reset, tunnel lost ------+----- aborted (the worker -----+
 *                                             stops at its next I/O)
 *   A stream object is freed once nghttp2 closed it and no worker holds
 *   it (ptth_stream_done). */

#include <string.h>
#include <stdlib.h>

#include <apr_atomic.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>

#include <httpd.h>
#include <http_connection.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <ap_mpm.h>
#include <mpm_common.h>
#include <util_filter.h>

#include <nghttp2/nghttp2.h>

#include "ptth_backend.h"
#include "ptth_backend_config.h"
#include "ptth_c2.h"
#include "ptth_h2s.h"

/* Frames read in one round before the lock is let go once. */
#define PTTH_H2S_READ_ROUNDS   8
#define PTTH_H2S_READ_MAX      65536
/* A read that got less than this emptied the socket (see read_input). */
#define PTTH_H2S_READ_SHORT    APR_BUCKET_BUFF_SIZE
/* Buffers of PTTH_H2S_OUTBUF bytes kept for the next streams. */
#define PTTH_H2S_FREEBUFS      16
/* Body bytes buffered in a stream before they are framed and sent. */
#define PTTH_H2S_SEND_AT       16384

typedef struct ptth_buf {
    char *data;                  /* PTTH_H2S_OUTBUF bytes, or NULL */
    apr_size_t off, len;
} ptth_buf;

/* The part of a stream the session's lock guards. */
typedef struct ptth_stream_io {
    ptth_stream *next, *prev;    /* the session's list */

    /* request body */
    ptth_buf in;
    int in_eos;                  /* END_STREAM from the router */
    int in_trailers;             /* a trailer block is being received */
    apr_table_t *trailers_in;

    /* response */
    int status;                  /* final response given (>= 200) */
    apr_table_t *headers;
    int submitted;               /* ... and submitted to nghttp2 */
    ptth_buf out;
    int out_eos;                 /* the worker ended the body */
    nghttp2_nv *trailers;
    apr_size_t ntrailers;
    int out_done;                /* END_STREAM (or trailers) framed */
    int deferred;                /* the data source waits for bytes */

    /* life */
    ptth_stream *ready_next;     /* in the session's list of heads to queue */
    int working;                 /* a worker holds it (queued, running) */
    int closed;                  /* nghttp2 closed it */
    volatile apr_uint32_t aborted; /* nothing more can be sent or read
                                  * (written under lock; read without it
                                  * only as a hint) */
    int waiting;                 /* its worker waits on task.cond */
} ptth_stream_io;

struct ptth_h2s {
    ptth_dialed *d;
    conn_rec *c1;
    conn_rec c1_copy;            /* c1 as the session started, for the
                                  * workers' secondary connections */
    server_rec *s;               /* the virtual address's server */
    apr_socket_t *sock;
    ptth_tls_io *tls;
    ptth_workers *workers;
    int max_streams;             /* PTTHMaxStreams */
    apr_pool_t *pool;            /* own allocator: only under lock */
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *done;     /* the last worker let go (closing) */
    nghttp2_session *ngh;
    apr_bucket_brigade *ibb;
    apr_bucket_brigade *obb;
    ap_filter_t *core_out;       /* c1's last output filter */

    ptth_stream *streams;        /* every stream object */
    ptth_stream *ready;          /* heads complete, to queue once the lock
                                  * is let go (ready_last: its end) */
    ptth_stream *ready_last;
    int nstreams;
    apr_uint32_t opened;
    int nworking;
    char *freebufs[PTTH_H2S_FREEBUFS];
    int nfree;

    int out_blocked;             /* output waits for the socket */
    apr_time_t blocked_since;
    int in_poll;                 /* the tunnel's thread is in its wait */
    int kicked;                  /* ... and was woken already */
    int eof;                     /* the router closed its side */
    int goaway_sent;
    int peer_goaway;
    int closing;                 /* the session ends: no more output */
    int stuck;                   /* a worker saw the output stuck for a
                                  * whole Timeout: the router stopped
                                  * reading */
    const char *why;             /* set when the session failed */
};

static nghttp2_session_callbacks *the_callbacks;

/*******************************************************************************
 * buffers
 ******************************************************************************/

static char *buf_get(ptth_h2s *h2s)
{
    if (h2s->nfree > 0) {
        return h2s->freebufs[--h2s->nfree];
    }
    return malloc(PTTH_H2S_OUTBUF);
}

static void buf_put(ptth_h2s *h2s, ptth_buf *b)
{
    if (b->data) {
        if (h2s->nfree < PTTH_H2S_FREEBUFS) {
            h2s->freebufs[h2s->nfree++] = b->data;
        }
        else {
            free(b->data);
        }
    }
    b->data = NULL;
    b->off = b->len = 0;
}

/* Room at the end of b, moving its bytes to the front when there is less
 * than `want` there. */
static apr_size_t buf_room(ptth_buf *b, apr_size_t want)
{
    apr_size_t room = PTTH_H2S_OUTBUF - b->off - b->len;

    if (room < want && b->off) {
        memmove(b->data, b->data + b->off, b->len);
        b->off = 0;
        room = PTTH_H2S_OUTBUF - b->len;
    }
    return room;
}

static apr_size_t buf_take(ptth_buf *b, char *to, apr_size_t max)
{
    apr_size_t n = b->len < max ? b->len : max;

    memcpy(to, b->data + b->off, n);
    b->off += n;
    b->len -= n;
    if (!b->len) {
        b->off = 0;
    }
    return n;
}

/*******************************************************************************
 * streams
 ******************************************************************************/

static void streams_publish(ptth_h2s *h2s)
{
    ptth_dialed_streams(h2s->d, (apr_uint32_t)h2s->nstreams, h2s->opened);
}

/* The tunnel's thread wants to look at the session again (a stream ended
 * while the session drains, output waits for the socket).  Under lock. */
static void h2s_kick(ptth_h2s *h2s)
{
    if (h2s->in_poll && !h2s->kicked) {
        h2s->kicked = 1;
        ptth_dialed_wakeup(h2s->d);
    }
}

static void stream_wake(ptth_stream *st)
{
    if (st->io->waiting && st->task.cond) {
        apr_thread_cond_signal(st->task.cond);
    }
}

static ptth_stream *stream_create(ptth_h2s *h2s, apr_int32_t id)
{
    apr_pool_t *p;
    ptth_stream *st;

    apr_pool_create(&p, h2s->pool);
    apr_pool_tag(p, "ptth_stream");
    st = apr_pcalloc(p, sizeof(*st));
    st->io = apr_pcalloc(p, sizeof(*st->io));
    st->h2s = h2s;
    st->pool = p;
    st->id = id;
    st->headers = apr_table_make(p, 16);
    st->request_time = apr_time_now();
    st->conn_id = h2s->c1->id;
    st->task.run = ptth_c2_run;

    st->io->next = h2s->streams;
    if (h2s->streams) {
        h2s->streams->io->prev = st;
    }
    h2s->streams = st;
    h2s->nstreams++;
    h2s->opened++;
    streams_publish(h2s);
    return st;
}

static void stream_free(ptth_stream *st)
{
    ptth_h2s *h2s = st->h2s;
    ptth_stream_io *io = st->io;

    if (io->prev) {
        io->prev->io->next = io->next;
    }
    else {
        h2s->streams = io->next;
    }
    if (io->next) {
        io->next->io->prev = io->prev;
    }
    h2s->nstreams--;
    buf_put(h2s, &io->in);
    buf_put(h2s, &io->out);
    apr_pool_destroy(st->pool);
    streams_publish(h2s);
    if (h2s->nstreams == 0 && (h2s->goaway_sent || h2s->peer_goaway)) {
        h2s_kick(h2s);
    }
}

/* Nothing more can happen on the stream; its worker stops at its next
 * I/O.  Body bytes never read still count against the connection's
 * window: they are consumed now (RFC 9113 section 6.9). */
static void stream_abort(ptth_stream *st)
{
    ptth_stream_io *io = st->io;

    apr_atomic_set32(&io->aborted, 1);
    if (io->in.len) {
        nghttp2_session_consume_connection(st->h2s->ngh, io->in.len);
        io->in.len = io->in.off = 0;
    }
    stream_wake(st);
}

static void stream_reset(ptth_stream *st, uint32_t code)
{
    if (!st->io->closed) {
        nghttp2_submit_rst_stream(st->h2s->ngh, NGHTTP2_FLAG_NONE, st->id,
                                  code);
    }
    stream_abort(st);
}

/* Wait for the router (under lock, in the stream's worker): woken by
 * stream_wake.  APR_TIMEUP when nothing happened within the virtual
 * host's Timeout. */
static apr_status_t stream_wait(ptth_stream *st, apr_time_t deadline)
{
    ptth_stream_io *io = st->io;
    apr_time_t now = apr_time_now();
    apr_status_t rv;

    if (now >= deadline) {
        return APR_TIMEUP;
    }
    io->waiting = 1;
    rv = apr_thread_cond_timedwait(st->task.cond, st->h2s->lock, deadline - now);
    io->waiting = 0;
    if (APR_STATUS_IS_TIMEUP(rv) && apr_time_now() < deadline) {
        rv = APR_SUCCESS;
    }
    return APR_STATUS_IS_TIMEUP(rv) ? APR_TIMEUP : APR_SUCCESS;
}

/*******************************************************************************
 * sending
 ******************************************************************************/

/* Try to get what the core output filter holds onto the socket, without
 * blocking (as the event MPM does in WRITE_COMPLETION). */
static apr_status_t out_flush(ptth_h2s *h2s)
{
    apr_status_t rv = h2s->core_out->frec->filter_func.out_func(h2s->core_out,
                                                                NULL);
    if (rv == APR_SUCCESS && h2s->c1->data_in_output_filters) {
        if (!h2s->out_blocked) {
            h2s->out_blocked = 1;
            h2s->blocked_since = apr_time_now();
            h2s_kick(h2s);
        }
    }
    else if (rv == APR_SUCCESS) {
        h2s->out_blocked = 0;
    }
    return rv;
}

/* Frame what nghttp2 has to send and pass it to the connection's filters,
 * one round of PTTH_H2S_SEND_ROUND at a time, as long as the socket takes
 * it.  Under lock, from any thread. */
static void h2s_send(ptth_h2s *h2s)
{
    apr_status_t rv;

    if (h2s->closing || h2s->why) {
        return;
    }
    for (;;) {
        apr_size_t total = 0;

        if (h2s->out_blocked) {
            /* The tunnel's thread finishes that, then frames more. */
            return;
        }
        while (total < PTTH_H2S_SEND_ROUND) {
            const uint8_t *data;
            ssize_t n = nghttp2_session_mem_send(h2s->ngh, &data);

            if (n < 0) {
                ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, h2s->c1,
                              PTTHLOGNO(03210) "tunnel %s: framing failed: %s",
                              h2s->d->name, nghttp2_strerror((int)n));
                h2s->why = "HTTP/2 framing failed";
                h2s_kick(h2s);
                return;
            }
            if (n == 0) {
                break;
            }
            apr_brigade_write(h2s->obb, NULL, NULL, (const char *)data,
                              (apr_size_t)n);
            total += (apr_size_t)n;
        }
        if (total == 0) {
            return;
        }
        rv = ap_pass_brigade(h2s->c1->output_filters, h2s->obb);
        apr_brigade_cleanup(h2s->obb);
        if (rv == APR_SUCCESS) {
            rv = out_flush(h2s);
        }
        if (rv != APR_SUCCESS) {
            ap_log_cerror(APLOG_MARK, APLOG_DEBUG, rv, h2s->c1,
                          PTTHLOGNO(03211) "tunnel %s: write failed",
                          h2s->d->name);
            h2s->why = "write to the router failed";
            h2s->c1->aborted = 1;
            h2s_kick(h2s);
            return;
        }
        if (total < PTTH_H2S_SEND_ROUND) {
            return;
        }
    }
}

/*******************************************************************************
 * nghttp2 callbacks (under lock)
 ******************************************************************************/

static int on_begin_headers(nghttp2_session *ngh, const nghttp2_frame *frame,
                            void *user_data)
{
    ptth_h2s *h2s = user_data;
    ptth_stream *st;

    if (frame->hd.type != NGHTTP2_HEADERS) {
        return 0;
    }
    st = nghttp2_session_get_stream_user_data(ngh, frame->hd.stream_id);
    if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
        if (st && !st->io->in_trailers) {
            /* Trailers (RFC 9113 section 8.1). */
            st->io->in_trailers = 1;
            st->io->trailers_in = apr_table_make(st->pool, 4);
        }
        return 0;
    }
    if (h2s->nstreams >= 2 * h2s->max_streams) {
        /* Reset streams whose workers have not let go yet count too: a
         * router resetting streams as fast as it opens them gets refused
         * (it may retry those, RFC 9113 section 8.7). */
        nghttp2_submit_rst_stream(ngh, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                  NGHTTP2_REFUSED_STREAM);
        return 0;
    }
    st = stream_create(h2s, frame->hd.stream_id);
    nghttp2_session_set_stream_user_data(ngh, frame->hd.stream_id, st);
    return 0;
}

static int on_header(nghttp2_session *ngh, const nghttp2_frame *frame,
                     const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data)
{
    ptth_h2s *h2s = user_data;
    ptth_stream *st;
    const char *n, *v;

    (void)flags;
    st = nghttp2_session_get_stream_user_data(ngh, frame->hd.stream_id);
    if (!st || st->io->aborted) {
        return 0;
    }
    /* RFC 9113 section 6.5.2: name, value and 32 octets per field. */
    st->head_bytes += namelen + valuelen + 32;
    if (st->head_bytes > 4 * PTTH_H2S_MAX_HEAD) {
        /* Far beyond what we announced: not a request to answer. */
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    if (st->head_bytes > PTTH_H2S_MAX_HEAD) {
        st->reject = HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE;
        return 0;
    }
    if (st->io->in_trailers) {
        if (namelen && name[0] != ':') {
            apr_table_addn(st->io->trailers_in,
                           apr_pstrmemdup(st->pool, (const char *)name, namelen),
                           apr_pstrmemdup(st->pool, (const char *)value, valuelen));
        }
        return 0;
    }
    n = apr_pstrmemdup(st->pool, (const char *)name, namelen);
    v = apr_pstrmemdup(st->pool, (const char *)value, valuelen);
    if (n[0] == ':') {
        /* nghttp2 checked the pseudo-header fields (RFC 9113 section
         * 8.3.1): known, once each, before the others. */
        if (!strcmp(n, ":method")) st->method = v;
        else if (!strcmp(n, ":scheme")) st->scheme = v;
        else if (!strcmp(n, ":authority")) st->authority = v;
        else if (!strcmp(n, ":path")) st->path = v;
        return 0;
    }
    if (++st->nfields > h2s->s->limit_req_fields && h2s->s->limit_req_fields > 0) {
        st->reject = HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE;
        return 0;
    }
    if (namelen + valuelen + 2 > (apr_size_t)h2s->s->limit_req_fieldsize) {
        st->reject = HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE;
        return 0;
    }
    if (!strcmp(n, "cookie")) {
        /* RFC 9113 section 8.2.3: crumbs are joined with "; ". */
        const char *prev = apr_table_get(st->headers, "Cookie");
        if (prev) {
            apr_table_setn(st->headers, "Cookie",
                           apr_pstrcat(st->pool, prev, "; ", v, NULL));
            return 0;
        }
        n = "Cookie";
    }
    apr_table_addn(st->headers, n, v);
    return 0;
}

/* A request head is complete: queue it for a worker. */
static void stream_dispatch(ptth_h2s *h2s, ptth_stream *st, int end_stream)
{
    if (st->authority) {
        /* What HTTP/1.1 has in Host (RFC 9113 section 8.3.1). */
        apr_table_setn(st->headers, "Host", st->authority);
    }
    if (!st->reject && st->method && !strcmp(st->method, "CONNECT")) {
        /* CONNECT (RFC 9113 section 8.5) is not served on this path; an
         * extended CONNECT (RFC 8441) cannot come, it is not announced. */
        st->reject = HTTP_NOT_IMPLEMENTED;
    }
    st->has_body = !end_stream;
    st->io->in_eos = end_stream;
    st->io->working = 1;
    h2s->nworking++;
    ap_log_cerror(APLOG_MARK, APLOG_TRACE2, 0, h2s->c1,
                  "tunnel %s: stream %d: %s %s queued", h2s->d->name,
                  (int)st->id, st->method, st->path ? st->path : "");
    /* Queued once the lock is let go (h2s_queue_ready): a worker woken
     * now would only wait for the lock the tunnel's thread holds. */
    st->io->ready_next = NULL;
    if (h2s->ready_last) {
        h2s->ready_last->io->ready_next = st;
    }
    else {
        h2s->ready = st;
    }
    h2s->ready_last = st;
}

/* Take the list of complete heads (under lock). */
static ptth_stream *ready_take(ptth_h2s *h2s)
{
    ptth_stream *list = h2s->ready;

    h2s->ready = h2s->ready_last = NULL;
    return list;
}

/* Queue them for the workers, the lock let go.  A stream reset meanwhile
 * is still held by its "worker" (working), so it is not freed: the worker
 * that takes it finds it aborted. */
static void queue_ready(ptth_h2s *h2s, ptth_stream *list)
{
    ptth_task *chain = NULL, **tail = &chain;

    for (; list; list = list->io->ready_next) {
        *tail = &list->task;
        tail = &list->task.next;
    }
    *tail = NULL;
    if (chain) {
        ptth_workers_push(h2s->workers, chain);
    }
}

static int on_frame_recv(nghttp2_session *ngh, const nghttp2_frame *frame,
                         void *user_data)
{
    ptth_h2s *h2s = user_data;
    ptth_stream *st;
    int end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        st = nghttp2_session_get_stream_user_data(ngh, frame->hd.stream_id);
        if (!st) {
            break;
        }
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
            stream_dispatch(h2s, st, end_stream);
        }
        else if (st->io->in_trailers) {
            st->io->in_eos = 1;
            stream_wake(st);
        }
        break;
    case NGHTTP2_DATA:
        st = nghttp2_session_get_stream_user_data(ngh, frame->hd.stream_id);
        if (st && end_stream) {
            st->io->in_eos = 1;
            stream_wake(st);
        }
        break;
    case NGHTTP2_GOAWAY:
        h2s->peer_goaway = 1;
        ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, h2s->c1, PTTHLOGNO(03212)
                      "tunnel %s: GOAWAY from the router (last stream %d, "
                      "error %u)", h2s->d->name,
                      (int)frame->goaway.last_stream_id,
                      (unsigned)frame->goaway.error_code);
        break;
    default:
        break;
    }
    return 0;
}

static int on_data_chunk_recv(nghttp2_session *ngh, uint8_t flags,
                              int32_t stream_id, const uint8_t *data,
                              size_t len, void *user_data)
{
    ptth_h2s *h2s = user_data;
    ptth_stream *st = nghttp2_session_get_stream_user_data(ngh, stream_id);
    ptth_stream_io *io;

    (void)flags;
    if (!st || st->io->aborted || !st->io->working) {
        /* Nobody reads it any more (RFC 9113 section 6.9: it still counts
         * against the connection's window). */
        nghttp2_session_consume(ngh, stream_id, len);
        return 0;
    }
    io = st->io;
    if (!io->in.data) {
        io->in.data = buf_get(h2s);
        if (!io->in.data) {
            stream_reset(st, NGHTTP2_INTERNAL_ERROR);
            nghttp2_session_consume(ngh, stream_id, len);
            return 0;
        }
    }
    if (len > buf_room(&io->in, len)) {
        /* More than the window we gave: nghttp2 enforces it, so this is
         * our accounting gone wrong; never overrun the buffer. */
        stream_reset(st, NGHTTP2_FLOW_CONTROL_ERROR);
        nghttp2_session_consume(ngh, stream_id, len);
        return 0;
    }
    memcpy(io->in.data + io->in.off + io->in.len, data, len);
    io->in.len += len;
    stream_wake(st);
    return 0;
}

static int on_stream_close(nghttp2_session *ngh, int32_t stream_id,
                           uint32_t error_code, void *user_data)
{
    ptth_h2s *h2s = user_data;
    ptth_stream *st = nghttp2_session_get_stream_user_data(ngh, stream_id);
    ptth_stream_io *io;

    if (!st) {
        return 0;
    }
    io = st->io;
    io->closed = 1;
    if (error_code || !io->out_done || !io->in_eos) {
        ap_log_cerror(APLOG_MARK, APLOG_TRACE1, 0, h2s->c1,
                      "tunnel %s: stream %d reset (error %u)", h2s->d->name,
                      (int)stream_id, (unsigned)error_code);
        stream_abort(st);
    }
    if (io->working && ptth_workers_cancel(h2s->workers, &st->task)) {
        io->working = 0;
        h2s->nworking--;
    }
    if (!io->working) {
        stream_free(st);
    }
    return 0;
}

/* The response body source: copies what the worker buffered. */
static ssize_t data_read(nghttp2_session *ngh, int32_t stream_id,
                         uint8_t *buf, size_t length, uint32_t *data_flags,
                         nghttp2_data_source *source, void *user_data)
{
    ptth_stream *st = source->ptr;
    ptth_stream_io *io = st->io;
    apr_size_t n = 0;

    (void)user_data;
    if (io->aborted) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    if (io->out.len) {
        n = buf_take(&io->out, (char *)buf, length);
        stream_wake(st);
    }
    if (!io->out.len) {
        if (io->out_eos) {
            *data_flags |= NGHTTP2_DATA_FLAG_EOF;
            /* The trailers end the stream (RFC 9113 section 8.1); if
             * they cannot be submitted, the last DATA frame does, without
             * them, rather than leave the stream open. */
            if (io->ntrailers
                && nghttp2_submit_trailer(ngh, stream_id, io->trailers,
                                          io->ntrailers) == 0) {
                *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            }
            io->out_done = 1;
            stream_wake(st);
        }
        else if (!n) {
            io->deferred = 1;
            return NGHTTP2_ERR_DEFERRED;
        }
    }
    return (ssize_t)n;
}

static int on_invalid_frame(nghttp2_session *ngh, const nghttp2_frame *frame,
                            int lib_error_code, void *user_data)
{
    ptth_h2s *h2s = user_data;

    (void)ngh;
    ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, h2s->c1, PTTHLOGNO(03213)
                  "tunnel %s: invalid frame (type %u, stream %d) from the "
                  "router: %s", h2s->d->name, (unsigned)frame->hd.type,
                  (int)frame->hd.stream_id, nghttp2_strerror(lib_error_code));
    return 0;
}

static int on_error(nghttp2_session *ngh, int lib_error_code, const char *msg,
                    size_t len, void *user_data)
{
    ptth_h2s *h2s = user_data;

    (void)ngh;
    ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, h2s->c1, PTTHLOGNO(03214)
                  "tunnel %s: HTTP/2 error from nghttp2 (%d): %.*s",
                  h2s->d->name, lib_error_code, (int)len, msg);
    return 0;
}

static apr_status_t callbacks_cleanup(void *data)
{
    (void)data;
    if (the_callbacks) {
        nghttp2_session_callbacks_del(the_callbacks);
        the_callbacks = NULL;
    }
    return APR_SUCCESS;
}

apr_status_t ptth_h2s_child_init(apr_pool_t *pchild)
{
    nghttp2_session_callbacks *cbs;

    if (the_callbacks) {
        return APR_SUCCESS;
    }
    if (nghttp2_session_callbacks_new(&cbs) != 0) {
        return APR_ENOMEM;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, on_invalid_frame);
    nghttp2_session_callbacks_set_error_callback2(cbs, on_error);
    the_callbacks = cbs;
    apr_pool_cleanup_register(pchild, NULL, callbacks_cleanup,
                              apr_pool_cleanup_null);
    return ptth_c2_child_init(pchild);
}

/*******************************************************************************
 * the worker's side
 ******************************************************************************/

#define LOCK(h2s)   apr_thread_mutex_lock((h2s)->lock)
#define UNLOCK(h2s) apr_thread_mutex_unlock((h2s)->lock)

int ptth_stream_start(ptth_stream *st, conn_rec *c2)
{
    /* The tunnel's conn_rec as it was when the session started (what a
     * request needs of it does not change); no lock. */
    memcpy(c2, &st->h2s->c1_copy, sizeof(*c2));
    c2->master = st->h2s->c1;
    return !apr_atomic_read32(&st->io->aborted);
}

int ptth_stream_aborted(ptth_stream *st)
{
    int aborted;

    LOCK(st->h2s);
    aborted = st->io->aborted;
    UNLOCK(st->h2s);
    return aborted;
}

apr_status_t ptth_stream_read(ptth_stream *st, char *buf, apr_size_t max,
                              apr_size_t *got, apr_read_type_e block,
                              int *eos, apr_table_t **trailers)
{
    ptth_h2s *h2s = st->h2s;
    ptth_stream_io *io = st->io;
    apr_time_t deadline = apr_time_now() + h2s->s->timeout;
    apr_status_t rv;

    *got = 0;
    *eos = 0;
    *trailers = NULL;
    LOCK(h2s);
    for (;;) {
        if (io->aborted) {
            rv = APR_ECONNABORTED;
            break;
        }
        if (io->in.len) {
            *got = buf_take(&io->in, buf, max);
            /* The window opens as the request reads (RFC 9113 section
             * 6.9); nghttp2 sends WINDOW_UPDATE once half of it is used. */
            nghttp2_session_consume(h2s->ngh, st->id, *got);
            h2s_send(h2s);
            rv = APR_SUCCESS;
            break;
        }
        if (io->in_eos) {
            *eos = 1;
            *trailers = io->trailers_in;
            rv = APR_SUCCESS;
            break;
        }
        if (block == APR_NONBLOCK_READ) {
            rv = APR_EAGAIN;
            break;
        }
        if ((rv = stream_wait(st, deadline)) != APR_SUCCESS) {
            break;
        }
    }
    UNLOCK(h2s);
    return rv;
}

/* Field names go lowercase (RFC 9113 section 8.2); connection-specific
 * fields (section 8.2.2) and values HTTP/2 cannot carry are left out.
 * Built in the worker's pool, outside the lock. */
static int is_connection_field(const char *name)
{
    return !strcasecmp(name, "connection") || !strcasecmp(name, "keep-alive")
        || !strcasecmp(name, "proxy-connection")
        || !strcasecmp(name, "transfer-encoding")
        || !strcasecmp(name, "upgrade");
}

static nghttp2_nv *make_nv(apr_pool_t *p, int status, apr_table_t *fields,
                           apr_size_t *pn)
{
    const apr_array_header_t *a = fields ? apr_table_elts(fields) : NULL;
    const apr_table_entry_t *e = a ? (const apr_table_entry_t *)a->elts : NULL;
    nghttp2_nv *nv = apr_palloc(p, sizeof(*nv) * (1 + (a ? a->nelts : 0)));
    apr_size_t n = 0;
    int i;

    if (status) {
        char *s = apr_itoa(p, status);
        nv[n].name = (uint8_t *)":status";
        nv[n].namelen = 7;
        nv[n].value = (uint8_t *)s;
        nv[n].valuelen = strlen(s);
        nv[n].flags = NGHTTP2_NV_FLAG_NONE;
        ++n;
    }
    for (i = 0; a && i < a->nelts; ++i) {
        const char *k = e[i].key, *v = e[i].val, *c;
        char *lk;

        if (!k || !*k || !v || is_connection_field(k)
            || strpbrk(v, "\r\n")) {
            continue;
        }
        for (c = k; *c && !apr_isupper(*c); ++c)
            ;
        if (*c) {
            lk = apr_pstrdup(p, k);
            ap_str_tolower(lk);
            k = lk;
        }
        nv[n].name = (uint8_t *)k;
        nv[n].namelen = strlen(k);
        nv[n].value = (uint8_t *)v;
        nv[n].valuelen = strlen(v);
        nv[n].flags = NGHTTP2_NV_FLAG_NONE;
        ++n;
    }
    *pn = n;
    return nv;
}

apr_status_t ptth_stream_interim(ptth_stream *st, int status,
                                 apr_table_t *headers, apr_pool_t *p)
{
    ptth_h2s *h2s = st->h2s;
    apr_size_t n;
    nghttp2_nv *nv = make_nv(p, status, headers, &n);
    apr_status_t rv = APR_SUCCESS;

    LOCK(h2s);
    if (st->io->aborted || st->io->status) {
        rv = APR_ECONNABORTED;
    }
    else if (nghttp2_submit_headers(h2s->ngh, NGHTTP2_FLAG_NONE, st->id, NULL,
                                    nv, n, NULL) != 0) {
        stream_reset(st, NGHTTP2_INTERNAL_ERROR);
        rv = APR_EGENERAL;
    }
    else {
        h2s_send(h2s);
    }
    UNLOCK(h2s);
    return rv;
}

void ptth_stream_respond(ptth_stream *st, int status, apr_table_t *headers)
{
    /* Only the worker touches these until it submits them. */
    st->io->status = status;
    st->io->headers = headers;
}

int ptth_stream_responded(ptth_stream *st)
{
    return st->io->status != 0;
}

/* The router took nothing of the response within Timeout.  With the
 * connection's output stuck too it stopped reading altogether: the whole
 * tunnel goes (as on the mod_http2 path); else only this stream's window
 * stayed closed (RFC 9113 section 5.2) and only the stream is reset.
 * Under lock. */
static void stream_timeout(ptth_stream *st)
{
    ptth_h2s *h2s = st->h2s;

    if (h2s->out_blocked) {
        h2s->stuck = 1;
        h2s_kick(h2s);
    }
    stream_reset(st, NGHTTP2_CANCEL);
}

/* Submit the final response head if not done yet.  nv was built outside
 * the lock.  Under lock. */
static void submit_head(ptth_stream *st, nghttp2_nv *nv, apr_size_t n,
                        int with_body)
{
    ptth_stream_io *io = st->io;
    nghttp2_data_provider prd;
    int rv;

    if (io->submitted || io->aborted) {
        return;
    }
    io->submitted = 1;
    prd.source.ptr = st;
    prd.read_callback = data_read;
    rv = nghttp2_submit_response(st->h2s->ngh, st->id, nv, n,
                                 with_body ? &prd : NULL);
    if (rv != 0) {
        ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, st->h2s->c1, PTTHLOGNO(03215)
                      "tunnel %s: stream %d: cannot submit the response: %s",
                      st->h2s->d->name, (int)st->id, nghttp2_strerror(rv));
        stream_reset(st, NGHTTP2_INTERNAL_ERROR);
    }
    else if (!with_body) {
        io->out_done = 1;
    }
}

static nghttp2_nv *head_nv(ptth_stream *st, apr_size_t *n)
{
    if (st->io->submitted || !st->io->status) {
        *n = 0;
        return NULL;
    }
    return make_nv(apr_table_elts(st->io->headers)->pool, st->io->status,
                   st->io->headers, n);
}

/* Copy body bytes into the stream's buffer, waiting (within Timeout of
 * the last progress) while it is full.  Under lock. */
static apr_status_t write_locked(ptth_stream *st, const char *data,
                                 apr_size_t len)
{
    ptth_h2s *h2s = st->h2s;
    ptth_stream_io *io = st->io;
    apr_time_t deadline = apr_time_now() + h2s->s->timeout;
    apr_status_t rv = APR_SUCCESS;

    while (len > 0) {
        apr_size_t room;

        if (io->aborted) {
            return APR_ECONNABORTED;
        }
        if (!io->out.data && !(io->out.data = buf_get(h2s))) {
            stream_reset(st, NGHTTP2_INTERNAL_ERROR);
            return APR_ENOMEM;
        }
        room = buf_room(&io->out, len);
        if (!room) {
            if (io->deferred) {
                io->deferred = 0;
                nghttp2_session_resume_data(h2s->ngh, st->id);
            }
            h2s_send(h2s);
            if (!buf_room(&io->out, len) && !io->aborted
                && (rv = stream_wait(st, deadline)) != APR_SUCCESS) {
                stream_timeout(st);
                return rv;
            }
            if (buf_room(&io->out, len)) {
                /* Progress (not any wake: request DATA wakes the worker
                 * too): a new Timeout. */
                deadline = apr_time_now() + h2s->s->timeout;
            }
            continue;
        }
        if (room > len) {
            room = len;
        }
        memcpy(io->out.data + io->out.off + io->out.len, data, room);
        io->out.len += room;
        data += room;
        len -= room;
    }
    return APR_SUCCESS;
}

apr_status_t ptth_stream_write(ptth_stream *st, const char *data,
                               apr_size_t len)
{
    ptth_h2s *h2s = st->h2s;
    ptth_stream_io *io = st->io;
    apr_size_t n;
    nghttp2_nv *nv = head_nv(st, &n);
    apr_status_t rv;

    LOCK(h2s);
    if (nv) {
        submit_head(st, nv, n, 1);
    }
    rv = write_locked(st, data, len);
    if (rv == APR_SUCCESS && io->out.len >= PTTH_H2S_SEND_AT) {
        if (io->deferred) {
            io->deferred = 0;
            nghttp2_session_resume_data(h2s->ngh, st->id);
        }
        h2s_send(h2s);
    }
    UNLOCK(h2s);
    return rv;
}

apr_status_t ptth_stream_flush(ptth_stream *st)
{
    ptth_h2s *h2s = st->h2s;
    apr_size_t n;
    nghttp2_nv *nv = head_nv(st, &n);
    apr_status_t rv = APR_SUCCESS;

    LOCK(h2s);
    if (nv) {
        submit_head(st, nv, n, 1);
    }
    if (st->io->aborted) {
        rv = APR_ECONNABORTED;
    }
    else {
        if (st->io->deferred && st->io->out.len) {
            st->io->deferred = 0;
            nghttp2_session_resume_data(h2s->ngh, st->id);
        }
        h2s_send(h2s);
    }
    UNLOCK(h2s);
    return rv;
}

apr_status_t ptth_stream_end(ptth_stream *st, const char *data,
                             apr_size_t len, apr_table_t *trailers)
{
    ptth_h2s *h2s = st->h2s;
    ptth_stream_io *io = st->io;
    apr_time_t deadline;
    apr_size_t n, nt = 0;
    nghttp2_nv *nv = head_nv(st, &n);
    nghttp2_nv *tnv = NULL;
    apr_status_t rv = APR_SUCCESS;

    if (trailers && !apr_is_empty_table(trailers)) {
        tnv = make_nv(apr_table_elts(trailers)->pool, 0, trailers, &nt);
    }
    LOCK(h2s);
    if (len) {
        /* The last bytes and the end in one go (one lock, one write for
         * a small response). */
        if (nv) {
            submit_head(st, nv, n, 1);
            nv = NULL;
        }
        if ((rv = write_locked(st, data, len)) != APR_SUCCESS) {
            UNLOCK(h2s);
            return rv;
        }
    }
    io->out_eos = 1;
    io->trailers = tnv;
    io->ntrailers = nt;
    if (nv) {
        /* Nothing was written: a response without body is one HEADERS
         * frame with END_STREAM, unless trailers follow. */
        submit_head(st, nv, n, io->out.len || nt);
    }
    else if (io->deferred) {
        io->deferred = 0;
        nghttp2_session_resume_data(h2s->ngh, st->id);
    }
    h2s_send(h2s);
    deadline = apr_time_now() + h2s->s->timeout;
    while (!io->out_done) {
        apr_size_t before = io->out.len;

        if (io->aborted) {
            rv = APR_ECONNABORTED;
            break;
        }
        if ((rv = stream_wait(st, deadline)) != APR_SUCCESS) {
            stream_timeout(st);
            break;
        }
        if (io->out.len < before) {
            /* Progress: a new Timeout for the rest.  Other wakes (request
             * DATA or trailers arriving) are none: a router that keeps the
             * stream's window shut while it sends gets the stream reset
             * within Timeout all the same. */
            deadline = apr_time_now() + h2s->s->timeout;
        }
    }
    UNLOCK(h2s);
    return rv;
}

void ptth_stream_done(ptth_stream *st)
{
    ptth_h2s *h2s = st->h2s;
    ptth_stream_io *io = st->io;

    LOCK(h2s);
    if (!io->aborted && !io->closed) {
        if (!io->out_done) {
            /* No complete response: the router must not take what it got
             * for one. */
            stream_reset(st, NGHTTP2_INTERNAL_ERROR);
        }
        else if (!io->in_eos) {
            /* A complete response before the whole request body (RFC
             * 9113 section 8.1): the rest is not wanted. */
            stream_reset(st, NGHTTP2_NO_ERROR);
        }
    }
    if (io->in.len) {
        nghttp2_session_consume_connection(h2s->ngh, io->in.len);
        io->in.len = io->in.off = 0;
    }
    io->working = 0;
    h2s->nworking--;
    if (io->closed) {
        stream_free(st);
    }
    /* Sending may close the stream and free it (on_stream_close): st is
     * not touched after this. */
    h2s_send(h2s);
    if (h2s->closing && h2s->nworking == 0) {
        apr_thread_cond_signal(h2s->done);
    }
    UNLOCK(h2s);
}

/*******************************************************************************
 * the tunnel's thread
 ******************************************************************************/

/* Read what the connection has, without blocking, into nghttp2.  Returns
 * 1 when it stopped with input possibly left (a round's limit). */
static int read_input(ptth_h2s *h2s)
{
    int round;

    for (round = 0; round < PTTH_H2S_READ_ROUNDS; ++round) {
        apr_status_t rv;
        apr_bucket *b;
        apr_size_t got;

        rv = ap_get_brigade(h2s->c1->input_filters, h2s->ibb,
                            AP_MODE_READBYTES, APR_NONBLOCK_READ,
                            PTTH_H2S_READ_MAX);
        if (APR_STATUS_IS_EAGAIN(rv)
            || (rv == APR_SUCCESS && APR_BRIGADE_EMPTY(h2s->ibb))) {
            return 0;
        }
        if (APR_STATUS_IS_EOF(rv)) {
            h2s->eof = 1;
            return 0;
        }
        if (rv != APR_SUCCESS) {
            ap_log_cerror(APLOG_MARK, APLOG_DEBUG, rv, h2s->c1,
                          PTTHLOGNO(03216) "tunnel %s: read failed",
                          h2s->d->name);
            h2s->why = "read from the router failed";
            return 0;
        }
        got = 0;
        for (b = APR_BRIGADE_FIRST(h2s->ibb);
             b != APR_BRIGADE_SENTINEL(h2s->ibb) && !h2s->why;
             b = APR_BUCKET_NEXT(b)) {
            const char *data;
            apr_size_t len;
            ssize_t n;

            if (APR_BUCKET_IS_EOS(b)) {
                h2s->eof = 1;
                break;
            }
            if (apr_bucket_read(b, &data, &len, APR_BLOCK_READ) != APR_SUCCESS) {
                h2s->why = "read from the router failed";
                break;
            }
            if (!len) {
                continue;
            }
            got += len;
            n = nghttp2_session_mem_recv(h2s->ngh, (const uint8_t *)data, len);
            if (n < 0) {
                ap_log_cerror(APLOG_MARK, APLOG_INFO, 0, h2s->c1,
                              PTTHLOGNO(03217) "tunnel %s: HTTP/2 error from "
                              "the router: %s", h2s->d->name,
                              nghttp2_strerror((int)n));
                h2s->why = "HTTP/2 protocol error by the router";
                /* nghttp2 queued a GOAWAY saying why (RFC 9113 section
                 * 5.4.1); the final send below carries it out. */
            }
        }
        apr_brigade_cleanup(h2s->ibb);
        if (h2s->why || h2s->eof) {
            return 0;
        }
        if (got < PTTH_H2S_READ_SHORT && !h2s->tls) {
            /* Less than one socket read gives (the core input filter reads
             * APR_BUCKET_BUFF_SIZE at most): the socket is very likely
             * drained, and the poll says so without another read. */
            return 0;
        }
    }
    return 1;
}

static int sock_writable(apr_socket_t *sock)
{
    apr_pollfd_t pfd;
    apr_int32_t n = 0;

    memset(&pfd, 0, sizeof(pfd));
    pfd.desc_type = APR_POLL_SOCKET;
    pfd.reqevents = APR_POLLOUT;
    pfd.desc.s = sock;
    return apr_poll(&pfd, 1, &n, 0) == APR_SUCCESS && n > 0;
}

static int mpm_stopping(void)
{
    int state = 0;

    return ap_mpm_query(AP_MPMQ_MPM_STATE, &state) == APR_SUCCESS
           && state == AP_MPMQ_STOPPING;
}

/* The end: streams aborted, workers let go, a last GOAWAY (RFC 9113
 * section 6.8) with the last stream we processed, written within Timeout. */
static void h2s_close(ptth_h2s *h2s)
{
    ptth_stream *st, *next;
    apr_bucket *b;
    int waits = 0;

    for (st = ready_take(h2s); st; st = st->io->ready_next) {
        /* Complete heads never queued: no worker will take them. */
        st->io->working = 0;
        h2s->nworking--;
    }
    for (st = h2s->streams; st; st = st->io->next) {
        stream_abort(st);
        if (st->io->working && ptth_workers_cancel(h2s->workers, &st->task)) {
            /* Queued, not started: it never will. */
            st->io->working = 0;
            h2s->nworking--;
        }
    }
    if (!h2s->eof && !h2s->c1->aborted) {
        if (!h2s->goaway_sent || h2s->why) {
            nghttp2_submit_goaway(h2s->ngh, NGHTTP2_FLAG_NONE,
                                  nghttp2_session_get_last_proc_stream_id(h2s->ngh),
                                  h2s->why ? NGHTTP2_PROTOCOL_ERROR
                                           : NGHTTP2_NO_ERROR, NULL, 0);
        }
        h2s->why = NULL;
        h2s->out_blocked = 0;
        h2s_send(h2s);
    }
    h2s->closing = 1;
    while (h2s->nworking > 0) {
        /* Workers notice the abort at their next I/O; a handler that
         * takes its time (a CGI) is waited for, as the MPM would. */
        if (apr_thread_cond_timedwait(h2s->done, h2s->lock,
                                      apr_time_from_sec(10)) != APR_SUCCESS
            && ++waits % 6 == 1) {
            ap_log_cerror(APLOG_MARK, APLOG_INFO, 0, h2s->c1, PTTHLOGNO(03218)
                          "tunnel %s: waiting for %d request(s) to end",
                          h2s->d->name, h2s->nworking);
        }
    }
    for (st = h2s->streams; st; st = next) {
        next = st->io->next;
        stream_free(st);
    }
    if (!h2s->eof && !h2s->c1->aborted
        && h2s->c1->data_in_output_filters) {
        /* What is left, blocking within the socket's timeout. */
        b = apr_bucket_flush_create(h2s->c1->bucket_alloc);
        APR_BRIGADE_INSERT_TAIL(h2s->obb, b);
        ap_pass_brigade(h2s->c1->output_filters, h2s->obb);
        apr_brigade_cleanup(h2s->obb);
    }
}

static apr_status_t h2s_setup(ptth_h2s *h2s, apr_pool_t *p)
{
    nghttp2_settings_entry iv[3];
    nghttp2_option *opt;
    apr_allocator_t *allocator;
    ap_filter_t *f;
    apr_status_t rv;
    int n = 0;

    if ((rv = apr_allocator_create(&allocator)) != APR_SUCCESS) {
        return rv;
    }
    apr_allocator_max_free_set(allocator, ap_max_mem_free);
    if ((rv = apr_pool_create_ex(&h2s->pool, p, NULL, allocator)) != APR_SUCCESS) {
        apr_allocator_destroy(allocator);
        return rv;
    }
    apr_allocator_owner_set(allocator, h2s->pool);
    apr_pool_tag(h2s->pool, "ptth_h2s");
    if ((rv = apr_thread_mutex_create(&h2s->lock, APR_THREAD_MUTEX_DEFAULT,
                                      h2s->pool)) != APR_SUCCESS
        || (rv = apr_thread_cond_create(&h2s->done, h2s->pool)) != APR_SUCCESS) {
        return rv;
    }
    h2s->c1_copy = *h2s->c1;
    h2s->ibb = apr_brigade_create(h2s->c1->pool, h2s->c1->bucket_alloc);
    h2s->obb = apr_brigade_create(h2s->c1->pool, h2s->c1->bucket_alloc);
    for (f = h2s->c1->output_filters; f->next; f = f->next)
        ;
    h2s->core_out = f;

    if (!the_callbacks) {
        return APR_ENOMEM;
    }
    if (nghttp2_option_new(&opt) != 0) {
        return APR_ENOMEM;
    }
    /* The windows open as requests read their bodies (RFC 9113 section
     * 6.9), not as bytes arrive: a stream holds at most one window. */
    nghttp2_option_set_no_auto_window_update(opt, 1);
    /* No priorities to keep closed streams for (RFC 9113 section 5.3.2
     * deprecates them): a closed stream is gone, with its user data. */
    nghttp2_option_set_no_closed_streams(opt, 1);
    rv = nghttp2_session_server_new2(&h2s->ngh, the_callbacks, h2s, opt)
         ? APR_ENOMEM : APR_SUCCESS;
    nghttp2_option_del(opt);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    iv[n].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS;
    iv[n++].value = (uint32_t)h2s->max_streams;
    iv[n].settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE;
    iv[n++].value = PTTH_H2S_WINDOW;
    iv[n].settings_id = NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE;
    iv[n++].value = PTTH_H2S_MAX_HEAD;
    if (nghttp2_submit_settings(h2s->ngh, NGHTTP2_FLAG_NONE, iv, n) != 0
        || nghttp2_session_set_local_window_size(h2s->ngh, NGHTTP2_FLAG_NONE, 0,
               h2s->max_streams * PTTH_H2S_WINDOW) != 0) {
        return APR_ENOMEM;
    }
    return APR_SUCCESS;
}

const char *ptth_h2s_serve(ptth_dialed *d, conn_rec *c1, server_rec *s,
                           apr_socket_t *sock, ptth_tls_io *tls)
{
    ptth_h2s *h2s = apr_pcalloc(c1->pool, sizeof(*h2s));
    const char *why = NULL;
    apr_status_t rv;

    h2s->d = d;
    h2s->c1 = c1;
    h2s->s = s;
    h2s->sock = sock;
    h2s->tls = tls;
    h2s->workers = d->workers;
    h2s->max_streams = ptth_backend_sconf_get(d->s)->max_streams;
    if ((rv = h2s_setup(h2s, c1->pool)) != APR_SUCCESS) {
        ap_log_cerror(APLOG_MARK, APLOG_ERR, rv, c1, PTTHLOGNO(03219)
                      "tunnel %s: cannot set up the HTTP/2 session", d->name);
        if (h2s->ngh) {
            nghttp2_session_del(h2s->ngh);
        }
        if (h2s->pool) {
            apr_pool_destroy(h2s->pool);
        }
        return "HTTP/2 session set-up failed";
    }
    ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, c1, PTTHLOGNO(03220)
                  "tunnel %s: serving HTTP/2 (ptth stream path)", d->name);

    LOCK(h2s);
    h2s_send(h2s);      /* our SETTINGS (RFC 9113 section 3.4) */
    for (;;) {
        ptth_stop_mode mode = ptth_dialed_stopping(d);
        apr_interval_time_t timeout = -1;
        apr_int16_t events;
        int more = 0;

        if (mode == PTTH_RUNNING && mpm_stopping()) {
            mode = PTTH_STOP_GRACEFUL;
        }
        if (mode != PTTH_RUNNING && !h2s->goaway_sent) {
            /* Streams above the last one we took were not processed: the
             * router may send them elsewhere (RFC 9113 sections 6.8, 8.7);
             * nghttp2 ignores the ones that cross this GOAWAY. */
            h2s->goaway_sent = 1;
            nghttp2_submit_goaway(h2s->ngh, NGHTTP2_FLAG_NONE,
                                  nghttp2_session_get_last_proc_stream_id(h2s->ngh),
                                  NGHTTP2_NO_ERROR, NULL, 0);
            ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, c1, PTTHLOGNO(03221)
                          "tunnel %s: stopping, GOAWAY sent (%d stream(s) in "
                          "flight)", d->name, h2s->nstreams);
        }
        if (mode == PTTH_STOP_NOW) {
            why = "stopping";
            break;
        }
        if (h2s->stuck) {
            why = "no progress within Timeout (router stopped reading?)";
            c1->aborted = 1;
            break;
        }
        if (h2s->out_blocked) {
            if (out_flush(h2s) != APR_SUCCESS) {
                why = "write to the router failed";
                c1->aborted = 1;
                break;
            }
            if (h2s->out_blocked
                && apr_time_now() - h2s->blocked_since >= s->timeout) {
                /* As the event MPM in WRITE_COMPLETION: nothing more is
                 * written to it, not even a GOAWAY. */
                why = "no progress within Timeout (router stopped reading?)";
                c1->aborted = 1;
                break;
            }
        }
        if (!h2s->eof) {
            more = read_input(h2s);
        }
        h2s_send(h2s);
        if (h2s->why) {
            why = h2s->why;
            break;
        }
        if (h2s->eof) {
            why = "closed by the router";
            break;
        }
        if (!nghttp2_session_want_read(h2s->ngh)
            && !nghttp2_session_want_write(h2s->ngh) && !h2s->out_blocked) {
            why = "HTTP/2 session ended";
            break;
        }
        if (mode == PTTH_STOP_GRACEFUL) {
            apr_time_t now = apr_time_now(), drain, handover;

            ptth_dialed_deadlines(d, &drain, &handover);
            if (h2s->nstreams == 0 && !h2s->out_blocked) {
                if (now >= handover) {
                    why = "stopping, nothing in flight";
                    break;
                }
                timeout = handover - now;
            }
            else {
                ptth_dialed_transit(d, PTTH_DIALED_DRAINING,
                                    "stopping, requests in flight");
                if (now >= drain) {
                    why = "PTTHDrainTimeout reached";
                    break;
                }
                timeout = drain - now;
            }
        }
        if (more || (tls && ptth_tls_io_input_pending(tls))) {
            /* Input may be waiting above the socket or beyond a round. */
            ptth_stream *ready = ready_take(h2s);

            UNLOCK(h2s);
            queue_ready(h2s, ready);
            LOCK(h2s);
            continue;
        }
        events = APR_POLLIN;
        if (h2s->out_blocked) {
            apr_interval_time_t left = s->timeout
                                       - (apr_time_now() - h2s->blocked_since);
            events |= APR_POLLOUT;
            if (timeout < 0 || left < timeout) {
                timeout = left > 0 ? left : 0;
            }
        }
        h2s->in_poll = 1;
        h2s->kicked = 0;
        {
            ptth_stream *ready = ready_take(h2s);

            UNLOCK(h2s);
            queue_ready(h2s, ready);
        }
        /* The socket stays in the pollset between waits: one epoll_wait
         * per wait, an epoll_ctl only when POLLOUT comes or goes. */
        rv = ptth_dialed_watch(d, sock, events);
        if (rv == APR_SUCCESS) {
            rv = ptth_dialed_wait_watched(d, timeout);
        }
        LOCK(h2s);
        h2s->in_poll = 0;
        if (rv == APR_SUCCESS && h2s->out_blocked && sock_writable(sock)) {
            /* Writable again: progress, a new Timeout for the rest (a
             * router that only sends makes none). */
            h2s->blocked_since = apr_time_now();
        }
        if (rv != APR_SUCCESS && rv != APR_EINTR && rv != APR_TIMEUP) {
            ap_log_cerror(APLOG_MARK, APLOG_ERR, rv, c1, PTTHLOGNO(03222)
                          "tunnel %s: poll failed", d->name);
            why = "poll failed";
            break;
        }
    }
    h2s_close(h2s);
    UNLOCK(h2s);
    ptth_dialed_watch(d, NULL, 0);
    nghttp2_session_del(h2s->ngh);
    while (h2s->nfree > 0) {
        free(h2s->freebufs[--h2s->nfree]);
    }
    apr_pool_destroy(h2s->pool);
    return why;
}
