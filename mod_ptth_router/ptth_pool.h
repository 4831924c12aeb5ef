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

#ifndef PTTH_POOL_H
#define PTTH_POOL_H

/* A pool: the tunnels that serve one ptth://NAME and the exchanges
 * waiting for one of them (ptth_pool.c; docs/architecture.md, "Routing
 * by host").  The pool owns its two rings: which tunnels belong to it and
 * which exchanges wait, in order of arrival. */

#include "ptth_hub.h"

struct ptth_pool {
    const char *name;
    ptth_hub *hub;
    ptth_pool_conf *cfg;           /* declared pool, NULL for plain= */
    APR_RING_HEAD(ptth_tunnel_ring, ptth_tunnel) tunnels;
    int n_tunnels;
    APR_RING_HEAD(ptth_waiting_ring, ptth_exchange) waiting;
    int n_waiting;
    apr_uint32_t rr;                 /* rotates ties in least-outstanding */
    apr_hash_t *claims;              /* "a.example" -> claimants */
    apr_hash_t *wild_claims;         /* ".example.org" -> claimants */
    apr_uint64_t requests;
    apr_uint64_t retries;
};

/* The pool of that name; create: make it if it does not exist (at the
 * hub's start only: the hub's pools are fixed for its life). */
ptth_pool *ptth_pool_get(ptth_hub *hub, const char *name, int create);

void ptth_pool_add_tunnel(ptth_pool *pool, ptth_tunnel *t);
void ptth_pool_remove_tunnel(ptth_pool *pool, ptth_tunnel *t);

/* Queue ex, then dispatch; retry: at the head (it waited its turn once)
 * and without dispatching (the caller may be inside a dying stream's
 * nghttp2 callback: the tunnel dispatches at the next reap). */
void ptth_pool_enqueue(ptth_pool *pool, ptth_exchange *ex, int retry);
/* Take ex off the queue (no-op when it is not queued). */
void ptth_pool_dequeue(ptth_pool *pool, ptth_exchange *ex);
/* Give every waiting exchange that a tunnel can take now to it. */
void ptth_pool_dispatch(ptth_pool *pool);
int ptth_pool_has_capacity(ptth_pool *pool);
/* Fail every waiting exchange (the hub drains or stops). */
void ptth_pool_fail_waiting(ptth_pool *pool, ptth_link_reset_t code);
/* Fail the exchanges whose wait is over. */
void ptth_pool_expire(ptth_pool *pool, apr_time_t now);
/* When the next waiting exchange's wait ends; 0: none waits. */
apr_time_t ptth_pool_next_deadline(ptth_pool *pool);

#endif /* PTTH_POOL_H */
