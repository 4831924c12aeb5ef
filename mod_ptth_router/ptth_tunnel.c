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

/* A tunnel: one backend's dialed-in connection, on which the hub is the
 * HTTP/2 client (DESIGN section 1; RFC 9113).  nghttp2 does the framing;
 * this file moves bytes between the socket and the session and maps
 * session events onto exchanges (ptth_link_hub.c).
 *
 * State machine (transitions logged at debug):
 *   OPEN      takes new streams
 *   DRAINING  no new streams (backend GOAWAY, stream ids exhausted, or the
 *             hub drains); GOAWAY + close once the last stream is done
 *   CLOSED    close_reason set; destroyed at the hub's next reap, its
 *             unprocessed streams retried elsewhere (RFC 9113 8.7). */

#include <apr_lib.h>
#include <apr_strings.h>

#include <openssl/err.h>
#include <apr_network_io.h>

#include "ptth_hub.h"
#include "ptth_io.h"

/* Per-stream receive window: the most response body the hub holds for
 * one slow child before the backend must wait (RFC 9113 5.2). */
#define PTTH_STREAM_WINDOW       (256 * 1024)
/* Connection window: streams are bounded individually, so let the
 * connection carry many of them at full speed. */
#define PTTH_CONN_WINDOW         (64 * 1024 * 1024)
/* What nghttp2 assumes of the backend until its SETTINGS arrive; the
 * tunnel takes no stream before then (PTTH_TUN_PREFACE). */
#define PTTH_INITIAL_MAX_STREAMS 100
/* Streams the hub keeps open on one tunnel whatever the backend allows:
 * each holds request fields in the session until they are written. */
#define PTTH_MAX_TUNNEL_STREAMS  1000
/* What one tunnel's HTTP/2 session may allocate: HPACK tables, stream
 * state and queued frames (charged through tunnel_mem_*). */
#define PTTH_TUNNEL_SESSION_MEM  (8 * 1024 * 1024)
/* Our HPACK decoder's dynamic table (SETTINGS_HEADER_TABLE_SIZE): the
 * default, which also bounds how much one indexed field can expand. */
#define PTTH_HPACK_TABLE         4096

/* Glitches: frames that make the hub work without carrying a response
 * (PING, SETTINGS after the first, PRIORITY, tiny WINDOW_UPDATEs, empty
 * DATA, unknown frame types, frames for streams that are gone) and
 * malformed responses.  A token bucket per tunnel: a burst of
 * PTTH_GLITCH_BURST, refilled at PTTH_GLITCH_RATE per second; a tunnel
 * that runs dry is closed (the floods of CVE-2019-9512/9515/9518 and
 * their kin cost the attacker its own tunnel, nothing else). */
#define PTTH_GLITCH_BURST        1000
#define PTTH_GLITCH_RATE         100
#define PTTH_GLITCH_MALFORMED    10
/* A WINDOW_UPDATE smaller than this is a glitch (CVE-2019-9517 style
 * trickles; real peers send thousands of octets at a time). */
#define PTTH_MIN_WINDOW_UPDATE   64
/* A tunnel whose streams are refused is picked again only after a pause
 * growing with each refusal in a row, up to this (RFC 9113 8.7 lets us
 * retry elsewhere; no point in offering the same tunnel again). */
#define PTTH_PENALTY_MAX         apr_time_from_sec(5)

static const char *tstate_str(ptth_tunnel_state s)
{
    switch (s) {
    case PTTH_TUN_PREFACE:  return "PREFACE";
    case PTTH_TUN_OPEN:     return "OPEN";
    case PTTH_TUN_DRAINING: return "DRAINING";
    case PTTH_TUN_CLOSED:   return "CLOSED";
    }
    return "?";
}

static void tunnel_transit(ptth_tunnel *t, ptth_tunnel_state ns, const char *why)
{
    if (t->state != ns) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, t->hub->s, PTTHLOGNO(02001)
                     "tunnel %u (%s, pool %s): %s -> %s (%s)", t->id, t->peer,
                     t->pool->name, tstate_str(t->state), tstate_str(ns), why);
        t->state = ns;
    }
}

static ptth_exchange *stream_ex(ptth_tunnel *t, int32_t stream_id)
{
    return nghttp2_session_get_stream_user_data(t->ngh, stream_id);
}

/* Take ex off this tunnel.  Whatever the child has not read yet is
 * released at connection level so one slow link cannot shrink the
 * tunnel's window for everybody (RFC 9113 6.9). */
static void detach(ptth_tunnel *t, ptth_exchange *ex)
{
    APR_RING_REMOVE(ex, link);
    APR_RING_ELEM_INIT(ex, link);
    nghttp2_session_set_stream_user_data(t->ngh, ex->stream_id, NULL);
    if (ex->unconsumed) {
        nghttp2_session_consume_connection(t->ngh, ex->unconsumed);
        ex->unconsumed = 0;
    }
    ex->tunnel = NULL;
    t->active--;
    t->dispatch = 1;
    t->want_flush = 1;
}

static void maybe_finish_drain(ptth_tunnel *t)
{
    if (t->state == PTTH_TUN_DRAINING && t->active == 0 && !t->goaway_sent) {
        /* A client's GOAWAY only refuses server-initiated streams, but
         * mod_http2 ends the session on it: send it only when idle. */
        nghttp2_submit_goaway(t->ngh, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR,
                              NULL, 0);
        t->goaway_sent = 1;
        t->want_flush = 1;
    }
}

/* Charge a glitch; 0 while the tunnel is within its budget, else the
 * tunnel is closed and NGHTTP2_ERR_CALLBACK_FAILURE stops the session. */
