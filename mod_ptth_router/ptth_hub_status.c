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

/* The hub's status document (ptth_status_doc.h): what ptth_status.c
 * shows as JSON, HTML or metrics, taken in the hub because that is where
 * the tunnels live (docs/architecture.md, "The hub").  Written record by
 * record straight from the objects into the link's output, with no copy
 * per tunnel; PTTH_LINK_MAX_STATUS bounds it (tunnels beyond are left out
 * and counted).  See "Status: one document, every output" in
 * docs/architecture.md. */

#include <unistd.h>

#include "ptth_hub.h"
#include "ptth_pool.h"
#include "ptth_status_doc.h"
#include "ptth_tunnel.h"

static void put_tunnel(ptth_sdoc_writer *w, ptth_tunnel *t, apr_time_t now)
{
    ptth_sdoc_tunnel st;

    memset(&st, 0, sizeof(st));
    st.id = t->id;
    switch (t->state) {
    case PTTH_TUN_PREFACE:  st.state = PTTH_SDOC_TUN_PREFACE; break;
    case PTTH_TUN_OPEN:     st.state = PTTH_SDOC_TUN_OPEN; break;
    case PTTH_TUN_DRAINING: st.state = PTTH_SDOC_TUN_DRAINING; break;
    case PTTH_TUN_CLOSED:   st.state = PTTH_SDOC_TUN_CLOSED; break;
    }
    st.penalized = t->penalty_until > now;
    st.active = t->active > 0 ? (apr_uint32_t)t->active : 0;
    st.capacity = (apr_uint32_t)ptth_tunnel_capacity(t);
    st.max_streams = nghttp2_session_get_remote_settings(
        t->ngh, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    st.served = t->served;
    st.bytes_in = t->bytes_in;
    st.bytes_out = t->bytes_out;
    st.rtt = t->rtt >= 0 ? (apr_int64_t)t->rtt : PTTH_SDOC_NO_RTT;
    st.opened = t->opened;
    st.last_read = t->last_read;
    st.session_mem = t->mem.used;
    st.peer = t->peer;
    st.backend = t->backend;
    st.last_error = t->last_error;
    ptth_sdoc_put_tunnel(w, &st,
                         t->hosts ? (const char *const *)t->hosts->elts : NULL,
                         t->hosts ? t->hosts->nelts : 0);
}

apr_status_t ptth_hub_status_write(ptth_hub *hub, ptth_buf *out, apr_size_t max)
{
    ptth_sdoc_writer w;
    ptth_sdoc_hub h;
    apr_time_t now = apr_time_now();
    int i;

    ptth_sdoc_begin(&w, out, max);
    memset(&h, 0, sizeof(h));
    h.pid = (apr_uint32_t)getpid();
    h.state = hub->state == PTTH_HUB_RUNNING ? PTTH_SDOC_HUB_RUNNING
            : hub->state == PTTH_HUB_DRAINING ? PTTH_SDOC_HUB_DRAINING
            : PTTH_SDOC_HUB_STOPPING;
    h.generation = hub->generation;
    h.restarts = hub->restarts;
    h.links = (apr_uint32_t)hub->n_links;
    h.handshakes = (apr_uint32_t)hub->n_pendings;
    h.refused = hub->refused;
    h.links_refused = hub->links_refused;
    h.memory = hub->mem.used;
    h.memory_peak = hub->mem.peak;
    h.memory_limit = hub->mem.limit;
    h.started = hub->started;
    h.now = now;
    ptth_sdoc_put_hub(&w, &h);

    for (i = 0; i < hub->pool_list->nelts; ++i) {
        ptth_pool *pool = APR_ARRAY_IDX(hub->pool_list, i, ptth_pool *);
        ptth_sdoc_pool sp;
        ptth_tunnel *t;

        memset(&sp, 0, sizeof(sp));
        sp.name = pool->name;
        sp.declared = pool->cfg != NULL;
        sp.max_tunnels = (apr_uint32_t)((pool->cfg && pool->cfg->max_tunnels > 0)
                                        ? pool->cfg->max_tunnels : hub->max_tunnels);
        sp.n_tunnels = (apr_uint32_t)pool->n_tunnels;
        sp.waiting = (apr_uint32_t)pool->n_waiting;
        sp.requests = pool->requests;
        sp.retries = pool->retries;
        ptth_sdoc_put_pool(&w, &sp);
        for (t = APR_RING_FIRST(&pool->tunnels);
             t != APR_RING_SENTINEL(&pool->tunnels, ptth_tunnel, link);
             t = APR_RING_NEXT(t, link)) {
            put_tunnel(&w, t, now);
        }
    }
    return ptth_sdoc_end(&w);
}
