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

#ifndef PTTH_HUB_H
#define PTTH_HUB_H

/* The tunnel hub: one process per generation, forked and supervised by
 * the httpd parent (ptth_supervisor.c).  It owns the tunnel listeners,
 * every tunnel's HTTP/2 client session (ptth_tunnel.c), the pools and
 * their balancing (ptth_pool.c) and the links from httpd children
 * (ptth_link_hub.c).  Single-threaded and event-driven: one pollset, no
 * thread or process per request or tunnel (DESIGN section 2). */

#include <apr_ring.h>
#include <apr_poll.h>
#include <apr_hash.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include "ptth_router.h"
#include "ptth_link.h"
#include "ptth_buf.h"
#include "ptth_respcheck.h"

typedef struct ptth_hub ptth_hub;
typedef struct ptth_pool ptth_pool;
typedef struct ptth_tunnel ptth_tunnel;
typedef struct ptth_hublink ptth_hublink;
typedef struct ptth_exchange ptth_exchange;
typedef struct ptth_pending ptth_pending;

/* What a pollset entry's client_data points at: every pollable object
 * starts with one of these. */
typedef enum {
    PTTH_H_TUNNEL_LISTENER,
    PTTH_H_LINK_LISTENER,
    PTTH_H_TUNNEL,
    PTTH_H_LINK,
    PTTH_H_PENDING
} ptth_handle_kind;

typedef struct ptth_handle {
    ptth_handle_kind kind;
    apr_pollfd_t pfd;
    int registered;
} ptth_handle;

/* What the parent hands the hub for each tunnel listener. */
typedef struct ptth_hub_lspec {
    apr_socket_t *sock;
    const char *addr;
    const char *pool_name;      /* plain mode; NULL: PTTH handshake */
    SSL_CTX *tls;               /* handshake over TLS, or NULL */
    const apr_array_header_t *pools; /* pools= (const char *), or NULL: all */
} ptth_hub_lspec;

/* A tunnel listener socket inherited from the parent. */
typedef struct ptth_hub_listener {
    ptth_handle h;
    apr_socket_t *sock;
    const char *addr;
    ptth_pool *pool;             /* plain mode: the pool every tunnel joins */
    SSL_CTX *tls;                /* secure mode over TLS */
    const apr_array_header_t *pools; /* secure mode: pools= or NULL (all) */
} ptth_hub_listener;

typedef enum {
    PTTH_HUB_RUNNING,
    PTTH_HUB_DRAINING,           /* graceful: finish streams, then exit */
    PTTH_HUB_STOPPING            /* stop: reset everything, exit soon */
} ptth_hub_state;

struct ptth_hub {
    apr_pool_t *p;
    server_rec *s;
    ptth_router_sconf *conf;
    apr_pollset_t *pollset;
    ptth_hub_state state;
    apr_time_t deadline;             /* when DRAINING/STOPPING must end */
    apr_hash_t *pools;               /* name -> ptth_pool */
    apr_array_header_t *listeners;   /* of ptth_hub_listener * */
    ptth_handle link_listener;
    APR_RING_HEAD(ptth_hublink_ring, ptth_hublink) links;
    int n_links;
    APR_RING_HEAD(ptth_pending_ring, ptth_pending) pendings;
    int n_pendings;
    apr_uint64_t refused;            /* handshakes refused or failed */
    int reap;                        /* some link or tunnel wants closing */
    apr_time_t started;
    apr_uint32_t next_tunnel_id;
    apr_uint32_t next_link_id;
    apr_uint32_t generation;         /* of the configuration it serves */
    pid_t parent;                    /* the httpd parent */
    apr_time_t accept_resume;        /* accepting paused until (EMFILE) */
    apr_time_t accept_warned;
    apr_hash_t *pending_addrs;       /* address -> ptth_addr_count */
    ptth_budget mem;                 /* PTTHHubMemoryLimit */
    apr_uint64_t links_refused;      /* connections from outside httpd */
    /* settings, with defaults applied */
    apr_interval_time_t ping_interval;
    int max_waiting;
    int tunnel_max_requests;         /* recycle after this many streams */
    int max_tunnels;
    apr_interval_time_t handshake_timeout;
    int max_handshakes;
    int max_handshakes_per_addr;
    ptth_resp_limits resp_limits;
};

