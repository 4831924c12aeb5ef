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

/* Secure listeners: from accept to a tunnel, or to a refusal and close
 * (DESIGN section 1, docs/protocol.md).  Everything here is driven by
 * bytes from an unauthenticated peer, so every step is bounded: the
 * number of handshakes in progress (PTTHMaxHandshakes), their duration
 * (PTTHHandshakeTimeout), the size of the head (PTTH_HS_MAX_HEAD), and a
 * refusal is written once and the connection closed.
 *
 * States (logged at debug):
 *   TLS      TLS handshake (listener with cert=)
 *   HEAD     reading the PTTH request head
 *   ANSWER   writing 101 (then: a tunnel) or a refusal (then: close) */

#include <apr_strings.h>
#include <apr_portable.h>

#include <openssl/err.h>

#include "ptth_hub.h"
#include "ptth_util.h"
#include "ptth_tls.h"
#include "ptth_handshake.h"

enum { PD_TLS, PD_HEAD, PD_ANSWER };

static const char *pd_state_str(int s)
{
    switch (s) {
    case PD_TLS:    return "TLS";
    case PD_HEAD:   return "HEAD";
    case PD_ANSWER: return "ANSWER";
    }
    return "?";
}

static void pd_transit(ptth_pending *pd, int ns, const char *why)
{
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, pd->hub->s, PTTHLOGNO(02401)
                 "handshake %u (%s): %s -> %s (%s)", pd->id, pd->peer,
                 pd_state_str(pd->state), pd_state_str(ns), why);
    pd->state = ns;
}

static void pd_kill(ptth_pending *pd, const char *why)
{
    if (!pd->dead) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, pd->hub->s, PTTHLOGNO(02402)
                     "handshake %u (%s): closing (%s)", pd->id, pd->peer, why);
        pd->dead = 1;
        pd->hub->reap = 1;
    }
}

static void pd_destroy(ptth_pending *pd)
{
    ptth_hub *hub = pd->hub;

    ptth_hub_unwatch(hub, &pd->h);
    APR_RING_REMOVE(pd, link);
    hub->n_pendings--;
    if (pd->ssl) {
        SSL_free(pd->ssl);
    }
    apr_socket_close(pd->sock);
    apr_pool_destroy(pd->p);
}

/* ---- decisions ----------------------------------------------------- */

static int host_allowed(const ptth_router_pool *cfg, const char *host)
{
    int i;

    if (!cfg->allow_hosts->nelts) {
        return 1;
    }
    for (i = 0; i < cfg->allow_hosts->nelts; ++i) {
        const char *pat = APR_ARRAY_IDX(cfg->allow_hosts, i, const char *);
        if (pat[0] == '*') {
            apr_size_t hl = strlen(host), pl = strlen(pat + 1);
            /* "*.example.org" matches one or more labels before it. */
            if (hl > pl && !strcmp(host + hl - pl, pat + 1)) {
                return 1;
            }
        }
        else if (!strcmp(pat, host)) {
            return 1;
        }
    }
    return 0;
}

static int tunnels_of(ptth_pool *pool, const char *backend)
{
    ptth_tunnel *t;
    int n = 0;

    for (t = APR_RING_FIRST(&pool->tunnels);
         t != APR_RING_SENTINEL(&pool->tunnels, ptth_tunnel, link);
         t = APR_RING_NEXT(t, link)) {
        n += (t->backend && !strcmp(t->backend, backend));
    }
    return n;
}

/* Decide about a well-formed request.  Returns 101 or the refusal status;
 * *why is for the log and the body (never a credential). */
