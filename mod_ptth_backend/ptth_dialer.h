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

#ifndef PTTH_DIALER_H
#define PTTH_DIALER_H

/* The dialer: in every MPM child, one thread per seat of every PTTHConnect
 * endpoint.  A thread that owns a seat (ptth_seat.h) dials the router, waits
 * for the router's first bytes and hands the connection to ptth_serve; when
 * the connection ends it re-dials, with backoff after failures.  A thread
 * without a seat checks for a free one about once a second.
 *
 * Tunnel states (each transition is logged at DEBUG):
 *
 *     IDLE --seat--> CONNECTING --ok--> WAIT_PREFACE --bytes--> SERVING
 *                        |fail              |EOF/stop              |
 *                        v                  v                      v
 *                     BACKOFF <-------- CLOSED <---- DRAINING <----+ (stop)
 *                        |                  |
 *                        +-----> DONE <-----+  (stop: seat released)
 *
 * CLOSED goes straight back to CONNECTING after a tunnel that served
 * requests or lived PTTH_STABLE_AFTER, otherwise through BACKOFF.
 *
 * Stopping (see ptth_dialer.c for the per-MPM details): child_stopping sets
 * the stop mode, frees the child's seats and wakes every thread; in-flight
 * requests may finish until the drain deadline; the pchild pre-cleanup
 * drains and joins the threads while mod_http2's workers still run.
 *
 * Make-before-break: the seats are freed at once, so that another child
 * (or the new generation) dials replacements while this one drains; and a
 * tunnel with nothing in flight stays open for a short handover period
 * (PTTH_HANDOVER, at most PTTHDrainTimeout) before it closes, so that the
 * router is not left without tunnels in between.  A request the router
 * sends on it meanwhile is either served or refused with GOAWAY by
 * mod_http2 (RFC 9113 section 6.8: the router may retry it elsewhere). */

#include <apr_thread_proc.h>
#include <apr_thread_mutex.h>
#include <apr_thread_cond.h>
#include <apr_poll.h>

#include "ptth_util.h"
#include "ptth_backend_config.h"

typedef enum {
    PTTH_TUN_ST_IDLE,          /* no seat: waiting for one */
    PTTH_TUN_ST_CONNECTING,    /* TCP connect in progress */
    PTTH_TUN_ST_WAIT_PREFACE,  /* connected, router has not spoken yet */
    PTTH_TUN_ST_SERVING,       /* mod_http2 serves the connection */
    PTTH_TUN_ST_DRAINING,      /* stopping: in-flight requests finish */
    PTTH_TUN_ST_CLOSED,        /* connection gone */
    PTTH_TUN_ST_BACKOFF,       /* waiting before the next dial */
    PTTH_TUN_ST_DONE           /* thread ends, seat released */
} ptth_tunnel_state;

typedef enum {
    PTTH_RUNNING = 0,
    PTTH_STOP_GRACEFUL = 1,    /* finish in-flight requests until deadline */
    PTTH_STOP_NOW = 2          /* close at once */
} ptth_stop_mode;

/* A tunnel that served a request or lived this long was healthy: its
 * loss resets the backoff and it is re-dialed at once. */
#define PTTH_STABLE_AFTER   apr_time_from_sec(5)

/* On a graceful stop, how long an idle tunnel stays open so that its
 * replacement can connect first: above the 1 s seat re-check of the other
 * children, plus a connect. */
#define PTTH_HANDOVER       apr_time_from_sec(2)

typedef struct ptth_dialer_child ptth_dialer_child;

/**
 * One dialer thread and the tunnel it keeps.  Allocated in pchild; the
 * thread works in its own pool (own allocator) so that it never shares an
 * allocator with the child's main thread.
 */
typedef struct ptth_tunnel {
    ptth_dialer_child *child;
    const ptth_connect *pc;
    int no;                        /* 0..tunnels-1 within its endpoint */
    const char *name;              /* "tcp://host:port#no", for logs */
    apr_pool_t *pool;
    apr_pollset_t *pollset;        /* APR_POLLSET_WAKEABLE: stop wakes it */
    apr_thread_t *thread;
    int seat;                      /* seat in its endpoint, -1 = none */
    int seat_freed;                /* freed at stop (under child->lock) */
    int spread_done;               /* let the other children go first once */
    int failures;                  /* failed dials since the last success */
    ptth_tunnel_state state;
    ptth_backoff backoff;

    /* Under child->lock: the drainer may shut the serving socket down. */
    apr_socket_t *sock;            /* published while SERVING, else NULL */
    int shut_rd;
    int shut_rdwr;
    int done;                      /* thread finished */

    /* Streams open on the current connection, and opened on it so far,
     * as counted on the wire by the gate (ptth_gate.h). */
    volatile apr_uint32_t inflight;
    volatile apr_uint32_t requests;
} ptth_tunnel;

struct ptth_dialer_child {
    server_rec *s;
    ptth_backend_sconf *conf;
    apr_pool_t *pool;              /* pchild */
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *cond;       /* a thread finished or went idle */
    volatile apr_uint32_t stop;    /* ptth_stop_mode */
    apr_time_t deadline;           /* end of the drain, when stopping */
    apr_time_t handover;           /* idle tunnels close after this */
    ptth_tunnel **tunnels;
    int ntunnels;
    apr_uint32_t pid;
    apr_sockaddr_t *default_vaddr; /* PTTHVirtualAddress or first Listen */
    long id_base;                  /* conn ids: id_base + seat */

    /* MPM traits, from ap_mpm_query() and ap_show_mpm() */
    int async;                     /* give conn_recs a c->cs, mini MPM loop */
    int prefork;
    module *event_module;          /* non-NULL under mpm_event */
};

/* Hooks (registered in mod_ptth_backend.c). */
void ptth_dialer_child_init(apr_pool_t *pchild, server_rec *s);
void ptth_dialer_child_stopping(apr_pool_t *pchild, int graceful);

/* For ptth_serve.c. */

/** The stop mode of the tunnel's child (ptth_stop_mode). */
ptth_stop_mode ptth_tunnel_stopping(ptth_tunnel *t);

/** The drain deadline and the end of the handover period (see above);
 * meaningful once ptth_tunnel_stopping() != 0. */
void ptth_tunnel_deadlines(ptth_tunnel *t, apr_time_t *drain,
                           apr_time_t *handover);

/**
 * Wait until `sock` has `reqevents` (APR_POLLIN/APR_POLLOUT), the timeout
 * (-1: none) expires, or the child starts stopping.  sock may be NULL for
 * an interruptible sleep.
 * @return APR_SUCCESS (ready), APR_TIMEUP, APR_EINTR (woken for stop)
 */
apr_status_t ptth_tunnel_wait(ptth_tunnel *t, apr_socket_t *sock,
                              apr_int16_t reqevents,
                              apr_interval_time_t timeout);

/** Log and record a state transition. */
void ptth_tunnel_transit(ptth_tunnel *t, ptth_tunnel_state st,
                         const char *why);

/** Publish (or with NULL withdraw) the socket being served, so that a
 * drain can shut it down.  Withdraw before closing it. */
void ptth_tunnel_set_socket(ptth_tunnel *t, apr_socket_t *sock);

/** The gate's count of open streams on the tunnel, and of streams opened
 * since it connected (see ptth_gate.h).  Wakes a drain when nothing is in
 * flight any more. */
void ptth_tunnel_streams(ptth_tunnel *t, apr_uint32_t open,
                         apr_uint32_t opened);

#endif /* PTTH_DIALER_H */
