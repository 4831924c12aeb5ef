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

/* Pools: the tunnels that serve one ptth://POOL name, and the requests
 * waiting for one of them.
 *
 * Routing by host (docs/architecture.md): a tunnel whose backend claimed
 * host names (PTTH-Hosts, within the pool's PTTHAllowHosts) gets only
 * requests for those names; a request for a name that some tunnel of the
 * pool claims goes only to such tunnels, and waits for one rather than
 * going elsewhere.  Tunnels without claims serve the names nobody in the
 * pool claims.
 *
 * Balancing among the candidates is least outstanding streams among the
 * tunnels with room under the backend's SETTINGS_MAX_CONCURRENT_STREAMS;
 * ties rotate.  A tunnel that refused streams lately is taken only when
 * no other can serve, and never for an exchange it refused already.  A
 * request that finds no room waits (bounded by its wait time and
 * PTTHMaxWaiting) instead of overrunning a backend's limit. */

#include <stdlib.h>

#include <apr_strings.h>

#include "ptth_pool.h"
#include "ptth_exchange.h"
#include "ptth_tunnel.h"

/* The tunnels of a pool that claimed one host name (PTTH-Hosts), exact
 * or as "*.domain" (keyed by ".domain").  Requests for a claimed name go
 * only to these. */
typedef struct ptth_claim {
    char *name;                      /* malloc'd, the hash key */
    ptth_tunnel **tunnels;           /* malloc'd */
    int n, cap;
} ptth_claim;

ptth_pool *ptth_pool_get(ptth_hub *hub, const char *name, int create)
{
    ptth_pool *pool = apr_hash_get(hub->pools, name, APR_HASH_KEY_STRING);

    if (!pool && create) {
        pool = apr_pcalloc(hub->p, sizeof(*pool));
        pool->name = apr_pstrdup(hub->p, name);
        pool->hub = hub;
        APR_RING_INIT(&pool->tunnels, ptth_tunnel, link);
        APR_RING_INIT(&pool->waiting, ptth_exchange, link);
        pool->claims = apr_hash_make(hub->p);
        pool->wild_claims = apr_hash_make(hub->p);
        apr_hash_set(hub->pools, pool->name, APR_HASH_KEY_STRING, pool);
        APR_ARRAY_PUSH(hub->pool_list, ptth_pool *) = pool;
    }
    return pool;
}

/* ---- claims --------------------------------------------------------- */

/* Claims come and go with tunnels for the hub's whole life, so their
 * memory is the heap's, given back when the last claimant leaves (the
 * hash's own entries are recycled by APR). */
static void claim_add(apr_hash_t *h, const char *name, ptth_tunnel *t)
{
    ptth_claim *c = apr_hash_get(h, name, APR_HASH_KEY_STRING);

    if (!c) {
        if (!(c = calloc(1, sizeof(*c))) || !(c->name = strdup(name))) {
            free(c);
            return;     /* the tunnel then serves no request for it */
        }
        apr_hash_set(h, c->name, APR_HASH_KEY_STRING, c);
    }
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 4;
        ptth_tunnel **n = realloc(c->tunnels, sizeof(*n) * (apr_size_t)cap);
        if (!n) {
            return;
        }
        c->tunnels = n;
        c->cap = cap;
    }
    c->tunnels[c->n++] = t;
}

static void claim_remove(apr_hash_t *h, const char *name, ptth_tunnel *t)
{
    ptth_claim *c = apr_hash_get(h, name, APR_HASH_KEY_STRING);
    int i;

    if (!c) {
        return;
    }
    for (i = 0; i < c->n; ++i) {
        if (c->tunnels[i] == t) {
            c->tunnels[i] = c->tunnels[--c->n];
            break;
        }
    }
    if (!c->n) {
        apr_hash_set(h, c->name, APR_HASH_KEY_STRING, NULL);
        free(c->tunnels);
        free(c->name);
        free(c);
    }
}

/* "*.example.org" is kept under ".example.org"; it matches one or more
 * labels before it (as PTTHAllowHosts does). */