static int decide(ptth_pending *pd, const ptth_hs_request *req,
                  int *retry_after, unsigned int *hs_flags, const char **why)
{
    ptth_hub *hub = pd->hub;
    ptth_router_sconf *conf = hub->conf;
    ptth_router_pool *cfg = NULL;
    apr_array_header_t *ids;
    unsigned char h[32];
    int i, j, token_here = 0, token_other = 0, cert_ok = 0;

    for (i = 0; i < conf->pools->nelts && !cfg; ++i) {
        ptth_router_pool *c = APR_ARRAY_IDX(conf->pools, i, ptth_router_pool *);
        if (!strcmp(c->endpoint, req->target)) {
            cfg = c;
        }
    }
    if (!cfg) {
        *why = "no pool at this endpoint";
        return 404;
    }
    pd->pool = ptth_pool_get(hub, cfg->name, 1);
    if (hub->state != PTTH_HUB_RUNNING) {
        *why = "router is restarting";
        *retry_after = 1;
        return 503;
    }

    /* Compare against every hash of every pool, always all of them: the
     * time taken says nothing about which one matched (or how far). */
    if (req->token) {
        ptth_sha256(req->token, strlen(req->token), h);
        for (i = 0; i < conf->pools->nelts; ++i) {
            ptth_router_pool *c = APR_ARRAY_IDX(conf->pools, i, ptth_router_pool *);
            for (j = 0; j < c->token_hashes->nelts; ++j) {
                int eq = ptth_ct_equal(h, 32, c->token_hashes->elts + 32 * j, 32);
                if (c == cfg) {
                    token_here |= eq;
                }
                else {
                    token_other |= eq;
                }
            }
        }
    }
    ids = ptth_tls_peer_ids(pd->p, pd->ssl);
    for (i = 0; i < cfg->client_ids->nelts && !cert_ok; ++i) {
        const char *want = APR_ARRAY_IDX(cfg->client_ids, i, const char *);
        for (j = 0; j < ids->nelts && !cert_ok; ++j) {
            cert_ok = !strcmp(want, "*") || !strcmp(want, APR_ARRAY_IDX(ids, j, const char *));
        }
    }
    if (cfg->token_hashes->nelts && !token_here) {
        if (token_other) {
            *why = "token belongs to another pool";
            return 403;
        }
        if (req->token) {
            *why = "invalid token";
            *hs_flags |= PTTH_HS_INVALID_TOKEN;
        }
        else {
            *why = "no token";
        }
        return 401;
    }
    if (cfg->client_ids->nelts && !cert_ok) {
        *why = ids->nelts ? "client certificate not allowed for this pool"
                          : "client certificate required";
        return 403;
    }
    for (i = 0; i < req->hosts->nelts; ++i) {
        if (!host_allowed(cfg, APR_ARRAY_IDX(req->hosts, i, const char *))) {
            *why = "claims a host name the pool does not allow";
            return 403;
        }
    }
    pd->backend = req->backend_id ? req->backend_id
                : (ids->nelts ? APR_ARRAY_IDX(ids, 0, const char *) : pd->peer);
    if (pd->pool->n_tunnels >= (cfg->max_tunnels > 0 ? cfg->max_tunnels
                                                      : hub->max_tunnels)) {
        *why = "pool has its maximum of tunnels";
        *retry_after = 10;
        return 429;
    }
    if (cfg->max_per_backend > 0
        && tunnels_of(pd->pool, pd->backend) >= cfg->max_per_backend) {
        *why = "backend has its maximum of tunnels";
        *retry_after = 10;
        return 429;
    }
    *why = token_here ? (cert_ok ? "token and certificate" : "token")
                      : "certificate";
    return 101;
}

/* ---- I/O ----------------------------------------------------------- */

static apr_status_t pd_recv(ptth_pending *pd, char *buf, apr_size_t *len)
{
    int want_write;

    return ptth_io_recv(pd->sock, pd->ssl, buf, len, &want_write);
}

#define pd_send(pd, buf, len) ptth_io_send((pd)->sock, (pd)->ssl, buf, len)

static void pd_answer(ptth_pending *pd, int status, const char *why,
                      int retry_after, unsigned int hs_flags)
{
    ptth_hub *hub = pd->hub;

    if (status == 101) {
        pd->out = ptth_hs_build_switch(pd->p);
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, hub->s, PTTHLOGNO(02403)
                     "handshake %u (%s): backend %s admitted to pool %s (%s)",
                     pd->id, pd->peer, pd->backend, pd->pool->name, why);
    }
    else {
        /* A refusal is a complete HTTP response, then close (RFC 9112
         * 9.6); the reason is ours, never an echo of the request. */
        pd->out = ptth_hs_build_refusal(pd->p, status, why, retry_after,
                                        hs_flags);
        hub->refused++;
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, hub->s, PTTHLOGNO(02404)
                     "handshake %u (%s): refused with %d: %s", pd->id,
                     pd->peer, status, why);
        pd->pool = NULL;
    }
    pd->out_len = strlen(pd->out);
    pd->out_off = 0;
    pd_transit(pd, PD_ANSWER, status == 101 ? "admitted" : "refused");
}

