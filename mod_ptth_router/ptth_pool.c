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
 * waiting for one of them.  Balancing is least outstanding streams
 * among the tunnels that have room under the backend's
 * SETTINGS_MAX_CONCURRENT_STREAMS; ties rotate.  A request that finds no
 * room waits (bounded by its wait time and PTTHMaxWaiting) instead of
 * overrunning a backend's limit. */

#include <apr_strings.h>

#include "ptth_hub.h"

ptth_pool *ptth_pool_get(ptth_hub *hub, const char *name, int create)
{
    ptth_pool *pool = apr_hash_get(hub->pools, name, APR_HASH_KEY_STRING);

    if (!pool && create) {
        pool = apr_pcalloc(hub->pool, sizeof(*pool));
        pool->name = apr_pstrdup(hub->pool, name);
        pool->hub = hub;
        APR_RING_INIT(&pool->tunnels, ptth_tunnel, link);
        APR_RING_INIT(&pool->waiting, ptth_exchange, link);
        apr_hash_set(hub->pools, pool->name, APR_HASH_KEY_STRING, pool);
    }
    return pool;
}

void ptth_pool_add_tunnel(ptth_pool *pool, ptth_tunnel *t)
{
    APR_RING_INSERT_TAIL(&pool->tunnels, t, ptth_tunnel, link);
    pool->n_tunnels++;
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, pool->hub->s, PTTHLOGNO(02101)
                 "tunnel %u from %s joined pool %s (%d tunnels)", t->id,
                 t->peer, pool->name, pool->n_tunnels);
    ptth_pool_dispatch(pool);
}

void ptth_pool_remove_tunnel(ptth_pool *pool, ptth_tunnel *t)
{
    APR_RING_REMOVE(t, link);
    APR_RING_ELEM_INIT(t, link);
    pool->n_tunnels--;
}

static ptth_tunnel *pick(ptth_pool *pool)
{
    ptth_tunnel *t, *best = NULL;
    int i, start, best_active = 0;

    if (!pool->n_tunnels) {
        return NULL;
    }
    /* Start at a rotating offset so equal loads spread over tunnels. */
    start = (int)(pool->rr++ % (apr_uint32_t)pool->n_tunnels);
    i = 0;
    for (t = APR_RING_FIRST(&pool->tunnels);
         t != APR_RING_SENTINEL(&pool->tunnels, ptth_tunnel, link);
         t = APR_RING_NEXT(t, link), ++i) {
        if (i < start) {
            continue;
        }
        if (ptth_tunnel_capacity(t) > 0 && (!best || t->active < best_active)) {
            best = t;
            best_active = t->active;
        }
    }
    i = 0;
    for (t = APR_RING_FIRST(&pool->tunnels);
         i < start && t != APR_RING_SENTINEL(&pool->tunnels, ptth_tunnel, link);
         t = APR_RING_NEXT(t, link), ++i) {
        if (ptth_tunnel_capacity(t) > 0 && (!best || t->active < best_active)) {
            best = t;
            best_active = t->active;
        }
    }
    return best;
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
    ex->state = PTTH_EX_WAITING;
    ex->tunnel = NULL;
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
    APR_RING_REMOVE(ex, link);
    APR_RING_ELEM_INIT(ex, link);
    pool->n_waiting--;
}

void ptth_pool_dispatch(ptth_pool *pool)
{
    while (pool->n_waiting) {
        ptth_tunnel *t = pick(pool);
        ptth_exchange *ex;

        if (!t) {
            return;
        }
        ex = APR_RING_FIRST(&pool->waiting);
        ptth_pool_dequeue(pool, ex);
        if (ptth_tunnel_submit(t, ex) != APR_SUCCESS) {
            /* That tunnel is draining now; pick() will skip it. */
            APR_RING_INSERT_HEAD(&pool->waiting, ex, ptth_exchange, link);
            pool->n_waiting++;
            ex->state = PTTH_EX_WAITING;
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
                         "pool %s: no tunnel within %u ms for %s %s",
                         pool->name, ex->req.wait_ms, ex->req.method, ex->req.path);
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