struct ptth_pool {
    const char *name;
    ptth_hub *hub;
    ptth_pool_conf *cfg;           /* declared pool, NULL for plain= */
    APR_RING_HEAD(ptth_tunnel_ring, ptth_tunnel) tunnels;
    int n_tunnels;
    APR_RING_HEAD(ptth_waiting_ring, ptth_exchange) waiting;
    int n_waiting;
    apr_uint32_t rr;                 /* rotates ties in least-outstanding */
    apr_hash_t *claims;              /* "a.example" -> ptth_claim */
    apr_hash_t *wild_claims;         /* ".example.org" -> ptth_claim */
    apr_uint64_t requests;
    apr_uint64_t retries;
};

/* The tunnels of a pool that claimed one host name (PTTH-Hosts), exact
 * or as "*.domain" (keyed by ".domain").  Requests for a claimed name go
 * only to these (docs/architecture.md, "Routing by host"). */
typedef struct ptth_claim {
    char *name;                      /* malloc'd, the hash key */
    ptth_tunnel **tunnels;           /* malloc'd */
    int n, cap;
} ptth_claim;

typedef enum {
    PTTH_TUN_PREFACE,                /* connected, backend's SETTINGS not seen */
    PTTH_TUN_OPEN,                   /* takes new streams */
    PTTH_TUN_DRAINING,               /* no new streams: GOAWAY either way */
    PTTH_TUN_CLOSED
} ptth_tunnel_state;

struct ptth_tunnel {
    ptth_handle h;
    APR_RING_ENTRY(ptth_tunnel) link;
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
    nghttp2_session *ngh;
    nghttp2_mem mem_fns;             /* charges the session's memory */
    ptth_budget mem;                 /* what its HTTP/2 session allocated */
    int mem_refused;                 /* the session hit its budget */
    apr_int32_t glitches;            /* token bucket, see ptth_tunnel.c */
    apr_time_t glitch_at;
    int settings_seen;
    int goaways_seen;
    apr_uint32_t refusals;           /* streams refused in a row */
    apr_time_t penalty_until;        /* not picked while others can serve */
    apr_uint64_t bytes_in, bytes_out;
    apr_interval_time_t rtt;         /* last PING round trip, -1: none */
    const char *last_error;
    ptth_tunnel_state state;
    const char *close_reason;        /* set: destroy at the next reap */
    int goaway_sent;
    int dispatch;                    /* capacity changed: run the pool */
    int reread;                      /* TLS holds decrypted input */
    APR_RING_HEAD(ptth_stream_ring, ptth_exchange) streams;
    int active;                      /* streams in flight */
    ptth_buf out;                    /* serialized frames not yet written */
    int want_flush;
    apr_time_t opened;               /* connected (plain) or switched (101) */
    apr_time_t last_read;
    apr_time_t ping_sent;            /* 0: no PING outstanding */
    apr_uint64_t served;
    apr_uint32_t streams_opened;
    int recycling;                   /* draining because of its age */
};

typedef enum {
    PTTH_EX_WAITING,                 /* in pool->waiting */
    PTTH_EX_OPEN,                    /* a stream on a tunnel */
    PTTH_EX_ENDED                    /* response side finished or failed */
} ptth_exchange_state;

/* Streams one exchange may be sent as; each retry (the backend provably
 * did not process it, RFC 9113 8.7) avoids the tunnels that refused it
 * already, and the wait time bounds them all. */
#define PTTH_EX_MAX_ATTEMPTS 8

