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

/* The dialer threads of one MPM child: seats, connect, backoff, stop and
 * drain.  See ptth_dialer.h for the tunnel state machine.
 *
 * How each MPM stops a child, and what we do about it:
 *
 *  - event, worker: child_stopping(pchild, graceful) comes from the MPM's
 *    signal_threads(); graceful means restart/graceful-stop/idle reaping.
 *    We set the stop mode and wake the threads, and return at once.  Under
 *    event our thread runs the connection between mod_http2's passes and
 *    closes it when idle (after the handover period); mod_http2 itself
 *    sends GOAWAY and finishes the streams it has (it polls
 *    AP_MPMQ_STOPPING).  Under worker mod_http2 holds our thread for the
 *    whole session; it ignores the stop until the session has seen a
 *    stream (PR65731 logic in h2_session_process), and an idle session sits
 *    in a poll bounded by the tunnel's very long KeepAliveTimeout.  So the
 *    drain shuts the read side once no stream is open (after the handover
 *    period; the gate holds new streams back meanwhile, ptth_gate.h):
 *    mod_http2 sees EOF, sends its final GOAWAY and ends the session.
 *    The drain runs in the pchild pre-cleanup, after the MPM's own threads
 *    are gone and before mod_http2's workers are (hook order in
 *    mod_ptth_backend.c); its deadline counts from child_stopping.
 *
 *  - prefork: child_stopping(pchild, 0) comes from clean_child_exit() both
 *    for graceful restarts (and idle reaping) and from the SIGTERM/SIGHUP
 *    handler, and the process exits right after; mod_http2's own
 *    child_stopping(0) would abort every stream.  So we run first and drain
 *    right there, unless we are inside that signal handler (a hard stop:
 *    the parent sends SIGKILL after a few seconds).
 */

#include <errno.h>
#include <signal.h>
#include <pthread.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <apr_atomic.h>
#include <apr_portable.h>
#include <apr_strings.h>

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <ap_mpm.h>
#include <ap_listen.h>
#include <mpm_common.h>

#include "ptth_backend.h"
#include "ptth_dialer.h"
#include "ptth_seat.h"
#include "ptth_serve.h"
#include "ptth_secure.h"

/* How often a thread without a seat looks for a free one. */
#define PTTH_SEAT_RECHECK   apr_time_from_sec(1)

/* TCP keepalive on idle tunnels: notices a router host that vanished
 * without a FIN (the router's PINGs keep a live tunnel busy anyway). */
#define PTTH_KEEPIDLE_SEC   60
#define PTTH_KEEPINTVL_SEC  10
#define PTTH_KEEPCNT        6

/* The child this process runs; hooks without a context argument find it
 * here.  Set in child_init, cleared in the pchild pre-cleanup. */
static ptth_dialer_child *the_child;

/*******************************************************************************
 * state, waiting, accounting
 ******************************************************************************/

static const char *state_name(ptth_tunnel_state st)
{
    switch (st) {
    case PTTH_TUN_ST_IDLE:          return "IDLE";
    case PTTH_TUN_ST_CONNECTING:    return "CONNECTING";
    case PTTH_TUN_ST_WAIT_PREFACE:  return "WAIT_PREFACE";
    case PTTH_TUN_ST_SERVING:       return "SERVING";
    case PTTH_TUN_ST_DRAINING:      return "DRAINING";
    case PTTH_TUN_ST_CLOSED:        return "CLOSED";
    case PTTH_TUN_ST_BACKOFF:       return "BACKOFF";
    case PTTH_TUN_ST_DONE:          return "DONE";
    }
    return "?";
}

/* The seat's record for the status handler (ptth_seat.h), or -1. */
#define SEAT_INDEX(t) ((t)->seat >= 0 ? (t)->pc->seat_base + (t)->seat : -1)

void ptth_tunnel_transit(ptth_tunnel *t, ptth_tunnel_state st, const char *why)
{
    if (t->state != st) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, t->child->s, PTTHLOGNO(03010)
                     "tunnel %s: %s -> %s (%s)", t->name,
                     state_name(t->state), state_name(st), why);
        t->state = st;
        ptth_seat_note_state(t->child->conf->seats, SEAT_INDEX(t),
                             t->child->pid, (int)st, st == PTTH_TUN_ST_CLOSED);
    }
}

