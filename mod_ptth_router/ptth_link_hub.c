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

/* The hub's side of the links from httpd children (ptth_link.h): reads
 * request frames, turns them into exchanges that wait in a pool or run
 * as a stream on a tunnel, and writes the response frames back.
 *
 * Exchange states (transitions logged at debug):
 *   WAITING  queued in its pool for a tunnel with room
 *   OPEN     an HTTP/2 stream on a tunnel
 *   ENDED    the response side is finished (END_STREAM or RESET sent);
 *            the exchange is freed once the child has finished its
 *            request side too, and its stream has left the tunnel.
 * Backpressure: a full request-body buffer stops reading the link; a
 * response chunk is acknowledged to the backend (WINDOW_UPDATE) only
 * once the link has taken it.
 *
 * Upgraded exchanges (RFC 8441, ptth_link.h): once the hub has sent the
 * RESPONSE flagged UPGRADED, the link is a raw byte pipe: what the child
 * writes is the stream's DATA, the stream's DATA is written as is, and
 * each END_STREAM is a half-close (shutdown) on the link.  The same
 * buffers and windows give the same backpressure. */

#include <stdio.h>
#include <unistd.h>
#include <sys/socket.h>

#include <apr_lib.h>
#include <apr_portable.h>
#include <apr_strings.h>

#include "ptth_hub.h"

/* Request body buffered per exchange before the link is not read. */
#define PTTH_BODY_BUF_MAX   (64 * 1024)
/* A request body up to this size is kept whole until the response
 * starts, so a stream the backend refused can be replayed elsewhere. */
#define PTTH_REPLAY_MAX     (64 * 1024)
/* Bytes read from a link before frames are processed. */
#define PTTH_LINK_READ_MAX  (PTTH_LINK_HDR_LEN + PTTH_LINK_MAX_HEAD)

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
                     ex->req.pool_name, ex->stream_id, exstate_str(ex->state),
                     exstate_str(ns), why);
    }
    ex->state = ns;
}

static void link_watch(ptth_hublink *hl)
{
    apr_int16_t ev = 0;

    if (hl->dead) {
        return;
    }
    if (!hl->read_paused && !hl->raw_in_eof) {
        ev |= APR_POLLIN;
    }
    if (hl->out.len) {
        ev |= APR_POLLOUT;
    }
    ptth_hub_watch(hl->hub, &hl->h, ev);
}

static void link_kill(ptth_hublink *hl, const char *why)
{
    if (!hl->dead) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, hl->hub->s, PTTHLOGNO(02202)
                     "link %u: closing (%s)", hl->id, why);
        hl->dead = 1;
        hl->hub->reap = 1;
    }
}

static void link_flush(ptth_hublink *hl)
{
    while (hl->out.len && !hl->dead) {
        apr_size_t n = hl->out.len;
        apr_status_t rv = apr_socket_send(hl->sock, ptth_buf_head(&hl->out), &n);

        ptth_buf_consume(&hl->out, n);
        if (rv != APR_SUCCESS) {
            if (!APR_STATUS_IS_EAGAIN(rv)) {
                link_kill(hl, "write failed: child went away");
                return;
            }
            break;
        }
    }
    if (!hl->out.len) {
        /* The child has everything: let the backend send more. */
        if (hl->ex) {
            ptth_tunnel_consume(hl->ex);
        }
        if (hl->raw_out_eof == 1) {
            /* The backend ended its direction of the pipe. */
            apr_socket_shutdown(hl->sock, APR_SHUTDOWN_WRITE);
            hl->raw_out_eof = 2;
        }
        if (hl->close_when_flushed) {
            link_kill(hl, "hub draining");
            return;
        }
    }
    link_watch(hl);
}

/* Frames produced while the hub works through one batch of tunnel input
 * go out together: the write happens at the hub's next reap, before it
 * polls again, instead of one write per frame. */
static void link_flush_soon(ptth_hublink *hl)
{
    if (hl && !hl->dead) {
        hl->flush_soon = 1;
        hl->hub->reap = 1;
    }
}

void ptth_hublink_flush_pending(ptth_hublink *hl)
{
    if (hl->flush_soon) {
        hl->flush_soon = 0;
        link_flush(hl);
    }
}

static void link_send(ptth_hublink *hl, const void *data, apr_size_t len)
{
    if (!hl || hl->dead) {
        return;
    }
    if (ptth_buf_append(&hl->out, data, len) != APR_SUCCESS) {
        link_kill(hl, "out of memory");
        return;
    }
}