/* One request/response on a link, and its HTTP/2 stream once submitted. */
struct ptth_exchange {
    APR_RING_ENTRY(ptth_exchange) link;
    apr_pool_t *p;
    ptth_hub *hub;
    ptth_hublink *hl;                /* NULL once the child moved on */
    ptth_pool *pool;
    ptth_tunnel *tunnel;
    ptth_exchange_state state;
    ptth_link_request req;
    const char *host;                /* :authority without port, lowercase */
    nghttp2_nv *nva;
    size_t nvlen;
    int has_body;                    /* request had no END_STREAM */
    int head;                        /* HEAD: the response has no body */
    int req_ended;                   /* child finished sending */
    int req_end_sent;                /* END_STREAM (or trailers) went to
                                      * the backend */
    apr_array_header_t *req_trailers;
    ptth_buf body;                   /* request body not yet given to nghttp2 */
    ptth_buf replay;                 /* all of a small body, for a retry */
    int replayable;                  /* replay holds every byte received */
    int deferred;                    /* data provider waits for body */
    apr_uint64_t body_sent;
    int32_t stream_id;
    int headers_sent;
    int attempts;
    apr_uint32_t tried[PTTH_EX_MAX_ATTEMPTS]; /* tunnel ids that refused it */
    int resp_final;                  /* final RESPONSE sent to the child */
    int resp_status;
    apr_array_header_t *resp_headers;
    ptth_resp_check rc;              /* the response's message rules */
    int resp_bad;                    /* backend sent something we refuse */
    int connect;                     /* sent as extended CONNECT (RFC 8441) */
    int resp_upgraded;               /* its 2xx: the link becomes a pipe */
    apr_size_t unconsumed;           /* DATA queued to the link, not yet
                                      * acknowledged to the backend */
    apr_time_t deadline;             /* WAITING: give up at */
    apr_time_t last_activity;        /* OPEN: for timeout_ms */
};

struct ptth_hublink {
    ptth_handle h;
    APR_RING_ENTRY(ptth_hublink) link;
    apr_pool_t *p;
    ptth_hub *hub;
    apr_socket_t *sock;
    apr_uint32_t id;
    ptth_buf in;
    ptth_buf out;
    ptth_exchange *ex;
    pid_t peer_pid;                  /* the httpd child on the other end */
    int goaway_sent;                 /* draining: no new exchange here */
    int dead;                        /* destroy at the next reap */
    int close_when_flushed;
    int read_paused;                 /* request body buffer is full */
    int kick;                        /* re-run frame processing at reap */
    int flush_soon;                  /* frames queued, write at reap */
    int raw;                         /* upgraded: a byte pipe, no frames */
    int raw_in_eof;                  /* raw: the child shut down writing */
    int raw_out_eof;                 /* raw: shut down writing once flushed */
};

/* ptth_hub.c */
/* Runs the hub in the forked process; never returns. */
/* generation: the configuration's (ap_state_query AP_SQ_CONFIG_GEN);
 * standby_fd: >= 0 makes this the standby hub, which serves only once
 * that pipe reports the end of the active hub (EOF); delay: rest this
 * long before serving (restarts throttled by the parent). */
void ptth_hub_main(apr_pool_t *pool, server_rec *s,
                   apr_array_header_t *lspecs, apr_socket_t *link_sock,
                   apr_uint32_t generation, int standby_fd,
                   apr_interval_time_t delay);
/* Accept on a listener into a new pool; pauses accepting on EMFILE. */
apr_status_t ptth_hub_accept(ptth_hub *hub, apr_socket_t *lsock,
                             apr_socket_t **sock, apr_pool_t **pp);
void ptth_hub_watch(ptth_hub *hub, ptth_handle *h, apr_int16_t events);
void ptth_hub_unwatch(ptth_hub *hub, ptth_handle *h);

/* ptth_pool.c */
ptth_pool *ptth_pool_get(ptth_hub *hub, const char *name, int create);
void ptth_pool_add_tunnel(ptth_pool *pool, ptth_tunnel *t);
void ptth_pool_remove_tunnel(ptth_pool *pool, ptth_tunnel *t);
/* Queue ex or submit it at once; retry puts it at the head. */
void ptth_pool_enqueue(ptth_pool *pool, ptth_exchange *ex, int retry);
void ptth_pool_dequeue(ptth_pool *pool, ptth_exchange *ex);
void ptth_pool_dispatch(ptth_pool *pool);
int ptth_pool_has_capacity(ptth_pool *pool);
void ptth_pool_fail_waiting(ptth_pool *pool, ptth_link_reset_t code);
void ptth_pool_expire(ptth_pool *pool, apr_time_t now);
apr_time_t ptth_pool_next_deadline(ptth_pool *pool);

/* ptth_tunnel.c */
/* Takes over p (in which sock was accepted) as the tunnel's pool, also
 * on failure. */
apr_status_t ptth_tunnel_create(ptth_hub *hub, ptth_pool *pool, apr_pool_t *p,
                                apr_socket_t *sock, ptth_tunnel **pt);
