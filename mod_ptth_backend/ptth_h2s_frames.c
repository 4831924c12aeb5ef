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

/* The ptth stream path: nghttp2's callbacks, that is what the router
 * sends on a tunnel (request heads, bodies, resets, GOAWAY), and handing
 * complete request heads to the stream workers (ptth_h2s.c has the
 * session; docs/architecture.md, "The ptth stream path"). */

#include "ptth_h2s_priv.h"

nghttp2_session_callbacks *h2s_callbacks;

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
    st = h2s_stream_create(h2s, frame->hd.stream_id);
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
ptth_stream *h2s_ready_take(ptth_h2s *h2s)
{
    ptth_stream *list = h2s->ready;

    h2s->ready = h2s->ready_last = NULL;
    return list;
}

/* Queue them for the workers, the lock let go.  A stream reset meanwhile
 * is still held by its "worker" (working), so it is not freed: the worker
 * that takes it finds it aborted. */
void h2s_queue_ready(ptth_h2s *h2s, ptth_stream *list)
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
            h2s_stream_wake(st);
        }
        break;
    case NGHTTP2_DATA:
        st = nghttp2_session_get_stream_user_data(ngh, frame->hd.stream_id);
        if (st && end_stream) {
            st->io->in_eos = 1;
            h2s_stream_wake(st);
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
    if ((!io->in.data && !h2s_buf_get(h2s, &io->in))
        || (io->in_bulk && len > h2s_buf_room(&io->in, len)
            && !h2s_buf_grow(&io->in, PTTH_H2S_WINDOW_BULK))) {
        h2s_stream_reset(st, NGHTTP2_INTERNAL_ERROR);
        nghttp2_session_consume(ngh, stream_id, len);
        return 0;
    }
    if (len > h2s_buf_room(&io->in, len)) {
        /* More than the window we gave: nghttp2 enforces it, so this is
         * our accounting gone wrong; never overrun the buffer. */
        h2s_stream_reset(st, NGHTTP2_FLOW_CONTROL_ERROR);
        nghttp2_session_consume(ngh, stream_id, len);
        return 0;
    }
    memcpy(io->in.data + io->in.off + io->in.len, data, len);
    io->in.len += len;
    h2s_stream_wake(st);
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
        h2s_stream_abort(st);
    }
    if (io->working && ptth_workers_cancel(h2s->workers, &st->task)) {
        io->working = 0;
        h2s->nworking--;
    }
    if (!io->working) {
        h2s_stream_free(st);
    }
    return 0;
}

/* The response body source: copies what the worker buffered. */
ssize_t h2s_data_read(nghttp2_session *ngh, int32_t stream_id,
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
        n = h2s_buf_take(&io->out, (char *)buf, length);
        h2s_stream_wake(st);
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
            h2s_stream_wake(st);
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
    if (h2s_callbacks) {
        nghttp2_session_callbacks_del(h2s_callbacks);
        h2s_callbacks = NULL;
    }
    return APR_SUCCESS;
}

apr_status_t ptth_h2s_child_init(apr_pool_t *pchild)
{
    nghttp2_session_callbacks *cbs;

    if (h2s_callbacks) {
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
    h2s_callbacks = cbs;
    apr_pool_cleanup_register(pchild, NULL, callbacks_cleanup,
                              apr_pool_cleanup_null);
    return ptth_c2_child_init(pchild);
}

/*******************************************************************************
 * the worker's side
 ******************************************************************************/
