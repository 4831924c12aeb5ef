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

/* One dial of a dialer thread (ptth_dialer.h): connect to the router,
 * secure mode's TLS and handshake (ptth_secure.c), wait for the router's
 * first bytes, serve the connection (ptth_serve.c), and decide how long to
 * wait before the next dial (docs/protocol.md section 3, "Re-dial").  The
 * dialed connection's state machine is in ptth_dialed.h. */

#include <errno.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <apr_atomic.h>
#include <apr_portable.h>
#include <apr_strings.h>

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <ap_mpm.h>
#include <mpm_common.h>

#include "ptth_backend.h"
#include "ptth_dialer.h"
#include "ptth_io.h"
#include "ptth_serve.h"
#include "ptth_secure.h"

/* TCP keepalive on idle tunnels: notices a router host that vanished
 * without a FIN (the router's PINGs keep a live tunnel busy anyway). */
#define PTTH_KEEPIDLE_SEC   60
#define PTTH_KEEPINTVL_SEC  10
#define PTTH_KEEPCNT        6

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

/* Non-blocking connect, waited for in the connection's pollset so that a
 * stop interrupts it.  Every address the name resolves to is tried in turn. */
static apr_status_t dial_connect(ptth_dialer_thread *th, apr_pool_t *ptrans,
                                 apr_socket_t **psock)
{
    const ptth_endpoint *ep = &th->pc->ep;
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
            rv = ptth_dialed_wait(th->d, sock, APR_POLLOUT,
                                  th->child->conf->connect_timeout);
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
static apr_status_t wait_preface(ptth_dialed *d, apr_socket_t *sock,
                                 ptth_tls_conn *tls)
{
    apr_os_sock_t fd;
    apr_status_t rv;
    char b;
    ssize_t n;

    apr_os_sock_get(&fd, sock);
    for (;;) {
        ptth_stop_mode mode = ptth_dialed_stopping(d);
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

            ptth_dialed_deadlines(d, &drain, &handover);
            timeout = handover - apr_time_now();
            if (timeout <= 0) {
                return APR_EINTR;
            }
        }
        /* TLS may need to write before it reads on (ptth_io_wants). */
        rv = ptth_dialed_wait(d, sock, tls ? ptth_io_wants(tls->ssl, APR_POLLIN)
                                           : APR_POLLIN, timeout);
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

static long dial_conn_id(ptth_dialer_thread *th)
{
    int gen = 0;

    /* Unique in the server at any time: a seat has at most one tunnel, and
     * the two generations alive during a graceful restart alternate in
     * parity.  id_base lies above the MPM's child * thread ids. */
    ap_mpm_query(AP_MPMQ_GENERATION, &gen);
    return th->child->id_base
           + (long)(gen & 1) * th->child->conf->total_seats
           + th->pc->seat_base + th->seat;
}

apr_interval_time_t ptth_dial_once(ptth_dialer_thread *th)
{
    ptth_dialer_child *child = th->child;
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
    apr_pool_create_ex(&ptrans, th->d->pool, NULL, allocator);
    apr_allocator_owner_set(allocator, ptrans);
    apr_pool_tag(ptrans, "ptth_dialed_conn");

    ptth_dialed_transit(th->d, PTTH_DIALED_CONNECTING, "dialing");
    rv = dial_connect(th, ptrans, &sock);
    if (rv != APR_SUCCESS) {
        apr_pool_destroy(ptrans);
        if (rv == APR_EINTR || ptth_dialed_stopping(th->d)) {
            return 0;
        }
        /* Say it once per outage, not at every retry. */
        ap_log_error(APLOG_MARK, th->failures ? APLOG_DEBUG : APLOG_WARNING,
                     rv, s, PTTHLOGNO(03011)
                     "tunnel %s: cannot connect%s", th->d->name,
                     APR_STATUS_IS_TIMEUP(rv) ? " (PTTHConnectTimeout)" : "");
        th->failures++;
        {
            char why_c[PTTH_SEAT_REASON_LEN];

            apr_snprintf(why_c, sizeof(why_c), "cannot connect: %pm%s", &rv,
                         APR_STATUS_IS_TIMEUP(rv) ? " (PTTHConnectTimeout)" : "");
            ptth_dialed_note_failure(th->d, 0, why_c);
        }
        ptth_dialed_transit(th->d, PTTH_DIALED_CLOSED, "connect failed");
        return ptth_backoff_next(&th->backoff);
    }

    apr_socket_addr_get(&local, APR_LOCAL, sock);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, PTTHLOGNO(03012)
                 "tunnel to %s established (local %pI, seat %d%s)",
                 th->pc->ep.url, local, th->seat,
                 th->failures ? ", after failed attempts" : "");
    started = apr_time_now();

    if (th->pc->ep.scheme != PTTH_EP_TCP) {
        /* Secure mode: TLS and the PTTH handshake first (ptth_secure.c). */
        ptth_refusal ref;
        apr_interval_time_t delay;

        rv = ptth_secure_establish(&th->pc->ep, &th->pc->secure, ptrans, sock,
                                   child->conf->connect_timeout, &tls, &ref);
        if (rv != APR_SUCCESS) {
            if (!ref.status) {
                ap_log_error(APLOG_MARK,
                             th->failures ? APLOG_DEBUG : APLOG_WARNING, 0, s,
                             PTTHLOGNO(03102) "tunnel to %s: %s",
                             th->pc->ep.url,
                             ref.why ? ref.why : "handshake failed");
            }
            ptth_dialed_note_failure(th->d, ref.status,
                                     ref.why ? ref.why : "handshake failed");
            apr_pool_destroy(ptrans);
            th->failures++;
            ptth_dialed_transit(th->d, PTTH_DIALED_CLOSED, "handshake failed");
            delay = ptth_backoff_next(&th->backoff);
            if (ref.retry_after >= 0) {
                /* The router said when (RFC 9110 10.2.3). */
                delay = apr_time_from_sec(ref.retry_after);
                if (delay < child->conf->reconnect_min) {
                    delay = child->conf->reconnect_min;
                }
            }
            return ptth_dialed_stopping(th->d) ? 0 : delay;
        }
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, PTTHLOGNO(03103)
                     "tunnel to %s: PTTH handshake done%s", th->pc->ep.url,
                     tls ? " (TLS)" : "");
    }
    th->failures = 0;
    {
        char addr[PTTH_SEAT_ADDR_LEN];

        apr_snprintf(addr, sizeof(addr), "%pI", local);
        ptth_dialed_note_connected(th->d, addr);
    }

    ptth_dialed_transit(th->d, PTTH_DIALED_WAIT_PREFACE, "connected");
    rv = wait_preface(th->d, sock, tls);
    if (rv != APR_SUCCESS) {
        why = (rv == APR_EINTR) ? "stopping"
            : (rv == APR_EOF) ? "closed by the router before it spoke"
            : "error while waiting for the router";
        ap_log_error(APLOG_MARK, APLOG_INFO, rv == APR_EOF || rv == APR_EINTR
                     ? 0 : rv, s, PTTHLOGNO(03013)
                     "tunnel to %s lost: %s", th->pc->ep.url, why);
        apr_socket_close(sock);
        apr_pool_destroy(ptrans);
        ptth_dialed_transit(th->d, PTTH_DIALED_CLOSED, why);
        if (ptth_dialed_stopping(th->d)) {
            return 0;
        }
        if (apr_time_now() - started >= PTTH_STABLE_AFTER) {
            ptth_backoff_reset(&th->backoff);
            return 0;
        }
        return ptth_backoff_next(&th->backoff);
    }

    apr_atomic_set32(&th->d->inflight, 0);
    apr_atomic_set32(&th->d->requests, 0);
    ptth_dialed_transit(th->d, PTTH_DIALED_SERVING, "router spoke");
    vaddr = th->pc->vaddr ? th->pc->vaddr : child->default_vaddr;
    ptth_serve(th->d, ptrans, sock, tls, dial_conn_id(th), vaddr, &why);

    served = apr_atomic_read32(&th->d->requests);
    lived = apr_time_now() - started;
    ptth_dialed_transit(th->d, PTTH_DIALED_CLOSED, why ? why : "session ended");
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, PTTHLOGNO(03014)
                 "tunnel to %s lost after %" APR_TIME_T_FMT ".%03ds and %u "
                 "request(s): %s", th->pc->ep.url, apr_time_sec(lived),
                 (int)(apr_time_msec(lived) % 1000), served,
                 why ? why : "session ended");
    apr_pool_destroy(ptrans);

    if (ptth_dialed_stopping(th->d)) {
        return 0;
    }
    if (served > 0 || lived >= PTTH_STABLE_AFTER) {
        /* A healthy tunnel the router closed (EOF, GOAWAY): replace it at
         * once, and forget earlier failures. */
        ptth_backoff_reset(&th->backoff);
        return 0;
    }
    return ptth_backoff_next(&th->backoff);
}
