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

/* The status document as metrics (ptth_metrics.h): OpenMetrics 1.0 or
 * the Prometheus text format 0.0.4.  Each family is written whole before
 * the next, so the document is walked once per family: a fixed number of
 * passes.  Tunnels are labelled by pool and tunnel id; who a tunnel is
 * (identity, peer, state, hosts) is in ptth_router_tunnel_info, whose
 * label values the backend chose and the writer escapes. */

#include <apr_strings.h>

#include <httpd.h>
#include <http_protocol.h>

#include "ptth_metrics.h"
#include "ptth_status.h"

#define POOL_AT(doc, i) (&APR_ARRAY_IDX((doc)->pools, i, ptth_sdoc_pool))
#define TUN_AT(pl, j)   (&APR_ARRAY_IDX((pl)->tunnels, j, ptth_sdoc_tunnel))

/* One value of a tunnel, for every tunnel. */
typedef enum {
    TV_ACTIVE, TV_MAX, TV_SERVED, TV_IN, TV_OUT, TV_AGE, TV_IDLE, TV_RTT,
    TV_MEM
} tunnel_value;

static const struct {
    tunnel_value v;
    const char *name;
    ptth_metric_type type;
    const char *unit;
    const char *help;
} tunnel_families[] = {
    { TV_ACTIVE, "ptth_router_tunnel_streams_active", PTTH_M_GAUGE, NULL,
      "Streams in flight on the tunnel." },
    { TV_MAX, "ptth_router_tunnel_streams_max", PTTH_M_GAUGE, NULL,
      "The backend's SETTINGS_MAX_CONCURRENT_STREAMS (absent before its SETTINGS)." },
    { TV_SERVED, "ptth_router_tunnel_streams", PTTH_M_COUNTER, NULL,
      "Streams the tunnel carried." },
    { TV_IN, "ptth_router_tunnel_bytes_received", PTTH_M_COUNTER, NULL,
      "Octets read from the backend on the tunnel." },
    { TV_OUT, "ptth_router_tunnel_bytes_sent", PTTH_M_COUNTER, NULL,
      "Octets written to the backend on the tunnel." },
    { TV_AGE, "ptth_router_tunnel_age_seconds", PTTH_M_GAUGE, "seconds",
      "Time since the tunnel was established." },
    { TV_IDLE, "ptth_router_tunnel_idle_seconds", PTTH_M_GAUGE, "seconds",
      "Time since the backend last sent anything on the tunnel." },
    { TV_RTT, "ptth_router_tunnel_ping_rtt_seconds", PTTH_M_GAUGE, "seconds",
      "Round trip of the last PING (absent before the first)." },
    { TV_MEM, "ptth_router_tunnel_session_memory_bytes", PTTH_M_GAUGE, "bytes",
      "Memory the tunnel's HTTP/2 session holds." },
};

static void tunnel_family(ptth_metrics *m, const ptth_sdoc *doc, int k)
{
    apr_time_t now = doc->hub.now;
    int i, j;

    ptth_metrics_family(m, tunnel_families[k].name, tunnel_families[k].type,
                        tunnel_families[k].unit, tunnel_families[k].help);
    for (i = 0; i < doc->pools->nelts; ++i) {
        const ptth_sdoc_pool *pl = POOL_AT(doc, i);
        for (j = 0; j < pl->tunnels->nelts; ++j) {
            const ptth_sdoc_tunnel *t = TUN_AT(pl, j);
            char id[16];

            apr_snprintf(id, sizeof(id), "%u", t->id);
#define U64(v) ptth_metrics_u64(m, (v), "pool", pl->name, "tunnel", id, NULL)
#define SECS(us) ptth_metrics_f64(m, (us) > 0 ? (double)(us) / APR_USEC_PER_SEC \
                                  : 0.0, "pool", pl->name, "tunnel", id, NULL)
            switch (tunnel_families[k].v) {
            case TV_ACTIVE: U64(t->active); break;
            case TV_MAX:
                if (t->max_streams < 0x7fffffffu) {
                    U64(t->max_streams);
                }
                break;
            case TV_SERVED: U64(t->served); break;
            case TV_IN:     U64(t->bytes_in); break;
            case TV_OUT:    U64(t->bytes_out); break;
            case TV_AGE:    SECS(now - t->opened); break;
            case TV_IDLE:   SECS(now - t->last_read); break;
            case TV_RTT:
                if (t->rtt >= 0) {
                    SECS(t->rtt);
                }
                break;
            case TV_MEM:    U64(t->session_mem); break;
            }
#undef U64
#undef SECS
        }
    }
}

