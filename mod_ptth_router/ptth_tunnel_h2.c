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

/* A tunnel's HTTP/2 session (ptth_tunnel.h): the hub is the client
 * (RFC 9113), nghttp2 does the framing, and this file maps the session's
 * events onto the exchanges its streams carry (ptth_exchange.h).  It
 * also bounds what a backend can make the session do: glitches, memory,
 * response rules (ptth_respcheck.h), streams per tunnel. */

#include <apr_lib.h>
#include <apr_strings.h>

#include "ptth_tunnel.h"
#include "ptth_exchange.h"
#include "ptth_pool.h"
#include "ptth_fields.h"

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

static ptth_exchange *stream_ex(ptth_tunnel *t, int32_t stream_id)
{
    return nghttp2_session_get_stream_user_data(t->ngh, stream_id);
}

/* Take ex off this tunnel.  Whatever the child has not read yet is
 * released at connection level so one slow link cannot shrink the
 * tunnel's window for everybody (RFC 9113 6.9). */
void ptth_tunnel_detach(ptth_tunnel *t, ptth_exchange *ex)
{
    APR_RING_REMOVE(ex, link);
    APR_RING_ELEM_INIT(ex, link);
    nghttp2_session_set_stream_user_data(t->ngh, ex->st.id, NULL);
    if (ex->st.unconsumed) {
        nghttp2_session_consume_connection(t->ngh, ex->st.unconsumed);
        ex->st.unconsumed = 0;
    }
    ex->st.tunnel = NULL;
    t->active--;
    ptth_tunnel_want_dispatch(t);
    ptth_tunnel_want_flush(t);
}