ptth_stop_mode ptth_tunnel_stopping(ptth_tunnel *t)
{
    return (ptth_stop_mode)apr_atomic_read32(&t->child->stop);
}

void ptth_tunnel_deadlines(ptth_tunnel *t, apr_time_t *drain,
                           apr_time_t *handover)
{
    apr_thread_mutex_lock(t->child->lock);
    *drain = t->child->deadline;
    *handover = t->child->handover;
    apr_thread_mutex_unlock(t->child->lock);
}

apr_status_t ptth_tunnel_wait(ptth_tunnel *t, apr_socket_t *sock,
                              apr_int16_t reqevents,
                              apr_interval_time_t timeout)
{
    apr_pollfd_t pfd;
    const apr_pollfd_t *out;
    apr_int32_t n = 0;
    apr_status_t rv;

    if (ptth_tunnel_stopping(t) == PTTH_STOP_NOW) {
        return APR_EINTR;
    }
    memset(&pfd, 0, sizeof(pfd));
    if (sock) {
        pfd.p = t->pool;
        pfd.desc_type = APR_POLL_SOCKET;
        pfd.reqevents = reqevents;
        pfd.desc.s = sock;
        rv = apr_pollset_add(t->pollset, &pfd);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    /* The pollset is APR_POLLSET_WAKEABLE: apr_pollset_wakeup() from
     * child_stopping makes this return APR_EINTR (our signals are blocked,
     * so nothing else does). */
    rv = apr_pollset_poll(t->pollset, timeout, &n, &out);
    if (sock) {
        apr_pollset_remove(t->pollset, &pfd);
    }
    if (rv == APR_SUCCESS) {
        return n > 0 ? APR_SUCCESS : APR_EINTR;
    }
    if (APR_STATUS_IS_TIMEUP(rv)) {
        return APR_TIMEUP;
    }
    if (APR_STATUS_IS_EINTR(rv)) {
        return APR_EINTR;
    }
    return rv;
}

void ptth_tunnel_set_socket(ptth_tunnel *t, apr_socket_t *sock)
{
    apr_thread_mutex_lock(t->child->lock);
    t->sock = sock;
    t->shut_rd = t->shut_rdwr = 0;
    apr_thread_mutex_unlock(t->child->lock);
}

void ptth_tunnel_streams(ptth_tunnel *t, apr_uint32_t open,
                         apr_uint32_t opened)
{
    apr_atomic_set32(&t->requests, opened);
    ptth_seat_note_streams(t->child->conf->seats, SEAT_INDEX(t), open, opened);
    if (apr_atomic_xchg32(&t->inflight, open) != 0 && open == 0
        && ptth_tunnel_stopping(t)) {
        /* A drain may be waiting for this. */
        apr_thread_mutex_lock(t->child->lock);
        apr_thread_cond_broadcast(t->child->cond);
        apr_thread_mutex_unlock(t->child->lock);
    }
}

/*******************************************************************************
 * dialing
 ******************************************************************************/

static void set_keepalive(apr_socket_t *sock)
{
    apr_os_sock_t fd;
    int v;

    apr_socket_opt_set(sock, APR_SO_KEEPALIVE, 1);
    if (apr_os_sock_get(&fd, sock) != APR_SUCCESS) {
        return;
    }
#if defined(TCP_KEEPIDLE) && defined(TCP_KEEPINTVL) && defined(TCP_KEEPCNT)
    v = PTTH_KEEPIDLE_SEC;
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof(v));
    v = PTTH_KEEPINTVL_SEC;
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &v, sizeof(v));
    v = PTTH_KEEPCNT;
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &v, sizeof(v));
#else
    (void)v;
#endif
}

/* Non-blocking connect, waited for in the tunnel's pollset so that a stop
 * interrupts it.  Every address the name resolves to is tried in turn. */