static int glitch(ptth_tunnel *t, int cost, const char *what)
{
    apr_time_t now = apr_time_now();
    apr_int64_t refill = (now - t->glitch_at) * PTTH_GLITCH_RATE
                         / APR_USEC_PER_SEC;

    if (refill > 0) {
        t->glitches = (apr_int32_t)(t->glitches + refill > PTTH_GLITCH_BURST
                                    ? PTTH_GLITCH_BURST : t->glitches + refill);
        t->glitch_at = now;
    }
    t->glitches -= cost;
    if (t->glitches >= 0) {
        return 0;
    }
    if (!t->close_reason) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, t->hub->s, PTTHLOGNO(02011)
                     "tunnel %u (%s, pool %s): closing it: more than %d "
                     "frames or malformed responses that carry nothing "
                     "(last: %s)", t->id, t->peer, t->pool->name,
                     PTTH_GLITCH_BURST, what);
        t->last_error = what;
        ptth_tunnel_close(t, "flood of frames that carry nothing");
    }
    return NGHTTP2_ERR_CALLBACK_FAILURE;
}

/* A response broke the message rules (ptth_respcheck.h): reset its stream
 * and end the exchange; the user gets 502, or a cut response whose
 * connection closes, never what the backend framed beyond the rules. */
static int response_violation(ptth_tunnel *t, ptth_exchange *ex, const char *why)
{
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, t->hub->s, PTTHLOGNO(02002)
                 "tunnel %u (%s, pool %s): stream %d: malformed response: "
                 "%s; resetting the stream", t->id, t->peer, t->pool->name,
                 ex->stream_id, why);
    t->last_error = why;
    ex->resp_bad = 1;
    ptth_tunnel_reset(ex, NGHTTP2_PROTOCOL_ERROR);
    ptth_exchange_failed(ex, PTTH_RST_PROTOCOL);
    return glitch(t, PTTH_GLITCH_MALFORMED, why);
}

/* The tunnel failed a stream (refused it, or answered that it cannot
 * serve): pick() offers it only when no other can serve, for a pause
 * that doubles with each failure in a row. */
static void tunnel_penalize(ptth_tunnel *t)
{
    apr_interval_time_t pause = apr_time_from_msec(50)
                                << (t->refusals < 7 ? t->refusals : 7);

    t->refusals++;
    t->penalty_until = apr_time_now()
                       + (pause < PTTH_PENALTY_MAX ? pause : PTTH_PENALTY_MAX);
}

/* ---- nghttp2 callbacks --------------------------------------------- */

static int on_begin_frame(nghttp2_session *ngh, const nghttp2_frame_hd *hd,
                          void *ud)
{
    ptth_tunnel *t = ud;

    t->bytes_in += 9 + hd->length;     /* RFC 9113 4.1: 9-octet header */
    switch (hd->type) {
    case NGHTTP2_DATA:
        if (hd->length == 0 && !(hd->flags & NGHTTP2_FLAG_END_STREAM)) {
            return glitch(t, 1, "empty DATA");
        }
        return 0;
    case NGHTTP2_HEADERS:
    case NGHTTP2_RST_STREAM:
    case NGHTTP2_WINDOW_UPDATE:
        /* Ours are odd and below the next id: a frame for one that
         * nghttp2 no longer knows is for a stream that is gone. */
        if (hd->stream_id && !nghttp2_session_find_stream(ngh, hd->stream_id)
            && hd->stream_id < (int32_t)nghttp2_session_get_next_stream_id(ngh)) {
            return glitch(t, 1, "frame for a closed stream");
        }
        return 0;
    case NGHTTP2_PRIORITY:
        return glitch(t, 1, "PRIORITY");
    case NGHTTP2_SETTINGS:
        if (!(hd->flags & NGHTTP2_FLAG_ACK) && t->settings_seen++) {
            return glitch(t, 1, "SETTINGS");
        }
        return 0;
    case NGHTTP2_PING:
        return (hd->flags & NGHTTP2_FLAG_ACK) ? 0 : glitch(t, 1, "PING");
    case NGHTTP2_GOAWAY:
        return t->goaways_seen++ ? glitch(t, 1, "GOAWAY") : 0;
    case NGHTTP2_CONTINUATION:
        return 0;   /* nghttp2 bounds CONTINUATIONs per block itself */
    default:
        return glitch(t, 1, "frame of an unknown type");
    }
}