/* Who each tunnel is: the strings, as labels of a constant 1. */
static void tunnel_info(ptth_metrics *m, const ptth_sdoc *doc, apr_pool_t *p)
{
    apr_pool_t *tp;
    int i, j, k;

    ptth_metrics_family(m, "ptth_router_tunnel", PTTH_M_INFO, NULL,
                        "A tunnel: the backend's identity, its claimed hosts, "
                        "its address and the tunnel's state.");
    apr_pool_create(&tp, p);
    for (i = 0; i < doc->pools->nelts; ++i) {
        const ptth_sdoc_pool *pl = POOL_AT(doc, i);
        for (j = 0; j < pl->tunnels->nelts; ++j) {
            const ptth_sdoc_tunnel *t = TUN_AT(pl, j);
            const char *hosts = "";
            char id[16];

            apr_snprintf(id, sizeof(id), "%u", t->id);
            if (t->hosts && t->hosts->nelts) {
                /* Joined in a pool cleared per tunnel: bounded memory. */
                apr_array_header_t *a = apr_array_make(tp, t->hosts->nelts * 2,
                                                       sizeof(const char *));
                for (k = 0; k < t->hosts->nelts; ++k) {
                    if (k) {
                        APR_ARRAY_PUSH(a, const char *) = ",";
                    }
                    APR_ARRAY_PUSH(a, const char *) =
                        APR_ARRAY_IDX(t->hosts, k, const char *);
                }
                hosts = apr_array_pstrcat(tp, a, 0);
            }
            ptth_metrics_u64(m, 1, "pool", pl->name, "tunnel", id,
                             "backend", t->backend, "peer", t->peer,
                             "state", ptth_sdoc_tunnel_state_str(t->state),
                             "hosts", hosts,
                             "last_error", t->last_error ? t->last_error : "",
                             NULL);
            apr_pool_clear(tp);
        }
    }
    apr_pool_destroy(tp);
}