static apr_status_t tunnel_connect(ptth_tunnel *t, apr_pool_t *ptrans,
                                   apr_socket_t **psock)
{
    const ptth_endpoint *ep = &t->pc->ep;
    apr_sockaddr_t *sa;
    apr_socket_t *sock;
    apr_status_t rv;

    rv = apr_sockaddr_info_get(&sa, ep->host, APR_UNSPEC, ep->port, 0, ptrans);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    for (; sa; sa = sa->next) {
        rv = apr_socket_create(&sock, sa->family, SOCK_STREAM, APR_PROTO_TCP,
                               ptrans);
        if (rv != APR_SUCCESS) {
            continue;
        }
        apr_socket_timeout_set(sock, 0);
        rv = apr_socket_connect(sock, sa);
        if (APR_STATUS_IS_EINPROGRESS(rv) || rv == EALREADY) {
            rv = ptth_tunnel_wait(t, sock, APR_POLLOUT,
                                  t->child->conf->connect_timeout);
            if (rv == APR_SUCCESS) {
                /* Linux completes the connect on the second call (it
                 * returns 0, or the pending error such as ECONNREFUSED),
                 * and APR then records the peer address for the conn_rec. */
                rv = apr_socket_connect(sock, sa);
            }
        }
        if (rv == APR_SUCCESS) {
            set_keepalive(sock);
            *psock = sock;
            return APR_SUCCESS;
        }
        apr_socket_close(sock);
        if (rv == APR_EINTR) {
            break;
        }
    }
    return rv;
}

/* Wait for the router's first bytes.  A router may send its preface only
 * with its first request (the seed router does), and mod_http2 reads the
 * 24 preface bytes (RFC 9113 section 3.4) with a blocking read bounded by
 * Timeout, falling back to HTTP/1.1 when it expires; so the connection is
 * not handed over before there is something to read.  Over TLS that is
 * cleartext: records without data (session tickets) do not count. */
static apr_status_t wait_preface(ptth_tunnel *t, apr_socket_t *sock,
                                 ptth_tls_conn *tls)
{
    apr_os_sock_t fd;
    apr_status_t rv;
    char b;
    ssize_t n;

    apr_os_sock_get(&fd, sock);
    for (;;) {
        ptth_stop_mode mode = ptth_tunnel_stopping(t);
        apr_interval_time_t timeout = -1;

        if (mode == PTTH_STOP_NOW) {
            return APR_EINTR;
        }
        if (tls) {
            rv = ptth_secure_first_bytes(tls);
            if (rv != APR_EAGAIN) {
                return rv;
            }
        }
        if (mode == PTTH_STOP_GRACEFUL) {
            /* Nothing in flight: keep it for the handover period only. */
            apr_time_t drain, handover;

            ptth_tunnel_deadlines(t, &drain, &handover);
            timeout = handover - apr_time_now();
            if (timeout <= 0) {
                return APR_EINTR;
            }
        }
        rv = ptth_tunnel_wait(t, sock, APR_POLLIN, timeout);
        if (rv == APR_EINTR || rv == APR_TIMEUP) {
            continue;
        }
        if (rv != APR_SUCCESS) {
            return rv;
        }
        if (tls) {
            continue;
        }
        n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n > 0) {
            return APR_SUCCESS;
        }
        if (n == 0) {
            return APR_EOF;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            return APR_FROM_OS_ERROR(errno);
        }
    }
}

static long tunnel_conn_id(ptth_tunnel *t)
{
    int gen = 0;

    /* Unique in the server at any time: a seat has at most one tunnel, and
     * the two generations alive during a graceful restart alternate in
     * parity.  id_base lies above the MPM's child * thread ids. */
    ap_mpm_query(AP_MPMQ_GENERATION, &gen);
    return t->child->id_base
           + (long)(gen & 1) * t->child->conf->total_seats
           + t->pc->seat_base + t->seat;
}

/* One dial and, when it works, one served connection.  Returns the delay
 * before the next dial. */