static int on_begin_headers(nghttp2_session *ngh, const nghttp2_frame *frame,
                            void *ud)
{
    ptth_tunnel *t = ud;
    ptth_exchange *ex;
    const char *why;

    (void)ngh;
    if (frame->hd.type != NGHTTP2_HEADERS
        || !(ex = stream_ex(t, frame->hd.stream_id))) {
        return 0;
    }
    if ((why = ptth_resp_block_begin(&ex->rc)) != NULL) {
        response_violation(t, ex, why);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    ex->resp_headers = apr_array_make(ex->p, 16, sizeof(ptth_nv));
    return 0;
}

static int on_header(nghttp2_session *ngh, const nghttp2_frame *frame,
                     const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen,
                     uint8_t flags, void *ud)
{
    ptth_tunnel *t = ud;
    ptth_exchange *ex;
    const char *why;
    ptth_nv *nv;
    int forward;

    (void)ngh; (void)flags;
    if (frame->hd.type != NGHTTP2_HEADERS
        || !(ex = stream_ex(t, frame->hd.stream_id)) || !ex->resp_headers) {
        return 0;
    }
    why = ptth_resp_field(&ex->rc, &t->hub->resp_limits, name, namelen,
                          value, valuelen, &forward);
    if (why) {
        /* The rest of the block is decoded (HPACK state, RFC 7541) but
         * no longer handed to us. */
        response_violation(t, ex, why);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    if (forward) {
        /* Bounded: ptth_resp_field charged it to the stream's budget. */
        nv = apr_array_push(ex->resp_headers);
        nv->name = apr_pstrmemdup(ex->p, (const char *)name, namelen);
        nv->nlen = namelen;
        nv->value = apr_pstrmemdup(ex->p, (const char *)value, valuelen);
        nv->vlen = valuelen;
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *ngh, const nghttp2_frame *frame,
                         void *ud)
{
    ptth_tunnel *t = ud;
    ptth_exchange *ex;
    ptth_resp_block kind;
    const char *why;
    int end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

    (void)ngh;
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        if (!(ex = stream_ex(t, frame->hd.stream_id)) || !ex->resp_headers) {
            break;
        }
        ex->last_activity = apr_time_now();
        why = ptth_resp_block_end(&ex->rc, &t->hub->resp_limits, end, &kind);
        if (why) {
            return response_violation(t, ex, why);
        }
        if (kind == PTTH_RESP_BLOCK_TRAILERS) {
            ptth_exchange_trailers(ex, ex->resp_headers);
        }
        else {
            ex->resp_status = ex->rc.status;
            /* RFC 8441 5: a 2xx to the extended CONNECT opens the pipe. */
            ex->resp_upgraded = ex->rc.unframed && !end;
            if (kind == PTTH_RESP_BLOCK_FINAL) {
                /* A backend that can serve nothing right now answers
                 * 502/503/504 fast, and would look the least busy: such
                 * answers count like refusals (as failonstatus= does for
                 * mod_proxy workers), anything else clears them. */
                if (ex->rc.status >= 502 && ex->rc.status <= 504) {
                    tunnel_penalize(t);
                }
                else {
                    t->refusals = 0;
                }
            }
            ptth_exchange_response(ex, ex->rc.status, ex->resp_headers, end);
        }
        ex->resp_headers = NULL;
        break;
    case NGHTTP2_DATA:
        if (end && (ex = stream_ex(t, frame->hd.stream_id))) {
            if ((why = ptth_resp_data_end(&ex->rc)) != NULL) {
                return response_violation(t, ex, why);
            }
            ptth_exchange_data(ex, NULL, 0, 1);
        }
        break;
    case NGHTTP2_GOAWAY:
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, t->hub->s, PTTHLOGNO(02003)
                     "tunnel %u (%s): backend sent GOAWAY (last stream %d, "
                     "error %u)", t->id, t->peer, frame->goaway.last_stream_id,
                     frame->goaway.error_code);
        tunnel_transit(t, PTTH_TUN_DRAINING, "GOAWAY received");
        t->dispatch = 1;
        break;
    case NGHTTP2_PING:
        if ((frame->hd.flags & NGHTTP2_FLAG_ACK) && t->ping_sent) {
            t->rtt = apr_time_now() - t->ping_sent;
            t->ping_sent = 0;
        }
        break;
    case NGHTTP2_WINDOW_UPDATE:
        if (frame->window_update.window_size_increment < PTTH_MIN_WINDOW_UPDATE) {
            return glitch(t, 1, "tiny WINDOW_UPDATE");
        }
        break;
    case NGHTTP2_SETTINGS:
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
            /* RFC 9113 3.4: the server preface is a SETTINGS frame.  Only
             * now is SETTINGS_MAX_CONCURRENT_STREAMS known: requests that
             * queued for this tunnel must not be sent before it, or a
             * backend with a low limit refuses the surplus. */
            if (t->state == PTTH_TUN_PREFACE) {
                tunnel_transit(t, PTTH_TUN_OPEN, "backend SETTINGS received");
            }
            t->dispatch = 1;   /* MAX_CONCURRENT_STREAMS may have changed */
        }
        break;
    default:
        break;
    }
    return 0;
}

static int on_data_chunk_recv(nghttp2_session *ngh, uint8_t flags,
                              int32_t stream_id, const uint8_t *data,
                              size_t len, void *ud)
{
    ptth_tunnel *t = ud;
    ptth_exchange *ex = stream_ex(t, stream_id);
    const char *why;
    int drop;

    (void)flags;
    if (!ex) {
        /* Nobody reads this stream any more: give the window back. */
        nghttp2_session_consume(ngh, stream_id, len);
        return 0;
    }
    ex->last_activity = apr_time_now();
    why = ptth_resp_data(&ex->rc, len, &drop);
    if (drop) {
        nghttp2_session_consume(ngh, stream_id, len);
    }
    if (why) {
        response_violation(t, ex, why);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    if (!drop) {
        ptth_exchange_data(ex, data, len, 0);
    }
    return 0;
}

static int on_stream_close(nghttp2_session *ngh, int32_t stream_id,
                           uint32_t error_code, void *ud)
{
    ptth_tunnel *t = ud;
    ptth_exchange *ex = stream_ex(t, stream_id);
    int unprocessed;

    (void)ngh;
    if (!ex) {
        return 0;
    }
    /* RFC 9113 8.7: REFUSED_STREAM (also what nghttp2 reports for streams
     * above a GOAWAY's last-stream-id) means the backend did nothing. */
    unprocessed = (error_code == NGHTTP2_REFUSED_STREAM) || !ex->headers_sent;
    if (error_code == NGHTTP2_NO_ERROR && ex->state == PTTH_EX_ENDED) {
        t->served++;
    }
    else {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, t->hub->s, PTTHLOGNO(02004)
                     "tunnel %u (%s): stream %d closed with error %u (%s)%s",
                     t->id, t->peer, stream_id, error_code,
                     nghttp2_http2_strerror(error_code),
                     unprocessed ? ", not processed" : "");
        if (!ex->resp_final && !ex->resp_bad) {
            /* Refused or reset before any answer. */
            tunnel_penalize(t);
            if (ex->attempts > 0 && ex->attempts <= PTTH_EX_MAX_ATTEMPTS) {
                ex->tried[ex->attempts - 1] = t->id;
            }
        }
    }
    detach(t, ex);
    maybe_finish_drain(t);
    ptth_exchange_stream_gone(ex, unprocessed);
    return 0;
}

