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

/* The hub process: its event loop, signals and shutdown.
 *
 * Hub states (logged at info):
 *   RUNNING   accepts tunnels and links
 *   DRAINING  (SIGUSR1: a new generation took over) stops accepting,
 *             fails waiting requests with SHUTDOWN so children retry on
 *             the new hub, lets streams finish, sends GOAWAY to each idle
 *             tunnel so its backend re-dials the new hub, exits when idle
 *             or at PTTHDrainTimeout
 *   STOPPING  (SIGTERM: httpd stops) closes everything and exits */

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

#include <apr_portable.h>
#include <apr_strings.h>

#include <ap_listen.h>
#include <ap_mpm.h>

#include "ptth_hub.h"
#include "ptth_admission.h"
#include "ptth_link_hub.h"
#include "ptth_pool.h"
#include "ptth_router_config.h"
#include "ptth_tunnel.h"
#include "ptth_version.h"

/* After accept() fails for want of descriptors (EMFILE, ENFILE), the
 * listeners rest this long: they stay readable, and trying again at once
 * would spin. */
#define PTTH_ACCEPT_PAUSE  apr_time_from_msec(100)

static volatile sig_atomic_t sig_drain;
static volatile sig_atomic_t sig_stop;

static void on_sig_drain(int sig)
{
    (void)sig;
    sig_drain = 1;
}

static void on_sig_stop(int sig)
{
    (void)sig;
    sig_stop = 1;
}

static void hub_signals(void)
{
    struct sigaction sa;
    sigset_t none;

    /* No SA_RESTART: a signal must interrupt the poll. */
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_sig_drain;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGWINCH, &sa, NULL);
    sa.sa_handler = on_sig_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

void ptth_handle_init(ptth_handle *h, ptth_handle_kind kind,
                      apr_socket_t *sock, apr_pool_t *p)
{
    h->kind = kind;
    h->registered = 0;
    h->due = 0;
    h->pfd.desc_type = APR_POLL_SOCKET;
    h->pfd.desc.s = sock;
    h->pfd.client_data = h;
    h->pfd.p = p;
    apr_socket_opt_set(sock, APR_SO_NONBLOCK, 1);
    apr_socket_timeout_set(sock, 0);
}

apr_status_t ptth_hub_watch(ptth_hub *hub, ptth_handle *h, apr_int16_t events)
{
    apr_status_t rv;

    if (h->registered && h->pfd.reqevents == events) {
        return APR_SUCCESS;
    }
    if (h->registered) {
        apr_pollset_remove(hub->pollset, &h->pfd);
        h->registered = 0;
    }
    h->pfd.reqevents = events;
    /* Registered even with no events: hang-ups and errors are reported
     * anyway, so a peer that goes away while we do not read is noticed. */
    rv = apr_pollset_add(hub->pollset, &h->pfd);
    if (rv == APR_SUCCESS) {
        h->registered = 1;
    }
    else {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, hub->s, PTTHLOGNO(02312)
                     "hub: cannot watch a descriptor");
    }
    return rv;
}

void ptth_hub_unwatch(ptth_hub *hub, ptth_handle *h)
{
    if (h->registered) {
        apr_pollset_remove(hub->pollset, &h->pfd);
        h->registered = 0;
    }
    if (h->due) {
        APR_RING_REMOVE(h, due_link);
        h->due = 0;
    }
}

void ptth_hub_due(ptth_hub *hub, ptth_handle *h)
{
    if (!h->due) {
        h->due = 1;
        APR_RING_INSERT_TAIL(&hub->due, h, ptth_handle, due_link);
    }
}

static const char *hstate_str(ptth_hub_state s)
{
    switch (s) {
    case PTTH_HUB_RUNNING:  return "RUNNING";
    case PTTH_HUB_DRAINING: return "DRAINING";
    case PTTH_HUB_STOPPING: return "STOPPING";
    }
    return "?";
}