/* Tell the child that this hub takes no new exchange on the link
 * (ptth_link.h, GOAWAY): it is draining.  The link stays open so that a
 * REQUEST already on its way is answered (RESET SHUTDOWN), never lost. */
static void link_goaway(ptth_hublink *hl)
{
    unsigned char hdr[PTTH_LINK_HDR_LEN];

    if (hl->goaway_sent || hl->dead || hl->raw) {
        return;
    }
    hl->goaway_sent = 1;
    ptth_link_hdr_pack(hdr, PTTH_LF_GOAWAY, 0, 0);
    link_send(hl, hdr, sizeof(hdr));
    link_flush_soon(hl);
}

void ptth_hublink_drain(ptth_hublink *hl)
{
    if (!hl->ex) {
        link_goaway(hl);
    }
}

/* The link is free for the child's next exchange; ex lives on, owned by
 * its tunnel, until its stream is gone too. */
static void exchange_release_link(ptth_exchange *ex)
{
    ptth_hublink *hl = ex->hl;

    if (!hl) {
        return;
    }
    ex->hl = NULL;
    hl->ex = NULL;
    if (hl->raw) {
        /* A pipe has no frame boundary to start the next exchange at. */
        hl->close_when_flushed = 1;
        if (!hl->out.len) {
            link_kill(hl, "upgraded exchange over");
        }
    }
    else if (hl->hub->state != PTTH_HUB_RUNNING) {
        link_goaway(hl);
    }
    if (hl->read_paused) {
        hl->read_paused = 0;
        hl->kick = 1;
        hl->hub->reap = 1;
    }
}

static void exchange_destroy(ptth_exchange *ex)
{
    exchange_release_link(ex);
    apr_pool_destroy(ex->p);
}

/* Both directions are done for the child: the link may carry the next
 * exchange.  The exchange itself goes once no tunnel holds it either. */
static void exchange_check_done(ptth_exchange *ex)
{
    if (ex->state == PTTH_EX_ENDED && ex->req_ended) {
        if (!ex->tunnel) {
            exchange_destroy(ex);
        }
        else {
            exchange_release_link(ex);
        }
    }
}

/* The response ended while the request is still on its way to the
 * backend: RFC 9113 8.1 lets the stream end here; the rest of the body
 * the child sends is read and dropped, so a backend that never opens its
 * window cannot hold the link (or its buffer) any longer. */
static void exchange_response_over(ptth_exchange *ex)
{
    if (ex->tunnel && ex->has_body && !ex->req_end_sent) {
        ptth_tunnel_reset(ex, NGHTTP2_CANCEL);
    }
    if (!ex->req_ended) {
        ptth_buf_free(&ex->body);
        if (ex->hl && ex->hl->read_paused) {
            ex->hl->read_paused = 0;
            ex->hl->kick = 1;
            ex->hub->reap = 1;
        }
    }
    exchange_check_done(ex);
}

/* ---- response side (called from ptth_tunnel.c) ---------------------- */

void ptth_exchange_response(ptth_exchange *ex, int status,
                            apr_array_header_t *headers, int end_stream)
{
    ptth_link_response resp;
    apr_size_t len;
    char *frame;

    resp.status = status;
    resp.headers = headers;
    resp.upgraded = status >= 200 && ex->resp_upgraded;
    if (!ex->hl) {
        return;
    }
    frame = ptth_link_encode_response(ex->p, &resp, end_stream, &len);
    if (len - PTTH_LINK_HDR_LEN > PTTH_LINK_MAX_HEAD) {
        ex->resp_bad = 1;
        ptth_tunnel_cancel(ex);
        ptth_exchange_failed(ex, PTTH_RST_PROTOCOL);
        return;
    }
    link_send(ex->hl, frame, len);
    if (status >= 200) {
        ex->resp_final = 1;
        ex->replayable = 0;
        ptth_buf_free(&ex->replay);
        if (end_stream) {
            ex_transit(ex, PTTH_EX_ENDED, "response without body");
            link_flush_soon(ex->hl);
            exchange_response_over(ex);
            return;
        }
        if (resp.upgraded) {
            if (ex->hl->in.len || ex->req_ended) {
                /* The child spoke before it knew: not our protocol. */
                ptth_tunnel_cancel(ex);
                ex_transit(ex, PTTH_EX_ENDED, "link out of step at upgrade");
                link_kill(ex->hl, "bytes from the child before the upgrade");
                return;
            }
            ex->hl->raw = 1;
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, ex->hub->s, PTTHLOGNO(02206)
                         "link %u: %s upgraded (stream %d): the link is a pipe",
                         ex->hl->id, ex->req.path, ex->stream_id);
        }
    }
    link_flush_soon(ex->hl);
}

