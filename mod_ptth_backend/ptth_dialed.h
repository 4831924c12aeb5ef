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

#ifndef PTTH_DIALED_H
#define PTTH_DIALED_H

/* The dialed connection (ptth_dialed): the backend's end of a tunnel.  The
 * router's end of the same TCP connection is its ptth_tunnel (hub side,
 * mod_ptth_router); the backend has no type of that name.
 *
 * One dialer thread (ptth_dialer.c) owns one ptth_dialed for its whole
 * life and goes through a connection per dial: it creates the object,
 * dials, and hands the connection to ptth_serve.c, which serves it in the
 * same thread.  This file is what both of them (and the gate, ptth_gate.c)
 * need of it: its state machine, the child's stop as seen from a
 * connection, an interruptible wait, the socket a drain may shut down, and
 * the count of streams in flight.  It knows neither the dialer nor the
 * serving code.  See "How the backend serves a dialed connection" in
 * docs/architecture.md.
 *
 * States (each transition is logged at DEBUG by ptth_dialed_transit()):
 *
 *     IDLE --seat--> CONNECTING --ok--> WAIT_PREFACE --bytes--> SERVING
 *                        |fail              |EOF/stop              |
 *                        v                  v                      v
 *                     BACKOFF <-------- CLOSED <---- DRAINING <----+ (stop)
 *                        |                  |
 *                        +-----> DONE <-----+  (stop: seat released)
 *
 * CLOSED goes straight back to CONNECTING after a connection that served
 * requests or lived PTTH_STABLE_AFTER (ptth_dialer.c), otherwise through
 * BACKOFF.  CONNECTING includes TLS and the PTTH handshake in secure mode
 * (docs/protocol.md section 2). */

#include <httpd.h>
#include <http_config.h>

#include <apr_network_io.h>
#include <apr_poll.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>

#include "ptth_seat.h"

typedef enum {
    PTTH_DIALED_IDLE,          /* no seat: waiting for one */
    PTTH_DIALED_CONNECTING,    /* TCP connect (and TLS, handshake) */
    PTTH_DIALED_WAIT_PREFACE,  /* connected, router has not spoken yet */
    PTTH_DIALED_SERVING,       /* mod_http2 serves the connection */
    PTTH_DIALED_DRAINING,      /* stopping: in-flight requests finish */
    PTTH_DIALED_CLOSED,        /* connection gone */
    PTTH_DIALED_BACKOFF,       /* waiting before the next dial */
    PTTH_DIALED_DONE           /* thread ends, seat released */
} ptth_dialed_state;

typedef enum {
    PTTH_RUNNING = 0,
    PTTH_STOP_GRACEFUL = 1,    /* finish in-flight requests until deadline */
    PTTH_STOP_NOW = 2          /* close at once */
} ptth_stop_mode;

/**
 * The stop of one MPM child, shared by all its dialed connections.  The
 * dialer sets it (child_stopping, ptth_dialer.c); the connections read it
 * where they are served.  Lives in pchild.
 */
typedef struct ptth_dial_stop {
    apr_thread_mutex_t *lock;      /* guards deadline, handover and every
                                    * connection's sock and shut_* */
    apr_thread_cond_t *cond;       /* a thread finished, or a connection
                                    * has nothing in flight any more */
    volatile apr_uint32_t mode;    /* ptth_stop_mode */
    apr_time_t deadline;           /* end of the drain (PTTHDrainTimeout) */
    apr_time_t handover;           /* idle connections close after this */
} ptth_dial_stop;

/**
 * How this child's MPM runs connections (ap_mpm_query, ap_show_mpm),
 * found once at child start.
 */
typedef struct ptth_dial_mpm {
    const char *name;              /* "event", "worker", "prefork" */
    int async;                     /* give conn_recs a c->cs, mini MPM loop */
    int prefork;
    module *event_module;          /* non-NULL under mpm_event */
} ptth_dial_mpm;

/**
 * One dialed connection, re-dialed by its thread after each loss.
 * Allocated in pchild; `pool` has its own allocator, since the thread
 * allocates while the child's main thread uses pchild's.
 */
struct ptth_workers;

