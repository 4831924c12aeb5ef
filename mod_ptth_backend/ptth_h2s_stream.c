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

/* The ptth stream path: what a stream worker calls (ptth_stream_*, see
 * ptth_h2s.h) to read a request body and give the response, under the
 * session's lock (ptth_h2s.c has the session; docs/architecture.md,
 * "The ptth stream path"). */

#include "ptth_h2s_priv.h"

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

/* A request that read a whole window takes its body as fast as it comes
 * (an upload): its window grows to PTTH_H2S_WINDOW_BULK, so the router
 * waits for a WINDOW_UPDATE (RFC 9113 section 6.9.1) eight times less
 * often.  The widened windows of a session share PTTH_H2S_BULK_BUDGET,
 * which the connection's window counts in: what the router can make the
 * session hold grows by that much, not per stream.  Under lock. */
static void widen_window(ptth_stream *st, apr_size_t got)
{
    ptth_h2s *h2s = st->h2s;
    ptth_stream_io *io = st->io;

    if (io->in_bulk || io->in_eos) {
        return;
    }
    io->in_read += got;
    if (io->in_read < PTTH_H2S_WINDOW) {
        return;
    }
    if (h2s->bulk_used + (PTTH_H2S_WINDOW_BULK - PTTH_H2S_WINDOW)
        > PTTH_H2S_BULK_BUDGET) {
        /* Tried again at its next read: a widened stream may have ended. */
        if (!io->in_bulk_denied) {
            io->in_bulk_denied = 1;
            ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, h2s->c1, PTTHLOGNO(03224)
                          "tunnel %s: stream %d: request body window stays "
                          "at %d bytes (the session's budget for wider ones "
                          "is in use)", h2s->d->name, (int)st->id,
                          PTTH_H2S_WINDOW);
        }
        return;
    }
    if (nghttp2_session_set_local_window_size(h2s->ngh, NGHTTP2_FLAG_NONE,
                                              st->id, PTTH_H2S_WINDOW_BULK) != 0) {
        return;
    }
    io->in_bulk = 1;
    h2s->bulk_used += PTTH_H2S_WINDOW_BULK - PTTH_H2S_WINDOW;
    ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, h2s->c1, PTTHLOGNO(03223)
                  "tunnel %s: stream %d: request body window widened to %d "
                  "bytes", h2s->d->name, (int)st->id, PTTH_H2S_WINDOW_BULK);
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
            *got = h2s_buf_take(&io->in, buf, max);
            /* The window opens as the request reads (RFC 9113 section
             * 6.9); nghttp2 sends WINDOW_UPDATE once half of it is used. */
            nghttp2_session_consume(h2s->ngh, st->id, *got);
            widen_window(st, *got);
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
        if ((rv = h2s_stream_wait(st, deadline)) != APR_SUCCESS) {
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
        h2s_stream_reset(st, NGHTTP2_INTERNAL_ERROR);
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
 * "Stuck" includes output that waited for the socket until just now: the
 * tunnel's thread may have got the last bytes out a moment before this
 * worker woke, and after the reset nothing more would be written, so a
 * router that reads no more would keep the tunnel for ever.  Under lock. */
static void stream_timeout(ptth_stream *st)
{
    ptth_h2s *h2s = st->h2s;

    if (h2s->out_blocked
        || (h2s->unblocked_at
            && apr_time_now() - h2s->unblocked_at < h2s->s->timeout)) {
        h2s->stuck = 1;
        h2s_kick(h2s);
    }
    h2s_stream_reset(st, NGHTTP2_CANCEL);
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
    prd.read_callback = h2s_data_read;
    rv = nghttp2_submit_response(st->h2s->ngh, st->id, nv, n,
                                 with_body ? &prd : NULL);
    if (rv != 0) {
        ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, st->h2s->c1, PTTHLOGNO(03215)
                      "tunnel %s: stream %d: cannot submit the response: %s",
                      st->h2s->d->name, (int)st->id, nghttp2_strerror(rv));
        h2s_stream_reset(st, NGHTTP2_INTERNAL_ERROR);
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
        if (!io->out.data && !h2s_buf_get(h2s, &io->out)) {
            h2s_stream_reset(st, NGHTTP2_INTERNAL_ERROR);
            return APR_ENOMEM;
        }
        room = h2s_buf_room(&io->out, len);
        if (!room) {
            if (io->deferred) {
                io->deferred = 0;
                nghttp2_session_resume_data(h2s->ngh, st->id);
            }
            h2s_send(h2s);
            if (!h2s_buf_room(&io->out, len) && !io->aborted
                              && (rv = h2s_stream_wait(st, deadline)) != APR_SUCCESS) {
                stream_timeout(st);
                return rv;
            }
            if (h2s_buf_room(&io->out, len)) {
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
        if ((rv = h2s_stream_wait(st, deadline)) != APR_SUCCESS) {
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
            h2s_stream_reset(st, NGHTTP2_INTERNAL_ERROR);
        }
        else if (!io->in_eos) {
            /* A complete response before the whole request body (RFC
             * 9113 section 8.1): the rest is not wanted. */
            h2s_stream_reset(st, NGHTTP2_NO_ERROR);
        }
    }
    if (io->in.len) {
        nghttp2_session_consume_connection(h2s->ngh, io->in.len);
        io->in.len = io->in.off = 0;
    }
    io->working = 0;
    h2s->nworking--;
    if (io->closed) {
        h2s_stream_free(st);
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