static void hub_transit(ptth_hub *hub, ptth_hub_state ns, apr_interval_time_t within)
{
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, hub->s, PTTHLOGNO(02301)
                 "hub %" APR_PID_T_FMT ": %s -> %s", getpid(),
                 hstate_str(hub->state), hstate_str(ns));
    hub->state = ns;
    hub->deadline = apr_time_now() + within;
}

static void close_listeners(ptth_hub *hub)
{
    int i;

    for (i = 0; i < hub->listeners->nelts; ++i) {
        ptth_hub_listener *l = APR_ARRAY_IDX(hub->listeners, i, ptth_hub_listener *);
        if (l->sock) {
            ptth_hub_unwatch(hub, &l->h);
            apr_socket_close(l->sock);
            l->sock = NULL;
        }
    }
    if (hub->link_listener.pfd.desc.s) {
        ptth_hub_unwatch(hub, &hub->link_listener);
        apr_socket_close(hub->link_listener.pfd.desc.s);
        hub->link_listener.pfd.desc.s = NULL;
    }
}

#define POOL_AT(hub, i) APR_ARRAY_IDX((hub)->pool_list, i, ptth_pool *)

static void for_each_tunnel(ptth_hub *hub, void (*fn)(ptth_tunnel *, void *),
                            void *baton)
{
    int i;

    for (i = 0; i < hub->pool_list->nelts; ++i) {
        ptth_pool *pool = POOL_AT(hub, i);
        ptth_tunnel *t, *next;
        for (t = APR_RING_FIRST(&pool->tunnels);
             t != APR_RING_SENTINEL(&pool->tunnels, ptth_tunnel, link); t = next) {
            next = APR_RING_NEXT(t, link);
            fn(t, baton);
        }
    }
}

static void fail_all_waiting(ptth_hub *hub, ptth_link_reset_t code)
{
    int i;

    for (i = 0; i < hub->pool_list->nelts; ++i) {
        ptth_pool_fail_waiting(POOL_AT(hub, i), code);
    }
}

static void drain_tunnel(ptth_tunnel *t, void *baton)
{
    (void)baton;
    ptth_tunnel_drain(t);
}

static void stop_tunnel(ptth_tunnel *t, void *baton)
{
    (void)baton;
    ptth_tunnel_close(t, "router stopping");
}

/* Draining: every idle link learns that this hub takes no new exchange
 * (GOAWAY) and stays open until the hub exits, so that a REQUEST already
 * on its way is answered, not lost.  Stopping: they close. */
static void idle_links_end(ptth_hub *hub, int close)
{
    ptth_link_hub *hl;

    for (hl = APR_RING_FIRST(&hub->links);
         hl != APR_RING_SENTINEL(&hub->links, ptth_link_hub, link);
         hl = APR_RING_NEXT(hl, link)) {
        if (hl->ex) {
            continue;
        }
        if (!close) {
            ptth_link_hub_drain(hl);
        }
        else {
            ptth_link_hub_close(hl);
        }
    }
}

static void hub_drain(ptth_hub *hub)
{
    hub_transit(hub, PTTH_HUB_DRAINING, ptth_router_drain_timeout(hub->conf));
    close_listeners(hub);
    fail_all_waiting(hub, PTTH_RST_SHUTDOWN);
    for_each_tunnel(hub, drain_tunnel, NULL);
    idle_links_end(hub, 0);
}

static void hub_stop(ptth_hub *hub)
{
    hub_transit(hub, PTTH_HUB_STOPPING, apr_time_from_msec(500));
    close_listeners(hub);
    ptth_pending_close_all(hub);
    fail_all_waiting(hub, PTTH_RST_SHUTDOWN);
    for_each_tunnel(hub, stop_tunnel, NULL);
    idle_links_end(hub, 1);
}

static void tick_tunnel(ptth_tunnel *t, void *baton)
{
    ptth_tunnel_tick(t, *(apr_time_t *)baton);
}

/* Visit the objects that asked (ptth_hub_due), also those that ask
 * meanwhile: everything queued goes out before the hub polls again. */
