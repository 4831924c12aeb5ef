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

/* Serving a dialed connection: build the conn_rec, give it a base server
 * that lets mod_http2 take it, run the connection hooks, and under an async
 * MPM (event) play the MPM's part between mod_http2's passes (see "How the
 * backend serves a dialed connection" in docs/architecture.md).
 *
 * Why not ap_process_connection(): it would pick the base server by local
 * address and run the hooks, but mod_http2 only serves prior-knowledge h2c
 * when the base server's Protocols list "h2c" (h2_c1_allows_direct() ->
 * ap_is_allowed_protocol(), H2Direct being on by default for cleartext),
 * and in sync MPMs it closes an idle session after KeepAliveTimeout, before
 * the first stream after Timeout (h2_session_process(), reading
 * session->s, the server given to h2_conn_ctx_create_for_c1(), which is
 * c->base_server).  So we do its steps ourselves and put a shallow copy of
 * the chosen server in c->base_server: Protocols plus "h2c", very long
 * Timeout/KeepAliveTimeout.  Keeping the tunnel alive is the router's job
 * (HTTP/2 PING, RFC 9113 section 6.7).  Everything per stream uses the real
 * server again: the per-stream connections (c2) get it back in
 * pre_connection, requests are matched against the real name-based virtual
 * hosts through c->vhost_lookup_data, and mod_http2 takes each stream's
 * timeout from r->server.
 */

#include <errno.h>
#include <sys/socket.h>

#include <apr_atomic.h>
#include <apr_portable.h>
#include <apr_strings.h>

#include <httpd.h>
#include <http_config.h>
#include <http_connection.h>
#include <http_core.h>
#include <http_log.h>
#include <http_main.h>
#include <http_protocol.h>
#include <http_vhost.h>
#include <util_filter.h>

#include "ptth_backend.h"
#include "ptth_dialed.h"
#include "ptth_gate.h"
#include "ptth_h2s.h"
#include "ptth_serve.h"
#include "ptth_tls_io.h"

/* While an idle session still holds requests that are not torn down, how
 * long the loop waits before it hands the session back to mod_http2 (as if
 * the socket were readable), doubling up to the maximum. */
#define PTTH_PURGE_NAP_MIN         apr_time_from_msec(50)
#define PTTH_PURGE_NAP_MAX         apr_time_from_sec(1)

/* "Forever" for mod_http2's idle waits.  Not larger: mod_http2 polls with
 * it, and the poll takes milliseconds in an int. */
#define PTTH_TUNNEL_IDLE_TIMEOUT   apr_time_from_sec(24 * 3600)

/* The mpm_event per-connection state is private to event.c; mod_http2 copies
 * the MPM's conn config of the tunnel to every stream, and event's
 * pre_connection/pre_read_request/post_read_request hooks then use it, so
 * it must exist: a zeroed block larger than event_conn_state_t. */
#define PTTH_EVENT_CONN_STATE_SIZE 4096

/**
 * A tunnel connection, in its conn_config (ptrans).  Per-stream connections
 * find it through c->master.
 */
typedef struct ptth_serve_conn {
    ptth_dialed *d;
    conn_rec *c;
    apr_socket_t *sock;
    server_rec *orig;       /* the server the virtual address selected */
    server_rec *tunnel_s;   /* its copy in c->base_server, for mod_http2 */
    ptth_tls_io *tls;       /* secure mode over TLS, else NULL */
    apr_interval_time_t nap;   /* see PTTH_PURGE_NAP_MIN */
} ptth_serve_conn;

/*******************************************************************************
 * the tunnel's base server
 ******************************************************************************/

static apr_array_header_t *protocols_with_h2c(apr_pool_t *p,
                                              apr_array_header_t *protos)
{
    apr_array_header_t *a;

    if (!protos || protos->nelts == 0) {
        /* No Protocols: httpd allows http/1.1 only. */
        a = apr_array_make(p, 2, sizeof(const char *));
        APR_ARRAY_PUSH(a, const char *) = "h2c";
        APR_ARRAY_PUSH(a, const char *) = AP_PROTOCOL_HTTP1;
        return a;
    }
    if (ap_array_str_contains(protos, "h2c")) {
        return protos;
    }
    a = apr_array_copy(p, protos);
    APR_ARRAY_PUSH(a, const char *) = "h2c";
    return a;
}

