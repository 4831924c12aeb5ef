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
 * (docs/protocol.md).  Everything here is driven by
 * bytes from an unauthenticated peer, so every step is bounded: the
 * number of handshakes in progress (PTTHMaxHandshakes), their duration
 * (PTTHHandshakeTimeout), the size of the head (PTTH_HS_MAX_HEAD), and a
 * refusal is written once and the connection closed.
 *
 * States (logged at debug):
 *   TLS      TLS handshake (listener with cert=)
 *   HEAD     reading the PTTH request head
 *   ANSWER   writing 101 (then: a tunnel) or a refusal (then: close) */

#include <stdlib.h>
#include <netinet/in.h>

#include <apr_strings.h>
#include <apr_portable.h>

#include <openssl/err.h>

#include "ptth_admission.h"
#include "ptth_pool.h"
#include "ptth_tunnel.h"
#include "ptth_io.h"
#include "ptth_util.h"
#include "ptth_tls.h"
#include "ptth_handshake.h"

enum { PD_TLS, PD_HEAD, PD_ANSWER };

/* A connection on a secure listener, between accept and its 101 (or
 * refusal). */
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
    char in[PTTH_HS_MAX_HEAD];
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

/* Handshakes in progress from one address (an IPv6 /64 counts as one),
 * for PTTHMaxHandshakesPerAddress: idle connections from one place must
 * not use up PTTHMaxHandshakes for everybody. */
typedef struct ptth_addr_count {
    int n;
    char key[48];
} ptth_addr_count;

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

static void addr_release(ptth_pending *pd);
static void pd_kill(ptth_pending *pd, const char *why);

static void pd_watch(ptth_pending *pd, apr_int16_t events)
{
    if (ptth_hub_watch(pd->hub, &pd->h, events) != APR_SUCCESS) {
        pd_kill(pd, "cannot be polled");
    }
}

static void pd_kill(ptth_pending *pd, const char *why)
{
    if (!pd->dead) {
        /* Finished with: no longer "in progress" from its address, even
         * before the reap (an accept round can answer many in a row). */
        addr_release(pd);
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, pd->hub->s, PTTHLOGNO(02402)
                     "handshake %u (%s): closing (%s)", pd->id, pd->peer, why);
        pd->dead = 1;
        ptth_hub_due(pd->hub, &pd->h);
    }
}

static void addr_release(ptth_pending *pd)
{
    ptth_addr_count *ac = pd->addr;

    if (ac) {
        pd->addr = NULL;
        if (--ac->n == 0) {
            apr_hash_set(pd->hub->pending_addrs, ac->key, APR_HASH_KEY_STRING,
                         NULL);
            free(ac);
        }
    }
}

/* The address a handshake is counted under: IPv4 as is, IPv6 by its /64
 * (one host usually has a whole one). */
