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

/* The exchange object (ptth_exchange.h): one request/response between a
 * child's link and a tunnel's stream.  This file is the only writer of
 * an exchange's state.
 *
 * Backpressure: a full request-body buffer stops reading the link; a
 * response chunk is acknowledged to the backend (WINDOW_UPDATE) only
 * once the link has written it.
 *
 * Upgraded exchanges (RFC 8441, ptth_link.h): once the hub has sent the
 * RESPONSE flagged UPGRADED, the link is a raw byte pipe: what the child
 * writes is the stream's DATA, the stream's DATA is written as is, and
 * each END_STREAM is a half-close (shutdown) on the link.  The same
 * buffers and windows give the same backpressure. */

#include <stdlib.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "ptth_exchange.h"
#include "ptth_link_hub.h"
#include "ptth_pool.h"
#include "ptth_tunnel.h"

/* Request body buffered per exchange before the link is not read: a few
 * link reads' worth, so that an upload the stream's window lets through
 * does not stop and restart the link's reading (two epoll_ctl each time)
 * every 32 KiB.  Charged to PTTHHubMemoryLimit like every buffer. */
#define PTTH_BODY_BUF_MAX   (256 * 1024)
/* A request body up to this size is kept whole until the response
 * starts, so a stream the backend refused can be replayed elsewhere. */
#define PTTH_REPLAY_MAX     (64 * 1024)

struct ptth_ex_mem {
    ptth_ex_mem *next;
    union {                          /* what follows is aligned for any use */
        long double ld;
        void *p;
        apr_uint64_t u;
    } align;
};

static void *mem_push(ptth_ex_mem **list, apr_size_t n)
{
    ptth_ex_mem *m = malloc(APR_OFFSETOF(ptth_ex_mem, align) + n);

    if (!m) {
        return NULL;
    }
    m->next = *list;
    *list = m;
    return &m->align;
}

static void mem_free_all(ptth_ex_mem **list)
{
    while (*list) {
        ptth_ex_mem *m = *list;
        *list = m->next;
        free(m);
    }
}

void *ptth_exchange_alloc(ptth_exchange *ex, apr_size_t n)
{
    return mem_push(&ex->mem, n);
}

char *ptth_exchange_memdup(ptth_exchange *ex, const char *s, apr_size_t n)
{
    char *d = mem_push(&ex->mem, n + 1);

    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

void *ptth_exchange_block_alloc(ptth_exchange *ex, apr_size_t n)
{
    return mem_push(&ex->blk_mem, n);
}

void ptth_exchange_block_free(ptth_exchange *ex)
{
    ex->st.block = NULL;
    mem_free_all(&ex->blk_mem);
}

static void ex_free(ptth_exchange *ex)
{
    ptth_buf_free(&ex->body);
    ptth_buf_free(&ex->replay);
    mem_free_all(&ex->blk_mem);
    mem_free_all(&ex->mem);
    free(ex);
}

/* A copy of a decoded field list (in the hub's scratch pool) whose
 * entries point into data the exchange keeps. */
static apr_array_header_t *copy_nvs(ptth_exchange *ex,
                                    const apr_array_header_t *src)
{
    apr_size_t n = src ? (apr_size_t)src->nelts : 0;
    apr_array_header_t *a = ptth_exchange_alloc(ex, sizeof(*a)
                                                + (n ? n : 1) * sizeof(ptth_nv));

    if (a) {
        a->pool = NULL;         /* never grown */
        a->elt_size = sizeof(ptth_nv);
        a->nelts = a->nalloc = (int)n;
        a->elts = (char *)(a + 1);
        if (n) {
            memcpy(a->elts, src->elts, n * sizeof(ptth_nv));
        }
    }
    return a;
}

static const char *exstate_str(ptth_exchange_state s)
{
    switch (s) {
    case PTTH_EX_WAITING: return "WAITING";
    case PTTH_EX_OPEN:    return "OPEN";
    case PTTH_EX_ENDED:   return "ENDED";
    }
    return "?";
}

static void ex_transit(ptth_exchange *ex, ptth_exchange_state ns, const char *why)
{
    if (APLOGdebug(ex->hub->s)) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, ex->hub->s, PTTHLOGNO(02201)
                     "link %u: %s %s (pool %s, stream %d): %s -> %s (%s)",
                     ex->hl ? ex->hl->id : 0, ex->req.method, ex->req.path,
                     ex->req.pool_name, ex->st.id, exstate_str(ex->state),
                     exstate_str(ns), why);
    }
    ex->state = ns;
}