static int on_frame_send(nghttp2_session *ngh, const nghttp2_frame *frame,
                         void *ud)
{
    ptth_tunnel *t = ud;
    ptth_exchange *ex;

    (void)ngh;
    if (frame->hd.type == NGHTTP2_HEADERS
        && frame->headers.cat == NGHTTP2_HCAT_REQUEST
        && (ex = stream_ex(t, frame->hd.stream_id))) {
        ex->headers_sent = 1;
    }
    return 0;
}

/* Request body provider: hands nghttp2 what the child has sent so far
 * and defers the stream when the buffer is empty (resumed by
 * ptth_tunnel_resume_body when more arrives). */
static ssize_t body_read(nghttp2_session *ngh, int32_t stream_id, uint8_t *buf,
                         size_t length, uint32_t *data_flags,
                         nghttp2_data_source *source, void *ud)
{
    ptth_tunnel *t = ud;
    ptth_exchange *ex = stream_ex(t, stream_id);
    apr_size_t n;

    (void)source;
    if (!ex) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    n = ex->body.len < length ? ex->body.len : length;
    if (n) {
        memcpy(buf, ptth_buf_head(&ex->body), n);
        ptth_buf_consume(&ex->body, n);
        ex->body_sent += n;
        ex->last_activity = apr_time_now();
        ptth_exchange_body_drained(ex);
    }
    if (ex->body.len == 0 && ex->req_ended) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        ex->req_end_sent = 1;
        if (ex->req_trailers && ex->req_trailers->nelts) {
            int i, k = 0;
            nghttp2_nv *nva = apr_palloc(ex->p, sizeof(nghttp2_nv)
                                         * ex->req_trailers->nelts);
            for (i = 0; i < ex->req_trailers->nelts; ++i) {
                const ptth_nv *tv = &APR_ARRAY_IDX(ex->req_trailers, i, ptth_nv);
                if (!tv->nlen || tv->name[0] == ':') {
                    continue;
                }
                nva[k].name = (uint8_t *)tv->name;
                nva[k].namelen = tv->nlen;
                nva[k].value = (uint8_t *)tv->value;
                nva[k].valuelen = tv->vlen;
                nva[k].flags = NGHTTP2_NV_FLAG_NONE;
                ++k;
            }
            if (k && nghttp2_submit_trailer(ngh, stream_id, nva, k) == 0) {
                *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            }
        }
        return (ssize_t)n;
    }
    if (n == 0) {
        ex->deferred = 1;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

/* ---- the session's memory ------------------------------------------ */

/* Everything the tunnel's nghttp2 session allocates is charged to the
 * tunnel (PTTH_TUNNEL_SESSION_MEM) and to the hub (PTTHHubMemoryLimit);
 * past either, nghttp2 gets NULL, fails the session, and the tunnel that
 * asked is closed. */
typedef union tunnel_mem_hdr {
    apr_size_t size;
    long double align_ld;
    void *align_p;
} tunnel_mem_hdr;

static void *tunnel_mem_malloc(size_t size, void *ud)
{
    ptth_tunnel *t = ud;
    tunnel_mem_hdr *h;

    if (size > PTTH_TUNNEL_SESSION_MEM || !ptth_budget_take(&t->mem, size)) {
        t->mem_refused = 1;
        return NULL;
    }
    if (!ptth_budget_take(&t->hub->mem, size)) {
        ptth_budget_give(&t->mem, size);
        t->mem_refused = 2;
        return NULL;
    }
    if (!(h = malloc(sizeof(*h) + size))) {
        ptth_budget_give(&t->mem, size);
        ptth_budget_give(&t->hub->mem, size);
        return NULL;
    }
    h->size = size;
    return h + 1;
}

static void tunnel_mem_free(void *ptr, void *ud)
{
    ptth_tunnel *t = ud;
    tunnel_mem_hdr *h;

    if (ptr) {
        h = (tunnel_mem_hdr *)ptr - 1;
        ptth_budget_give(&t->mem, h->size);
        ptth_budget_give(&t->hub->mem, h->size);
        free(h);
    }
}

static void *tunnel_mem_calloc(size_t nmemb, size_t size, void *ud)
{
    void *p;

    if (size && nmemb > PTTH_TUNNEL_SESSION_MEM / size) {
        return NULL;
    }
    if ((p = tunnel_mem_malloc(nmemb * size, ud)) != NULL) {
        memset(p, 0, nmemb * size);
    }
    return p;
}

static void *tunnel_mem_realloc(void *ptr, size_t size, void *ud)
{
    tunnel_mem_hdr *h;
    void *n;

    if (!ptr) {
        return tunnel_mem_malloc(size, ud);
    }
    h = (tunnel_mem_hdr *)ptr - 1;
    if ((n = tunnel_mem_malloc(size, ud)) != NULL) {
        memcpy(n, ptr, h->size < size ? h->size : size);
        tunnel_mem_free(ptr, ud);
    }
    return n;
}

/* ---- lifecycle ------------------------------------------------------ */

static apr_status_t tunnel_session_create(ptth_tunnel *t)
{
    nghttp2_session_callbacks *cbs;
    nghttp2_option *opt;
    nghttp2_settings_entry iv[4];
    int rv;

    if (nghttp2_session_callbacks_new(&cbs) != 0) {
        return APR_ENOMEM;
    }
    nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, on_begin_frame);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);

    if (nghttp2_option_new(&opt) != 0) {
        nghttp2_session_callbacks_del(cbs);
        return APR_ENOMEM;
    }
    /* Window updates follow what the child has actually read, so a slow
     * user slows only its own stream (backpressure end to end). */
    nghttp2_option_set_no_auto_window_update(opt, 1);
    /* nghttp2's HTTP messaging checks would turn a body on a HEAD
     * response (mod_http2 sends one for some CGI responses) into a
     * stream error; ptth_respcheck.c enforces the message rules instead. */
    nghttp2_option_set_no_http_messaging(opt, 1);
    nghttp2_option_set_peer_max_concurrent_streams(opt, PTTH_INITIAL_MAX_STREAMS);
    t->mem_fns.mem_user_data = t;
    t->mem_fns.malloc = tunnel_mem_malloc;
    t->mem_fns.free = tunnel_mem_free;
    t->mem_fns.calloc = tunnel_mem_calloc;
    t->mem_fns.realloc = tunnel_mem_realloc;
    t->mem.limit = PTTH_TUNNEL_SESSION_MEM;
    rv = nghttp2_session_client_new3(&t->ngh, cbs, t, opt, &t->mem_fns);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0) {
        return APR_ENOMEM;
    }

    /* RFC 9113 3.4: the client preface is the magic plus SETTINGS; the
     * router is the client, so it speaks first, at once (a late preface
     * is what the seed router did; both sides must cope with either). */
    iv[0].settings_id = NGHTTP2_SETTINGS_ENABLE_PUSH;
    iv[0].value = 0;
    iv[1].settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE;
    iv[1].value = PTTH_STREAM_WINDOW;
    iv[2].settings_id = NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE;
    iv[2].value = (uint32_t)t->hub->resp_limits.max_field_bytes;
    iv[3].settings_id = NGHTTP2_SETTINGS_HEADER_TABLE_SIZE;
    iv[3].value = PTTH_HPACK_TABLE;
    if (nghttp2_submit_settings(t->ngh, NGHTTP2_FLAG_NONE, iv, 4) != 0
        || nghttp2_session_set_local_window_size(t->ngh, NGHTTP2_FLAG_NONE, 0,
                                                 PTTH_CONN_WINDOW) != 0) {
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

static apr_status_t tunnel_cleanup(void *data)
{
    ptth_tunnel *t = data;

    if (t->ngh) {
        nghttp2_session_del(t->ngh);
        t->ngh = NULL;
    }
    if (t->ssl) {
        SSL_free(t->ssl);
        t->ssl = NULL;
    }
    return APR_SUCCESS;
}

apr_status_t ptth_tunnel_start(ptth_tunnel *t, SSL *ssl, const char *early,
                               apr_size_t early_len)
{
    t->ssl = ssl;
    if (early_len) {
        /* The backend may send its SETTINGS right behind our 101. */
        ssize_t rl = nghttp2_session_mem_recv(t->ngh, (const uint8_t *)early,
                                              early_len);
        if (rl < 0) {
            return APR_EGENERAL;
        }
    }
    if (ssl && SSL_pending(ssl)) {
        t->reread = 1;
        t->hub->reap = 1;
    }
    return APR_SUCCESS;
}

apr_status_t ptth_tunnel_create(ptth_hub *hub, ptth_pool *pool, apr_pool_t *p,
                                apr_socket_t *sock, ptth_tunnel **pt)
{
    ptth_tunnel *t;
    apr_sockaddr_t *sa;
    apr_status_t rv;
    char *ip = NULL;

    apr_pool_tag(p, "ptth_tunnel");
    t = apr_pcalloc(p, sizeof(*t));
    t->p = p;
    t->hub = hub;
    t->pool = pool;
    t->sock = sock;
    t->id = ++hub->next_tunnel_id;
    t->state = PTTH_TUN_PREFACE;
    t->opened = t->last_read = t->glitch_at = apr_time_now();
    t->glitches = PTTH_GLITCH_BURST;
    t->rtt = -1;
    APR_RING_INIT(&t->streams, ptth_exchange, link);
    ptth_buf_init(&t->out);
    ptth_buf_free_on(&t->out, p);
    apr_pool_cleanup_register(p, t, tunnel_cleanup, apr_pool_cleanup_null);

    if (apr_socket_addr_get(&sa, APR_REMOTE, sock) == APR_SUCCESS
        && apr_sockaddr_ip_get(&ip, sa) == APR_SUCCESS) {
        t->peer = apr_psprintf(p, "%s:%u", ip, (unsigned)sa->port);
        t->peer_ip = ip;
    }
    else {
        t->peer = t->peer_ip = "unknown";
    }
    apr_socket_opt_set(sock, APR_SO_NONBLOCK, 1);
    apr_socket_opt_set(sock, APR_TCP_NODELAY, 1);
    apr_socket_timeout_set(sock, 0);

    if ((rv = tunnel_session_create(t)) != APR_SUCCESS) {
        apr_socket_close(sock);
        apr_pool_destroy(p);
        return rv;
    }
    t->h.kind = PTTH_H_TUNNEL;
    t->h.pfd.desc_type = APR_POLL_SOCKET;
    t->h.pfd.desc.s = sock;
    t->h.pfd.client_data = &t->h;
    t->h.pfd.p = p;
    ptth_hub_watch(hub, &t->h, APR_POLLIN);
    *pt = t;
    return APR_SUCCESS;
}

void ptth_tunnel_close(ptth_tunnel *t, const char *reason)
{
    if (!t->close_reason) {
        t->close_reason = reason;
        tunnel_transit(t, PTTH_TUN_CLOSED, reason);
        t->hub->reap = 1;
    }
}

void ptth_tunnel_destroy(ptth_tunnel *t)
{
    ptth_hub *hub = t->hub;
    ptth_pool *pool = t->pool;

    ap_log_error(APLOG_MARK, APLOG_INFO, 0, hub->s, PTTHLOGNO(02005)
                 "tunnel %u from %s left pool %s: %s (%" APR_UINT64_T_FMT
                 " streams served)", t->id, t->peer, pool->name,
                 t->close_reason ? t->close_reason : "closed", t->served);
    ptth_hub_unwatch(hub, &t->h);
    ptth_pool_remove_tunnel(pool, t);
    while (!APR_RING_EMPTY(&t->streams, ptth_exchange, link)) {
        ptth_exchange *ex = APR_RING_FIRST(&t->streams);
        /* Without a GOAWAY we cannot know what the backend did with a
         * stream whose HEADERS went out (RFC 9113 8.7). */
        int unprocessed = !ex->headers_sent;
        detach(t, ex);
        ptth_exchange_stream_gone(ex, unprocessed);
    }
    if (t->ssl) {
        SSL_shutdown(t->ssl);   /* close_notify, best effort */
    }
    apr_socket_close(t->sock);
    apr_pool_destroy(t->p);
    ptth_pool_dispatch(pool);
}

/* ---- I/O ----------------------------------------------------------- */

static apr_status_t tunnel_recv(ptth_tunnel *t, char *buf, apr_size_t *len)
{
    int want_write;
    apr_status_t rv = ptth_io_recv(t->sock, t->ssl, buf, len, &want_write);

    if (want_write) {
        ptth_hub_watch(t->hub, &t->h, APR_POLLIN | APR_POLLOUT);
    }
    return rv;
}

#define tunnel_send(t, buf, len) ptth_io_send((t)->sock, (t)->ssl, buf, len)

void ptth_tunnel_flush(ptth_tunnel *t)
{
    apr_status_t rv;
    apr_size_t n;

    t->want_flush = 0;
    if (t->close_reason) {
        return;
    }
    for (;;) {
        if (t->out.len) {
            n = t->out.len;
            rv = tunnel_send(t, ptth_buf_head(&t->out), &n);
            ptth_buf_consume(&t->out, n);
            t->bytes_out += n;
            if (rv != APR_SUCCESS && !APR_STATUS_IS_EAGAIN(rv)) {
                ptth_tunnel_close(t, "write error");
                return;
            }
            if (t->out.len) {
                ptth_hub_watch(t->hub, &t->h, APR_POLLIN | APR_POLLOUT);
                return;
            }
        }
        else {
            const uint8_t *data;
            ssize_t len = nghttp2_session_mem_send(t->ngh, &data);
            if (len < 0) {
                ptth_tunnel_close(t, t->mem_refused ? "session memory over budget"
                                                    : nghttp2_strerror((int)len));
                return;
            }
            if (len == 0) {
                break;
            }
            n = (apr_size_t)len;
            rv = tunnel_send(t, (const char *)data, &n);
            t->bytes_out += n;
            if (rv != APR_SUCCESS && !APR_STATUS_IS_EAGAIN(rv)) {
                ptth_tunnel_close(t, "write error");
                return;
            }
            if (n < (apr_size_t)len
                && ptth_buf_append(&t->out, data + n, (apr_size_t)len - n)
                   != APR_SUCCESS) {
                ptth_tunnel_close(t, "out of memory");
                return;
            }
        }
    }
    ptth_hub_watch(t->hub, &t->h, APR_POLLIN);
    if (!nghttp2_session_want_read(t->ngh) && !nghttp2_session_want_write(t->ngh)) {
        ptth_tunnel_close(t, t->goaway_sent ? "drained" : "session ended");
    }
    else if (t->goaway_sent && t->active == 0) {
        ptth_tunnel_close(t, "drained");
    }
}

static void tunnel_read(ptth_tunnel *t)
{
    char buf[64 * 1024];
    int rounds;

    /* Bounded rounds keep one busy tunnel from starving the others
     * (about 512 KiB a turn, plain or TLS). */
    for (rounds = 0; rounds < (t->ssl ? 32 : 8) && !t->close_reason; ++rounds) {
        apr_size_t len = sizeof(buf);
        apr_status_t rv = tunnel_recv(t, buf, &len);

        if (len > 0) {
            ssize_t rl;
            t->last_read = apr_time_now();
            rl = nghttp2_session_mem_recv(t->ngh, (const uint8_t *)buf, len);
            if (rl < 0) {
                if (t->close_reason) {
                    return;     /* a callback closed it and said why */
                }
                if (t->mem_refused) {
                    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, t->hub->s,
                                 PTTHLOGNO(02012) "tunnel %u (%s, pool %s): "
                                 "closing it: its HTTP/2 session needs more "
                                 "than %s of memory", t->id, t->peer,
                                 t->pool->name, t->mem_refused == 1
                                 ? "its share" : "the hub has left "
                                   "(PTTHHubMemoryLimit)");
                    t->last_error = "session memory over budget";
                    ptth_tunnel_close(t, "session memory over budget");
                    return;
                }
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, t->hub->s,
                             PTTHLOGNO(02006) "tunnel %u (%s): HTTP/2 error "
                             "from backend: %s", t->id, t->peer,
                             nghttp2_strerror((int)rl));
                t->last_error = nghttp2_strerror((int)rl);
                /* nghttp2 queued a GOAWAY; try to tell the backend. */
                ptth_tunnel_flush(t);
                ptth_tunnel_close(t, "protocol error");
                return;
            }
        }
        if (APR_STATUS_IS_EOF(rv)) {
            ptth_tunnel_close(t, "closed by backend");
            return;
        }
        if (rv != APR_SUCCESS) {
            if (!APR_STATUS_IS_EAGAIN(rv)) {
                ptth_tunnel_close(t, "read error");
            }
            break;
        }
        /* A short plain read took everything; a TLS read gives at most
         * one record (16 KiB), so TLS reads on until it would block. */
        if (!t->ssl && len < sizeof(buf)) {
            break;
        }
    }
    if (t->ssl && SSL_pending(t->ssl) && !t->close_reason) {
        /* Decrypted bytes wait inside OpenSSL, where poll cannot see
         * them: come back at the next reap. */
        t->reread = 1;
        t->hub->reap = 1;
    }
    t->want_flush = 1;
}