static void tunnel_claims(ptth_pool *pool, ptth_tunnel *t, int add)
{
    int i;

    for (i = 0; t->hosts && i < t->hosts->nelts; ++i) {
        const char *name = APR_ARRAY_IDX(t->hosts, i, const char *);
        apr_hash_t *h = pool->claims;

        if (name[0] == '*') {
            h = pool->wild_claims;
            ++name;
        }
        if (add) {
            claim_add(h, name, t);
        }
        else {
            claim_remove(h, name, t);
        }
    }
}

/* The claims that cover host: the exact one, then the wildcard of each
 * parent domain. */
static int host_claims(ptth_pool *pool, const char *host, ptth_claim **out,
                       int max)
{
    ptth_claim *c;
    const char *dot;
    int n = 0;

    if (!*host) {
        return 0;
    }
    if ((c = apr_hash_get(pool->claims, host, APR_HASH_KEY_STRING))) {
        out[n++] = c;
    }
    for (dot = strchr(host, '.'); dot && n < max; dot = strchr(dot + 1, '.')) {
        if ((c = apr_hash_get(pool->wild_claims, dot, APR_HASH_KEY_STRING))) {
            out[n++] = c;
        }
    }
    return n;
}

void ptth_pool_add_tunnel(ptth_pool *pool, ptth_tunnel *t)
{
    APR_RING_INSERT_TAIL(&pool->tunnels, t, ptth_tunnel, link);
    pool->n_tunnels++;
    tunnel_claims(pool, t, 1);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, pool->hub->s, PTTHLOGNO(02101)
                 "tunnel %u from %s joined pool %s (%d tunnels)%s%s", t->id,
                 t->peer, pool->name, pool->n_tunnels,
                 t->hosts && t->hosts->nelts ? ", serving " : "",
                 t->hosts && t->hosts->nelts
                 ? apr_array_pstrcat(t->p, t->hosts, ' ') : "");
    ptth_pool_dispatch(pool);
}

void ptth_pool_remove_tunnel(ptth_pool *pool, ptth_tunnel *t)
{
    tunnel_claims(pool, t, 0);
    APR_RING_REMOVE(t, link);
    APR_RING_ELEM_INIT(t, link);
    pool->n_tunnels--;
}

/* ---- picking a tunnel ----------------------------------------------- */

typedef struct pick_ctx {
    ptth_exchange *ex;
    apr_time_t now;
    ptth_tunnel *best;
    int best_active;
    int best_penalized;
} pick_ctx;

static void consider(pick_ctx *x, ptth_tunnel *t)
{
    int penalized;

    if (ptth_tunnel_capacity(t) <= 0 || (x->ex && ptth_exchange_tried(x->ex, t->id))) {
        return;
    }
    penalized = t->penalty_until > x->now;
    if (!x->best || (x->best_penalized && !penalized)
        || (penalized == x->best_penalized && t->active < x->best_active)) {
        x->best = t;
        x->best_active = t->active;
        x->best_penalized = penalized;
    }
}

#define PTTH_MAX_CLAIMS_PER_HOST 16

/* The tunnel for ex (NULL: none with room now). */
static ptth_tunnel *pick(ptth_pool *pool, ptth_exchange *ex)
{
    ptth_claim *claims[PTTH_MAX_CLAIMS_PER_HOST];
    pick_ctx x;
    ptth_tunnel *t;
    int nc, i, j, start, n;

    if (!pool->n_tunnels) {
        return NULL;
    }
    memset(&x, 0, sizeof(x));
    x.ex = ex;
    x.now = apr_time_now();
    nc = host_claims(pool, ex ? ex->host : "", claims, PTTH_MAX_CLAIMS_PER_HOST);
    if (nc) {
        /* Claimed: only its claimants, ties rotating. */
        for (i = 0; i < nc; ++i) {
            n = claims[i]->n;
            start = n ? (int)(pool->rr % (apr_uint32_t)n) : 0;
            for (j = 0; j < n; ++j) {
                consider(&x, claims[i]->tunnels[(start + j) % n]);
            }
        }
        pool->rr++;
        return x.best;
    }
    /* Nobody claims it: the tunnels without claims, starting at a
     * rotating offset so equal loads spread. */
    start = (int)(pool->rr++ % (apr_uint32_t)pool->n_tunnels);
    for (j = 0; j < 2; ++j) {
        i = 0;
        for (t = APR_RING_FIRST(&pool->tunnels);
             t != APR_RING_SENTINEL(&pool->tunnels, ptth_tunnel, link);
             t = APR_RING_NEXT(t, link), ++i) {
            if ((j == 0) == (i >= start) && !(t->hosts && t->hosts->nelts)) {
                consider(&x, t);
            }
        }
    }
    return x.best;
}