/* Off its pool's queue, if it waits there. */
static void ex_unqueue(ptth_exchange *ex)
{
    if (ex->state == PTTH_EX_WAITING && ex->pool) {
        ptth_pool_dequeue(ex->pool, ex);
    }
}

/* The link is free for the child's next exchange; ex lives on, held by
 * its tunnel, until its stream is gone too. */
static void ex_release_link(ptth_exchange *ex)
{
    ptth_link_hub *hl = ex->hl;

    if (hl) {
        ex->hl = NULL;
        ptth_link_hub_release(hl);
    }
}

/* Both directions are done for the child: the link may carry the next
 * exchange.  The exchange itself goes once no tunnel holds it either. */
static void ex_check_done(ptth_exchange *ex)
{
    if (ex->state == PTTH_EX_ENDED && ex->req_ended) {
        ex_release_link(ex);
        if (!ex->st.tunnel) {
            ex_free(ex);
        }
    }
}

/* Whatever body the child still sends is read and dropped. */
static void ex_drop_body(ptth_exchange *ex)
{
    ptth_buf_free(&ex->body);
    if (ex->hl) {
        ptth_link_hub_resume(ex->hl);
    }
}

/* The response ended while the request is still on its way to the
 * backend: RFC 9113 8.1 lets the stream end here; the rest of the body
 * the child sends is read and dropped, so a backend that never opens its
 * window cannot hold the link (or its buffer) any longer. */
static void ex_response_over(ptth_exchange *ex)
{
    if (ex->st.tunnel && ex->has_body && !ex->req_end_sent) {
        ptth_tunnel_reset(ex, NGHTTP2_CANCEL);
    }
    if (!ex->req_ended) {
        ex_drop_body(ex);
    }
    ex_check_done(ex);
}

/* ---- from the link -------------------------------------------------- */

/* The host a request is for, as routing compares it with claims: the
 * :authority without port or trailing dot, lowercase (RFC 9110 4.2.3). */
static const char *request_host(ptth_exchange *ex, const char *authority)
{
    const char *end;
    char *h;

    if (!authority || !*authority) {
        return "";
    }
    if (authority[0] == '[') {
        end = strchr(authority, ']');
        end = end ? end + 1 : authority + strlen(authority);
    }
    else {
        end = strchr(authority, ':');
        if (!end) {
            end = authority + strlen(authority);
        }
    }
    if (end > authority && end[-1] == '.') {
        --end;
    }
    if (!(h = ptth_exchange_memdup(ex, authority, end - authority))) {
        return NULL;
    }
    ap_str_tolower(h);
    return h;
}

