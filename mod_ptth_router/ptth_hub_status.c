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

/* The hub's status document: what ptth_status.c shows (as JSON, HTML or
 * metrics), built in the hub because that is where the tunnels live
 * (docs/architecture.md, "The hub").  Sent over a link in a STATUS frame
 * (ptth_link.h); PTTH_LINK_MAX_STATUS bounds it. */

#include <unistd.h>

#include <apr_strings.h>

#include "ptth_hub.h"
#include "ptth_pool.h"
#include "ptth_tunnel.h"

/* A JSON string (RFC 8259 7) of s, with quotes. */
static const char *json_str(apr_pool_t *p, const char *s)
{
    apr_size_t n = 2;
    const char *c;
    char *out, *o;

    if (!s) {
        return "null";
    }
    for (c = s; *c; ++c) {
        n += ((unsigned char)*c < 0x20 || *c == '"' || *c == '\\') ? 6 : 1;
    }
    o = out = apr_palloc(p, n + 1);
    *o++ = '"';
    for (c = s; *c; ++c) {
        if ((unsigned char)*c < 0x20 || *c == '"' || *c == '\\') {
            apr_snprintf(o, 7, "\\u%04x", (unsigned char)*c);
            o += 6;
        }
        else {
            *o++ = *c;
        }
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

static const char *json_tunnel(apr_pool_t *p, ptth_tunnel *t, apr_time_t now)
{
    static const char *const st[] = { "preface", "open", "draining", "closed" };
    apr_array_header_t *hosts = apr_array_make(p, 4, sizeof(const char *));
    int i;

    for (i = 0; t->hosts && i < t->hosts->nelts; ++i) {
        APR_ARRAY_PUSH(hosts, const char *) =
            json_str(p, APR_ARRAY_IDX(t->hosts, i, const char *));
    }
    return apr_psprintf(p, "{\"id\":%u,\"peer\":%s,\"backend\":%s,"
                        "\"hosts\":[%s],\"state\":\"%s\",\"active\":%d,"
                        "\"capacity\":%d,\"max_streams\":%u,\"served\":%"
                        APR_UINT64_T_FMT ",\"bytes_in\":%" APR_UINT64_T_FMT
                        ",\"bytes_out\":%" APR_UINT64_T_FMT ",\"rtt_us\":%"
                        APR_TIME_T_FMT ",\"age_s\":%" APR_TIME_T_FMT
                        ",\"idle_ms\":%" APR_TIME_T_FMT ",\"session_mem\":%"
                        APR_SIZE_T_FMT ",\"penalized\":%s,\"last_error\":%s}",
                        t->id, json_str(p, t->peer), json_str(p, t->backend),
                        apr_array_pstrcat(p, hosts, ','), st[t->state], t->active,
                        ptth_tunnel_capacity(t),
                        nghttp2_session_get_remote_settings(
                            t->ngh, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS),
                        t->served, t->bytes_in, t->bytes_out, t->rtt,
                        apr_time_sec(now - t->opened),
                        apr_time_as_msec(now - t->last_read), t->mem.used,
                        t->penalty_until > now ? "true" : "false",
                        json_str(p, t->last_error));
}

const char *ptth_hub_status_json(ptth_hub *hub, apr_pool_t *p)
{
    static const char *const hs[] = { "running", "draining", "stopping" };
    apr_array_header_t *parts;
    apr_time_t now = apr_time_now();
    int i;

    parts = apr_array_make(p, hub->pool_list->nelts, sizeof(const char *));
    for (i = 0; i < hub->pool_list->nelts; ++i) {
        ptth_pool *pool = APR_ARRAY_IDX(hub->pool_list, i, ptth_pool *);
        apr_array_header_t *ts = apr_array_make(p, pool->n_tunnels + 1,
                                                sizeof(const char *));
        ptth_tunnel *t;
        for (t = APR_RING_FIRST(&pool->tunnels);
             t != APR_RING_SENTINEL(&pool->tunnels, ptth_tunnel, link);
             t = APR_RING_NEXT(t, link)) {
            APR_ARRAY_PUSH(ts, const char *) = json_tunnel(p, t, now);
        }
        APR_ARRAY_PUSH(parts, const char *) = apr_psprintf(p,
            "{\"name\":%s,\"tunnels\":[%s],\"waiting\":%d,"
            "\"requests\":%" APR_UINT64_T_FMT ",\"retries\":%" APR_UINT64_T_FMT "}",
            json_str(p, pool->name), apr_array_pstrcat(p, ts, ','),
            pool->n_waiting, pool->requests, pool->retries);
    }
    return apr_psprintf(p, "{\"hub\":{\"pid\":%" APR_PID_T_FMT ",\"state\":"
                        "\"%s\",\"generation\":%u,\"links\":%d,\"uptime_s\":%"
                        APR_TIME_T_FMT ",\"handshakes\":%d,\"refused\":%"
                        APR_UINT64_T_FMT ",\"links_refused\":%" APR_UINT64_T_FMT
                        ",\"memory\":%" APR_SIZE_T_FMT ",\"memory_peak\":%"
                        APR_SIZE_T_FMT ",\"memory_limit\":%" APR_SIZE_T_FMT
                        "},\"pools\":[%s]}\n", getpid(), hs[hub->state],
                        hub->generation, hub->n_links,
                        apr_time_sec(now - hub->started), hub->n_pendings,
                        hub->refused, hub->links_refused, hub->mem.used,
                        hub->mem.peak, hub->mem.limit,
                        apr_array_pstrcat(p, parts, ','));
}