void ptth_exchange_data(ptth_exchange *ex, const uint8_t *data, apr_size_t len,
                        int end_stream)
{
    unsigned char hdr[PTTH_LINK_HDR_LEN];

    if (!ex->hl) {
        return;
    }
    if (ex->hl->raw) {
        if (len) {
            link_send(ex->hl, data, len);
            ex->unconsumed += len;
        }
        if (end_stream) {
            ex->hl->raw_out_eof = 1;
            ex_transit(ex, PTTH_EX_ENDED, "pipe: backend half-closed");
        }
        link_flush_soon(ex->hl);
        return;
    }
    while (len) {
        apr_size_t n = len > PTTH_LINK_MAX_DATA ? PTTH_LINK_MAX_DATA : len;
        ptth_link_hdr_pack(hdr, PTTH_LF_DATA, 0, (apr_uint32_t)n);
        link_send(ex->hl, hdr, sizeof(hdr));
        link_send(ex->hl, data, n);
        ex->unconsumed += n;
        data += n;
        len -= n;
    }
    link_flush_soon(ex->hl);
    if (end_stream) {
        ptth_link_hdr_pack(hdr, PTTH_LF_DATA, PTTH_LF_END_STREAM, 0);
        link_send(ex->hl, hdr, sizeof(hdr));
        ex_transit(ex, PTTH_EX_ENDED, "response complete");
        exchange_response_over(ex);
    }
}

void ptth_exchange_trailers(ptth_exchange *ex, apr_array_header_t *headers)
{
    apr_size_t len;
    char *frame;

    if (!ex->hl) {
        return;
    }
    if (ex->hl->raw) {
        /* A pipe has nowhere to put fields: they only end it. */
        ptth_exchange_data(ex, NULL, 0, 1);
        return;
    }
    frame = ptth_link_encode_trailers(ex->p, headers, &len);
    link_send(ex->hl, frame, len);
    link_flush_soon(ex->hl);
    ex_transit(ex, PTTH_EX_ENDED, "response trailers");
    exchange_response_over(ex);
}

void ptth_exchange_failed(ptth_exchange *ex, ptth_link_reset_t code)
{
    unsigned char frame[PTTH_LINK_HDR_LEN + 4];

    if (ex->state == PTTH_EX_ENDED) {
        return;
    }
    if (ex->state == PTTH_EX_WAITING && APR_RING_NEXT(ex, link) != ex) {
        ptth_pool_dequeue(ex->pool, ex);
    }
    ptth_tunnel_cancel(ex);
    if (!ex->hl) {
        ex_transit(ex, PTTH_EX_ENDED, ptth_link_reset_str(code));
        exchange_check_done(ex);
        return;
    }
    if (ex->hl->raw) {
        /* No frame fits in a pipe: closing it is the reset. */
        ex_transit(ex, PTTH_EX_ENDED, ptth_link_reset_str(code));
        link_kill(ex->hl, "upgraded stream failed");
        return;
    }
    ptth_link_encode_reset(frame, code);
    link_send(ex->hl, frame, sizeof(frame));
    ex_transit(ex, PTTH_EX_ENDED, ptth_link_reset_str(code));
    /* Whatever body the child still sends is read and dropped. */
    ptth_buf_free(&ex->body);
    if (ex->hl->read_paused) {
        ex->hl->read_paused = 0;
        ex->hl->kick = 1;
        ex->hl->hub->reap = 1;
    }
    link_flush_soon(ex->hl);
    exchange_check_done(ex);
}

void ptth_exchange_stream_gone(ptth_exchange *ex, int unprocessed)
{
    ptth_hub *hub = ex->hub;

    if (ex->state == PTTH_EX_ENDED) {
        exchange_check_done(ex);
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
        ex_transit(ex, PTTH_EX_WAITING, "retry: not processed by the backend");
        ptth_pool_enqueue(ex->pool, ex, 1);
        return;
    }
    ptth_exchange_failed(ex, unprocessed
                             ? (hub->state == PTTH_HUB_RUNNING
                                ? PTTH_RST_UNPROCESSED : PTTH_RST_SHUTDOWN)
                             : (ex->resp_bad ? PTTH_RST_PROTOCOL : PTTH_RST_BROKEN));
}