apr_status_t ptth_exchange_create(ptth_link_hub *hl, const char *payload,
                                  apr_size_t len, int end_stream,
                                  ptth_exchange **pex)
{
    ptth_hub *hub = hl->hub;
    ptth_exchange *ex;
    apr_time_t now = apr_time_now(), sent;
    apr_status_t rv;
    char *copy;

    *pex = NULL;
    /* Not in the link's memory: a tunnel may hold the exchange after the
     * link has moved on or gone. */
    if (!(ex = calloc(1, sizeof(*ex)))) {
        return APR_ENOMEM;
    }
    ex->hub = hub;
    ex->state = PTTH_EX_WAITING;
    ex->st.id = -1;
    APR_RING_ELEM_INIT(ex, link);
    ptth_buf_init(&ex->body);
    ptth_buf_init(&ex->replay);
    ex->replayable = 1;
    /* The decoded strings point into the copy; the field list is copied
     * out of the scratch pool. */
    if (!(copy = ptth_exchange_alloc(ex, len))) {
        ex_free(ex);
        return APR_ENOMEM;
    }
    memcpy(copy, payload, len);
    rv = ptth_link_decode_request(hub->scratch, copy, len, &ex->req);
    if (rv == APR_SUCCESS && !(ex->req.headers = copy_nvs(ex, ex->req.headers))) {
        rv = APR_ENOMEM;
    }
    apr_pool_clear(hub->scratch);
    if (rv != APR_SUCCESS || (ex->req.protocol && end_stream)
        || !(ex->host = request_host(ex, ex->req.authority))) {
        /* An upgrade keeps the request side open for the pipe. */
        ex_free(ex);
        return rv == APR_ENOMEM ? APR_ENOMEM : APR_EINVAL;
    }
    ex->hl = hl;
    *pex = ex;
    ex->has_body = !end_stream;
    ex->head = !strcmp(ex->req.method, "HEAD");
    ex->req_ended = end_stream;
    if (hub->state != PTTH_HUB_RUNNING || ex->req.generation > hub->generation) {
        /* Draining, or a child of the next generation reached us before
         * our listener closed: never dispatched, so the child may send it
         * again elsewhere (ptth_link.h, GOAWAY). */
        ptth_exchange_failed(ex, PTTH_RST_SHUTDOWN);
        return APR_SUCCESS;
    }
    ex->pool = ptth_pool_get(hub, ex->req.pool_name, 0);
    if (!ex->pool) {
        ptth_exchange_failed(ex, PTTH_RST_UNKNOWN_POOL);
        return APR_SUCCESS;
    }
    if (ex->pool->n_waiting >= hub->max_waiting && !ptth_pool_has_capacity(ex->pool)) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, hub->s, PTTHLOGNO(02204)
                     "pool %s: %d requests already wait for a tunnel "
                     "(PTTHMaxWaiting), refusing %s %s", ex->pool->name,
                     ex->pool->n_waiting, ex->req.method, ex->req.path);
        ex->pool = NULL;     /* never queued */
        ptth_exchange_failed(ex, PTTH_RST_OVERLOAD);
        return APR_SUCCESS;
    }
    /* The wait counts from when the child sent it, so time spent in the
     * backlog of a restarting hub is part of it (a clock step can only
     * shorten it to nothing or to wait_ms). */
    sent = ex->req.sent;
    if (sent <= 0 || sent > now) {
        sent = now;
    }
    ex->deadline = sent + apr_time_from_msec(ex->req.wait_ms);
    ptth_pool_enqueue(ex->pool, ex, 0);
    return APR_SUCCESS;
}

apr_status_t ptth_exchange_request_body(ptth_exchange *ex, const char *data,
                                        apr_size_t len, int end_stream)
{
    if (end_stream) {
        ex->req_ended = 1;
    }
    if (ex->state == PTTH_EX_ENDED) {
        /* The response is over (or failed): drop the bytes, but let the
         * stream send its END_STREAM so it can close (RFC 9113 8.1). */
        if (ex->req_ended) {
            ptth_tunnel_resume_body(ex);
        }
        ex_check_done(ex);
        return APR_SUCCESS;
    }
    if (len) {
        if (ptth_buf_append(&ex->body, data, len) != APR_SUCCESS) {
            ptth_exchange_failed(ex, PTTH_RST_BROKEN);
            return APR_SUCCESS;
        }
        if (ex->replayable) {
            if (ex->replay.len + len > PTTH_REPLAY_MAX
                || ptth_buf_append(&ex->replay, data, len) != APR_SUCCESS) {
                ex->replayable = 0;
                ptth_buf_free(&ex->replay);
            }
        }
    }
    ex->last_activity = apr_time_now();
    ptth_tunnel_resume_body(ex);
    return ex->body.len >= PTTH_BODY_BUF_MAX ? APR_EAGAIN : APR_SUCCESS;
}