static void hub_reap(ptth_hub *hub)
{
    while (!APR_RING_EMPTY(&hub->due, ptth_handle, due_link)) {
        ptth_handle *h = APR_RING_FIRST(&hub->due);

        APR_RING_REMOVE(h, due_link);
        h->due = 0;
        switch (h->kind) {
        case PTTH_H_LINK:
            ptth_link_hub_reap((ptth_link_hub *)h);
            break;
        case PTTH_H_TUNNEL:
            ptth_tunnel_reap((ptth_tunnel *)h);
            break;
        case PTTH_H_PENDING:
            ptth_pending_reap(hub);
            break;
        default:
            break;
        }
    }
}

static int hub_busy(ptth_hub *hub)
{
    ptth_link_hub *hl;
    int i;

    for (i = 0; i < hub->pool_list->nelts; ++i) {
        if (POOL_AT(hub, i)->n_tunnels) {
            return 1;
        }
    }
    for (hl = APR_RING_FIRST(&hub->links);
         hl != APR_RING_SENTINEL(&hub->links, ptth_link_hub, link);
         hl = APR_RING_NEXT(hl, link)) {
        if (hl->ex || hl->out.len) {
            return 1;
        }
    }
    return 0;
}

static apr_interval_time_t hub_timeout(ptth_hub *hub, apr_time_t now)
{
    apr_interval_time_t timeout = apr_time_from_sec(1);
    int i;

    for (i = 0; i < hub->pool_list->nelts; ++i) {
        apr_time_t d = ptth_pool_next_deadline(POOL_AT(hub, i));
        if (d && d - now < timeout) {
            timeout = d - now;
        }
    }
    if (hub->state != PTTH_HUB_RUNNING && hub->deadline - now < timeout) {
        timeout = hub->deadline - now;
    }
    if (hub->accept_resume && hub->accept_resume - now < timeout) {
        timeout = hub->accept_resume - now;
    }
    return timeout > 0 ? timeout : 0;
}

/* Stop watching every listener for a while: accept() failed for want of
 * descriptors or memory.  What is in flight frees some; until then new
 * connections wait in the kernel's backlog. */
static void pause_accepting(ptth_hub *hub, apr_status_t rv)
{
    apr_time_t now = apr_time_now();
    int i;

    hub->accept_resume = now + PTTH_ACCEPT_PAUSE;
    for (i = 0; i < hub->listeners->nelts; ++i) {
        ptth_hub_listener *l = APR_ARRAY_IDX(hub->listeners, i, ptth_hub_listener *);
        if (l->sock) {
            ptth_hub_unwatch(hub, &l->h);
        }
    }
    if (hub->link_listener.pfd.desc.s) {
        ptth_hub_unwatch(hub, &hub->link_listener);
    }
    if (now - hub->accept_warned > apr_time_from_sec(10)) {
        hub->accept_warned = now;
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, hub->s, PTTHLOGNO(02310)
                     "hub: cannot accept connections (out of descriptors?); "
                     "pausing for %" APR_TIME_T_FMT " ms at a time",
                     apr_time_as_msec(PTTH_ACCEPT_PAUSE));
    }
}

static void resume_accepting(ptth_hub *hub, apr_time_t now)
{
    int i;

    if (!hub->accept_resume || now < hub->accept_resume) {
        return;
    }
    hub->accept_resume = 0;
    if (hub->state != PTTH_HUB_RUNNING) {
        return;     /* listeners are closed */
    }
    for (i = 0; i < hub->listeners->nelts; ++i) {
        ptth_hub_listener *l = APR_ARRAY_IDX(hub->listeners, i, ptth_hub_listener *);
        if (l->sock) {
            ptth_hub_watch(hub, &l->h, APR_POLLIN);
        }
    }
    if (hub->link_listener.pfd.desc.s) {
        ptth_hub_watch(hub, &hub->link_listener, APR_POLLIN);
    }
}