void ptth_exchange_body_drained(ptth_exchange *ex)
{
    ptth_hublink *hl = ex->hl;

    if (hl && hl->read_paused && ex->body.len < PTTH_BODY_BUF_MAX / 2) {
        /* Not from inside nghttp2's data callback: at the next reap. */
        hl->read_paused = 0;
        hl->kick = 1;
        hl->hub->reap = 1;
    }
}

void ptth_exchange_tick(ptth_exchange *ex, apr_time_t now)
{
    if (ex->state == PTTH_EX_OPEN && ex->req.timeout_ms
        && now - ex->last_activity > apr_time_from_msec(ex->req.timeout_ms)) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, ex->hub->s, PTTHLOGNO(02203)
                     "pool %s: backend silent for %u ms on %s %s, giving up",
                     ex->req.pool_name, ex->req.timeout_ms, ex->req.method, ex->req.path);
        ptth_exchange_failed(ex, PTTH_RST_TIMEOUT);
    }
}

/* ---- request side ---------------------------------------------------- */

/* The host a request is for, as routing compares it with claims: the
 * :authority without port or trailing dot, lowercase (RFC 9110 4.2.3). */
static const char *request_host(apr_pool_t *p, const char *authority)
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
    h = apr_pstrmemdup(p, authority, end - authority);
    ap_str_tolower(h);
    return h;
}

static void on_request(ptth_hublink *hl, const ptth_link_fhdr *fh,
                       const char *payload)
{
    ptth_hub *hub = hl->hub;
    ptth_exchange *ex;
    apr_pool_t *p;
    apr_time_t now = apr_time_now(), sent;
    char *copy;

    /* Not under the link's pool: a tunnel may hold the exchange after the
     * link has moved on or gone (exchange_release_link()). */
    apr_pool_create(&p, hub->p);
    apr_pool_tag(p, "ptth_exchange");
    ex = apr_pcalloc(p, sizeof(*ex));
    ex->p = p;
    ex->hub = hub;
    ex->hl = hl;
    ex->state = PTTH_EX_WAITING;
    APR_RING_ELEM_INIT(ex, link);
    ptth_buf_init(&ex->body);
    ptth_buf_free_on(&ex->body, p);
    ptth_buf_init(&ex->replay);
    ptth_buf_free_on(&ex->replay, p);
    ex->replayable = 1;
    copy = apr_pmemdup(p, payload, fh->length);
    if (ptth_link_decode_request(p, copy, fh->length, &ex->req) != APR_SUCCESS) {
        apr_pool_destroy(p);
        link_kill(hl, "malformed REQUEST frame");
        return;
    }
    if (ex->req.protocol && (fh->flags & PTTH_LF_END_STREAM)) {
        /* An upgrade keeps the request side open for the pipe. */
        apr_pool_destroy(p);
        link_kill(hl, "upgrade REQUEST with END_STREAM");
        return;
    }
    hl->ex = ex;
    ex->has_body = !(fh->flags & PTTH_LF_END_STREAM);
    ex->head = !strcmp(ex->req.method, "HEAD");
    ex->req_ended = !ex->has_body;
    ex->stream_id = -1;
    ex->host = request_host(p, ex->req.authority);
    ptth_resp_init(&ex->rc, ex->head, ex->req.protocol != NULL);
    if (hub->state != PTTH_HUB_RUNNING || ex->req.generation > hub->generation) {
        /* Draining, or a child of the next generation reached us before
         * our listener closed: never dispatched, so the child may send it
         * again elsewhere (ptth_link.h, GOAWAY). */
        ptth_exchange_failed(ex, PTTH_RST_SHUTDOWN);
        return;
    }
    ex->pool = ptth_pool_get(hub, ex->req.pool_name, 0);
    if (!ex->pool) {
        ptth_exchange_failed(ex, PTTH_RST_UNKNOWN_POOL);
        return;
    }
    if (ex->pool->n_waiting >= hub->max_waiting && !ptth_pool_has_capacity(ex->pool)) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, hub->s, PTTHLOGNO(02204)
                     "pool %s: %d requests already wait for a tunnel "
                     "(PTTHMaxWaiting), refusing %s %s", ex->pool->name,
                     ex->pool->n_waiting, ex->req.method, ex->req.path);
        ptth_exchange_failed(ex, PTTH_RST_OVERLOAD);
        return;
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
}

