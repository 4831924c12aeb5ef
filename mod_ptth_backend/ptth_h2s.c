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
 * ptth stream path" in docs/architecture.md.  This file: buffers, the
 * stream objects, sending, and the tunnel's thread (reading, polling,
 * closing); ptth_h2s_frames.c: nghttp2's callbacks (what the router
 * sends); ptth_h2s_stream.c: what the workers call (ptth_stream_*).
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

#include "ptth_h2s_priv.h"

/*******************************************************************************
 * buffers
 ******************************************************************************/

/* A buffer of PTTH_H2S_OUTBUF bytes for b (from those kept, if any). */
int h2s_buf_get(ptth_h2s *h2s, ptth_buf *b)
{
    b->data = h2s->nfree > 0 ? h2s->freebufs[--h2s->nfree]
                             : malloc(PTTH_H2S_OUTBUF);
    b->cap = b->data ? PTTH_H2S_OUTBUF : 0;
    b->off = b->len = 0;
    return b->data != NULL;
}

/* b, with its bytes, in a buffer of cap bytes (a request body whose
 * window outgrew PTTH_H2S_OUTBUF). */
int h2s_buf_grow(ptth_buf *b, apr_size_t cap)
{
    char *data;

    if (b->cap >= cap) {
        return 1;
    }
    if (!(data = malloc(cap))) {
        return 0;
    }
    if (b->len) {
        memcpy(data, b->data + b->off, b->len);
    }
    free(b->data);
    b->data = data;
    b->cap = cap;
    b->off = 0;
    return 1;
}

static void h2s_buf_put(ptth_h2s *h2s, ptth_buf *b)
{
    if (b->data) {
        if (b->cap == PTTH_H2S_OUTBUF && h2s->nfree < PTTH_H2S_FREEBUFS) {
            h2s->freebufs[h2s->nfree++] = b->data;
        }
        else {
            free(b->data);
        }
    }
    b->data = NULL;
    b->cap = b->off = b->len = 0;
}

/* Room at the end of b, moving its bytes to the front when there is less
 * than `want` there. */
apr_size_t h2s_buf_room(ptth_buf *b, apr_size_t want)
{
    apr_size_t room = b->cap - b->off - b->len;

    if (room < want && b->off) {
        memmove(b->data, b->data + b->off, b->len);
        b->off = 0;
        room = b->cap - b->len;
    }
    return room;
}

apr_size_t h2s_buf_take(ptth_buf *b, char *to, apr_size_t max)
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
void h2s_kick(ptth_h2s *h2s)
{
    if (h2s->in_poll && !h2s->kicked) {
        h2s->kicked = 1;
        ptth_dialed_wakeup(h2s->d);
    }
}

void h2s_stream_wake(ptth_stream *st)
{
    if (st->io->waiting && st->task.cond) {
        apr_thread_cond_signal(st->task.cond);
    }
}

ptth_stream *h2s_stream_create(ptth_h2s *h2s, apr_int32_t id)
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

void h2s_stream_free(ptth_stream *st)
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
    h2s_buf_put(h2s, &io->in);
    h2s_buf_put(h2s, &io->out);
    if (io->in_bulk) {
        h2s->bulk_used -= PTTH_H2S_WINDOW_BULK - PTTH_H2S_WINDOW;
    }
    apr_pool_destroy(st->pool);
    streams_publish(h2s);
    if (h2s->nstreams == 0 && (h2s->goaway_sent || h2s->peer_goaway)) {
        h2s_kick(h2s);
    }
}

/* Nothing more can happen on the stream; its worker stops at its next
 * I/O.  Body bytes never read still count against the connection's
 * window: they are consumed now (RFC 9113 section 6.9). */
void h2s_stream_abort(ptth_stream *st)
{
    ptth_stream_io *io = st->io;

    apr_atomic_set32(&io->aborted, 1);
    if (io->in.len) {
        nghttp2_session_consume_connection(st->h2s->ngh, io->in.len);
        io->in.len = io->in.off = 0;
    }
    h2s_stream_wake(st);
}

void h2s_stream_reset(ptth_stream *st, uint32_t code)
{
    if (!st->io->closed) {
        nghttp2_submit_rst_stream(st->h2s->ngh, NGHTTP2_FLAG_NONE, st->id,
                                  code);
    }
    h2s_stream_abort(st);
}

/* Wait for the router (under lock, in the stream's worker): woken by
 * h2s_stream_wake.  APR_TIMEUP when nothing happened within the virtual
 * host's Timeout. */
apr_status_t h2s_stream_wait(ptth_stream *st, apr_time_t deadline)
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
        if (h2s->out_blocked) {
            h2s->unblocked_at = apr_time_now();
        }
        h2s->out_blocked = 0;
    }
    return rv;
}

/* Frame what nghttp2 has to send and pass it to the connection's filters,
 * one round of PTTH_H2S_SEND_ROUND at a time, as long as the socket takes
 * it.  Under lock, from any thread. */
void h2s_send(ptth_h2s *h2s)
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

    for (st = h2s_ready_take(h2s); st; st = st->io->ready_next) {
        /* Complete heads never queued: no worker will take them. */
        st->io->working = 0;
        h2s->nworking--;
    }
    for (st = h2s->streams; st; st = st->io->next) {
        h2s_stream_abort(st);
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
        h2s_stream_free(st);
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

    if (!h2s_callbacks) {
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
    rv = nghttp2_session_server_new2(&h2s->ngh, h2s_callbacks, h2s, opt)
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
               h2s->max_streams * PTTH_H2S_WINDOW + PTTH_H2S_BULK_BUDGET) != 0) {
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
            ptth_stream *ready = h2s_ready_take(h2s);

            UNLOCK(h2s);
            h2s_queue_ready(h2s, ready);
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
            ptth_stream *ready = h2s_ready_take(h2s);

            UNLOCK(h2s);
            h2s_queue_ready(h2s, ready);
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