static void pd_become_tunnel(ptth_pending *pd)
{
    ptth_hub *hub = pd->hub;
    ptth_pool *pool = pd->pool;
    apr_pool_t *p = pd->p;
    apr_socket_t *sock = pd->sock;
    SSL *ssl = pd->ssl;
    const char *backend = pd->backend;
    apr_size_t early = pd->in_len - pd->head_len;
    char *early_bytes = early ? apr_pmemdup(p, pd->in + pd->head_len, early) : NULL;
    ptth_tunnel *t;

    /* The pending's memory is in p, which the tunnel takes over. */
    ptth_hub_unwatch(hub, &pd->h);
    APR_RING_REMOVE(pd, link);
    hub->n_pendings--;
    if (ptth_tunnel_create(hub, pool, p, sock, &t) != APR_SUCCESS) {
        if (ssl) {
            SSL_free(ssl);
        }
        return;
    }
    t->backend = backend;
    if (ptth_tunnel_start(t, ssl, early_bytes, early) != APR_SUCCESS) {
        ptth_tunnel_close(t, "protocol error right after the handshake");
    }
    ptth_tunnel_flush(t);    /* the preface goes out at once */
    ptth_pool_add_tunnel(pool, t);
}

static void pd_write(ptth_pending *pd)
{
    while (pd->out_off < pd->out_len) {
        apr_size_t n = pd->out_len - pd->out_off;
        apr_status_t rv = pd_send(pd, pd->out + pd->out_off, &n);
        pd->out_off += n;
        if (rv != APR_SUCCESS) {
            if (APR_STATUS_IS_EAGAIN(rv)) {
                ptth_hub_watch(pd->hub, &pd->h, APR_POLLIN | APR_POLLOUT);
                return;
            }
            pd_kill(pd, "write failed");
            return;
        }
    }
    if (pd->pool) {
        pd_become_tunnel(pd);
    }
    else {
        pd_kill(pd, "refusal sent");
    }
}

static void pd_read_head(ptth_pending *pd)
{
    ptth_hs_request req;
    apr_status_t rv;
    const char *why = NULL;
    int status = 400, retry_after = -1;
    unsigned int hs_flags = 0;

    for (;;) {
        apr_size_t n = sizeof(pd->in) - pd->in_len;
        if (!n) {
            break;   /* the parser refuses a head this long */
        }
        rv = pd_recv(pd, pd->in + pd->in_len, &n);
        pd->in_len += n;
        if (APR_STATUS_IS_EOF(rv) || (rv != APR_SUCCESS && !APR_STATUS_IS_EAGAIN(rv))) {
            pd_kill(pd, "peer closed during the handshake");
            return;
        }
        if (rv != APR_SUCCESS || !n) {
            break;
        }
    }
    rv = ptth_hs_parse_request(pd->p, pd->in, pd->in_len, &pd->head_len, &req,
                               &status, &why);
    if (rv == APR_INCOMPLETE) {
        ptth_hub_watch(pd->hub, &pd->h, APR_POLLIN);
        return;
    }
    if (rv == APR_SUCCESS) {
        status = decide(pd, &req, &retry_after, &hs_flags, &why);
    }
    pd_answer(pd, status, why ? why : "malformed handshake", retry_after,
              hs_flags);
    pd_write(pd);
}

static void pd_tls(ptth_pending *pd)
{
    int n, err;

    ERR_clear_error();
    n = SSL_accept(pd->ssl);
    if (n == 1) {
        pd_transit(pd, PD_HEAD, "TLS established");
        pd_read_head(pd);
        return;
    }
    err = SSL_get_error(pd->ssl, n);
    if (err == SSL_ERROR_WANT_READ) {
        ptth_hub_watch(pd->hub, &pd->h, APR_POLLIN);
    }
    else if (err == SSL_ERROR_WANT_WRITE) {
        ptth_hub_watch(pd->hub, &pd->h, APR_POLLIN | APR_POLLOUT);
    }
    else {
        pd->hub->refused++;
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, pd->hub->s, PTTHLOGNO(02405)
                     "handshake %u (%s): TLS failed: %s", pd->id, pd->peer,
                     ptth_tls_errors(pd->p));
        pd_kill(pd, "TLS failed");
    }
}