void ptth_tunnel_on_event(ptth_tunnel *t, apr_int16_t rtnevents)
{
    if (t->reread) {
        t->reread = 0;
        rtnevents |= APR_POLLIN;
    }
    if (rtnevents & (APR_POLLIN | APR_POLLHUP | APR_POLLERR)) {
        tunnel_read(t);
    }
    if (!t->close_reason && (rtnevents & APR_POLLOUT)) {
        ptth_tunnel_flush(t);
    }
    if (!t->close_reason && t->dispatch) {
        t->dispatch = 0;
        ptth_pool_dispatch(t->pool);
    }
}

/* ---- streams -------------------------------------------------------- */

int ptth_tunnel_capacity(ptth_tunnel *t)
{
    apr_uint32_t max;

    if (t->state != PTTH_TUN_OPEN || t->close_reason) {
        return 0;
    }
    /* Never more than the backend's SETTINGS_MAX_CONCURRENT_STREAMS
     * (RFC 9113 5.1.2): nghttp2 would queue them, we balance instead. */
    max = nghttp2_session_get_remote_settings(t->ngh,
                                              NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    if (max > PTTH_MAX_TUNNEL_STREAMS) {
        max = PTTH_MAX_TUNNEL_STREAMS;
    }
    return (int)max > t->active ? (int)max - t->active : 0;
}

/* Connection-specific fields never travel in HTTP/2 (RFC 9113 8.2.2). */
static int skip_request_field(const ptth_nv *nv, int have_authority)
{
    switch (nv->nlen) {
    case 2:
        return !strcasecmp(nv->name, "te") && strcasecmp(nv->value, "trailers");
    case 4:
        return have_authority && !strcasecmp(nv->name, "host");
    case 7:
        return !strcasecmp(nv->name, "upgrade");
    case 10:
        return !strcasecmp(nv->name, "connection")
            || !strcasecmp(nv->name, "keep-alive");
    case 16:
        return !strcasecmp(nv->name, "proxy-connection");
    case 17:
        return !strcasecmp(nv->name, "transfer-encoding");
    default:
        return nv->nlen == 0 || nv->name[0] == ':';
    }
}

static void set_nv(nghttp2_nv *nv, const char *name, apr_size_t nlen,
                   const char *value, apr_size_t vlen)
{
    nv->name = (uint8_t *)name;
    nv->namelen = nlen;
    nv->value = (uint8_t *)value;
    nv->valuelen = vlen;
    nv->flags = NGHTTP2_NV_FLAG_NONE;
}

static void build_nva(ptth_exchange *ex, int connect)
{
    const ptth_link_request *rq = &ex->req;
    int have_auth = rq->authority && *rq->authority;
    int i, n = rq->headers ? rq->headers->nelts : 0;
    nghttp2_nv *nva = apr_palloc(ex->p, sizeof(nghttp2_nv) * (n + 5));
    size_t k = 0;

    if (connect) {
        /* RFC 8441 4: the extended CONNECT carries :protocol, :scheme,
         * :path and :authority; the stream is then the protocol's pipe. */
        set_nv(&nva[k++], ":method", 7, "CONNECT", 7);
        set_nv(&nva[k++], ":protocol", 9, rq->protocol, strlen(rq->protocol));
    }
    else {
        set_nv(&nva[k++], ":method", 7, rq->method, strlen(rq->method));
    }
    set_nv(&nva[k++], ":scheme", 7, *rq->scheme ? rq->scheme : "http",
           *rq->scheme ? strlen(rq->scheme) : 4);
    if (have_auth) {
        set_nv(&nva[k++], ":authority", 10, rq->authority, strlen(rq->authority));
    }
    set_nv(&nva[k++], ":path", 5, rq->path, strlen(rq->path));
    for (i = 0; i < n; ++i) {
        ptth_nv *h = &APR_ARRAY_IDX(rq->headers, i, ptth_nv);
        if (!skip_request_field(h, have_auth)) {
            /* RFC 9113 8.2.1: field names are lowercase on the wire. */
            char *lc = apr_pstrmemdup(ex->p, h->name, h->nlen);
            ap_str_tolower(lc);
            set_nv(&nva[k++], lc, h->nlen, h->value, h->vlen);
        }
    }
    ex->nva = nva;
    ex->nvlen = k;
}

/* A backend's HTTP/2 session keeps a little memory per stream for its
 * whole life (the spike measured ~65 bytes), and tunnels live long.
 * After PTTHTunnelMaxRequests streams the tunnel takes no more, finishes
 * the ones in flight, says GOAWAY (RFC 9113 6.8) and closes; the backend
 * re-dials at once.  One tunnel of a pool at a time, so the others keep
 * serving meanwhile (requests wait in the pool's queue if it was the
 * only one). */
static void maybe_recycle(ptth_tunnel *t)
{
    ptth_tunnel *o;
    int max = t->hub->tunnel_max_requests;

    if (max <= 0 || t->state != PTTH_TUN_OPEN || t->streams_opened < (apr_uint32_t)max) {
        return;
    }
    for (o = APR_RING_FIRST(&t->pool->tunnels);
         o != APR_RING_SENTINEL(&t->pool->tunnels, ptth_tunnel, link);
         o = APR_RING_NEXT(o, link)) {
        if (o != t && o->recycling && !o->close_reason) {
            return;     /* after that one */
        }
    }
    t->recycling = 1;
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, t->hub->s, PTTHLOGNO(02010)
                 "tunnel %u (%s, pool %s): recycling after %u streams "
                 "(PTTHTunnelMaxRequests)", t->id, t->peer, t->pool->name,
                 t->streams_opened);
    tunnel_transit(t, PTTH_TUN_DRAINING, "recycling");
    maybe_finish_drain(t);
}