apr_status_t ptth_exchange_request_trailers(ptth_exchange *ex,
                                            const char *payload,
                                            apr_size_t len)
{
    if (ex->state != PTTH_EX_ENDED) {
        char *copy = ptth_exchange_alloc(ex, len ? len : 1);
        apr_array_header_t *trailers;
        apr_status_t rv;

        if (!copy) {
            ptth_exchange_failed(ex, PTTH_RST_BROKEN);
            return ptth_exchange_request_body(ex, NULL, 0, 1);
        }
        memcpy(copy, payload, len);
        rv = ptth_link_decode_trailers(ex->hub->scratch, copy, len, &trailers);
        if (rv == APR_SUCCESS && !(ex->req_trailers = copy_nvs(ex, trailers))) {
            rv = APR_ENOMEM;
        }
        apr_pool_clear(ex->hub->scratch);
        if (rv == APR_ENOMEM) {
            ptth_exchange_failed(ex, PTTH_RST_BROKEN);
        }
        else if (rv != APR_SUCCESS) {
            return APR_EINVAL;
        }
    }
    return ptth_exchange_request_body(ex, NULL, 0, 1);
}

apr_size_t ptth_exchange_pipe_in(ptth_exchange *ex, const char *data,
                                 apr_size_t len, int eof)
{
    apr_size_t n = len;

    if (!ex->st.tunnel || ex->req_ended) {
        /* Nowhere to go: dropped. */
        if (eof) {
            ex->req_ended = 1;      /* lets the exchange (and link) go */
            ex_check_done(ex);
        }
        return len;
    }
    if (ex->body.len + n > PTTH_BODY_BUF_MAX) {
        n = ex->body.len < PTTH_BODY_BUF_MAX ? PTTH_BODY_BUF_MAX - ex->body.len : 0;
    }
    if (n) {
        if (ptth_buf_append(&ex->body, data, n) != APR_SUCCESS) {
            ptth_exchange_failed(ex, PTTH_RST_BROKEN);
            return len;
        }
        ex->last_activity = apr_time_now();
    }
    ptth_tunnel_resume_body(ex);
    if (n == len && eof) {
        /* The child's half-close: END_STREAM after the last byte. */
        ex->req_ended = 1;
        ptth_tunnel_resume_body(ex);
        ex_check_done(ex);
    }
    return n;
}

void ptth_exchange_cancel(ptth_exchange *ex, const char *why)
{
    ex->req_ended = 1;
    if (ex->state != PTTH_EX_ENDED) {
        ex_unqueue(ex);
        ptth_tunnel_cancel(ex);
        ex_transit(ex, PTTH_EX_ENDED, why);
    }
    ex_check_done(ex);
}

void ptth_exchange_link_gone(ptth_exchange *ex)
{
    ex->hl = NULL;
    ptth_exchange_cancel(ex, "the child went away");
}

void ptth_exchange_link_flushed(ptth_exchange *ex, apr_size_t left)
{
    ptth_tunnel_consume(ex, left);
}

void ptth_exchange_response_counted(ptth_exchange *ex)
{
    if (ex->hl) {
        ptth_link_hub_write_through(ex->hl);
    }
}

/* ---- from the pool and the tunnel ------------------------------------ */

void ptth_exchange_opened(ptth_exchange *ex)
{
    ex->attempts++;
    ex->last_activity = apr_time_now();
    ex_transit(ex, PTTH_EX_OPEN, "stream opened");
}

void ptth_exchange_refused_by(ptth_exchange *ex, apr_uint32_t tunnel_id)
{
    if (ex->attempts > 0 && ex->attempts <= PTTH_EX_MAX_ATTEMPTS) {
        ex->tried[ex->attempts - 1] = tunnel_id;
    }
}

int ptth_exchange_tried(const ptth_exchange *ex, apr_uint32_t tunnel_id)
{
    int i;

    for (i = 0; i < ex->attempts && i < PTTH_EX_MAX_ATTEMPTS; ++i) {
        if (ex->tried[i] == tunnel_id) {
            return 1;
        }
    }
    return 0;
}

void ptth_exchange_touch(ptth_exchange *ex)
{
    ex->last_activity = apr_time_now();
}