static void on_body(ptth_hublink *hl, const ptth_link_fhdr *fh,
                    const char *payload)
{
    ptth_exchange *ex = hl->ex;

    if (!ex || ex->req_ended) {
        link_kill(hl, "DATA outside a request body");
        return;
    }
    if (fh->flags & PTTH_LF_END_STREAM) {
        ex->req_ended = 1;
    }
    if (ex->state == PTTH_EX_ENDED) {
        /* The response is over (or failed): drop the bytes, but let the
         * stream send its END_STREAM so it can close (RFC 9113 8.1). */
        if (ex->req_ended) {
            ptth_tunnel_resume_body(ex);
        }
        exchange_check_done(ex);
        return;
    }
    if (fh->type == PTTH_LF_TRAILERS) {
        char *copy = apr_pmemdup(ex->p, payload, fh->length);
        if (ptth_link_decode_trailers(ex->p, copy, fh->length,
                                      &ex->req_trailers) != APR_SUCCESS) {
            link_kill(hl, "malformed TRAILERS frame");
            return;
        }
        ex->req_ended = 1;
    }
    else if (fh->length) {
        if (ptth_buf_append(&ex->body, payload, fh->length) != APR_SUCCESS) {
            ptth_exchange_failed(ex, PTTH_RST_BROKEN);
            return;
        }
        if (ex->replayable) {
            if (ex->replay.len + fh->length > PTTH_REPLAY_MAX
                || ptth_buf_append(&ex->replay, payload, fh->length) != APR_SUCCESS) {
                ex->replayable = 0;
                ptth_buf_free(&ex->replay);
            }
        }
    }
    ex->last_activity = apr_time_now();
    ptth_tunnel_resume_body(ex);
    if (ex->body.len >= PTTH_BODY_BUF_MAX) {
        hl->read_paused = 1;
    }
}

static void on_reset(ptth_hublink *hl, const ptth_link_fhdr *fh,
                     const char *payload)
{
    ptth_exchange *ex = hl->ex;
    ptth_link_reset_t code;

    if (ptth_link_decode_reset(payload, fh->length, &code) != APR_SUCCESS) {
        link_kill(hl, "malformed RESET frame");
        return;
    }
    if (ex) {
        ex->req_ended = 1;
        if (ex->state != PTTH_EX_ENDED) {
            if (ex->state == PTTH_EX_WAITING && APR_RING_NEXT(ex, link) != ex) {
                ptth_pool_dequeue(ex->pool, ex);
            }
            ptth_tunnel_cancel(ex);
            ex_transit(ex, PTTH_EX_ENDED, "cancelled by the child");
        }
        exchange_check_done(ex);
    }
    /* A child that resets does not reuse the link. */
    link_kill(hl, "reset by the child");
}