apr_status_t ptth_tunnel_submit(ptth_tunnel *t, ptth_exchange *ex)
{
    nghttp2_data_provider prd;
    int32_t id;
    int with_body;

    if (ex->req.protocol) {
        /* Per tunnel: only a backend that sent
         * SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 takes an extended CONNECT
         * (RFC 8441 3); to any other the request goes as what it was, a
         * GET whose Upgrade the server may ignore (RFC 9110 7.8). */
        int connect = nghttp2_session_get_remote_settings(
                          t->ngh, NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) == 1
                      && !strcmp(ex->req.method, "GET");
        if (!ex->nva || connect != ex->connect) {
            build_nva(ex, connect);
        }
        ex->connect = connect;
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, t->hub->s, PTTHLOGNO(02009)
                     "tunnel %u (%s): %s upgrade to %s: %s", t->id, t->peer,
                     ex->req.path, ex->req.protocol, connect
                     ? "extended CONNECT (RFC 8441)"
                     : "the backend does not offer extended CONNECT, sent as GET");
    }
    else if (!ex->nva) {
        build_nva(ex, 0);
    }
    prd.source.ptr = ex;
    prd.read_callback = body_read;
    ex->deferred = 0;
    ex->headers_sent = 0;
    /* An upgrade sent as a plain GET has no body: END_STREAM now, or a
     * backend that reads the body first would wait for it forever.  The
     * child still ends its (empty) body on the link once it has the
     * response. */
    with_body = ex->has_body && !(ex->req.protocol && !ex->connect);
    id = nghttp2_submit_request(t->ngh, NULL, ex->nva, ex->nvlen,
                                with_body ? &prd : NULL, ex);
    if (id < 0) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, t->hub->s, PTTHLOGNO(02007)
                     "tunnel %u (%s): cannot open a stream: %s", t->id,
                     t->peer, nghttp2_strerror(id));
        /* Stream ids run out after 2^30 requests (RFC 9113 5.1.1): the
         * backend re-dials once this tunnel drains. */
        tunnel_transit(t, PTTH_TUN_DRAINING, "no stream ids left");
        maybe_finish_drain(t);
        t->want_flush = 1;
        return APR_EGENERAL;
    }
    ex->stream_id = id;
    ex->tunnel = t;
    ex->state = PTTH_EX_OPEN;
    ex->attempts++;
    ex->last_activity = apr_time_now();
    APR_RING_INSERT_TAIL(&t->streams, ex, ptth_exchange, link);
    t->active++;
    t->want_flush = 1;
    t->streams_opened++;
    maybe_recycle(t);
    return APR_SUCCESS;
}