int ptth_pool_has_capacity(ptth_pool *pool)
{
    ptth_tunnel *t;

    for (t = APR_RING_FIRST(&pool->tunnels);
         t != APR_RING_SENTINEL(&pool->tunnels, ptth_tunnel, link);
         t = APR_RING_NEXT(t, link)) {
        if (ptth_tunnel_capacity(t) > 0) {
            return 1;
        }
    }
    return 0;
}

void ptth_pool_enqueue(ptth_pool *pool, ptth_exchange *ex, int retry)
{
    if (retry) {
        /* It already waited its turn once. The caller dispatches later:
         * this may run inside the dying stream's nghttp2 callback. */
        APR_RING_INSERT_HEAD(&pool->waiting, ex, ptth_exchange, link);
        pool->n_waiting++;
        pool->retries++;
        return;
    }
    APR_RING_INSERT_TAIL(&pool->waiting, ex, ptth_exchange, link);
    pool->n_waiting++;
    pool->requests++;
    ptth_pool_dispatch(pool);
}

void ptth_pool_dequeue(ptth_pool *pool, ptth_exchange *ex)
{
    if (APR_RING_NEXT(ex, link) == ex) {
        return;     /* not queued (its ring entry is self-linked) */
    }
    APR_RING_REMOVE(ex, link);
    APR_RING_ELEM_INIT(ex, link);
    pool->n_waiting--;
}

/* In order of arrival, every waiting exchange that a tunnel can take
 * now; one whose host has no tunnel with room keeps its place. */
void ptth_pool_dispatch(ptth_pool *pool)
{
    ptth_exchange *ex, *next;

    for (ex = APR_RING_FIRST(&pool->waiting);
         pool->n_waiting && ex != APR_RING_SENTINEL(&pool->waiting, ptth_exchange, link);
         ex = next) {
        ptth_tunnel *t = pick(pool, ex);

        next = APR_RING_NEXT(ex, link);
        if (!t) {
            if (!ptth_pool_has_capacity(pool)) {
                return;
            }
            continue;
        }
        ptth_pool_dequeue(pool, ex);
        if (ptth_tunnel_submit(t, ex) != APR_SUCCESS) {
            /* That tunnel is draining now; pick() will skip it. */
            APR_RING_INSERT_BEFORE(next, ex, link);
            pool->n_waiting++;
            next = ex;
        }
    }
}

void ptth_pool_expire(ptth_pool *pool, apr_time_t now)
{
    ptth_exchange *ex, *next;

    for (ex = APR_RING_FIRST(&pool->waiting);
         ex != APR_RING_SENTINEL(&pool->waiting, ptth_exchange, link); ex = next) {
        next = APR_RING_NEXT(ex, link);
        if (ex->deadline <= now) {
            ptth_pool_dequeue(pool, ex);
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, pool->hub->s, PTTHLOGNO(02102)
                         "pool %s: no tunnel within %u ms for %s %s%s",
                         pool->name, ex->req.wait_ms, ex->req.method, ex->host,
                         ex->req.path);
            ptth_exchange_failed(ex, ex->attempts ? PTTH_RST_UNPROCESSED
                                                  : PTTH_RST_NO_TUNNEL);
        }
    }
}

void ptth_pool_fail_waiting(ptth_pool *pool, ptth_link_reset_t code)
{
    while (pool->n_waiting) {
        ptth_exchange *ex = APR_RING_FIRST(&pool->waiting);
        ptth_pool_dequeue(pool, ex);
        ptth_exchange_failed(ex, code);
    }
}

apr_time_t ptth_pool_next_deadline(ptth_pool *pool)
{
    ptth_exchange *ex;
    apr_time_t next = 0;

    for (ex = APR_RING_FIRST(&pool->waiting);
         ex != APR_RING_SENTINEL(&pool->waiting, ptth_exchange, link);
         ex = APR_RING_NEXT(ex, link)) {
        if (!next || ex->deadline < next) {
            next = ex->deadline;
        }
    }
    return next;
}