void ptth_hub_accept(ptth_hub *hub, apr_socket_t *lsock,
                     ptth_hub_accept_fn *on_accept, void *baton)
{
    int i;

    /* A bounded round: one busy listener must not starve the tunnels. */
    for (i = 0; i < 64; ++i) {
        apr_socket_t *sock;
        apr_pool_t *p;
        apr_status_t rv;

        /* Into what becomes the connection's own pool. */
        apr_pool_create(&p, hub->p);
        rv = apr_socket_accept(&sock, lsock, p);
        if (rv != APR_SUCCESS) {
            apr_pool_destroy(p);
            if (APR_STATUS_IS_EMFILE(rv) || APR_STATUS_IS_ENFILE(rv)
                || APR_STATUS_IS_ENOMEM(rv) || rv == APR_FROM_OS_ERROR(ENOBUFS)) {
                pause_accepting(hub, rv);
            }
            return;
        }
        on_accept(hub, baton, p, sock);
    }
}

void ptth_hub_accept_fd(ptth_hub *hub, apr_socket_t *lsock,
                        ptth_hub_accept_fd_fn *on_accept)
{
    apr_os_sock_t lfd;
    int i;

    if (apr_os_sock_get(&lfd, lsock) != APR_SUCCESS) {
        return;
    }
    for (i = 0; i < 64; ++i) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EMFILE || errno == ENFILE || errno == ENOMEM
                || errno == ENOBUFS) {
                pause_accepting(hub, APR_FROM_OS_ERROR(errno));
            }
            return;
        }
        on_accept(hub, fd);
    }
}

static void on_tunnel_conn(ptth_hub *hub, void *baton, apr_pool_t *p,
                           apr_socket_t *sock)
{
    ptth_hub_listener *l = baton;
    ptth_tunnel *t;

    if (!l->pool) {
        /* Secure mode: the PTTH handshake decides (ptth_admission.c). */
        ptth_pending_accept(hub, l, p, sock);
        return;
    }
    if (l->pool->n_tunnels >= hub->max_tunnels) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, hub->s, PTTHLOGNO(02302)
                     "pool %s already has %d tunnels (PTTHMaxTunnels): "
                     "refusing a new one on %s", l->pool->name,
                     l->pool->n_tunnels, l->addr);
        apr_socket_close(sock);
        apr_pool_destroy(p);
        return;
    }
    if (ptth_tunnel_create(hub, l->pool, p, sock, &t) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, hub->s, PTTHLOGNO(02303)
                     "cannot set up a tunnel on %s", l->addr);
        return;
    }
    /* Plain mode: the peer's address is its identity. */
    t->backend = t->peer_ip;
    ptth_tunnel_flush(t);    /* the preface goes out at once */
    ptth_pool_add_tunnel(l->pool, t);
}