void ptth_tunnel_resume_body(ptth_exchange *ex)
{
    ptth_tunnel *t = ex->tunnel;

    if (t && ex->deferred) {
        ex->deferred = 0;
        nghttp2_session_resume_data(t->ngh, ex->stream_id);
        t->want_flush = 1;
    }
}

void ptth_tunnel_reset(ptth_exchange *ex, uint32_t code)
{
    ptth_tunnel *t = ex->tunnel;

    if (!t) {
        return;
    }
    nghttp2_submit_rst_stream(t->ngh, NGHTTP2_FLAG_NONE, ex->stream_id, code);
    detach(t, ex);
    maybe_finish_drain(t);
}

void ptth_tunnel_cancel(ptth_exchange *ex)
{
    /* RFC 9113 8.1: CANCEL tells the backend nobody wants the response. */
    ptth_tunnel_reset(ex, NGHTTP2_CANCEL);
}

void ptth_tunnel_consume(ptth_exchange *ex)
{
    ptth_tunnel *t = ex->tunnel;

    if (t && ex->unconsumed) {
        if (nghttp2_session_consume(t->ngh, ex->stream_id, ex->unconsumed) != 0) {
            nghttp2_session_consume_connection(t->ngh, ex->unconsumed);
        }
        ex->unconsumed = 0;
        t->want_flush = 1;
    }
}