apr_size_t ptth_exchange_take_body(ptth_exchange *ex, uint8_t *buf,
                                   apr_size_t len, int *end,
                                   const apr_array_header_t **trailers)
{
    apr_size_t n = ex->body.len < len ? ex->body.len : len;

    *end = 0;
    *trailers = NULL;
    if (n) {
        memcpy(buf, ptth_buf_head(&ex->body), n);
        ptth_buf_consume(&ex->body, n);
        ex->body_sent += n;
        ex->last_activity = apr_time_now();
        if (ex->hl && ex->body.len < PTTH_BODY_BUF_MAX / 2) {
            ptth_link_hub_resume(ex->hl);
        }
    }
    if (ex->body.len == 0 && ex->req_ended) {
        *end = 1;
        *trailers = ex->req_trailers;
        ex->req_end_sent = 1;
    }
    return n;
}

/* ---- response side --------------------------------------------------- */

void ptth_exchange_response(ptth_exchange *ex, int status, int upgraded,
                            apr_array_header_t *headers, int end_stream)
{
    ptth_link_response resp;
    apr_size_t len;
    char *frame;

    if (!ex->hl || ex->state == PTTH_EX_ENDED) {
        ptth_exchange_block_free(ex);
        return;
    }
    resp.status = status;
    resp.headers = headers;
    resp.upgraded = status >= 200 && upgraded;
    /* Which tunnel answered, for the child's logs (ptth_link.h). */
    resp.tunnel_id = ex->st.tunnel ? ex->st.tunnel->id : 0;
    resp.backend = ex->st.tunnel ? ex->st.tunnel->backend : NULL;
    resp.attempts = (apr_uint32_t)ex->attempts;
    /* Built in the scratch pool and copied into the link's output. */
    frame = ptth_link_encode_response(ex->hub->scratch, &resp, end_stream, &len);
    ptth_exchange_block_free(ex);    /* headers: encoded or refused */
    if (len - PTTH_LINK_HDR_LEN > PTTH_LINK_MAX_HEAD) {
        apr_pool_clear(ex->hub->scratch);
        ptth_tunnel_cancel(ex);
        ptth_exchange_failed(ex, PTTH_RST_PROTOCOL);
        return;
    }
    ptth_link_hub_send(ex->hl, frame, len);
    apr_pool_clear(ex->hub->scratch);
    if (status < 200) {
        return;
    }
    ex->resp_final = 1;
    ex->resp_status = status;
    ex->replayable = 0;
    ptth_buf_free(&ex->replay);
    if (end_stream) {
        ex_transit(ex, PTTH_EX_ENDED, "response without body");
        ex_response_over(ex);
        return;
    }
    if (resp.upgraded) {
        if (ex->req_ended || ptth_link_hub_pipe(ex->hl) != APR_SUCCESS) {
            /* The child spoke before it knew: not our protocol. */
            ptth_tunnel_cancel(ex);
            ex_transit(ex, PTTH_EX_ENDED, "link out of step at upgrade");
            ptth_link_hub_kill(ex->hl, "bytes from the child before the upgrade");
            return;
        }
        ex->resp_upgraded = 1;
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, ex->hub->s, PTTHLOGNO(02206)
                     "link %u: %s upgraded (stream %d): the link is a pipe",
                     ex->hl->id, ex->req.path, ex->st.id);
    }
}

apr_size_t ptth_exchange_response_data(ptth_exchange *ex, const uint8_t *data,
                                       apr_size_t len, int end_stream)
{
    unsigned char hdr[PTTH_LINK_HDR_LEN];
    apr_size_t sent = len;

    if (!ex->hl || ex->state == PTTH_EX_ENDED) {
        return 0;
    }
    if (ex->resp_upgraded) {
        if (len) {
            ptth_link_hub_send(ex->hl, data, len);
        }
        if (end_stream) {
            ptth_link_hub_pipe_end(ex->hl);
            ex_transit(ex, PTTH_EX_ENDED, "pipe: backend half-closed");
        }
        return sent;
    }
    while (len) {
        apr_size_t n = len > PTTH_LINK_MAX_DATA ? PTTH_LINK_MAX_DATA : len;
        ptth_link_hdr_pack(hdr, PTTH_LF_DATA, 0, (apr_uint32_t)n);
        ptth_link_hub_send(ex->hl, hdr, sizeof(hdr));
        ptth_link_hub_send(ex->hl, data, n);
        data += n;
        len -= n;
    }
    if (end_stream) {
        ptth_link_hdr_pack(hdr, PTTH_LF_DATA, PTTH_LF_END_STREAM, 0);
        ptth_link_hub_send(ex->hl, hdr, sizeof(hdr));
        ex_transit(ex, PTTH_EX_ENDED, "response complete");
        ex_response_over(ex);
    }
    return sent;
}