static server_rec *tunnel_server(server_rec *orig, apr_pool_t *p)
{
    server_rec *s = apr_pmemdup(p, orig, sizeof(*s));
    core_server_config *core;
    ap_conf_vector_t *v;
    module *m;

    /* A config vector of the right length (ap_create_conn_config sizes it
     * like every other), holding the same per-module configs... */
    v = ap_create_conn_config(p);
    for (m = ap_top_module; m; m = m->next) {
        ap_set_module_config(v, m,
                             ap_get_module_config(orig->module_config, m));
    }
    /* ...except core's, whose Protocols gains h2c. */
    core = apr_pmemdup(p, ap_get_core_module_config(orig->module_config),
                       sizeof(*core));
    core->protocols = protocols_with_h2c(p, core->protocols);
    ap_set_module_config(v, &core_module, core);

    s->module_config = v;
    s->timeout = PTTH_TUNNEL_IDLE_TIMEOUT;
    s->keep_alive_timeout = PTTH_TUNNEL_IDLE_TIMEOUT;
    return s;
}

/*******************************************************************************
 * the event "mini MPM"
 ******************************************************************************/

/* Flush what the output filters hold, as the event MPM does in
 * WRITE_COMPLETION: the last (core) output filter with no brigade. */
static apr_status_t flush_output(conn_rec *c)
{
    ap_filter_t *f = c->output_filters;

    if (!f) {
        return APR_SUCCESS;
    }
    while (f->next) {
        f = f->next;
    }
    return f->frec->filter_func.out_func(f, NULL);
}

/* Wait for the socket as an MPM would, but:
 *  - with no stream open (idle keepalive, or a fresh session waiting for
 *    its first stream) there is no time limit: the router decides when an
 *    idle tunnel is dead;
 *  - with streams open the limit is the virtual host's Timeout, like
 *    the event MPM's for a session blocked on flow control (RFC 9113
 *    section 5.2): a router that stops reading loses the tunnel;
 *  - on a graceful stop an idle tunnel stays for the handover period (see
 *    ptth_dialer.h), a busy one until PTTHDrainTimeout;
 *  - over TLS, input may wait above the socket (decrypted in OpenSSL or
 *    in the filter, ptth_tls_io.h), where a poll does not see it;
 *  - idle, but with requests that are not torn down yet, it returns after a
 *    nap as if the socket were ready.  mod_http2 destroys a finished
 *    stream, and with it the request and its access log line, in the
 *    session's processing; a stream whose worker ends after the session
 *    returned to the MPM waits for the connection's next event (an event
 *    MPM client's is its next request or the keepalive close; a tunnel's
 *    may be minutes away).
 * Returns NULL when the socket is ready (or the nap is over), else why
 * the connection ends. */