void ptth_tunnel_maybe_goaway(ptth_tunnel *t)
{
    if (t->state == PTTH_TUN_DRAINING && t->active == 0 && !t->goaway_sent) {
        /* A client's GOAWAY only refuses server-initiated streams, but
         * mod_http2 ends the session on it: send it only when idle. */
        nghttp2_submit_goaway(t->ngh, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR,
                              NULL, 0);
        t->goaway_sent = 1;
        ptth_tunnel_want_flush(t);
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
                 ex->st.id, why);
    t->last_error = why;
    ex->st.violated = 1;
    ptth_tunnel_reset(ex, NGHTTP2_PROTOCOL_ERROR);
    ptth_exchange_failed(ex, PTTH_RST_PROTOCOL);
    return glitch(t, PTTH_GLITCH_MALFORMED, why);
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
    if ((why = ptth_resp_block_begin(&ex->st.rc)) != NULL) {
        response_violation(t, ex, why);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    /* Its memory goes once the block is handed on (or the exchange). */
    ptth_exchange_block_free(ex);
    memset(&ex->st.blk, 0, sizeof(ex->st.blk));
    ex->st.blk.elt_size = sizeof(ptth_nv);
    ex->st.block = &ex->st.blk;
    return 0;
}

/* A field of the block being received, its strings copied beside it;
 * NULL when out of memory. */
static ptth_nv *block_push(ptth_exchange *ex, const uint8_t *name,
                           size_t namelen, const uint8_t *value,
                           size_t valuelen)
{
    apr_array_header_t *a = ex->st.block;
    ptth_nv *nv;
    char *str;

    if (a->nelts == a->nalloc) {
        /* The old array stays in the block's memory until the block is
         * handed on: at most as much again. */
        int n = a->nalloc ? a->nalloc * 2 : 16;
        char *e = ptth_exchange_block_alloc(ex, n * sizeof(ptth_nv));

        if (!e) {
            return NULL;
        }
        if (a->nelts) {
            memcpy(e, a->elts, a->nelts * sizeof(ptth_nv));
        }
        a->elts = e;
        a->nalloc = n;
    }
    if (!(str = ptth_exchange_block_alloc(ex, namelen + valuelen + 2))) {
        return NULL;
    }
    nv = &((ptth_nv *)a->elts)[a->nelts++];
    memcpy(str, name, namelen);
    str[namelen] = '\0';
    nv->name = str;
    nv->nlen = namelen;
    str += namelen + 1;
    memcpy(str, value, valuelen);
    str[valuelen] = '\0';
    nv->value = str;
    nv->vlen = valuelen;
    return nv;
}

static int on_header(nghttp2_session *ngh, const nghttp2_frame *frame,
                     const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen,
                     uint8_t flags, void *ud)
{
    ptth_tunnel *t = ud;
    ptth_exchange *ex;
    const char *why;
    int forward;

    (void)ngh; (void)flags;
    if (frame->hd.type != NGHTTP2_HEADERS
        || !(ex = stream_ex(t, frame->hd.stream_id)) || !ex->st.block) {
        return 0;
    }
    why = ptth_resp_field(&ex->st.rc, &t->hub->resp_limits, name, namelen,
                          value, valuelen, &forward);
    if (why) {
        /* The rest of the block is decoded (HPACK state, RFC 7541) but
         * no longer handed to us. */
        response_violation(t, ex, why);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    /* Bounded: ptth_resp_field charged it to the stream's budget. */
    if (forward && !block_push(ex, name, namelen, value, valuelen)) {
        ptth_tunnel_reset(ex, NGHTTP2_INTERNAL_ERROR);
        ptth_exchange_failed(ex, PTTH_RST_BROKEN);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
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
        if (!(ex = stream_ex(t, frame->hd.stream_id)) || !ex->st.block) {
            break;
        }
        ptth_exchange_touch(ex);
        why = ptth_resp_block_end(&ex->st.rc, &t->hub->resp_limits, end, &kind);
        if (why) {
            return response_violation(t, ex, why);
        }
        /* Both take the block and free it; ex may be gone after. */
        if (kind == PTTH_RESP_BLOCK_TRAILERS) {
            ptth_exchange_response_trailers(ex, ex->st.block);
        }
        else {
            if (kind == PTTH_RESP_BLOCK_FINAL) {
                /* A backend that can serve nothing right now answers
                 * 502/503/504 fast, and would look the least busy: such
                 * answers count like refusals (as failonstatus= does for
                 * mod_proxy workers), anything else clears them. */
                if (ex->st.rc.status >= 502 && ex->st.rc.status <= 504) {
                    ptth_tunnel_penalize(t);
                }
                else {
                    t->refusals = 0;
                }
            }
            /* RFC 8441 5: a 2xx to the extended CONNECT opens the pipe. */
            ptth_exchange_response(ex, ex->st.rc.status,
                                   ex->st.rc.unframed && !end, ex->st.block,
                                   end);
        }
        break;
    case NGHTTP2_DATA:
        if (end && (ex = stream_ex(t, frame->hd.stream_id))) {
            if ((why = ptth_resp_data_end(&ex->st.rc)) != NULL) {
                return response_violation(t, ex, why);
            }
            ptth_exchange_response_data(ex, NULL, 0, 1);
        }
        break;
    case NGHTTP2_GOAWAY:
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, t->hub->s, PTTHLOGNO(02003)
                     "tunnel %u (%s): backend sent GOAWAY (last stream %d, "
                     "error %u)", t->id, t->peer, frame->goaway.last_stream_id,
                     frame->goaway.error_code);
        ptth_tunnel_transit(t, PTTH_TUN_DRAINING, "GOAWAY received");
        ptth_tunnel_want_dispatch(t);
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
                ptth_tunnel_transit(t, PTTH_TUN_OPEN, "backend SETTINGS received");
            }
            ptth_tunnel_want_dispatch(t);   /* MAX_CONCURRENT_STREAMS may have changed */
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
    ptth_exchange_touch(ex);
    why = ptth_resp_data(&ex->st.rc, len, &drop);
    if (drop) {
        nghttp2_session_consume(ngh, stream_id, len);
    }
    if (why) {
        response_violation(t, ex, why);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    if (!drop) {
        /* Acknowledged once the child has it (ptth_tunnel_consume); what
         * the exchange could not take is given back at once. */
        apr_size_t taken = ptth_exchange_response_data(ex, data, len, 0);
        if (ex->st.tunnel == t) {
            ex->st.unconsumed += taken;
        }
        if (taken < len) {
            nghttp2_session_consume(ngh, stream_id, len - taken);
        }
        /* Only now, with taken counted: a write acknowledges it. */
        ptth_exchange_response_counted(ex);
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
    unprocessed = (error_code == NGHTTP2_REFUSED_STREAM) || !ex->st.headers_sent;
    if (error_code == NGHTTP2_NO_ERROR && ex->state == PTTH_EX_ENDED) {
        t->served++;
    }
    else {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, t->hub->s, PTTHLOGNO(02004)
                     "tunnel %u (%s): stream %d closed with error %u (%s)%s",
                     t->id, t->peer, stream_id, error_code,
                     nghttp2_http2_strerror(error_code),
                     unprocessed ? ", not processed" : "");
        if (!ex->resp_final && !ex->st.violated) {
            /* Refused or reset before any answer. */
            ptth_tunnel_penalize(t);
            ptth_exchange_refused_by(ex, t->id);
        }
    }
    ptth_tunnel_detach(t, ex);
    ptth_tunnel_maybe_goaway(t);
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
        ex->st.headers_sent = 1;
    }
    return 0;
}

/* ---- the session -------------------------------------------------- */

apr_status_t ptth_tunnel_session_create(ptth_tunnel *t)
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
    ptth_tunnel_mem_init(t);
    t->glitches = PTTH_GLITCH_BURST;
    t->glitch_at = apr_time_now();
    rv = nghttp2_session_client_new3(&t->ngh, cbs, t, opt, &t->mem_fns);
    ptth_tunnel_mem_settled(t);
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

apr_status_t ptth_tunnel_session_recv(ptth_tunnel *t, const char *buf,
                                      apr_size_t len)
{
    ssize_t rl = nghttp2_session_mem_recv(t->ngh, (const uint8_t *)buf, len);

    if (rl >= 0) {
        return APR_SUCCESS;
    }
    if (t->close_reason) {
        return APR_EGENERAL;    /* a callback closed it and said why */
    }
    if (t->mem_refused) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, t->hub->s, PTTHLOGNO(02012)
                     "tunnel %u (%s, pool %s): closing it: its HTTP/2 session "
                     "needs more than %s of memory", t->id, t->peer,
                     t->pool->name, t->mem_refused == 1
                     ? "its share" : "the hub has left (PTTHHubMemoryLimit)");
        t->last_error = "session memory over budget";
        ptth_tunnel_close(t, "session memory over budget");
        return APR_ENOMEM;
    }
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, t->hub->s, PTTHLOGNO(02006)
                 "tunnel %u (%s): HTTP/2 error from backend: %s", t->id,
                 t->peer, nghttp2_strerror((int)rl));
    t->last_error = nghttp2_strerror((int)rl);
    /* nghttp2 queued a GOAWAY; try to tell the backend. */
    ptth_tunnel_flush(t);
    ptth_tunnel_close(t, "protocol error");
    return APR_EGENERAL;
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

void ptth_tunnel_reset(ptth_exchange *ex, uint32_t code)
{
    ptth_tunnel *t = ex->st.tunnel;

    if (!t) {
        return;
    }
    nghttp2_submit_rst_stream(t->ngh, NGHTTP2_FLAG_NONE, ex->st.id, code);
    ptth_tunnel_detach(t, ex);
    ptth_tunnel_maybe_goaway(t);
}

void ptth_tunnel_cancel(ptth_exchange *ex)
{
    /* RFC 9113 8.1: CANCEL tells the backend nobody wants the response. */
    ptth_tunnel_reset(ex, NGHTTP2_CANCEL);
}

void ptth_tunnel_consume(ptth_exchange *ex, apr_size_t queued)
{
    ptth_tunnel *t = ex->st.tunnel;

    if (t && ex->st.unconsumed > queued) {
        apr_size_t n = ex->st.unconsumed - queued;

        if (nghttp2_session_consume(t->ngh, ex->st.id, n) != 0) {
            nghttp2_session_consume_connection(t->ngh, n);
        }
        ex->st.unconsumed = queued;
        ptth_tunnel_want_flush(t);
    }
}