static apr_interval_time_t tunnel_once(ptth_tunnel *t)
{
    ptth_dialer_child *child = t->child;
    server_rec *s = child->s;
    apr_allocator_t *allocator;
    apr_pool_t *ptrans;
    apr_socket_t *sock = NULL;
    ptth_tls_conn *tls = NULL;
    apr_sockaddr_t *local = NULL, *vaddr;
    apr_time_t started;
    apr_interval_time_t lived;
    const char *why = NULL;
    apr_uint32_t served;
    apr_status_t rv;

    /* Like the MPMs' per-connection pool: own allocator, MaxMemFree. */
    apr_allocator_create(&allocator);
    apr_allocator_max_free_set(allocator, ap_max_mem_free);
    apr_pool_create_ex(&ptrans, t->pool, NULL, allocator);
    apr_allocator_owner_set(allocator, ptrans);
    apr_pool_tag(ptrans, "ptth_tunnel");

    ptth_tunnel_transit(t, PTTH_TUN_ST_CONNECTING, "dialing");
    rv = tunnel_connect(t, ptrans, &sock);
    if (rv != APR_SUCCESS) {
        apr_pool_destroy(ptrans);
        if (rv == APR_EINTR || ptth_tunnel_stopping(t)) {
            return 0;
        }
        /* Say it once per outage, not at every retry. */
        ap_log_error(APLOG_MARK, t->failures ? APLOG_DEBUG : APLOG_WARNING,
                     rv, s, PTTHLOGNO(03011)
                     "tunnel %s: cannot connect%s", t->name,
                     APR_STATUS_IS_TIMEUP(rv) ? " (PTTHConnectTimeout)" : "");
        t->failures++;
        {
            char why[PTTH_SEAT_REASON_LEN];
            apr_snprintf(why, sizeof(why), "cannot connect: %pm%s", &rv,
                         APR_STATUS_IS_TIMEUP(rv) ? " (PTTHConnectTimeout)" : "");
            ptth_seat_note_failure(child->conf->seats, SEAT_INDEX(t), 0, why);
        }
        ptth_tunnel_transit(t, PTTH_TUN_ST_CLOSED, "connect failed");
        return ptth_backoff_next(&t->backoff);
    }

    apr_socket_addr_get(&local, APR_LOCAL, sock);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, PTTHLOGNO(03012)
                 "tunnel to %s established (local %pI, seat %d%s)",
                 t->pc->ep.url, local, t->seat,
                 t->failures ? ", after failed attempts" : "");
    started = apr_time_now();

    if (t->pc->ep.scheme != PTTH_EP_TCP) {
        /* Secure mode: TLS and the PTTH handshake first (ptth_secure.c). */
        ptth_refusal ref;
        apr_interval_time_t delay;

        rv = ptth_secure_establish(&t->pc->ep, &t->pc->secure, ptrans, sock,
                                   child->conf->connect_timeout, &tls, &ref);
        if (rv != APR_SUCCESS) {
            if (!ref.status) {
                ap_log_error(APLOG_MARK, t->failures ? APLOG_DEBUG : APLOG_WARNING,
                             0, s, PTTHLOGNO(03102) "tunnel to %s: %s",
                             t->pc->ep.url, ref.why ? ref.why : "handshake failed");
            }
            ptth_seat_note_failure(child->conf->seats, SEAT_INDEX(t), ref.status,
                                   ref.why ? ref.why : "handshake failed");
            apr_pool_destroy(ptrans);
            t->failures++;
            ptth_tunnel_transit(t, PTTH_TUN_ST_CLOSED, "handshake failed");
            delay = ptth_backoff_next(&t->backoff);
            if (ref.retry_after >= 0) {
                /* The router said when (RFC 9110 10.2.3). */
                delay = apr_time_from_sec(ref.retry_after);
                if (delay < child->conf->reconnect_min) {
                    delay = child->conf->reconnect_min;
                }
            }
            return ptth_tunnel_stopping(t) ? 0 : delay;
        }
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, PTTHLOGNO(03103)
                     "tunnel to %s: PTTH handshake done%s", t->pc->ep.url,
                     tls ? " (TLS)" : "");
    }
    t->failures = 0;
    {
        char addr[PTTH_SEAT_ADDR_LEN];
        apr_snprintf(addr, sizeof(addr), "%pI", local);
        ptth_seat_note_connected(child->conf->seats, SEAT_INDEX(t), addr);
    }

    ptth_tunnel_transit(t, PTTH_TUN_ST_WAIT_PREFACE, "connected");
    rv = wait_preface(t, sock, tls);
    if (rv != APR_SUCCESS) {
        why = (rv == APR_EINTR) ? "stopping"
            : (rv == APR_EOF) ? "closed by the router before it spoke"
            : "error while waiting for the router";
        ap_log_error(APLOG_MARK, APLOG_INFO, rv == APR_EOF || rv == APR_EINTR
                     ? 0 : rv, s, PTTHLOGNO(03013)
                     "tunnel to %s lost: %s", t->pc->ep.url, why);
        apr_socket_close(sock);
        apr_pool_destroy(ptrans);
        ptth_tunnel_transit(t, PTTH_TUN_ST_CLOSED, why);
        if (ptth_tunnel_stopping(t)) {
            return 0;
        }
        if (apr_time_now() - started >= PTTH_STABLE_AFTER) {
            ptth_backoff_reset(&t->backoff);
            return 0;
        }
        return ptth_backoff_next(&t->backoff);
    }

    apr_atomic_set32(&t->inflight, 0);
    apr_atomic_set32(&t->requests, 0);
    ptth_tunnel_transit(t, PTTH_TUN_ST_SERVING, "router spoke");
    vaddr = t->pc->vaddr ? t->pc->vaddr : child->default_vaddr;
    ptth_serve(t, ptrans, sock, tls, tunnel_conn_id(t), vaddr, &why);

    served = apr_atomic_read32(&t->requests);
    lived = apr_time_now() - started;
    ptth_tunnel_transit(t, PTTH_TUN_ST_CLOSED, why ? why : "session ended");
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, PTTHLOGNO(03014)
                 "tunnel to %s lost after %" APR_TIME_T_FMT ".%03ds and %u "
                 "request(s): %s", t->pc->ep.url, apr_time_sec(lived),
                 (int)(apr_time_msec(lived) % 1000), served,
                 why ? why : "session ended");
    apr_pool_destroy(ptrans);

    if (ptth_tunnel_stopping(t)) {
        return 0;
    }
    if (served > 0 || lived >= PTTH_STABLE_AFTER) {
        /* A healthy tunnel the router closed (EOF, GOAWAY): replace it at
         * once, and forget earlier failures. */
        ptth_backoff_reset(&t->backoff);
        return 0;
    }
    return ptth_backoff_next(&t->backoff);
}