static const char *wait_io(ptth_serve_conn *sc, apr_int16_t events, int idle)
{
    ptth_dialed *d = sc->d;

    for (;;) {
        if ((events & APR_POLLIN) && sc->tls
            && ptth_tls_io_input_pending(sc->tls)
            && ptth_dialed_stopping(d) != PTTH_STOP_NOW) {
            return NULL;
        }
        ptth_stop_mode mode = ptth_dialed_stopping(d);
        /* Waiting to write is never "quiet": output that the router does
         * not take within Timeout ends the tunnel, streams or not. */
        int quiet = !(events & APR_POLLOUT)
                    && (idle || apr_atomic_read32(&d->inflight) == 0);
        int nap = quiet && idle && apr_atomic_read32(&d->unfinished) > 0;
        apr_interval_time_t timeout = nap ? sc->nap : quiet ? -1
                                    : sc->orig->timeout;
        int io_limit = !quiet;
        apr_status_t rv;

        if (!nap) {
            sc->nap = PTTH_PURGE_NAP_MIN;
        }

        if (mode == PTTH_STOP_NOW) {
            return "stopping";
        }
        if (mode == PTTH_STOP_GRACEFUL) {
            apr_time_t now = apr_time_now(), drain, handover, limit;

            ptth_dialed_deadlines(d, &drain, &handover);
            if (quiet) {
                if (now >= handover) {
                    return "stopping, nothing in flight";
                }
                limit = handover;
            }
            else {
                ptth_dialed_transit(d, PTTH_DIALED_DRAINING,
                                    "stopping, requests in flight");
                if (now >= drain) {
                    return "PTTHDrainTimeout reached";
                }
                limit = drain;
            }
            if (timeout < 0 || limit - now < timeout) {
                timeout = limit - now;
                io_limit = 0;
                nap = 0;
            }
        }

        rv = ptth_dialed_wait(d, sc->sock, events, timeout);
        if (rv == APR_SUCCESS) {
            return NULL;
        }
        if (rv == APR_EINTR) {
            continue;   /* woken for a stop: look again */
        }
        if (APR_STATUS_IS_TIMEUP(rv)) {
            if (nap) {
                ap_log_cerror(APLOG_MARK, APLOG_TRACE1, 0, sc->c,
                              "tunnel %s: idle with %u request(s) not torn "
                              "down after %dms: back to mod_http2", d->name,
                              apr_atomic_read32(&d->unfinished),
                              (int)apr_time_as_msec(sc->nap));
                sc->nap = sc->nap * 2 < PTTH_PURGE_NAP_MAX ? sc->nap * 2
                                                           : PTTH_PURGE_NAP_MAX;
                return NULL;
            }
            if (io_limit) {
                return "no progress within Timeout (router stopped reading?)";
            }
            continue;   /* a stop deadline: look again */
        }
        ap_log_cerror(APLOG_MARK, APLOG_ERR, rv, sc->c, PTTHLOGNO(03030)
                      "tunnel %s: poll failed", d->name);
        return "poll failed";
    }
}

/* What process_connection left in c->cs decides what happens next, as in
 * the event MPM's process_socket().  Returns NULL to re-enter the
 * process_connection hooks, else why the connection ends. */
static const char *wait_for_next(ptth_serve_conn *sc)
{
    conn_rec *c = sc->c;
    conn_state_t *cs = c->cs;
    const char *why;

    for (;;) {
        switch (cs->state) {
        case CONN_STATE_ASYNC_WAITIO:
            /* mod_http2: a fresh session, or all streams blocked on flow
             * control; come back when the socket is ready. */
            return wait_io(sc, cs->sense == CONN_SENSE_WANT_WRITE
                               ? APR_POLLOUT : APR_POLLIN, 0);

        case CONN_STATE_WRITE_COMPLETION:
            if (flush_output(c) != APR_SUCCESS) {
                return "write to the router failed";
            }
            if (c->data_in_output_filters
                || cs->sense == CONN_SENSE_WANT_READ) {
                /* Output pending, or (mod_http2 on MPMs without
                 * AP_MPMQ_CAN_WAITIO) "wait for input, then call me". */
                why = wait_io(sc, cs->sense == CONN_SENSE_WANT_READ
                                  ? APR_POLLIN : APR_POLLOUT, 0);
                if (why) {
                    return why;
                }
                if (c->clogging_input_filters) {
                    return NULL;
                }
                cs->sense = CONN_SENSE_DEFAULT;
                continue;
            }
            if (c->keepalive != AP_CONN_KEEPALIVE || c->aborted) {
                return "session ended";
            }
            if (c->data_in_input_filters) {
                return NULL;
            }
            cs->state = CONN_STATE_KEEPALIVE;
            return wait_io(sc, APR_POLLIN, 1);

        case CONN_STATE_KEEPALIVE:
            return wait_io(sc, APR_POLLIN, 1);

        default:
            return "session ended";
        }
    }
}

