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

/* The tunnel object (ptth_tunnel.h): its life, its socket (plain or
 * TLS), its timers (handshake, liveness PINGs) and its place in the
 * hub's loop.  Its HTTP/2 session is ptth_tunnel_h2.c. */

#include <apr_strings.h>
#include <apr_network_io.h>

#include "ptth_tunnel.h"
#include "ptth_exchange.h"
#include "ptth_pool.h"
#include "ptth_io.h"

/* Frames collected for one write to the tunnel (the buffer stays below
 * glibc's mmap threshold, so it is no mmap/munmap per round). */
#define PTTH_TUNNEL_WRITE_BATCH  (32 * 1024)
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

void ptth_tunnel_transit(ptth_tunnel *t, ptth_tunnel_state ns, const char *why)
{
    if (t->state != ns) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, t->hub->s, PTTHLOGNO(02001)
                     "tunnel %u (%s, pool %s): %s -> %s (%s)", t->id, t->peer,
                     t->pool->name, tstate_str(t->state), tstate_str(ns), why);
        t->state = ns;
    }
}

/* The tunnel failed a stream (refused it, or answered that it cannot
 * serve): pick() offers it only when no other can serve, for a pause
 * that doubles with each failure in a row. */
void ptth_tunnel_penalize(ptth_tunnel *t)
{
    apr_interval_time_t pause = apr_time_from_msec(50)
                                << (t->refusals < 7 ? t->refusals : 7);

    t->refusals++;
    t->penalty_until = apr_time_now()
                       + (pause < PTTH_PENALTY_MAX ? pause : PTTH_PENALTY_MAX);
}

/* ---- lifecycle ------------------------------------------------------ */

static apr_status_t tunnel_cleanup(void *data)
{
    ptth_tunnel *t = data;

    if (t->ngh) {
        nghttp2_session_del(t->ngh);
        t->ngh = NULL;
    }
    ptth_tunnel_mem_release(t);
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
    if (ssl) {
        /* One read() per record, not two (its header, then its body),
         * into the buffer OpenSSL has anyway (a record and its overhead).
         * A larger one (64 KiB) saved half of those reads again, but
         * released and allocated anew as it empties, it made the heap
         * shrink and grow (brk) every few small requests. */
        SSL_set_read_ahead(ssl, 1);
    }
    if (early_len) {
        /* The backend may send its SETTINGS right behind our 101. */
        if (ptth_tunnel_session_recv(t, early, early_len) != APR_SUCCESS) {
            return APR_EGENERAL;
        }
    }
    if (ssl && SSL_has_pending(ssl)) {
        t->reread = 1;
        ptth_tunnel_due(t);
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
    t->opened = t->last_read = apr_time_now();
    t->rtt = -1;
    APR_RING_INIT(&t->streams, ptth_exchange, link);
    ptth_buf_init(&t->out);
    ptth_buf_free_on(&t->out, p);
    apr_pool_cleanup_register(p, t, tunnel_cleanup, apr_pool_cleanup_null);

    if (apr_socket_addr_get(&sa, APR_REMOTE, sock) == APR_SUCCESS
        && apr_sockaddr_ip_get(&ip, sa) == APR_SUCCESS) {
        t->peer = apr_psprintf(p, "%pI", sa);
        t->peer_ip = ip;
    }
    else {
        t->peer = t->peer_ip = "unknown";
    }
    apr_socket_opt_set(sock, APR_TCP_NODELAY, 1);

    ptth_handle_init(&t->h, PTTH_H_TUNNEL, sock, p);
    if ((rv = ptth_tunnel_session_create(t)) != APR_SUCCESS) {
        apr_socket_close(sock);
        apr_pool_destroy(p);
        return rv;
    }
    if (ptth_hub_watch(hub, &t->h, APR_POLLIN) != APR_SUCCESS) {
        apr_socket_close(sock);
        apr_pool_destroy(p);
        return APR_EGENERAL;
    }
    *pt = t;
    return APR_SUCCESS;
}

void ptth_tunnel_close(ptth_tunnel *t, const char *reason)
{
    if (!t->close_reason) {
        t->close_reason = reason;
        ptth_tunnel_transit(t, PTTH_TUN_CLOSED, reason);
        ptth_tunnel_due(t);
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
    ptth_pool_remove_tunnel(pool, t);
    while (!APR_RING_EMPTY(&t->streams, ptth_exchange, link)) {
        ptth_exchange *ex = APR_RING_FIRST(&t->streams);
        /* Without a GOAWAY we cannot know what the backend did with a
         * stream whose HEADERS went out (RFC 9113 8.7). */
        int unprocessed = !ex->st.headers_sent;
        ptth_tunnel_detach(t, ex);
        ptth_exchange_stream_gone(ex, unprocessed);
    }
    /* After the detaches, which ask for a visit: t goes with its pool. */
    ptth_hub_unwatch(hub, &t->h);
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
        /* nghttp2 hands out one frame at a time: the frames of a round
         * (the HEADERS of every request that came in, WINDOW_UPDATEs)
         * are collected and written together, not one write each. */
        while (t->out.len < PTTH_TUNNEL_WRITE_BATCH) {
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
            if (ptth_buf_append(&t->out, data, (apr_size_t)len) != APR_SUCCESS) {
                ptth_tunnel_close(t, "out of memory");
                return;
            }
        }
        if (!t->out.len) {
            break;
        }
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
    /* Everything is out: an idle tunnel holds no output buffer; a busy
     * one keeps it rather than allocate it anew every round. */
    ptth_buf_trim(&t->out, t->active ? 2 * PTTH_TUNNEL_WRITE_BATCH : 0);
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
            t->last_read = apr_time_now();
            if (ptth_tunnel_session_recv(t, buf, len) != APR_SUCCESS) {
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
    if (t->ssl && SSL_has_pending(t->ssl) && !t->close_reason) {
        /* Bytes wait inside OpenSSL (decrypted, or read ahead), where
         * poll cannot see them: come back at the next reap. */
        t->reread = 1;
        ptth_tunnel_due(t);
    }
    ptth_tunnel_want_flush(t);
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

void ptth_tunnel_reap(ptth_tunnel *t)
{
    if (t->reread && !t->close_reason) {
        ptth_tunnel_on_event(t, 0);
    }
    if (t->close_reason) {
        ptth_tunnel_destroy(t);
        return;
    }
    if (t->want_flush) {
        ptth_tunnel_flush(t);
    }
    if (t->dispatch && !t->close_reason) {
        t->dispatch = 0;
        ptth_pool_dispatch(t->pool);
    }
}

void ptth_tunnel_drain(ptth_tunnel *t)
{
    if (t->state == PTTH_TUN_PREFACE || t->state == PTTH_TUN_OPEN) {
        ptth_tunnel_transit(t, PTTH_TUN_DRAINING, "hub draining");
    }
    ptth_tunnel_maybe_goaway(t);
    ptth_tunnel_want_flush(t);
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
            ptth_tunnel_want_flush(t);
        }
    }
    for (ex = APR_RING_FIRST(&t->streams);
         ex != APR_RING_SENTINEL(&t->streams, ptth_exchange, link); ex = next) {
        next = APR_RING_NEXT(ex, link);
        ptth_exchange_tick(ex, now);
    }
}