/* Whether another thread of this child holds a seat of t's endpoint.
 * Under child->lock.  mod_http2's workers (H2MaxWorkers) are per child, so
 * tunnels spread over the children serve more streams in parallel: at
 * start, a thread with such a sibling lets the other children claim first
 * and only takes a seat that is still free a second later. */
static int sibling_has_seat(ptth_tunnel *t)
{
    int i;

    for (i = 0; i < t->child->ntunnels; ++i) {
        ptth_tunnel *o = t->child->tunnels[i];
        if (o != t && o->pc == t->pc && o->seat >= 0 && !o->seat_freed) {
            return 1;
        }
    }
    return 0;
}

static void *APR_THREAD_FUNC tunnel_main(apr_thread_t *thd, void *data)
{
    ptth_tunnel *t = data;
    ptth_dialer_child *child = t->child;
    ptth_backend_sconf *conf = child->conf;
    int nseats = ptth_connect_tunnels(conf, t->pc);
    apr_interval_time_t delay = 0;

    while (!ptth_tunnel_stopping(t)) {
        if (t->seat < 0) {
            int spread = 0;

            /* Under the lock: a stop frees the seats of this child. */
            apr_thread_mutex_lock(child->lock);
            if (!ptth_tunnel_stopping(t)) {
                if (!t->spread_done && sibling_has_seat(t)) {
                    spread = 1;
                }
                else {
                    int seat = ptth_seat_claim(conf->seats, t->pc->seat_base,
                                               nseats, child->pid);
                    if (seat >= 0) {
                        t->seat = seat - t->pc->seat_base;
                    }
                }
                t->spread_done = 1;
            }
            apr_thread_mutex_unlock(child->lock);
            if (t->seat < 0) {
                ptth_tunnel_transit(t, PTTH_TUN_ST_IDLE, spread
                                    ? "letting other children take seats first"
                                    : "all seats taken");
                ptth_tunnel_wait(t, NULL, 0, PTTH_SEAT_RECHECK);
                continue;
            }
            t->name = apr_psprintf(t->pool, "%s#%d", t->pc->ep.url, t->seat);
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, child->s, PTTHLOGNO(03015)
                         "tunnel %s: seat %d of %d claimed by pid %u",
                         t->name, t->seat, nseats, (unsigned)child->pid);
            ptth_backoff_reset(&t->backoff);
            delay = 0;
        }
        if (delay > 0) {
            ptth_tunnel_transit(t, PTTH_TUN_ST_BACKOFF, "waiting to re-dial");
            ptth_seat_note_retry(conf->seats, SEAT_INDEX(t), apr_time_now() + delay);
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, child->s, PTTHLOGNO(03016)
                         "tunnel %s: next dial in %" APR_TIME_T_FMT "ms",
                         t->name, apr_time_as_msec(delay));
            if (ptth_tunnel_wait(t, NULL, 0, delay) == APR_EINTR) {
                continue;
            }
        }
        delay = tunnel_once(t);
    }

    ptth_tunnel_transit(t, PTTH_TUN_ST_DONE, "child stopping");

    apr_thread_mutex_lock(child->lock);
    if (t->seat >= 0 && !t->seat_freed) {
        ptth_seat_release(conf->seats, t->pc->seat_base + t->seat, child->pid);
        t->seat_freed = 1;
    }
    t->done = 1;
    apr_thread_cond_broadcast(child->cond);
    apr_thread_mutex_unlock(child->lock);

    /* Return rather than apr_thread_exit(): pthread_exit() unwinds without
     * running the compiler's stack cleanup, which sanitizers report as a
     * bad stack access at thread exit.  The thread's pool is a subpool of
     * t->pool and goes with it. */
    (void)thd;
    return NULL;
}