static const char *serve_async(ptth_serve_conn *sc, int rc)
{
    conn_rec *c = sc->c;
    conn_state_t *cs = c->cs;
    const char *why;

    for (;;) {
        /* The event MPM's reading of the hooks' result. */
        if (rc == DONE) {
            rc = OK;
        }
        if (rc == OK) {
            if (cs->state == CONN_STATE_PROCESSING) {
                cs->state = CONN_STATE_LINGER;
            }
            else if (cs->state == CONN_STATE_KEEPALIVE) {
                cs->state = CONN_STATE_WRITE_COMPLETION;
            }
        }
        if (rc != OK) {
            return "connection processing failed";
        }
        if (c->aborted) {
            return "connection aborted";
        }
        if (cs->state != CONN_STATE_ASYNC_WAITIO
            && cs->state != CONN_STATE_WRITE_COMPLETION) {
            /* LINGER; SUSPENDED is not supported on tunnels (the event
             * MPM's suspend/resume machinery does not know them). */
            if (cs->state == CONN_STATE_SUSPENDED) {
                ap_log_cerror(APLOG_MARK, APLOG_WARNING, 0, c, PTTHLOGNO(03031)
                              "tunnel %s: a module suspended the connection, "
                              "which tunnels do not support; closing",
                              sc->d->name);
            }
            return NULL;
        }

        why = wait_for_next(sc);
        if (why) {
            return why;
        }
        cs->state = CONN_STATE_PROCESSING;
        cs->sense = CONN_SENSE_DEFAULT;
        rc = ap_run_process_connection(c);
    }
}

/*******************************************************************************
 * serving
 ******************************************************************************/

/* After the session: did the router close the connection? */
static const char *end_reason(ptth_serve_conn *sc, apr_socket_t *sock)
{
    apr_os_sock_t fd;
    char b;

    if (sc->tls) {
        return ptth_tls_io_peer_closed(sc->tls) ? "closed by the router"
                                                : "HTTP/2 session ended";
    }
    if (apr_os_sock_get(&fd, sock) == APR_SUCCESS
        && recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {
        return "closed by the router";
    }
    return "HTTP/2 session ended";
}

apr_status_t ptth_serve(ptth_dialed *d, apr_pool_t *ptrans, apr_socket_t *sock,
                        ptth_tls_conn *tls, long id, apr_sockaddr_t *vaddr,
                        const char **why)
{
    ptth_serve_conn *sc;
    conn_rec *c;
    int rc;

    *why = NULL;
    c = ap_run_create_connection(ptrans, ap_server_conf, sock, id, NULL,
                                 apr_bucket_alloc_create(ptrans));
    if (!c) {
        *why = "no connection could be created";
        apr_socket_close(sock);
        return APR_EGENERAL;
    }
    c->current_thread = d->thread;

    /* Virtual host selection as for a connection accepted on vaddr: the
     * IP-based set, or the name-based set of *:port; the names are
     * matched per request via c->vhost_lookup_data. */
    if (vaddr && apr_sockaddr_info_copy(&c->local_addr, vaddr, c->pool)
                 == APR_SUCCESS) {
        apr_sockaddr_ip_get(&c->local_ip, c->local_addr);
    }
    ap_update_vhost_given_ip(c);

    sc = apr_pcalloc(c->pool, sizeof(*sc));
    sc->d = d;
    sc->c = c;
    sc->sock = sock;
    sc->nap = PTTH_PURGE_NAP_MIN;
    sc->orig = c->base_server;
    sc->tunnel_s = tunnel_server(c->base_server, c->pool);
    c->base_server = sc->tunnel_s;
    ap_set_module_config(c->conn_config, &ptth_backend_module, sc);

    if (d->mpm->event_module) {
        ap_set_module_config(c->conn_config, d->mpm->event_module,
                             apr_pcalloc(c->pool, PTTH_EVENT_CONN_STATE_SIZE));
    }
    if (d->mpm->async) {
        /* Without c->cs mod_http2 cannot tell us "idle, call again" from
         * "done" (h2_c1_run). */
        c->cs = apr_pcalloc(c->pool, sizeof(*c->cs));
        c->cs->state = CONN_STATE_PROCESSING;
        c->cs->sense = CONN_SENSE_DEFAULT;
    }

    ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, c, PTTHLOGNO(03032)
                  "tunnel %s: serving as %pI, virtual host %s:%u", d->name,
                  c->local_addr, sc->orig->server_hostname,
                  (unsigned)c->local_addr->port);

    ptth_dialed_set_socket(d, sock);
    rc = ap_run_pre_connection(c, sock);
    if (rc != OK && rc != DONE) {
        c->aborted = 1;
    }
    if (tls && !c->aborted) {
        /* Below the gate and mod_http2, above the core filters: they see
         * the cleartext h2c stream, the socket the TLS records. */
        sc->tls = ptth_tls_io_add(c, tls);
        if (!sc->tls) {
            ap_log_cerror(APLOG_MARK, APLOG_ERR, 0, c, PTTHLOGNO(03033)
                          "tunnel %s: cannot set up the TLS filters",
                          d->name);
            c->aborted = 1;
        }
    }
    /* core_pre_connection set the socket timeout from our base server;
     * blocking writes to the router keep the virtual host's Timeout. */
    apr_socket_timeout_set(sock, sc->orig->timeout);

    if (c->aborted) {
        /* nothing to serve */
    }
    else if (d->workers) {
        /* PTTHStreamPath ptth: our own HTTP/2 session (ptth_h2s.h). */
        *why = ptth_h2s_serve(d, c, sc->orig, sock, sc->tls);
    }
    else {
        ptth_gate_add(c, d);
        rc = ap_run_process_connection(c);
        if (c->cs) {
            *why = serve_async(sc, rc);
        }
    }
    if (!*why) {
        *why = c->aborted ? "connection aborted"
             : ptth_dialed_stopping(d) ? "stopping, drained"
             : end_reason(sc, sock);
    }

    /* Withdraw the socket before it is closed, so a drain never shuts down
     * a reused descriptor. */
    ptth_dialed_set_socket(d, NULL);
    if (ptth_dialed_stopping(d) == PTTH_STOP_NOW) {
        /* No lingering: pre_close hooks still run. */
        c->aborted = 1;
    }
    /* pre_close hooks (mod_http2: GOAWAY with the last stream it processed,
     * RFC 9113 section 6.8, and session cleanup), then close. */
    ap_lingering_close(c);
    return APR_SUCCESS;
}

