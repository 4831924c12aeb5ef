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

#ifndef PTTH_TUNNEL_H
#define PTTH_TUNNEL_H

/* A tunnel: one backend's dialed-in connection, on which the hub is the
 * HTTP/2 client (RFC 9113; docs/architecture.md, "The hub").
 * ptth_tunnel.c has the object: its life, its socket and its timers;
 * ptth_tunnel_h2.c its HTTP/2 session: nghttp2's callbacks, the streams
 * it carries for exchanges, and the session's memory budget;
 * ptth_tunnel_req.c a request becoming one of those streams.
 *
 * States (transitions logged at debug):
 *   PREFACE   connected, the backend's SETTINGS not seen: no streams yet
 *   OPEN      takes new streams
 *   DRAINING  no new streams (backend GOAWAY, stream ids exhausted,
 *             recycling, or the hub drains); GOAWAY and close once the
 *             last stream is done
 *   CLOSED    close_reason set; destroyed at the hub's next reap, its
 *             unprocessed streams retried elsewhere (RFC 9113 8.7) */

#include <nghttp2/nghttp2.h>

#include "ptth_hub.h"

/* Blocks of a session's set-up region (ptth_tunnel_mem.c). */
#define PTTH_TUNNEL_ARENA_BLOCKS 8

typedef enum {
    PTTH_TUN_PREFACE,
    PTTH_TUN_OPEN,
    PTTH_TUN_DRAINING,
    PTTH_TUN_CLOSED
} ptth_tunnel_state;

struct ptth_tunnel {
    ptth_handle h;
    APR_RING_ENTRY(ptth_tunnel) link;    /* in its pool */
    apr_pool_t *p;
    ptth_hub *hub;
    ptth_pool *pool;
    apr_socket_t *sock;
    SSL *ssl;                        /* TLS, or NULL */
    apr_uint32_t id;
    const char *peer;                /* address:port */
    const char *peer_ip;
    const char *backend;             /* identity, for per-backend limits */
    apr_array_header_t *hosts;       /* claimed names (PTTH-Hosts), lowercase */
    ptth_tunnel_state state;
    const char *close_reason;        /* set: destroy at the next reap */
    /* the HTTP/2 session (ptth_tunnel_h2.c) */
    nghttp2_session *ngh;
    nghttp2_mem mem_fns;             /* charges the session's memory */
    ptth_budget mem;                 /* what its session allocated */
    char *arena;                     /* the session's own region, or NULL */
    apr_size_t arena_used, arena_back;  /* taken from the front, the end */
    struct {
        apr_uint32_t off, size;
    } arena_blk[PTTH_TUNNEL_ARENA_BLOCKS];
    int arena_n;
    int arena_open;                  /* set-up allocations go there */
    int mem_refused;                 /* the session hit a budget: 1 its
                                      * own, 2 the hub's */
    apr_int32_t glitches;            /* token bucket, see ptth_tunnel_h2.c */
    apr_time_t glitch_at;
    int settings_seen;
    int goaways_seen;
    int goaway_sent;
    APR_RING_HEAD(ptth_stream_ring, ptth_exchange) streams;
    int active;                      /* streams in flight */
    apr_uint32_t streams_opened;
    int recycling;                   /* draining because of its age */
    /* balancing */
    apr_uint32_t refusals;           /* streams refused in a row */
    apr_time_t penalty_until;        /* not picked while others can serve */
    /* I/O */
    ptth_buf out;                    /* serialized frames not yet written */
    int want_flush;                  /* frames queued: write at the reap */
    int dispatch;                    /* capacity changed: run the pool */
    int reread;                      /* TLS holds decrypted input */
    /* for the status document and the log */
    apr_uint64_t bytes_in, bytes_out;
    apr_uint64_t served;
    apr_interval_time_t rtt;         /* last PING round trip, -1: none */
    const char *last_error;
    apr_time_t opened;               /* connected (plain) or switched (101) */
    apr_time_t last_read;
    apr_time_t ping_sent;            /* 0: no PING outstanding */
};

/* Visit the tunnel at the hub's next reap; there, write what its session
 * queued, and offer the pool's waiting requests when its capacity
 * changed. */