void ptth_status_metrics(request_rec *r, const ptth_sdoc *doc, int om)
{
    const ptth_sdoc_hub *h = &doc->hub;
    ptth_metrics m;
    char pid[16], gen[16];
    int i, j;
    unsigned k;

    ptth_metrics_begin(&m, r, om);
    apr_snprintf(pid, sizeof(pid), "%u", h->pid);
    apr_snprintf(gen, sizeof(gen), "%u", h->generation);
    ptth_metrics_family(&m, "ptth_router_hub", PTTH_M_INFO, NULL,
                        "The tunnel hub process.");
    ptth_metrics_u64(&m, 1, "pid", pid, "state",
                     ptth_sdoc_hub_state_str(h->state), "generation", gen, NULL);
    ptth_metrics_family(&m, "ptth_router_hub_start_time_seconds", PTTH_M_GAUGE,
                        "seconds", "When the hub began serving (Unix time).");
    ptth_metrics_f64(&m, (double)h->started / APR_USEC_PER_SEC, NULL);
    ptth_metrics_family(&m, "ptth_router_hub_uptime_seconds", PTTH_M_GAUGE,
                        "seconds", "Time since the hub began serving.");
    ptth_metrics_f64(&m, h->now > h->started
                         ? (double)(h->now - h->started) / APR_USEC_PER_SEC : 0.0,
                     NULL);
    ptth_metrics_family(&m, "ptth_router_hub_restarts", PTTH_M_COUNTER, NULL,
                        "Hubs that died and were replaced since httpd started.");
    ptth_metrics_u64(&m, h->restarts, NULL);
    ptth_metrics_family(&m, "ptth_router_hub_links", PTTH_M_GAUGE, NULL,
                        "Links from httpd children to the hub.");
    ptth_metrics_u64(&m, h->links, NULL);
    ptth_metrics_family(&m, "ptth_router_handshakes_in_progress", PTTH_M_GAUGE,
                        NULL, "Backend connections in TLS or the PTTH handshake.");
    ptth_metrics_u64(&m, h->handshakes, NULL);
    ptth_metrics_family(&m, "ptth_router_handshakes_refused", PTTH_M_COUNTER,
                        NULL, "Handshakes refused or failed.");
    ptth_metrics_u64(&m, h->refused, NULL);
    ptth_metrics_family(&m, "ptth_router_links_refused", PTTH_M_COUNTER, NULL,
                        "Connections to the hub socket from outside httpd.");
    ptth_metrics_u64(&m, h->links_refused, NULL);
    ptth_metrics_family(&m, "ptth_router_hub_memory_bytes", PTTH_M_GAUGE,
                        "bytes", "Memory the hub's buffers and sessions hold.");
    ptth_metrics_u64(&m, h->memory, NULL);
    ptth_metrics_family(&m, "ptth_router_hub_memory_peak_bytes", PTTH_M_GAUGE,
                        "bytes", "The most they held.");
    ptth_metrics_u64(&m, h->memory_peak, NULL);
    if (h->memory_limit) {
        ptth_metrics_family(&m, "ptth_router_hub_memory_limit_bytes",
                            PTTH_M_GAUGE, "bytes", "PTTHHubMemoryLimit.");
        ptth_metrics_u64(&m, h->memory_limit, NULL);
    }

#define POOL_FAMILY(fname, type, help, expr) do {                          \
        ptth_metrics_family(&m, fname, type, NULL, help);                  \
        for (i = 0; i < doc->pools->nelts; ++i) {                          \
            const ptth_sdoc_pool *pl = POOL_AT(doc, i);                    \
            ptth_metrics_u64(&m, (expr), "pool", pl->name, NULL);          \
        }                                                                  \
    } while (0)

    POOL_FAMILY("ptth_router_tunnels", PTTH_M_GAUGE,
                "Tunnels in the pool.", (apr_uint64_t)pl->n_tunnels);
    POOL_FAMILY("ptth_router_tunnels_max", PTTH_M_GAUGE,
                "Tunnels the pool accepts (PTTHMaxTunnels).",
                (apr_uint64_t)pl->max_tunnels);
    ptth_metrics_family(&m, "ptth_router_streams_active", PTTH_M_GAUGE, NULL,
                        "Streams in flight on the pool's tunnels.");
    for (i = 0; i < doc->pools->nelts; ++i) {
        const ptth_sdoc_pool *pl = POOL_AT(doc, i);
        apr_uint64_t active = 0;
        for (j = 0; j < pl->tunnels->nelts; ++j) {
            active += TUN_AT(pl, j)->active;
        }
        ptth_metrics_u64(&m, active, "pool", pl->name, NULL);
    }
    POOL_FAMILY("ptth_router_requests_waiting", PTTH_M_GAUGE,
                "Requests waiting for a tunnel of the pool.",
                (apr_uint64_t)pl->waiting);
    POOL_FAMILY("ptth_router_requests", PTTH_M_COUNTER,
                "Requests the hub took for the pool.", pl->requests);
    POOL_FAMILY("ptth_router_retries", PTTH_M_COUNTER,
                "Requests sent again on another tunnel (not processed by the "
                "backend, RFC 9113 8.7).", pl->retries);
#undef POOL_FAMILY

    tunnel_info(&m, doc, r->pool);
    for (k = 0; k < sizeof(tunnel_families) / sizeof(tunnel_families[0]); ++k) {
        tunnel_family(&m, doc, (int)k);
    }
    ptth_metrics_family(&m, "ptth_router_tunnels_omitted", PTTH_M_GAUGE, NULL,
                        "Tunnels left out of this report (size bound).");
    ptth_metrics_u64(&m, doc->omitted, NULL);
    ptth_metrics_end(&m);
}