void ptth_tunnel_drain(ptth_tunnel *t)
{
    if (t->state == PTTH_TUN_PREFACE || t->state == PTTH_TUN_OPEN) {
        tunnel_transit(t, PTTH_TUN_DRAINING, "hub draining");
    }
    maybe_finish_drain(t);
}

void ptth_tunnel_tick(ptth_tunnel *t, apr_time_t now)
{
    ptth_exchange *ex, *next;
    apr_interval_time_t iv = t->hub->ping_interval;

    if (t->close_reason) {
        return;
    }
    if (t->state == PTTH_TUN_PREFACE
        && now - t->opened > t->hub->handshake_timeout) {
        /* RFC 9113 3.4: the server's preface is its first frame.  A peer
         * that never sends it holds a tunnel slot of its pool without
         * serving: as long as a handshake may take, not longer. */
        ptth_tunnel_close(t, "no SETTINGS from the backend within PTTHHandshakeTimeout");
        return;
    }
    if (iv > 0) {
        /* Liveness (RFC 9113 6.7): a backend that vanished without a FIN
         * must not hold requests until TCP gives up. */
        apr_interval_time_t ping_timeout = iv < apr_time_from_sec(1)
            ? apr_time_from_sec(1) : (iv > apr_time_from_sec(10)
                                      ? apr_time_from_sec(10) : iv);
        if (t->ping_sent && now - t->ping_sent > ping_timeout) {
            ptth_tunnel_close(t, "PING timeout");
            return;
        }
        if (!t->ping_sent && now - t->last_read >= iv) {
            nghttp2_submit_ping(t->ngh, NGHTTP2_FLAG_NONE, NULL);
            t->ping_sent = now;
            t->want_flush = 1;
        }
    }
    for (ex = APR_RING_FIRST(&t->streams);
         ex != APR_RING_SENTINEL(&t->streams, ptth_exchange, link); ex = next) {
        next = APR_RING_NEXT(ex, link);
        ptth_exchange_tick(ex, now);
    }
}