/*******************************************************************************
 * stop and drain
 ******************************************************************************/

static void shutdown_socket(ptth_tunnel *t, apr_shutdown_how_e how,
                            const char *why)
{
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, t->child->s, PTTHLOGNO(03017)
                 "tunnel %s: shutting down %s: %s", t->name,
                 how == APR_SHUTDOWN_READ ? "the read side" : "both sides",
                 why);
    apr_socket_shutdown(t->sock, how);
    if (how == APR_SHUTDOWN_READ) {
        t->shut_rd = 1;
    }
    else {
        t->shut_rd = t->shut_rdwr = 1;
    }
}

/* Enter (or escalate to) a stop mode and wake every thread. */
static void dialer_stop(ptth_dialer_child *child, ptth_stop_mode mode)
{
    apr_time_t now = apr_time_now();
    int i;

    apr_thread_mutex_lock(child->lock);
    if ((apr_uint32_t)mode <= apr_atomic_read32(&child->stop)) {
        apr_thread_mutex_unlock(child->lock);
        return;
    }
    if (mode == PTTH_STOP_NOW) {
        child->deadline = child->handover = now;
    }
    else {
        apr_interval_time_t h = PTTH_HANDOVER < child->conf->drain_timeout
                                ? PTTH_HANDOVER : child->conf->drain_timeout;
        child->deadline = now + child->conf->drain_timeout;
        child->handover = now + h;
    }
    apr_atomic_set32(&child->stop, mode);
    for (i = 0; i < child->ntunnels; ++i) {
        ptth_tunnel *t = child->tunnels[i];

        /* This child dials no more: let another one take the seat now
         * (make-before-break; the drain below may take a while). */
        if (t->seat >= 0 && !t->seat_freed) {
            ptth_seat_release(child->conf->seats, t->pc->seat_base + t->seat,
                              child->pid);
            t->seat_freed = 1;
        }
        if (mode == PTTH_STOP_NOW && t->sock && !t->shut_rdwr) {
            shutdown_socket(t, APR_SHUTDOWN_READWRITE, "stopping now");
        }
    }
    apr_thread_cond_broadcast(child->cond);
    apr_thread_mutex_unlock(child->lock);

    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, child->s, PTTHLOGNO(03018)
                 "child %u stopping %s", (unsigned)child->pid,
                 mode == PTTH_STOP_NOW ? "now"
                 : "gracefully (requests in flight may finish)");
    for (i = 0; i < child->ntunnels; ++i) {
        if (child->tunnels[i]->pollset) {
            apr_pollset_wakeup(child->tunnels[i]->pollset);
        }
    }
}

/* Wait until every thread has finished, or the drain deadline: then the
 * remaining tunnels are shut down and waited for. */