static void addr_key(apr_sockaddr_t *sa, char *key, apr_size_t len)
{
    const unsigned char *a = sa->ipaddr_ptr;

    if (sa->family == APR_INET6 && !IN6_IS_ADDR_V4MAPPED((struct in6_addr *)a)) {
        apr_snprintf(key, len, "%02x%02x:%02x%02x:%02x%02x:%02x%02x::/64",
                     a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
    }
    else {
        apr_sockaddr_ip_getbuf(key, len, sa);
    }
}

static void pd_destroy(ptth_pending *pd)
{
    ptth_hub *hub = pd->hub;

    addr_release(pd);
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

static int host_allowed(const ptth_pool_conf *cfg, const char *host)
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

static int listener_serves(const ptth_hub_listener *l, const char *pool)
{
    int i;

    if (!l->pools) {
        return 1;
    }
    for (i = 0; i < l->pools->nelts; ++i) {
        if (!strcmp(APR_ARRAY_IDX(l->pools, i, const char *), pool)) {
            return 1;
        }
    }
    return 0;
}

/* Decide about a well-formed request.  Returns 101 or the refusal status;
 * *why is for the log and the body (never a credential). */
static int decide(ptth_pending *pd, const ptth_hs_request *req,
                  int *retry_after, unsigned int *hs_flags, const char **why)
{
    ptth_hub *hub = pd->hub;
    ptth_router_sconf *conf = hub->conf;
    ptth_pool_conf *cfg = NULL;
    apr_array_header_t *ids;
    const char *cert_name = NULL;
    unsigned char h[32];
    int i, j, token_here = 0, token_other = 0, token_index = -1;

    for (i = 0; i < conf->pools->nelts && !cfg; ++i) {
        ptth_pool_conf *c = APR_ARRAY_IDX(conf->pools, i, ptth_pool_conf *);
        if (!strcmp(c->endpoint, req->target)) {
            cfg = c;
        }
    }
    /* A pool is joined only through the listeners bound to it (pools=):
     * its tokens never cross a cleartext listener it was not meant for,
     * its certificates are verified by the CA it was meant for. */
    if (!cfg || !listener_serves(pd->l, cfg->name)) {
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
            ptth_pool_conf *c = APR_ARRAY_IDX(conf->pools, i, ptth_pool_conf *);
            for (j = 0; j < c->token_hashes->nelts; ++j) {
                int eq = ptth_ct_equal(h, 32, c->token_hashes->elts + 32 * j, 32);
                if (c == cfg) {
                    token_here |= eq;
                    if (eq) {
                        token_index = j;
                    }
                }
                else {
                    token_other |= eq;
                }
            }
        }
    }
    ids = ptth_tls_peer_ids(pd->p, pd->ssl);
    for (i = 0; i < cfg->client_ids->nelts && !cert_name; ++i) {
        const char *want = APR_ARRAY_IDX(cfg->client_ids, i, const char *);
        for (j = 0; j < ids->nelts && !cert_name; ++j) {
            const char *id = APR_ARRAY_IDX(ids, j, const char *);
            if (!strcmp(want, "*") || !strcmp(want, id)) {
                cert_name = id;
            }
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
    if (cfg->client_ids->nelts && !cert_name) {
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
    /* Who the backend is, for PTTHMaxTunnelsPerBackend and the logs: a
     * verified certificate name wins; else the token it showed (by its
     * place in the configuration, never a value derived from it) with
     * the PTTH-Backend it asserts, so one token's holders cannot take
     * another token's share; else its address. */
    if (cert_name) {
        pd->backend = apr_pstrcat(pd->p, "cert:", cert_name, NULL);
    }
    else if (token_index >= 0) {
        pd->backend = apr_psprintf(pd->p, "token#%d%s%s", token_index + 1,
                                   req->backend_id ? "/" : "",
                                   req->backend_id ? req->backend_id : "");
    }
    else {
        pd->backend = pd->peer_ip;
    }
    /* Claims narrow what a backend is given (ptth_pool.c); a backend that
     * claims none is the pool's fallback for names nobody claims. */
    pd->hosts = req->hosts;
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
    *why = token_here ? (cert_name ? "token and certificate" : "token")
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
    apr_array_header_t *hosts = pd->hosts;
    apr_size_t early = pd->in_len - pd->head_len;
    char *early_bytes = early ? apr_pmemdup(p, pd->in + pd->head_len, early) : NULL;
    ptth_tunnel *t;

    /* The pending's memory is in p, which the tunnel takes over. */
    addr_release(pd);
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
    t->hosts = hosts;
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
                pd_watch(pd, APR_POLLIN | APR_POLLOUT);
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
        pd_watch(pd, APR_POLLIN);
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
        pd_watch(pd, APR_POLLIN);
    }
    else if (err == SSL_ERROR_WANT_WRITE) {
        pd_watch(pd, APR_POLLIN | APR_POLLOUT);
    }
    else {
        pd->hub->refused++;
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, pd->hub->s, PTTHLOGNO(02405)
                     "handshake %u (%s): TLS failed: %s", pd->id, pd->peer,
                     ptth_tls_errors(pd->p));
        pd_kill(pd, "TLS failed");
    }
}

void ptth_pending_on_event(ptth_handle *h, apr_int16_t rtnevents)
{
    ptth_pending *pd = (ptth_pending *)h;   /* h is its first member */

    (void)rtnevents;
    if (pd->dead) {
        return;
    }
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

void ptth_pending_init(ptth_hub *hub)
{
    APR_RING_INIT(&hub->pendings, ptth_pending, link);
    hub->n_pendings = 0;
    hub->pending_addrs = apr_hash_make(hub->p);
}

void ptth_pending_accept(ptth_hub *hub, ptth_hub_listener *l, apr_pool_t *p,
                         apr_socket_t *sock)
{
    ptth_pending *pd;
    ptth_addr_count *ac = NULL;
    apr_sockaddr_t *sa = NULL;
    char *ip = NULL, key[48] = "";

    if (apr_socket_addr_get(&sa, APR_REMOTE, sock) == APR_SUCCESS) {
        addr_key(sa, key, sizeof(key));
        ac = apr_hash_get(hub->pending_addrs, key, APR_HASH_KEY_STRING);
    }
    if (hub->n_pendings >= hub->max_handshakes
        || (ac && ac->n >= hub->max_handshakes_per_addr)) {
        /* Shedding the newest costs nothing; the others may finish. */
        hub->refused++;
        if (ac && ac->n >= hub->max_handshakes_per_addr && ac->n < 2 * hub->max_handshakes_per_addr) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, hub->s, PTTHLOGNO(02407)
                         "handshake from %s: %d already in progress from "
                         "there (PTTHMaxHandshakesPerAddress), closing", key,
                         ac->n);
        }
        apr_socket_close(sock);
        apr_pool_destroy(p);
        return;
    }
    apr_pool_tag(p, "ptth_pending");
    pd = apr_pcalloc(p, sizeof(*pd));
    pd->p = p;
    pd->hub = hub;
    pd->l = l;
    pd->sock = sock;
    pd->id = ++hub->next_tunnel_id;
    pd->deadline = apr_time_now() + hub->handshake_timeout;
    pd->peer = (sa && apr_sockaddr_ip_get(&ip, sa) == APR_SUCCESS)
               ? apr_psprintf(p, "%pI", sa) : "unknown";
    pd->peer_ip = ip ? ip : "unknown";
    if (*key) {
        if (!ac && (ac = calloc(1, sizeof(*ac))) != NULL) {
            apr_cpystrn(ac->key, key, sizeof(ac->key));
            apr_hash_set(hub->pending_addrs, ac->key, APR_HASH_KEY_STRING, ac);
        }
        if (ac) {
            ac->n++;
            pd->addr = ac;
        }
    }
    ptth_handle_init(&pd->h, PTTH_H_PENDING, sock, p);
    apr_socket_opt_set(sock, APR_TCP_NODELAY, 1);
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
