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
 * the httpd parent (ptth_supervisor.c).  Single-threaded and
 * event-driven: one pollset, no thread or process per request or tunnel
 * (docs/architecture.md, "The hub").  Its objects, one file and one
 * header each, and the only writer of its own state:
 *
 *   ptth_pool.h       the tunnels serving one ptth://NAME, its queue
 *   ptth_tunnel.h     one backend's connection, its HTTP/2 session
 *   ptth_exchange.h   one request/response, waiting or as a stream
 *   ptth_link_hub.h   the hub's end of a link from an httpd child
 *   ptth_admission.h  a secure listener's connection before its 101
 *
 * This header has the hub itself: its loop, listeners and the pollset
 * every object registers with through a ptth_handle. */

#include <apr_ring.h>
#include <apr_poll.h>
#include <apr_hash.h>
#include <openssl/ssl.h>

#include "ptth_router.h"
#include "ptth_link.h"
#include "ptth_buf.h"
#include "ptth_respcheck.h"

typedef struct ptth_hub ptth_hub;
typedef struct ptth_pool ptth_pool;
typedef struct ptth_tunnel ptth_tunnel;
typedef struct ptth_link_hub ptth_link_hub;
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
    int due;                         /* in the hub's due ring */
    APR_RING_ENTRY(ptth_handle) due_link;
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
    apr_pool_t *scratch;             /* for what is built and copied out
                                      * at once; cleared right after */
    server_rec *s;
    ptth_router_sconf *conf;
    apr_pollset_t *pollset;
    ptth_hub_state state;
    apr_time_t deadline;             /* when DRAINING/STOPPING must end */
    apr_hash_t *pools;               /* name -> ptth_pool */
    apr_array_header_t *pool_list;   /* the same, for iterating */
    apr_array_header_t *listeners;   /* of ptth_hub_listener * */
    ptth_handle link_listener;
    APR_RING_HEAD(ptth_link_hub_ring, ptth_link_hub) links;
    int n_links;
    apr_array_header_t *spare_socks; /* of apr_socket_t *: closed link
                                      * sockets, reused for new links */
    APR_RING_HEAD(ptth_pending_ring, ptth_pending) pendings;
    int n_pendings;
    apr_uint64_t refused;            /* handshakes refused or failed */
    APR_RING_HEAD(ptth_due_ring, ptth_handle) due; /* objects that want
                                      * attention before the next poll */
    apr_time_t started;
    apr_uint32_t next_tunnel_id;
    apr_uint32_t next_link_id;
    apr_uint32_t generation;         /* of the configuration it serves */
    apr_uint32_t restarts;           /* hubs that died before this one
                                      * since httpd started (supervisor) */
    pid_t parent;                    /* the httpd parent */
    apr_time_t accept_resume;        /* accepting paused until (EMFILE) */
    apr_time_t accept_warned;
    apr_hash_t *pending_addrs;       /* address -> handshakes in progress */
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

/* Runs the hub in the forked process; never returns.
 * generation: the configuration's (ap_state_query AP_SQ_CONFIG_GEN);
 * restarts: how many hubs died before this one serves (for the status);
 * standby_fd: >= 0 makes this the standby hub, which serves only once
 * that pipe reports the end of the active hub (EOF); delay: rest this
 * long before serving (restarts throttled by the parent). */
void ptth_hub_main(apr_pool_t *pool, server_rec *s,
                   apr_array_header_t *lspecs, apr_socket_t *link_sock,
                   apr_uint32_t generation, apr_uint32_t restarts,
                   int standby_fd, apr_interval_time_t delay);

/* Make h the pollset entry of sock (non-blocking, allocated in p). */
void ptth_handle_init(ptth_handle *h, ptth_handle_kind kind,
                      apr_socket_t *sock, apr_pool_t *p);

/* Up to a round's worth of connections from a listener, each accepted
 * into a pool of its own and given to on_accept (which owns both from
 * then on).  Running out of descriptors pauses accepting for a while. */
typedef void ptth_hub_accept_fn(ptth_hub *hub, void *baton, apr_pool_t *p,
                                apr_socket_t *sock);
void ptth_hub_accept(ptth_hub *hub, apr_socket_t *lsock,
                     ptth_hub_accept_fn *on_accept, void *baton);
/* The same without a pool: each connection is a non-blocking,
 * close-on-exec descriptor that on_accept owns. */
typedef void ptth_hub_accept_fd_fn(ptth_hub *hub, int fd);
void ptth_hub_accept_fd(ptth_hub *hub, apr_socket_t *lsock,
                        ptth_hub_accept_fd_fn *on_accept);

/* (Re)register h for events.  A failure is logged and returned: the
 * caller closes its object, which could never be polled again. */
apr_status_t ptth_hub_watch(ptth_hub *hub, ptth_handle *h, apr_int16_t events);
/* No more events for h, and no visit: its object goes away. */
void ptth_hub_unwatch(ptth_hub *hub, ptth_handle *h);

/* Visit h's object before the next poll (its reap: deferred writes,
 * destroying the dead, re-reading TLS input).  Only the objects that
 * asked are visited, not every link and tunnel. */
void ptth_hub_due(ptth_hub *hub, ptth_handle *h);

/* ptth_hub_status.c: the hub's state as a status document
 * (ptth_status_doc.h), appended to out, at most max octets of it.
 * APR_ENOMEM: out could not grow (what was appended is unusable). */
apr_status_t ptth_hub_status_write(ptth_hub *hub, ptth_buf *out, apr_size_t max);

#endif /* PTTH_HUB_H */