static void dialer_drain(ptth_dialer_child *child)
{
    int i, alive;

    apr_thread_mutex_lock(child->lock);
    for (;;) {
        apr_time_t now = apr_time_now(), wake = child->deadline;
        apr_interval_time_t timeout;

        alive = 0;
        for (i = 0; i < child->ntunnels; ++i) {
            ptth_tunnel *t = child->tunnels[i];

            if (t->done) {
                continue;
            }
            ++alive;
            if (!t->sock || t->shut_rdwr) {
                continue;
            }
            if (now >= child->deadline) {
                shutdown_socket(t, APR_SHUTDOWN_READWRITE,
                                "PTTHDrainTimeout reached");
            }
            else if (!child->async && !t->shut_rd
                     && apr_atomic_read32(&t->inflight) == 0) {
                /* Sync MPMs: mod_http2 holds the thread, and an idle
                 * session sits in its keepalive wait without looking at
                 * the stop.  With no stream open (new ones are held back
                 * by the gate), EOF makes it send its final GOAWAY and
                 * end. */
                if (now >= child->handover) {
                    shutdown_socket(t, APR_SHUTDOWN_READ,
                                    "no stream in flight");
                }
                else if (child->handover < wake) {
                    wake = child->handover;
                }
            }
        }
        if (!alive) {
            break;
        }
        /* Past the deadline the sockets are shut; the threads finish as
         * soon as mod_http2 has cleaned up, which signals the cond. */
        timeout = (wake > now) ? wake - now : apr_time_from_sec(1);
        apr_thread_cond_timedwait(child->cond, child->lock, timeout);
    }
    apr_thread_mutex_unlock(child->lock);
}

/* pchild pre-cleanup: runs before mod_http2's (see register_hooks). */
static apr_status_t dialer_child_cleanup(void *data)
{
    ptth_dialer_child *child = data;
    apr_status_t st;
    int i;

    if (apr_atomic_read32(&child->stop) == PTTH_RUNNING) {
        /* No child_stopping (e.g. exit after a startup error). */
        dialer_stop(child, PTTH_STOP_NOW);
    }
    dialer_drain(child);
    for (i = 0; i < child->ntunnels; ++i) {
        if (child->tunnels[i]->thread) {
            apr_thread_join(&st, child->tunnels[i]->thread);
        }
    }
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, child->s, PTTHLOGNO(03019)
                 "child %u: all %d dialer thread(s) joined",
                 (unsigned)child->pid, child->ntunnels);
    the_child = NULL;
    return APR_SUCCESS;
}

/* prefork runs child_stopping from its SIGTERM/SIGHUP handler (just_die)
 * for a hard stop or restart, and from the normal code path otherwise.
 * The handler runs with its signal blocked (apr_signal() sets no
 * SA_NODEFER), which tells the two apart. */
static int in_hard_stop_signal(void)
{
    sigset_t cur;

    if (pthread_sigmask(SIG_BLOCK, NULL, &cur) != 0) {
        return 0;
    }
    return sigismember(&cur, SIGTERM) == 1 || sigismember(&cur, SIGHUP) == 1;
}

void ptth_dialer_child_stopping(apr_pool_t *pchild, int graceful)
{
    ptth_dialer_child *child = the_child;

    (void)pchild;
    if (!child) {
        return;
    }
    if (child->prefork) {
        graceful = !in_hard_stop_signal();
    }
    dialer_stop(child, graceful ? PTTH_STOP_GRACEFUL : PTTH_STOP_NOW);
    if (child->prefork && graceful) {
        /* The process exits right after the child_stopping hooks.  (A hard
         * stop does not wait here: mod_http2's child_stopping aborts the
         * streams next, and the pchild pre-cleanup joins.) */
        dialer_drain(child);
    }
}

/*******************************************************************************
 * child start
 ******************************************************************************/

static apr_status_t tunnel_create(ptth_tunnel **pt, ptth_dialer_child *child,
                                  const ptth_connect *pc, int no)
{
    apr_allocator_t *allocator;
    ptth_tunnel *t;
    apr_status_t rv;

    t = apr_pcalloc(child->pool, sizeof(*t));
    t->child = child;
    t->pc = pc;
    t->no = no;
    t->seat = -1;
    t->state = PTTH_TUN_ST_IDLE;

    /* Own allocator: the thread allocates while the main thread uses
     * pchild's. */
    rv = apr_allocator_create(&allocator);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    rv = apr_pool_create_ex(&t->pool, child->pool, NULL, allocator);
    if (rv != APR_SUCCESS) {
        apr_allocator_destroy(allocator);
        return rv;
    }
    apr_allocator_owner_set(allocator, t->pool);
    apr_pool_tag(t->pool, "ptth_dialer");
    t->name = apr_psprintf(t->pool, "%s(thread %d)", pc->ep.url, no);

    rv = apr_pollset_create(&t->pollset, 1, t->pool, APR_POLLSET_WAKEABLE);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    ptth_backoff_init(&t->backoff, child->conf->reconnect_min,
                      child->conf->reconnect_max);
    *pt = t;
    return APR_SUCCESS;
}