/* Secure mode: the tunnel speaks through ssl (may be NULL) and the bytes
 * that arrived after the handshake are its first input. */
apr_status_t ptth_tunnel_start(ptth_tunnel *t, SSL *ssl, const char *early,
                               apr_size_t early_len);
void ptth_tunnel_on_event(ptth_tunnel *t, apr_int16_t rtnevents);
int ptth_tunnel_capacity(ptth_tunnel *t);
apr_status_t ptth_tunnel_submit(ptth_tunnel *t, ptth_exchange *ex);
void ptth_tunnel_flush(ptth_tunnel *t);
void ptth_tunnel_resume_body(ptth_exchange *ex);
/* Reset ex's stream with an HTTP/2 error code and take it off the
 * tunnel; cancel is reset with CANCEL (the user went away). */
void ptth_tunnel_reset(ptth_exchange *ex, uint32_t code);
void ptth_tunnel_cancel(ptth_exchange *ex);
void ptth_tunnel_consume(ptth_exchange *ex);
void ptth_tunnel_tick(ptth_tunnel *t, apr_time_t now);
void ptth_tunnel_drain(ptth_tunnel *t);
void ptth_tunnel_close(ptth_tunnel *t, const char *reason);
void ptth_tunnel_destroy(ptth_tunnel *t);

/* A connection on a secure listener, between accept and 101 (or refusal):
 * ptth_admission.c. */
struct ptth_pending {
    ptth_handle h;
    APR_RING_ENTRY(ptth_pending) link;
    apr_pool_t *p;
    ptth_hub *hub;
    apr_socket_t *sock;
    SSL *ssl;
    apr_uint32_t id;
    const char *peer;                /* address:port */
    const char *peer_ip;
    ptth_hub_listener *l;
    struct ptth_addr_count *addr;    /* handshakes from the same address */
    int state;
    char in[8192];
    apr_size_t in_len;
    const char *out;                 /* 101 or refusal being written */
    apr_size_t out_len;
    apr_size_t out_off;
    apr_size_t head_len;
    apr_time_t deadline;
    ptth_pool *pool;                 /* accepted for */
    const char *backend;             /* identity */
    apr_array_header_t *hosts;       /* claimed (PTTH-Hosts) */
    int dead;
};

/* ptth_admission.c */
void ptth_pending_accept(ptth_hub *hub, ptth_hub_listener *l, apr_pool_t *p,
                         apr_socket_t *sock);
void ptth_pending_on_event(ptth_pending *pd, apr_int16_t rtnevents);
void ptth_pending_tick(ptth_hub *hub, apr_time_t now);
void ptth_pending_reap(ptth_hub *hub);
void ptth_pending_close_all(ptth_hub *hub);

/* ptth_link_hub.c */
void ptth_hublink_accept(ptth_hub *hub, apr_socket_t *sock);
void ptth_hublink_on_event(ptth_hublink *hl, apr_int16_t rtnevents);
void ptth_hublink_destroy(ptth_hublink *hl);
void ptth_hublink_flush_pending(ptth_hublink *hl);
/* The hub drains: no new exchange on this link (GOAWAY when idle). */
void ptth_hublink_drain(ptth_hublink *hl);
/* Response side, called from the tunnel. */
void ptth_exchange_response(ptth_exchange *ex, int status,
                            apr_array_header_t *headers, int end_stream);
void ptth_exchange_data(ptth_exchange *ex, const uint8_t *data, apr_size_t len,
                        int end_stream);
void ptth_exchange_trailers(ptth_exchange *ex, apr_array_header_t *headers);
/* The stream is gone without a complete response: retry or fail. */
void ptth_exchange_failed(ptth_exchange *ex, ptth_link_reset_t code);
/* The stream left its tunnel (closed, reset or the tunnel died); the
 * exchange is already detached.  unprocessed: RFC 9113 8.7 guarantees the
 * backend did not act on it. */
void ptth_exchange_stream_gone(ptth_exchange *ex, int unprocessed);
void ptth_exchange_body_drained(ptth_exchange *ex);
void ptth_exchange_tick(ptth_exchange *ex, apr_time_t now);

#endif /* PTTH_HUB_H */