static void hub_loop(ptth_hub *hub)
{
    pid_t parent = getppid();
    apr_time_t next_tick = 0;

    for (;;) {
        const apr_pollfd_t *out;
        apr_int32_t n = 0, i;
        apr_status_t rv;
        apr_time_t now;

        if (sig_stop && hub->state != PTTH_HUB_STOPPING) {
            hub_stop(hub);
        }
        else if (sig_drain && hub->state == PTTH_HUB_RUNNING) {
            hub_drain(hub);
        }
        hub_reap(hub);
        now = apr_time_now();
        if (hub->state != PTTH_HUB_RUNNING) {
            if (!hub_busy(hub)) {
                break;
            }
            if (now >= hub->deadline) {
                ap_log_error(APLOG_MARK, APLOG_INFO, 0, hub->s, PTTHLOGNO(02304)
                             "hub %" APR_PID_T_FMT ": drain time is up, "
                             "closing what is left", getpid());
                break;
            }
        }

        rv = apr_pollset_poll(hub->pollset, hub_timeout(hub, now), &n, &out);
        if (rv != APR_SUCCESS && !APR_STATUS_IS_EINTR(rv)
            && !APR_STATUS_IS_TIMEUP(rv)) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, hub->s, PTTHLOGNO(02306)
                         "hub: poll failed");
            break;
        }
        for (i = 0; rv == APR_SUCCESS && i < n; ++i) {
            ptth_handle *h = out[i].client_data;
            switch (h->kind) {
            case PTTH_H_TUNNEL_LISTENER:
                ptth_hub_accept(hub, h->pfd.desc.s, on_tunnel_conn, h);
                break;
            case PTTH_H_LINK_LISTENER:
                ptth_link_hub_accept(hub, h->pfd.desc.s);
                break;
            case PTTH_H_TUNNEL:
                if (!((ptth_tunnel *)h)->close_reason) {
                    ptth_tunnel_on_event((ptth_tunnel *)h, out[i].rtnevents);
                }
                break;
            case PTTH_H_LINK:
                ptth_link_hub_on_event((ptth_link_hub *)h, out[i].rtnevents);
                break;
            case PTTH_H_PENDING:
                ptth_pending_on_event(h, out[i].rtnevents);
                break;
            }
        }

        now = apr_time_now();
        resume_accepting(hub, now);
        if (now >= next_tick) {
            if (hub->state == PTTH_HUB_RUNNING && getppid() != parent) {
                /* The httpd parent is gone (kill -9): nobody supervises
                 * us.  Asked on the tick, not on every round. */
                ap_log_error(APLOG_MARK, APLOG_ERR, 0, hub->s, PTTHLOGNO(02305)
                             "hub %" APR_PID_T_FMT ": httpd parent died, exiting",
                             getpid());
                break;
            }
            for (i = 0; i < hub->pool_list->nelts; ++i) {
                ptth_pool_expire(POOL_AT(hub, i), now);
            }
            for_each_tunnel(hub, tick_tunnel, &now);
            ptth_pending_tick(hub, now);
            next_tick = now + apr_time_from_msec(100);
        }
    }
}

/* Every tunnel and link is a descriptor: take what the hard limit
 * allows (accept errors still pause rather than spin). */
static void raise_fd_limit(server_rec *s)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0) {
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, PTTHLOGNO(02311)
                         "hub: descriptor limit raised from %lu to %lu",
                         (unsigned long)was, (unsigned long)rl.rlim_cur);
        }
    }
}

/* The standby's wait: until the active hub's life pipe closes (it died
 * or exited), or until told to go. */
static void standby_wait(server_rec *s, int fd)
{
    char c;

    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, PTTHLOGNO(02313)
                 "standby hub %" APR_PID_T_FMT " waiting", getpid());
    for (;;) {
        ssize_t n = read(fd, &c, 1);
        if (n == 0) {
            break;
        }
        if (sig_stop || sig_drain || (n < 0 && errno != EINTR)) {
            exit(0);
        }
    }
    close(fd);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, PTTHLOGNO(02314)
                 "standby hub %" APR_PID_T_FMT " takes over", getpid());
}