/*******************************************************************************
 * per-stream connections and requests
 ******************************************************************************/

static ptth_serve_conn *tunnel_of(conn_rec *c)
{
    if (!c->master) {
        return NULL;
    }
    return ap_get_module_config(c->master->conn_config, &ptth_backend_module);
}

ptth_dialed *ptth_serve_dialed_of(conn_rec *c)
{
    ptth_serve_conn *sc = tunnel_of(c);

    return sc ? sc->d : NULL;
}

int ptth_serve_pre_connection(conn_rec *c, void *csd)
{
    ptth_serve_conn *sc = tunnel_of(c);

    (void)csd;
    if (sc && c->base_server == sc->tunnel_s) {
        /* mod_http2 copied the tunnel conn_rec into this stream's; the
         * copied server was only for the session.  A request for an unknown
         * host then lands on the real default server, with its Timeout. */
        c->base_server = sc->orig;
    }
    return OK;
}

static apr_status_t request_torn_down(void *data)
{
    ptth_dialed *d = data;

    apr_atomic_dec32(&d->unfinished);
    return APR_SUCCESS;
}

int ptth_serve_post_read_request(request_rec *r)
{
    ptth_serve_conn *sc = tunnel_of(r->connection);

    if (!sc) {
        return DECLINED;
    }
    /* Before mod_http2 takes the stream's timeout from r->server: never
     * the tunnel's copy (see ptth_serve_pre_connection). */
    if (r->server == sc->tunnel_s) {
        r->server = sc->orig;
    }
    /* Counted until its pool goes (see wait_io).  An internal redirect
     * runs this hook again with the same pool: two counts, two cleanups.
     * The stream's pool lies under the tunnel's, so the count is back
     * before the connection ends. */
    apr_atomic_inc32(&sc->d->unfinished);
    apr_pool_cleanup_register(r->pool, sc->d, request_torn_down,
                              apr_pool_cleanup_null);
    return DECLINED;
}