/* A JSON string (RFC 8259 7) of s, with quotes. */
static const char *json_str(apr_pool_t *p, const char *s)
{
    apr_size_t n = 2;
    const char *c;
    char *out, *o;

    if (!s) {
        return "null";
    }
    for (c = s; *c; ++c) {
        n += ((unsigned char)*c < 0x20 || *c == '"' || *c == '\\') ? 6 : 1;
    }
    o = out = apr_palloc(p, n + 1);
    *o++ = '"';
    for (c = s; *c; ++c) {
        if ((unsigned char)*c < 0x20 || *c == '"' || *c == '\\') {
            apr_snprintf(o, 7, "\\u%04x", (unsigned char)*c);
            o += 6;
        }
        else {
            *o++ = *c;
        }
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

static const char *json_tunnel(apr_pool_t *p, ptth_tunnel *t, apr_time_t now)
{
    static const char *const st[] = { "preface", "open", "draining", "closed" };
    apr_array_header_t *hosts = apr_array_make(p, 4, sizeof(const char *));
    int i;

    for (i = 0; t->hosts && i < t->hosts->nelts; ++i) {
        APR_ARRAY_PUSH(hosts, const char *) =
            json_str(p, APR_ARRAY_IDX(t->hosts, i, const char *));
    }
    return apr_psprintf(p, "{\"id\":%u,\"peer\":%s,\"backend\":%s,"
                        "\"hosts\":[%s],\"state\":\"%s\",\"active\":%d,"
                        "\"capacity\":%d,\"max_streams\":%u,\"served\":%"
                        APR_UINT64_T_FMT ",\"bytes_in\":%" APR_UINT64_T_FMT
                        ",\"bytes_out\":%" APR_UINT64_T_FMT ",\"rtt_us\":%"
                        APR_TIME_T_FMT ",\"age_s\":%" APR_TIME_T_FMT
                        ",\"idle_ms\":%" APR_TIME_T_FMT ",\"session_mem\":%"
                        APR_SIZE_T_FMT ",\"penalized\":%s,\"last_error\":%s}",
                        t->id, json_str(p, t->peer), json_str(p, t->backend),
                        apr_array_pstrcat(p, hosts, ','), st[t->state], t->active,
                        ptth_tunnel_capacity(t),
                        nghttp2_session_get_remote_settings(
                            t->ngh, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS),
                        t->served, t->bytes_in, t->bytes_out, t->rtt,
                        apr_time_sec(now - t->opened),
                        apr_time_as_msec(now - t->last_read), t->mem.used,
                        t->penalty_until > now ? "true" : "false",
                        json_str(p, t->last_error));
}

/* The hub's view as JSON. */
static void on_status(ptth_hublink *hl)
{
    static const char *const hs[] = { "running", "draining", "stopping" };
    ptth_hub *hub = hl->hub;
    apr_pool_t *p;
    apr_array_header_t *parts;
    apr_hash_index_t *hi;
    apr_time_t now = apr_time_now();
    unsigned char hdr[PTTH_LINK_HDR_LEN];
    const char *json;
    apr_size_t len;

    apr_pool_create(&p, hl->p);
    parts = apr_array_make(p, 8, sizeof(const char *));
    for (hi = apr_hash_first(p, hub->pools); hi; hi = apr_hash_next(hi)) {
        ptth_pool *pool = apr_hash_this_val(hi);
        apr_array_header_t *ts = apr_array_make(p, pool->n_tunnels + 1,
                                                sizeof(const char *));
        ptth_tunnel *t;
        for (t = APR_RING_FIRST(&pool->tunnels);
             t != APR_RING_SENTINEL(&pool->tunnels, ptth_tunnel, link);
             t = APR_RING_NEXT(t, link)) {
            APR_ARRAY_PUSH(ts, const char *) = json_tunnel(p, t, now);
        }
        APR_ARRAY_PUSH(parts, const char *) = apr_psprintf(p,
            "{\"name\":%s,\"tunnels\":[%s],\"waiting\":%d,"
            "\"requests\":%" APR_UINT64_T_FMT ",\"retries\":%" APR_UINT64_T_FMT "}",
            json_str(p, pool->name), apr_array_pstrcat(p, ts, ','),
            pool->n_waiting, pool->requests, pool->retries);
    }
    json = apr_psprintf(p, "{\"hub\":{\"pid\":%" APR_PID_T_FMT ",\"state\":"
                        "\"%s\",\"generation\":%u,\"links\":%d,\"uptime_s\":%"
                        APR_TIME_T_FMT ",\"handshakes\":%d,\"refused\":%"
                        APR_UINT64_T_FMT ",\"links_refused\":%" APR_UINT64_T_FMT
                        ",\"memory\":%" APR_SIZE_T_FMT ",\"memory_peak\":%"
                        APR_SIZE_T_FMT ",\"memory_limit\":%" APR_SIZE_T_FMT
                        "},\"pools\":[%s]}\n", getpid(), hs[hub->state],
                        hub->generation, hub->n_links,
                        apr_time_sec(now - hub->started), hub->n_pendings,
                        hub->refused, hub->links_refused, hub->mem.used,
                        hub->mem.peak, hub->mem.limit,
                        apr_array_pstrcat(p, parts, ','));
    len = strlen(json);
    if (len > PTTH_LINK_MAX_STATUS) {
        json = "{\"error\":\"status too large\"}\n";
        len = strlen(json);
    }
    ptth_link_hdr_pack(hdr, PTTH_LF_STATUS, PTTH_LF_END_STREAM, (apr_uint32_t)len);
    link_send(hl, hdr, sizeof(hdr));
    link_send(hl, json, len);
    apr_pool_destroy(p);
    link_flush(hl);
}

/* An upgraded link: what the child wrote is stream DATA.  Bytes after
 * the backend's end of the stream have nowhere to go and are dropped. */
static void link_process_raw(ptth_hublink *hl)
{
    ptth_exchange *ex = hl->ex;
    apr_size_t n = hl->in.len;

    if (!ex || !ex->tunnel || ex->req_ended) {
        ptth_buf_consume(&hl->in, n);
        if (ex && hl->raw_in_eof) {
            ex->req_ended = 1;      /* lets the exchange (and link) go */
        }
        return;
    }
    if (ex->body.len + n > PTTH_BODY_BUF_MAX) {
        n = ex->body.len < PTTH_BODY_BUF_MAX ? PTTH_BODY_BUF_MAX - ex->body.len : 0;
    }
    if (n) {
        if (ptth_buf_append(&ex->body, ptth_buf_head(&hl->in), n) != APR_SUCCESS) {
            ptth_exchange_failed(ex, PTTH_RST_BROKEN);
            return;
        }
        ptth_buf_consume(&hl->in, n);
        ex->last_activity = apr_time_now();
    }
    if (hl->in.len) {
        hl->read_paused = 1;
    }
    else if (hl->raw_in_eof) {
        /* The child's half-close: END_STREAM after the last byte. */
        ex->req_ended = 1;
    }
    ptth_tunnel_resume_body(ex);
}

/* Parse and handle complete frames; stops while the body buffer is full. */
static void link_process(ptth_hublink *hl)
{
    if (hl->raw) {
        if (!hl->dead && !hl->read_paused) {
            link_process_raw(hl);
        }
        return;
    }
    while (!hl->dead && !hl->read_paused && hl->in.len >= PTTH_LINK_HDR_LEN) {
        ptth_link_fhdr fh;
        apr_size_t max;
        const char *payload;

        ptth_link_hdr_unpack((const unsigned char *)ptth_buf_head(&hl->in), &fh);
        switch (fh.type) {
        case PTTH_LF_REQUEST:
        case PTTH_LF_TRAILERS: max = PTTH_LINK_MAX_HEAD; break;
        case PTTH_LF_DATA:     max = PTTH_LINK_MAX_DATA; break;
        case PTTH_LF_RESET:    max = 4; break;
        case PTTH_LF_STATUS:   max = 0; break;
        default:
            link_kill(hl, "unknown frame type");
            return;
        }
        if (fh.length > max) {
            link_kill(hl, "frame too large");
            return;
        }
        if (hl->in.len < PTTH_LINK_HDR_LEN + fh.length) {
            return;
        }
        payload = ptth_buf_head(&hl->in) + PTTH_LINK_HDR_LEN;
        switch (fh.type) {
        case PTTH_LF_REQUEST:
            if (hl->ex) {
                link_kill(hl, "REQUEST while an exchange is in progress");
                return;
            }
            on_request(hl, &fh, payload);
            break;
        case PTTH_LF_DATA:
        case PTTH_LF_TRAILERS:
            on_body(hl, &fh, payload);
            break;
        case PTTH_LF_RESET:
            on_reset(hl, &fh, payload);
            break;
        case PTTH_LF_STATUS:
            if (hl->ex) {
                link_kill(hl, "STATUS during an exchange");
                return;
            }
            on_status(hl);
            break;
        }
        ptth_buf_consume(&hl->in, PTTH_LINK_HDR_LEN + fh.length);
    }
}

static void link_read(ptth_hublink *hl)
{
    int rounds;

    for (rounds = 0; rounds < 8 && !hl->dead && !hl->read_paused; ++rounds) {
        apr_size_t len;
        apr_status_t rv;

        if (hl->in.len >= PTTH_LINK_READ_MAX) {
            break;
        }
        if (ptth_buf_reserve(&hl->in, 16 * 1024) != APR_SUCCESS) {
            link_kill(hl, "out of memory");
            return;
        }
        len = hl->in.cap - hl->in.off - hl->in.len;
        rv = apr_socket_recv(hl->sock, ptth_buf_head(&hl->in) + hl->in.len, &len);
        hl->in.len += len;
        if (APR_STATUS_IS_EOF(rv) && hl->raw) {
            hl->raw_in_eof = 1;
        }
        link_process(hl);
        if (APR_STATUS_IS_EOF(rv)) {
            if (hl->raw) {
                if (hl->ex) {
                    exchange_check_done(hl->ex);
                }
                else {
                    link_kill(hl, "upgraded exchange over");
                    return;
                }
                break;
            }
            link_kill(hl, hl->ex ? "child closed during an exchange" : "child closed");
            return;
        }
        if (rv != APR_SUCCESS) {
            if (!APR_STATUS_IS_EAGAIN(rv)) {
                link_kill(hl, "read error");
            }
            break;
        }
    }
    link_watch(hl);
}

void ptth_hublink_on_event(ptth_hublink *hl, apr_int16_t rtnevents)
{
    if ((rtnevents & (APR_POLLHUP | APR_POLLERR)) && hl->read_paused) {
        /* Not reading, but the child closed: nobody is left to answer. */
        link_kill(hl, "child went away");
        return;
    }
    if (hl->kick) {
        hl->kick = 0;
        link_process(hl);
    }
    if (rtnevents & APR_POLLOUT) {
        link_flush(hl);
    }
    if (!hl->dead && (rtnevents & (APR_POLLIN | APR_POLLHUP | APR_POLLERR))) {
        link_read(hl);
    }
    else {
        link_watch(hl);
    }
}

/* The parent of pid, from /proc; -1 if it cannot be read. */
static pid_t parent_of(pid_t pid)
{
    char path[64], buf[512];
    const char *rp;
    FILE *f;
    size_t n;
    long ppid;

    apr_snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    if (!(f = fopen(path, "r"))) {
        return -1;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* "pid (comm) state ppid ...": comm may hold anything, even ")". */
    if (!(rp = strrchr(buf, ')')) || sscanf(rp + 1, " %*c %ld", &ppid) != 1) {
        return -1;
    }
    return (pid_t)ppid;
}

/* Only httpd's own children may use the hub: a link carries requests
 * into any pool past the router's access control, and the socket file
 * is reachable by whatever runs as User (CGI, mod_php ...).  The kernel
 * names the peer (SO_PEERCRED); it must run as us and be a child of the
 * httpd parent, as children are and CGI processes are not. */
static int peer_is_child(ptth_hub *hub, apr_socket_t *sock, pid_t *pid)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    apr_os_sock_t fd;

    *pid = 0;
    if (apr_os_sock_get(&fd, sock) != APR_SUCCESS
        || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        return 0;
    }
    *pid = cred.pid;
    return cred.uid == geteuid() && cred.pid > 0
           && parent_of(cred.pid) == hub->parent;
}

void ptth_hublink_accept(ptth_hub *hub, apr_socket_t *lsock)
{
    int i;

    for (i = 0; i < 64; ++i) {
        apr_pool_t *p;
        apr_socket_t *sock;
        ptth_hublink *hl;
        pid_t pid;

        if (ptth_hub_accept(hub, lsock, &sock, &p) != APR_SUCCESS) {
            return;
        }
        if (!peer_is_child(hub, sock, &pid)) {
            if (hub->links_refused++ % 100 == 0) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, hub->s, PTTHLOGNO(02207)
                             "hub: refusing a link from pid %ld, which is not "
                             "an httpd child (%" APR_UINT64_T_FMT " so far)",
                             (long)pid, hub->links_refused);
            }
            apr_socket_close(sock);
            apr_pool_destroy(p);
            continue;
        }
        apr_pool_tag(p, "ptth_hublink");
        hl = apr_pcalloc(p, sizeof(*hl));
        hl->p = p;
        hl->hub = hub;
        hl->sock = sock;
        hl->peer_pid = pid;
        hl->id = ++hub->next_link_id;
        ptth_buf_init(&hl->in);
        ptth_buf_free_on(&hl->in, p);
        ptth_buf_init(&hl->out);
        ptth_buf_free_on(&hl->out, p);
        apr_socket_opt_set(sock, APR_SO_NONBLOCK, 1);
        apr_socket_timeout_set(sock, 0);
        hl->h.kind = PTTH_H_LINK;
        hl->h.pfd.desc_type = APR_POLL_SOCKET;
        hl->h.pfd.desc.s = sock;
        hl->h.pfd.client_data = &hl->h;
        hl->h.pfd.p = p;
        APR_RING_INSERT_TAIL(&hub->links, hl, ptth_hublink, link);
        hub->n_links++;
        ptth_hub_watch(hub, &hl->h, APR_POLLIN);
        if (hub->state != PTTH_HUB_RUNNING) {
            link_goaway(hl);
        }
    }
}

void ptth_hublink_destroy(ptth_hublink *hl)
{
    ptth_exchange *ex = hl->ex;

    if (ex) {
        /* The child is gone: nobody wants this response any more. */
        if (ex->state == PTTH_EX_WAITING && APR_RING_NEXT(ex, link) != ex) {
            ptth_pool_dequeue(ex->pool, ex);
        }
        ptth_tunnel_cancel(ex);
        hl->ex = NULL;
        ex->hl = NULL;
        apr_pool_destroy(ex->p);
    }
    ptth_hub_unwatch(hl->hub, &hl->h);
    APR_RING_REMOVE(hl, link);
    hl->hub->n_links--;
    apr_socket_close(hl->sock);
    apr_pool_destroy(hl->p);
}
