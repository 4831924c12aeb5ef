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

/* The status document as JSON (RFC 8259): the numbers as the hub sent
 * them, the names kept from the first version of ptth-status.  Strings
 * from peers go through ptth_json_str (ptth_esc.h). */

#include <apr_strings.h>

#include <httpd.h>
#include <http_protocol.h>

#include "ptth_esc.h"
#include "ptth_status.h"

static void json_tunnel(request_rec *r, const ptth_sdoc_tunnel *t, apr_time_t now)
{
    int i;

    ap_rprintf(r, "{\"id\":%u,\"peer\":", t->id);
    ptth_json_str(r, t->peer);
    ap_rputs(",\"backend\":", r);
    ptth_json_str(r, t->backend);
    ap_rputs(",\"hosts\":[", r);
    for (i = 0; t->hosts && i < t->hosts->nelts; ++i) {
        if (i) {
            ap_rputc(',', r);
        }
        ptth_json_str(r, APR_ARRAY_IDX(t->hosts, i, const char *));
    }
    ap_rprintf(r, "],\"state\":\"%s\",\"active\":%u,\"capacity\":%u,"
               "\"max_streams\":%u,\"served\":%" APR_UINT64_T_FMT
               ",\"bytes_in\":%" APR_UINT64_T_FMT ",\"bytes_out\":%"
               APR_UINT64_T_FMT ",\"rtt_us\":%" APR_INT64_T_FMT
               ",\"age_s\":%" APR_TIME_T_FMT ",\"idle_ms\":%" APR_TIME_T_FMT
               ",\"session_mem\":%" APR_UINT64_T_FMT ",\"penalized\":%s"
               ",\"last_error\":",
               ptth_sdoc_tunnel_state_str(t->state), t->active, t->capacity,
               t->max_streams, t->served, t->bytes_in, t->bytes_out,
               t->rtt >= 0 ? t->rtt : (apr_int64_t)-1,
               now > t->opened ? apr_time_sec(now - t->opened) : 0,
               now > t->last_read ? apr_time_as_msec(now - t->last_read) : 0,
               t->session_mem, t->penalized ? "true" : "false");
    ptth_json_str(r, t->last_error);
    ap_rputc('}', r);
}

void ptth_status_json(request_rec *r, const ptth_sdoc *doc)
{
    const ptth_sdoc_hub *h = &doc->hub;
    int i, j;

    ap_rprintf(r, "{\"hub\":{\"pid\":%u,\"state\":\"%s\",\"generation\":%u,"
               "\"restarts\":%u,\"links\":%u,\"uptime_s\":%" APR_TIME_T_FMT
               ",\"started\":%" APR_TIME_T_FMT ",\"handshakes\":%u,"
               "\"refused\":%" APR_UINT64_T_FMT ",\"links_refused\":%"
               APR_UINT64_T_FMT ",\"memory\":%" APR_UINT64_T_FMT
               ",\"memory_peak\":%" APR_UINT64_T_FMT ",\"memory_limit\":%"
               APR_UINT64_T_FMT "},\"pools\":[",
               h->pid, ptth_sdoc_hub_state_str(h->state), h->generation,
               h->restarts, h->links,
               h->now > h->started ? apr_time_sec(h->now - h->started) : 0,
               apr_time_sec(h->started), h->handshakes, h->refused,
               h->links_refused, h->memory, h->memory_peak, h->memory_limit);
    for (i = 0; i < doc->pools->nelts; ++i) {
        const ptth_sdoc_pool *pl = &APR_ARRAY_IDX(doc->pools, i, ptth_sdoc_pool);

        ap_rputs(i ? ",{\"name\":" : "{\"name\":", r);
        ptth_json_str(r, pl->name);
        ap_rputs(",\"tunnels\":[", r);
        for (j = 0; j < pl->tunnels->nelts; ++j) {
            if (j) {
                ap_rputc(',', r);
            }
            json_tunnel(r, &APR_ARRAY_IDX(pl->tunnels, j, ptth_sdoc_tunnel),
                        h->now);
        }
        ap_rprintf(r, "],\"n_tunnels\":%u,\"max_tunnels\":%u,\"declared\":%s,"
                   "\"waiting\":%u,\"requests\":%" APR_UINT64_T_FMT
                   ",\"retries\":%" APR_UINT64_T_FMT "}",
                   pl->n_tunnels, pl->max_tunnels,
                   pl->declared ? "true" : "false", pl->waiting,
                   pl->requests, pl->retries);
    }
    ap_rprintf(r, "],\"tunnels_omitted\":%u}\n", doc->omitted);
}