void ptth_hub_main(apr_pool_t *pool, server_rec *s,
                   apr_array_header_t *lspecs, apr_socket_t *link_sock,
                   apr_uint32_t generation, apr_uint32_t restarts,
                   int standby_fd, apr_interval_time_t delay)
{
    ptth_hub *hub;
    apr_status_t rv;
    int i;

    hub_signals();
#if defined(__linux__)
    prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
    /* Buffers that a burst grew are given back to the system when they
     * are freed (ptth_buf.c frees large idle ones): a fixed mmap
     * threshold keeps glibc from raising it after the first such free,
     * which would keep them in the heap for good. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    raise_fd_limit(s);
    if (standby_fd >= 0) {
        standby_wait(s, standby_fd);
    }
    if (delay > 0) {
        /* The parent restarts a hub that keeps dying with growing pauses
         * (ptth_supervisor.c); children's links wait in the backlog. */
        apr_sleep(delay);
    }
    /* The hub never serves httpd's own Listen ports. */
    ap_close_listeners();

    hub = apr_pcalloc(pool, sizeof(*hub));
    hub->p = pool;
    apr_pool_create(&hub->scratch, pool);
    hub->s = s;
    hub->conf = ptth_router_sconf_get(s);
    hub->state = PTTH_HUB_RUNNING;
    hub->started = apr_time_now();
    hub->pools = apr_hash_make(pool);
    hub->pool_list = apr_array_make(pool, 8, sizeof(ptth_pool *));
    hub->listeners = apr_array_make(pool, lspecs->nelts, sizeof(ptth_hub_listener *));
    hub->ping_interval = ptth_router_ping_interval(hub->conf);
    hub->max_waiting = ptth_router_max_waiting(hub->conf);
    hub->tunnel_max_requests = ptth_router_tunnel_max_requests(hub->conf);
    hub->max_tunnels = ptth_router_max_tunnels(hub->conf);
    hub->handshake_timeout = ptth_router_handshake_timeout(hub->conf);
    hub->max_handshakes = ptth_router_max_handshakes(hub->conf);
    hub->max_handshakes_per_addr = ptth_router_max_handshakes_per_addr(hub->conf);
    hub->resp_limits.max_field_bytes = ptth_router_max_resp_header(hub->conf);
    hub->resp_limits.max_interim = ptth_router_max_interim(hub->conf);
    hub->mem.limit = ptth_router_hub_memory(hub->conf);
    hub->generation = generation;
    hub->restarts = restarts;
    hub->parent = getppid();
    ptth_buf_set_budget(&hub->mem);
    APR_RING_INIT(&hub->links, ptth_link_hub, link);
    hub->spare_socks = apr_array_make(pool, 16, sizeof(apr_socket_t *));
    APR_RING_INIT(&hub->due, ptth_handle, due_link);
    ptth_pending_init(hub);
    for (i = 0; i < hub->conf->pools->nelts; ++i) {
        ptth_pool_conf *cfg = APR_ARRAY_IDX(hub->conf->pools, i, ptth_pool_conf *);
        ptth_pool_get(hub, cfg->name, 1)->cfg = cfg;
    }

    rv = apr_pollset_create(&hub->pollset, 1024, pool, 0);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, PTTHLOGNO(02307)
                     "hub: cannot create a pollset");
        exit(APEXIT_CHILDFATAL);
    }
    for (i = 0; i < lspecs->nelts; ++i) {
        const ptth_hub_lspec *ls = &APR_ARRAY_IDX(lspecs, i, ptth_hub_lspec);
        ptth_hub_listener *l = apr_pcalloc(pool, sizeof(*l));
        l->sock = ls->sock;
        l->addr = ls->addr;
        l->pool = ls->pool_name ? ptth_pool_get(hub, ls->pool_name, 1) : NULL;
        l->tls = ls->tls;
        l->pools = ls->pools;
        ptth_handle_init(&l->h, PTTH_H_TUNNEL_LISTENER, ls->sock, pool);
        if (ptth_hub_watch(hub, &l->h, APR_POLLIN) != APR_SUCCESS) {
            exit(APEXIT_CHILDFATAL);
        }
        APR_ARRAY_PUSH(hub->listeners, ptth_hub_listener *) = l;
    }
    ptth_handle_init(&hub->link_listener, PTTH_H_LINK_LISTENER, link_sock, pool);
    if (ptth_hub_watch(hub, &hub->link_listener, APR_POLLIN) != APR_SUCCESS) {
        exit(APEXIT_CHILDFATAL);
    }

    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, PTTHLOGNO(02308)
                 "mod_ptth_router/" MOD_PTTH_VERSION " hub started, pid %"
                 APR_PID_T_FMT ", %d tunnel listener(s), "
                 "links on %s", getpid(), lspecs->nelts, ptth_router_link_path());
    hub_loop(hub);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, PTTHLOGNO(02309)
                 "hub %" APR_PID_T_FMT " exiting", getpid());
    exit(0);
}
