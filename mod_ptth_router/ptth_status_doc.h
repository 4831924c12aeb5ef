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

#ifndef PTTH_STATUS_DOC_H
#define PTTH_STATUS_DOC_H

/* The status document: the hub's numbers, as one STATUS frame carries
 * them from the hub to a child (ptth_link.h).  The hub writes it record
 * by record straight from its objects (ptth_hub_status.c); a child
 * decodes it once and every output renders the same decoded document:
 * JSON, HTML, metrics and the mod_status section (ptth_status*.c).  One
 * source for every number, and no JSON parser in the child.
 *
 * Payload, integers in network byte order, strings as in ptth_link.h
 * (u32 length, bytes, NUL):
 *
 *   u32 PTTH_SDOC_VERSION
 *   HUB record, then per pool: POOL record, its TUNNEL records;
 *   END record (u32 tunnels left out to stay under PTTH_LINK_MAX_STATUS)
 *
 * Every record starts with its kind (u8).  Peer-controlled strings
 * (identity, hosts, peer, last error) arrive here as the hub stored them:
 * each output escapes them for its own syntax (ptth_esc.h).  See
 * "Status: one document, every output" in docs/architecture.md. */

#include <apr_pools.h>
#include <apr_tables.h>

#include "ptth_buf.h"

#define PTTH_SDOC_VERSION 1

typedef enum {
    PTTH_SDOC_HUB_RUNNING,
    PTTH_SDOC_HUB_DRAINING,
    PTTH_SDOC_HUB_STOPPING
} ptth_sdoc_hub_state;

/* As ptth_tunnel_state (ptth_tunnel.h). */
typedef enum {
    PTTH_SDOC_TUN_PREFACE,
    PTTH_SDOC_TUN_OPEN,
    PTTH_SDOC_TUN_DRAINING,
    PTTH_SDOC_TUN_CLOSED
} ptth_sdoc_tunnel_state;

#define PTTH_SDOC_NO_RTT  ((apr_int64_t)-1)

typedef struct ptth_sdoc_hub {
    apr_uint32_t pid;
    int state;                     /* ptth_sdoc_hub_state */
    apr_uint32_t generation;
    apr_uint32_t restarts;         /* hubs that died since httpd started */
    apr_uint32_t links;            /* links from children */
    apr_uint32_t handshakes;       /* in progress */
    apr_uint64_t refused;          /* handshakes refused or failed */
    apr_uint64_t links_refused;    /* connections from outside httpd */
    apr_uint64_t memory, memory_peak, memory_limit;
    apr_time_t started;            /* when this hub began serving */
    apr_time_t now;                /* the hub's clock at the snapshot */
} ptth_sdoc_hub;

typedef struct ptth_sdoc_tunnel {
    apr_uint32_t id;
    int state;                     /* ptth_sdoc_tunnel_state */
    int penalized;                 /* skipped while others can serve */
    apr_uint32_t active;           /* streams in flight */
    apr_uint32_t capacity;         /* streams it takes now */
    apr_uint32_t max_streams;      /* the backend's
                                    * SETTINGS_MAX_CONCURRENT_STREAMS */
    apr_uint64_t served;           /* streams it carried */
    apr_uint64_t bytes_in;         /* octets read from the backend */
    apr_uint64_t bytes_out;        /* octets written to it */
    apr_int64_t rtt;               /* last PING round trip (us), or
                                    * PTTH_SDOC_NO_RTT */
    apr_time_t opened;
    apr_time_t last_read;
    apr_uint64_t session_mem;
    const char *peer;              /* address:port */
    const char *backend;           /* identity */
    const char *last_error;        /* NULL: none */
    apr_array_header_t *hosts;     /* claimed names (const char *) */
} ptth_sdoc_tunnel;

typedef struct ptth_sdoc_pool {
    const char *name;
    int declared;                  /* a <PTTHPool>, not plain= */
    apr_uint32_t max_tunnels;
    apr_uint32_t n_tunnels;        /* in the pool (some may be left out) */
    apr_uint32_t waiting;          /* requests waiting for a tunnel */
    apr_uint64_t requests;
    apr_uint64_t retries;
    apr_array_header_t *tunnels;   /* of ptth_sdoc_tunnel */
} ptth_sdoc_pool;

typedef struct ptth_sdoc {
    ptth_sdoc_hub hub;
    apr_array_header_t *pools;     /* of ptth_sdoc_pool */
    apr_uint32_t omitted;          /* tunnels left out (size bound) */
} ptth_sdoc;

/* ---- writing (the hub) ----
 * Records go to out; a tunnel that would take the payload past max is
 * left out and counted.  Failures to allocate set w->failed. */
typedef struct ptth_sdoc_writer {
    ptth_buf *out;
    apr_size_t start;              /* payload offset in out */
    apr_size_t max;
    apr_uint32_t omitted;
    int failed;
} ptth_sdoc_writer;

void ptth_sdoc_begin(ptth_sdoc_writer *w, ptth_buf *out, apr_size_t max);
void ptth_sdoc_put_hub(ptth_sdoc_writer *w, const ptth_sdoc_hub *h);
void ptth_sdoc_put_pool(ptth_sdoc_writer *w, const ptth_sdoc_pool *pl);
/* hosts and nhosts: the tunnel's claims (t->hosts is ignored). */
void ptth_sdoc_put_tunnel(ptth_sdoc_writer *w, const ptth_sdoc_tunnel *t,
                          const char *const *hosts, int nhosts);
/* The END record; APR_SUCCESS or APR_ENOMEM. */
apr_status_t ptth_sdoc_end(ptth_sdoc_writer *w);

/* ---- reading (a child) ----
 * Strings point into payload, which must outlive the result.  APR_EINVAL
 * for a malformed or truncated payload, APR_ENOTIMPL for another
 * version. */
apr_status_t ptth_sdoc_decode(apr_pool_t *p, const char *payload,
                              apr_size_t len, ptth_sdoc **pdoc);

const char *ptth_sdoc_hub_state_str(int state);
const char *ptth_sdoc_tunnel_state_str(int state);

#endif /* PTTH_STATUS_DOC_H */