void ptth_dialer_child_init(apr_pool_t *pchild, server_rec *s)
{
    ptth_backend_sconf *conf = ptth_backend_sconf_get(s);
    ptth_dialer_child *child;
    apr_threadattr_t *attr;
    sigset_t all, old;
    const char *mpm;
    int i, k, n, hard_daemons = 0, hard_threads = 0;
    apr_status_t rv;

    if (!conf->seats) {
        return;
    }

    child = apr_pcalloc(pchild, sizeof(*child));
    child->s = s;
    child->conf = conf;
    child->pool = pchild;
    child->pid = (apr_uint32_t)getpid();
    if ((rv = apr_thread_mutex_create(&child->lock, APR_THREAD_MUTEX_DEFAULT,
                                      pchild)) != APR_SUCCESS
        || (rv = apr_thread_cond_create(&child->cond, pchild)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, PTTHLOGNO(03020)
                     "cannot create the dialer's lock; no tunnels from "
                     "this child");
        return;
    }

    if (ap_mpm_query(AP_MPMQ_IS_ASYNC, &child->async) != APR_SUCCESS) {
        child->async = 0;
    }
    mpm = ap_show_mpm();
    child->prefork = !strcmp(mpm, "prefork");
    if (!strcmp(mpm, "event")) {
        child->event_module = ap_find_linked_module("event.c");
    }

    child->default_vaddr = conf->vaddr;
    if (!child->default_vaddr && ap_listeners) {
        child->default_vaddr = ap_listeners->bind_addr;
    }

    ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &hard_daemons);
    ap_mpm_query(AP_MPMQ_HARD_LIMIT_THREADS, &hard_threads);
    child->id_base = (long)(hard_daemons > 0 ? hard_daemons : 1)
                     * (hard_threads > 0 ? hard_threads : 1) + 1;
    if (child->id_base < 1000000) {
        child->id_base = 1000000;
    }

    child->tunnels = apr_pcalloc(pchild, sizeof(ptth_tunnel *)
                                 * (apr_size_t)conf->total_seats);
    for (i = 0; i < conf->connects->nelts; ++i) {
        const ptth_connect *pc = &APR_ARRAY_IDX(conf->connects, i,
                                                ptth_connect);

        n = ptth_connect_tunnels(conf, pc);
        for (k = 0; k < n; ++k) {
            ptth_tunnel *t;

            rv = tunnel_create(&t, child, pc, k);
            if (rv != APR_SUCCESS) {
                ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, PTTHLOGNO(03021)
                             "cannot set up a dialer for %s", pc->ep.url);
                continue;
            }
            child->tunnels[child->ntunnels++] = t;
        }
    }

    apr_threadattr_create(&attr, pchild);
    if (ap_thread_stacksize) {
        apr_threadattr_stacksize_set(attr, ap_thread_stacksize);
    }

    /* Block every signal in our threads: SIGTERM, SIGUSR1, SIGHUP must
     * reach the MPM's threads, which act on them.  The new thread inherits
     * the mask in effect when it is created. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (i = 0; i < child->ntunnels; ++i) {
        ptth_tunnel *t = child->tunnels[i];

        rv = ap_thread_create(&t->thread, attr, tunnel_main, t, t->pool);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, PTTHLOGNO(03022)
                         "cannot start a dialer thread for %s",
                         t->pc->ep.url);
            t->thread = NULL;
            t->done = 1;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    apr_pool_pre_cleanup_register(pchild, child, dialer_child_cleanup);
    the_child = child;

    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, PTTHLOGNO(03023)
                 "child %u: %d dialer thread(s) under %s%s, virtual address "
                 "%pI", (unsigned)child->pid, child->ntunnels, mpm,
                 child->async ? " (async)" : "", child->default_vaddr);
}