#define ptth_tunnel_due(t)  ptth_hub_due((t)->hub, &(t)->h)
#define ptth_tunnel_want_flush(t) \
    do { (t)->want_flush = 1; ptth_tunnel_due(t); } while (0)
#define ptth_tunnel_want_dispatch(t) \
    do { (t)->dispatch = 1; ptth_tunnel_due(t); } while (0)

/* ---- ptth_tunnel.c ---- */

/* Takes over p (in which sock was accepted) as the tunnel's pool and
 * sock, also on failure. */
apr_status_t ptth_tunnel_create(ptth_hub *hub, ptth_pool *pool, apr_pool_t *p,
                                apr_socket_t *sock, ptth_tunnel **pt);
/* Secure mode: the tunnel speaks through ssl (may be NULL) and the bytes
 * that arrived after the handshake are its first input. */
apr_status_t ptth_tunnel_start(ptth_tunnel *t, SSL *ssl, const char *early,
                               apr_size_t early_len);
void ptth_tunnel_on_event(ptth_tunnel *t, apr_int16_t rtnevents);
/* At the hub's reap: re-read TLS input, write queued frames, dispatch
 * the pool when capacity changed, destroy when closed. */
void ptth_tunnel_reap(ptth_tunnel *t);
/* Write what the session has queued, now. */
void ptth_tunnel_flush(ptth_tunnel *t);
void ptth_tunnel_tick(ptth_tunnel *t, apr_time_t now);
void ptth_tunnel_transit(ptth_tunnel *t, ptth_tunnel_state ns,
                         const char *why);
/* No new streams; GOAWAY and close once the last one is done. */
void ptth_tunnel_drain(ptth_tunnel *t);
void ptth_tunnel_close(ptth_tunnel *t, const char *reason);
void ptth_tunnel_destroy(ptth_tunnel *t);
/* The tunnel failed a stream: offered only when no other can serve, for
 * a pause that doubles with each failure in a row. */
void ptth_tunnel_penalize(ptth_tunnel *t);

/* ---- ptth_tunnel_mem.c ---- */

/* Point t->mem_fns at allocators charged to t and to the hub; what the
 * session allocates until ptth_tunnel_mem_settled() goes to a region of
 * its own (see there). */
void ptth_tunnel_mem_init(ptth_tunnel *t);
/* The session is set up: later allocations come from the heap. */
void ptth_tunnel_mem_settled(ptth_tunnel *t);
/* After nghttp2_session_del(): give the region back. */
void ptth_tunnel_mem_release(ptth_tunnel *t);

/* ---- ptth_tunnel_h2.c ---- */

apr_status_t ptth_tunnel_session_create(ptth_tunnel *t);
/* Feed the session bytes read from the backend; closes the tunnel (and
 * says why) on a protocol error. */
apr_status_t ptth_tunnel_session_recv(ptth_tunnel *t, const char *buf,
                                      apr_size_t len);
/* How many more streams it takes now. */
int ptth_tunnel_capacity(ptth_tunnel *t);
/* Reset ex's stream with an HTTP/2 error code and take it off the
 * tunnel; cancel resets with CANCEL (nobody wants the response). */
void ptth_tunnel_reset(ptth_exchange *ex, uint32_t code);
void ptth_tunnel_cancel(ptth_exchange *ex);
/* The link has written all but `queued` bytes of what it holds for ex:
 * open the stream's window by what of its data is out (st.unconsumed
 * beyond `queued`, which also counts frame headers: never too much). */
void ptth_tunnel_consume(ptth_exchange *ex, apr_size_t queued);
/* Take ex off t without a reset (its stream is gone). */
void ptth_tunnel_detach(ptth_tunnel *t, ptth_exchange *ex);
/* Draining with no stream left: say GOAWAY (RFC 9113 6.8). */
void ptth_tunnel_maybe_goaway(ptth_tunnel *t);

/* ---- ptth_tunnel_req.c ---- */

/* Open a stream for ex; APR_EGENERAL: this tunnel takes no more. */
apr_status_t ptth_tunnel_submit(ptth_tunnel *t, ptth_exchange *ex);
/* More request body arrived for ex. */
void ptth_tunnel_resume_body(ptth_exchange *ex);

#endif /* PTTH_TUNNEL_H */
