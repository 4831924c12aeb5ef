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
 * endpoint.  A thread that owns a seat (ptth_seat.h) dials the router
 * (ptth_dial.c), waits for the router's first bytes and hands the
 * connection to ptth_serve.c; when the connection ends it re-dials, with
 * backoff after failures.  A thread without a seat checks for a free one
 * about once a second.  Each thread owns one dialed connection
 * (ptth_dialed.h), whose state machine is described there.
 *
 * Stopping (see ptth_dialer.c for the per-MPM details): child_stopping sets
 * the stop mode, frees the child's seats and wakes every thread; in-flight
 * requests may finish until the drain deadline; the pchild pre-cleanup
 * drains and joins the threads while mod_http2's workers still run.
 *
 * Make-before-break: the seats are freed at once, so that another child
 * (or the new generation) dials replacements while this one drains; and a
 * connection with nothing in flight stays open for a short handover period
 * (PTTH_HANDOVER, at most PTTHDrainTimeout) before it closes, so that the
 * router is not left without tunnels in between.  A request the router
 * sends on it meanwhile is either served or refused with GOAWAY by
 * mod_http2 (RFC 9113 section 6.8: the router may retry it elsewhere).
 *
 * This header is private to ptth_dialer.c and ptth_dial.c; the serving
 * side (ptth_serve.c, ptth_gate.c) sees only ptth_dialed.h. */

#include <apr_thread_proc.h>

#include "ptth_util.h"
#include "ptth_backend_config.h"
#include "ptth_dialed.h"

/* A connection that served a request or lived this long was healthy: its
 * loss resets the backoff and it is re-dialed at once. */
#define PTTH_STABLE_AFTER   apr_time_from_sec(5)

/* On a graceful stop, how long an idle connection stays open so that its
 * replacement can connect first: above the 1 s seat re-check of the other
 * children, plus a connect. */
#define PTTH_HANDOVER       apr_time_from_sec(2)

/* PTTHStreamPath ptth: stream workers per child at least and at most
 * (their numbers go into connection ids, ptth_c2.c). */
#define PTTH_MIN_STREAM_WORKERS  25
#define PTTH_MAX_STREAM_WORKERS  1024

typedef struct ptth_dialer_child ptth_dialer_child;

/**
 * One dialer thread: its seat, its backoff and the connection it keeps.
 * Allocated in pchild.
 */
typedef struct ptth_dialer_thread {
    ptth_dialer_child *child;
    const ptth_connect *pc;
    int no;                        /* 0..tunnels-1 within its endpoint */
    ptth_dialed *d;                /* the connection, re-dialed */
    int seat;                      /* seat in its endpoint, -1 = none */
    int seat_freed;                /* freed at stop (under stop.lock) */
    int spread_done;               /* let the other children go first once */
    int failures;                  /* failed dials since the last success */
    ptth_backoff backoff;
    int done;                      /* thread finished (under stop.lock) */
} ptth_dialer_thread;

struct ptth_dialer_child {
    server_rec *s;
    ptth_backend_sconf *conf;
    apr_pool_t *pool;              /* pchild */
    ptth_dial_stop stop;           /* shared with every ptth_dialed */
    ptth_dial_mpm mpm;
    ptth_dialer_thread **threads;
    int nthreads;
    apr_uint32_t pid;
    apr_sockaddr_t *default_vaddr; /* PTTHVirtualAddress or first Listen */
    long id_base;                  /* conn ids: id_base + seat */
    struct ptth_workers *workers;  /* PTTHStreamPath ptth, else NULL */
};

/* Hooks (registered in mod_ptth_backend.c). */
void ptth_dialer_child_init(apr_pool_t *pchild, server_rec *s);
void ptth_dialer_child_stopping(apr_pool_t *pchild, int graceful);

/**
 * ptth_dial.c: one dial and, when it works, one served connection, in the
 * thread th.  Returns the delay before the next dial (0: at once).
 */
apr_interval_time_t ptth_dial_once(ptth_dialer_thread *th);

#endif /* PTTH_DIALER_H */