void ptth_pending_on_event(ptth_pending *pd, apr_int16_t rtnevents)
{
    (void)rtnevents;
    switch (pd->state) {
    case PD_TLS:
        pd_tls(pd);
        break;
    case PD_HEAD:
        pd_read_head(pd);
        break;
    case PD_ANSWER:
        pd_write(pd);
        break;
    }
}

void ptth_pending_accept(ptth_hub *hub, ptth_hub_listener *l, apr_pool_t *p,
                         apr_socket_t *sock)
{
    ptth_pending *pd;
    apr_sockaddr_t *sa;
    char *ip = NULL;

    if (hub->n_pendings >= hub->max_handshakes) {
        /* Shedding the newest costs nothing; the others may finish. */
        hub->refused++;
        apr_socket_close(sock);
        apr_pool_destroy(p);
        return;
    }
    apr_pool_tag(p, "ptth_pending");
    pd = apr_pcalloc(p, sizeof(*pd));
    pd->p = p;
    pd->hub = hub;
    pd->sock = sock;
    pd->id = ++hub->next_tunnel_id;
    pd->deadline = apr_time_now() + hub->handshake_timeout;
    pd->peer = (apr_socket_addr_get(&sa, APR_REMOTE, sock) == APR_SUCCESS
                && apr_sockaddr_ip_get(&ip, sa) == APR_SUCCESS)
               ? apr_psprintf(p, "%s:%u", ip, (unsigned)sa->port) : "unknown";
    apr_socket_opt_set(sock, APR_SO_NONBLOCK, 1);
    apr_socket_opt_set(sock, APR_TCP_NODELAY, 1);
    apr_socket_timeout_set(sock, 0);
    pd->h.kind = PTTH_H_PENDING;
    pd->h.pfd.desc_type = APR_POLL_SOCKET;
    pd->h.pfd.desc.s = sock;
    pd->h.pfd.client_data = &pd->h;
    pd->h.pfd.p = p;
    APR_RING_INSERT_TAIL(&hub->pendings, pd, ptth_pending, link);
    hub->n_pendings++;
    if (l->tls) {
        apr_os_sock_t fd;
        apr_os_sock_get(&fd, sock);
        pd->ssl = SSL_new(l->tls);
        if (!pd->ssl || SSL_set_fd(pd->ssl, fd) != 1) {
            pd_kill(pd, "cannot set up TLS");
            return;
        }
        pd->state = PD_TLS;
        pd_tls(pd);
    }
    else {
        pd->state = PD_HEAD;
        pd_read_head(pd);
    }
}

void ptth_pending_tick(ptth_hub *hub, apr_time_t now)
{
    ptth_pending *pd;

    for (pd = APR_RING_FIRST(&hub->pendings);
         pd != APR_RING_SENTINEL(&hub->pendings, ptth_pending, link);
         pd = APR_RING_NEXT(pd, link)) {
        if (!pd->dead && now >= pd->deadline) {
            hub->refused++;
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, hub->s, PTTHLOGNO(02406)
                         "handshake %u (%s): not complete within "
                         "PTTHHandshakeTimeout (%s), closing", pd->id, pd->peer,
                         pd_state_str(pd->state));
            pd_kill(pd, "handshake timeout");
        }
    }
}

void ptth_pending_reap(ptth_hub *hub)
{
    ptth_pending *pd, *next;

    for (pd = APR_RING_FIRST(&hub->pendings);
         pd != APR_RING_SENTINEL(&hub->pendings, ptth_pending, link); pd = next) {
        next = APR_RING_NEXT(pd, link);
        if (pd->dead) {
            pd_destroy(pd);
        }
    }
}

void ptth_pending_close_all(ptth_hub *hub)
{
    ptth_pending *pd;

    for (pd = APR_RING_FIRST(&hub->pendings);
         pd != APR_RING_SENTINEL(&hub->pendings, ptth_pending, link);
         pd = APR_RING_NEXT(pd, link)) {
        pd_kill(pd, "hub stopping");
    }
}