void ptth_exchange_response_trailers(ptth_exchange *ex,
                                     apr_array_header_t *headers)
{
    apr_size_t len;
    char *frame;

    if (!ex->hl || ex->state == PTTH_EX_ENDED) {
        ptth_exchange_block_free(ex);
        return;
    }
    if (ex->resp_upgraded) {
        /* A pipe has nowhere to put fields: they only end it. */
        ptth_exchange_block_free(ex);
        ptth_exchange_response_data(ex, NULL, 0, 1);
        return;
    }
    frame = ptth_link_encode_trailers(ex->hub->scratch, headers, &len);
    ptth_exchange_block_free(ex);
    ptth_link_hub_send(ex->hl, frame, len);
    apr_pool_clear(ex->hub->scratch);
    ex_transit(ex, PTTH_EX_ENDED, "response trailers");
    ex_response_over(ex);
}

void ptth_exchange_failed(ptth_exchange *ex, ptth_link_reset_t code)
{
    unsigned char frame[PTTH_LINK_HDR_LEN + 4];

    if (ex->state == PTTH_EX_ENDED) {
        return;
    }
    ex_unqueue(ex);
    ptth_tunnel_cancel(ex);
    ex_transit(ex, PTTH_EX_ENDED, ptth_link_reset_str(code));
    if (ex->hl && ex->resp_upgraded) {
        /* No frame fits in a pipe: closing it is the reset. */
        ptth_link_hub_kill(ex->hl, "upgraded stream failed");
        return;
    }
    if (ex->hl) {
        ptth_link_encode_reset(frame, code);
        ptth_link_hub_send(ex->hl, frame, sizeof(frame));
        ex_drop_body(ex);
    }
    ex_check_done(ex);
}

void ptth_exchange_stream_gone(ptth_exchange *ex, int unprocessed)
{
    ptth_hub *hub = ex->hub;

    if (ex->state == PTTH_EX_ENDED) {
        ex_check_done(ex);
        return;
    }
    /* Safe to replay only if the backend provably did nothing and every
     * body byte is still here (RFC 9113 8.7, RFC 9110 9.2.2). */
    if (unprocessed && !ex->resp_final && (ex->body_sent == 0 || ex->replayable)
        && ex->attempts < PTTH_EX_MAX_ATTEMPTS && hub->state == PTTH_HUB_RUNNING) {
        if (ex->body_sent) {
            ptth_buf_consume(&ex->body, ex->body.len);
            if (ptth_buf_append(&ex->body, ptth_buf_head(&ex->replay),
                                ex->replay.len) != APR_SUCCESS) {
                ptth_exchange_failed(ex, PTTH_RST_UNPROCESSED);
                return;
            }
            ex->body_sent = 0;
        }
        ex->req_end_sent = 0;
        ex_transit(ex, PTTH_EX_WAITING, "retry: not processed by the backend");
        ptth_pool_enqueue(ex->pool, ex, 1);
        return;
    }
    ptth_exchange_failed(ex, unprocessed
                             ? (hub->state == PTTH_HUB_RUNNING
                                ? PTTH_RST_UNPROCESSED : PTTH_RST_SHUTDOWN)
                             : (ex->st.violated ? PTTH_RST_PROTOCOL
                                                : PTTH_RST_BROKEN));
}

void ptth_exchange_tick(ptth_exchange *ex, apr_time_t now)
{
    if (ex->state == PTTH_EX_OPEN && ex->req.timeout_ms
        && now - ex->last_activity > apr_time_from_msec(ex->req.timeout_ms)) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, ex->hub->s, PTTHLOGNO(02203)
                     "pool %s: backend silent for %u ms on %s %s, giving up",
                     ex->req.pool_name, ex->req.timeout_ms, ex->req.method,
                     ex->req.path);
        ptth_exchange_failed(ex, PTTH_RST_TIMEOUT);
    }
}