typedef struct ptth_dialed {
    server_rec *s;
    ptth_dial_stop *stop;          /* the child's, shared */
    const ptth_dial_mpm *mpm;
    struct ptth_workers *workers;  /* PTTHStreamPath ptth: the child's
                                    * stream workers; NULL: mod_http2 */
    const char *name;              /* "<url>#<seat>", for logs */
    apr_pool_t *pool;              /* the thread's; a connection's pool
                                    * (ptrans) is a subpool */
    apr_pollset_t *pollset;        /* APR_POLLSET_WAKEABLE: a stop wakes it */
    apr_pollfd_t watched;          /* ptth_dialed_watch(): desc.s NULL when
                                    * nothing is watched */
    apr_thread_t *thread;
    ptth_dialed_state state;

    /* Under stop->lock: the drainer may shut the serving socket down. */
    apr_socket_t *sock;            /* published while SERVING, else NULL */
    int shut_rd;
    int shut_rdwr;

    /* Streams open on the current connection, and opened on it so far,
     * as counted on the wire by the gate (ptth_gate.h). */
    volatile apr_uint32_t inflight;
    volatile apr_uint32_t requests;

    /* Requests read on it whose request pool still exists (ptth_serve.c):
     * mod_http2 destroys a finished stream's request, which writes its
     * access log line, only in the connection's own processing. */
    volatile apr_uint32_t unfinished;

    /* The seat the dialer holds for it (ptth_dialed_seat), whose record in
     * shared memory (ptth_seat.h) shows the connection to the status
     * handler of any child; seat_index < 0: none.  router and seat_no name
     * it in a request's log fields.  Written by the owning thread only. */
    ptth_seats *seats;
    int seat_index;                /* in seats */
    int seat_no;                   /* within its PTTHConnect */
    apr_uint32_t pid;
    const char *router;            /* the PTTHConnect URL */
} ptth_dialed;

/**
 * Create a dialed connection in IDLE, with its own pool (a subpool of
 * parent on its own allocator) and its wakeable one-socket pollset.
 */
apr_status_t ptth_dialed_create(ptth_dialed **pd, apr_pool_t *parent,
                                server_rec *s, ptth_dial_stop *stop,
                                const ptth_dial_mpm *mpm, const char *name);

/** Attach the connection to seat_no of router's seats (index in seats,
 * -1: detach), so that its transitions, streams and failures are recorded
 * there for the status handler. */
void ptth_dialed_seat(ptth_dialed *d, ptth_seats *seats, int index,
                      int seat_no, const char *router, apr_uint32_t pid);

/** Record in the seat's record: a connection made (its local address), a
 * failed dial or refusal (the router's HTTP status, 0 when it gave none,
 * and why), the time of the next dial. */
void ptth_dialed_note_connected(ptth_dialed *d, const char *local);
void ptth_dialed_note_failure(ptth_dialed *d, int status, const char *why);
void ptth_dialed_note_retry(ptth_dialed *d, apr_time_t when);

/** Log and record a state transition (the only writer of d->state). */
void ptth_dialed_transit(ptth_dialed *d, ptth_dialed_state st,
                         const char *why);

/** The stop mode of the connection's child (ptth_stop_mode). */
ptth_stop_mode ptth_dialed_stopping(ptth_dialed *d);

/** The drain deadline and the end of the handover period (see
 * ptth_dialer.c); meaningful once ptth_dialed_stopping() != 0. */
void ptth_dialed_deadlines(ptth_dialed *d, apr_time_t *drain,
                           apr_time_t *handover);

/**
 * Wait until `sock` has `reqevents` (APR_POLLIN/APR_POLLOUT), the timeout
 * (-1: none) expires, or the child starts stopping.  sock may be NULL for
 * an interruptible sleep.  Unlike ptth_wait_socket() (ptth_io.h), a stop
 * interrupts it: the pollset is woken from child_stopping.
 * @return APR_SUCCESS (ready), APR_TIMEUP, APR_EINTR (woken for stop)
 */
apr_status_t ptth_dialed_wait(ptth_dialed *d, apr_socket_t *sock,
                              apr_int16_t reqevents,
                              apr_interval_time_t timeout);

/**
 * Keep sock in the pollset, for reqevents, until the next call (sock NULL:
 * out of it), so that ptth_dialed_wait_watched() costs one system call
 * instead of an add, a wait and a remove.  The ptth stream path's loop
 * (ptth_h2s.c) waits like this.
 */
apr_status_t ptth_dialed_watch(ptth_dialed *d, apr_socket_t *sock,
                               apr_int16_t reqevents);

/** Wait for the watched socket (ptth_dialed_watch), as ptth_dialed_wait
 * does. */
apr_status_t ptth_dialed_wait_watched(ptth_dialed *d,
                                      apr_interval_time_t timeout);

/** Make a ptth_dialed_wait() in progress return APR_EINTR. */
void ptth_dialed_wakeup(ptth_dialed *d);

/** Publish (or with NULL withdraw) the socket being served, so that a
 * drain can shut it down.  Withdraw before closing it. */
void ptth_dialed_set_socket(ptth_dialed *d, apr_socket_t *sock);

/** Shut the published socket down (APR_SHUTDOWN_READ, or
 * APR_SHUTDOWN_READWRITE) and say why at DEBUG.  Under stop->lock, with
 * d->sock set. */
void ptth_dialed_shutdown(ptth_dialed *d, apr_shutdown_how_e how,
                          const char *why);

/** The gate's count of open streams on the connection, and of streams
 * opened since it connected (see ptth_gate.h).  Wakes a drain when
 * nothing is in flight any more. */
void ptth_dialed_streams(ptth_dialed *d, apr_uint32_t open,
                         apr_uint32_t opened);

#endif /* PTTH_DIALED_H */
