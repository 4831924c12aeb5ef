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

/* The status document's wire format (ptth_status_doc.h): written by the
 * hub, read by a child.  The reader checks every access against the
 * payload; a count never allocates more than the payload could hold. */

#include <string.h>

#include <apr_strings.h>

#include "ptth_status_doc.h"

enum {
    REC_HUB = 1,
    REC_POOL = 2,
    REC_TUNNEL = 3,
    REC_END = 4
};

/* ---- writer ---------------------------------------------------------- */

static void put(ptth_sdoc_writer *w, const void *data, apr_size_t n)
{
    if (!w->failed && ptth_buf_append(w->out, data, n) != APR_SUCCESS) {
        w->failed = 1;
    }
}

static void put_u8(ptth_sdoc_writer *w, unsigned v)
{
    unsigned char c = (unsigned char)v;

    put(w, &c, 1);
}

static void put_u32(ptth_sdoc_writer *w, apr_uint32_t v)
{
    unsigned char b[4];

    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
    put(w, b, 4);
}

static void put_u64(ptth_sdoc_writer *w, apr_uint64_t v)
{
    put_u32(w, (apr_uint32_t)(v >> 32));
    put_u32(w, (apr_uint32_t)v);
}

static void put_str(ptth_sdoc_writer *w, const char *s)
{
    apr_size_t n = s ? strlen(s) : 0;

    put_u32(w, (apr_uint32_t)n);
    put(w, s ? s : "", n + 1);
}

static apr_size_t str_size(const char *s)
{
    return 4 + (s ? strlen(s) : 0) + 1;
}

void ptth_sdoc_begin(ptth_sdoc_writer *w, ptth_buf *out, apr_size_t max)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
    w->start = out->len;
    w->max = max;
    put_u32(w, PTTH_SDOC_VERSION);
}

static apr_size_t written(const ptth_sdoc_writer *w)
{
    return w->out->len - w->start;
}

void ptth_sdoc_put_hub(ptth_sdoc_writer *w, const ptth_sdoc_hub *h)
{
    put_u8(w, REC_HUB);
    put_u32(w, h->pid);
    put_u8(w, (unsigned)h->state);
    put_u32(w, h->generation);
    put_u32(w, h->restarts);
    put_u32(w, h->links);
    put_u32(w, h->handshakes);
    put_u64(w, h->refused);
    put_u64(w, h->links_refused);
    put_u64(w, h->memory);
    put_u64(w, h->memory_peak);
    put_u64(w, h->memory_limit);
    put_u64(w, (apr_uint64_t)h->started);
    put_u64(w, (apr_uint64_t)h->now);
}

void ptth_sdoc_put_pool(ptth_sdoc_writer *w, const ptth_sdoc_pool *pl)
{
    put_u8(w, REC_POOL);
    put_str(w, pl->name);
    put_u8(w, pl->declared ? 1 : 0);
    put_u32(w, pl->max_tunnels);
    put_u32(w, pl->n_tunnels);
    put_u32(w, pl->waiting);
    put_u64(w, pl->requests);
    put_u64(w, pl->retries);
}

#define TUNNEL_FIXED (1 + 4 + 1 + 1 + 3 * 4 + 3 * 8 + 8 + 3 * 8 + 4)

void ptth_sdoc_put_tunnel(ptth_sdoc_writer *w, const ptth_sdoc_tunnel *t,
                          const char *const *hosts, int nhosts)
{
    apr_size_t need = TUNNEL_FIXED + str_size(t->peer) + str_size(t->backend)
                    + str_size(t->last_error);
    int i;

    for (i = 0; i < nhosts; ++i) {
        need += str_size(hosts[i]);
    }
    /* Room for this record and the END record, or it is left out. */
    if (written(w) + need + 5 > w->max) {
        w->omitted++;
        return;
    }
    put_u8(w, REC_TUNNEL);
    put_u32(w, t->id);
    put_u8(w, (unsigned)t->state);
    put_u8(w, t->penalized ? 1 : 0);
    put_u32(w, t->active);
    put_u32(w, t->capacity);
    put_u32(w, t->max_streams);
    put_u64(w, t->served);
    put_u64(w, t->bytes_in);
    put_u64(w, t->bytes_out);
    put_u64(w, (apr_uint64_t)t->rtt);
    put_u64(w, (apr_uint64_t)t->opened);
    put_u64(w, (apr_uint64_t)t->last_read);
    put_u64(w, t->session_mem);
    put_str(w, t->peer);
    put_str(w, t->backend);
    put_str(w, t->last_error);
    put_u32(w, (apr_uint32_t)nhosts);
    for (i = 0; i < nhosts; ++i) {
        put_str(w, hosts[i]);
    }
}

apr_status_t ptth_sdoc_end(ptth_sdoc_writer *w)
{
    put_u8(w, REC_END);
    put_u32(w, w->omitted);
    return w->failed ? APR_ENOMEM : APR_SUCCESS;
}

/* ---- reader ---------------------------------------------------------- */

typedef struct {
    const unsigned char *buf;
    apr_size_t len;
    apr_size_t pos;
    int bad;
} rd;

static int avail(rd *r, apr_size_t n)
{
    if (r->bad || r->len - r->pos < n) {
        r->bad = 1;
        return 0;
    }
    return 1;
}

static unsigned get_u8(rd *r)
{
    return avail(r, 1) ? r->buf[r->pos++] : 0;
}

static apr_uint32_t get_u32(rd *r)
{
    apr_uint32_t v;

    if (!avail(r, 4)) {
        return 0;
    }
    v = ((apr_uint32_t)r->buf[r->pos] << 24)
      | ((apr_uint32_t)r->buf[r->pos + 1] << 16)
      | ((apr_uint32_t)r->buf[r->pos + 2] << 8)
      | (apr_uint32_t)r->buf[r->pos + 3];
    r->pos += 4;
    return v;
}

static apr_uint64_t get_u64(rd *r)
{
    apr_uint64_t hi = get_u32(r);

    return (hi << 32) | get_u32(r);
}

/* NULL for an empty string when empty_null, else "". */
static const char *get_str(rd *r, int empty_null)
{
    apr_uint32_t n = get_u32(r);
    const char *s;

    /* The NUL that ends it, and none before (the writer never puts one). */
    if (r->bad || (apr_size_t)n >= r->len - r->pos || r->buf[r->pos + n] != '\0'
        || memchr(r->buf + r->pos, '\0', n) != NULL) {
        r->bad = 1;
        return NULL;
    }
    s = (const char *)r->buf + r->pos;
    r->pos += (apr_size_t)n + 1;
    return (n == 0 && empty_null) ? NULL : s;
}

static void get_hub(rd *r, ptth_sdoc_hub *h)
{
    h->pid = get_u32(r);
    h->state = (int)get_u8(r);
    h->generation = get_u32(r);
    h->restarts = get_u32(r);
    h->links = get_u32(r);
    h->handshakes = get_u32(r);
    h->refused = get_u64(r);
    h->links_refused = get_u64(r);
    h->memory = get_u64(r);
    h->memory_peak = get_u64(r);
    h->memory_limit = get_u64(r);
    h->started = (apr_time_t)get_u64(r);
    h->now = (apr_time_t)get_u64(r);
    if (h->state > PTTH_SDOC_HUB_STOPPING) {
        r->bad = 1;
    }
}

static void get_pool(apr_pool_t *p, rd *r, ptth_sdoc_pool *pl)
{
    pl->name = get_str(r, 0);
    pl->declared = (int)get_u8(r);
    pl->max_tunnels = get_u32(r);
    pl->n_tunnels = get_u32(r);
    pl->waiting = get_u32(r);
    pl->requests = get_u64(r);
    pl->retries = get_u64(r);
    pl->tunnels = apr_array_make(p, 4, sizeof(ptth_sdoc_tunnel));
}

static void get_tunnel(apr_pool_t *p, rd *r, ptth_sdoc_tunnel *t)
{
    apr_uint32_t n, i;

    t->id = get_u32(r);
    t->state = (int)get_u8(r);
    t->penalized = (int)get_u8(r);
    t->active = get_u32(r);
    t->capacity = get_u32(r);
    t->max_streams = get_u32(r);
    t->served = get_u64(r);
    t->bytes_in = get_u64(r);
    t->bytes_out = get_u64(r);
    t->rtt = (apr_int64_t)get_u64(r);
    t->opened = (apr_time_t)get_u64(r);
    t->last_read = (apr_time_t)get_u64(r);
    t->session_mem = get_u64(r);
    t->peer = get_str(r, 0);
    t->backend = get_str(r, 0);
    t->last_error = get_str(r, 1);
    n = get_u32(r);
    /* Each name takes at least 5 octets: no count beyond the payload. */
    if (r->bad || t->state > PTTH_SDOC_TUN_CLOSED || n > (r->len - r->pos) / 5) {
        r->bad = 1;
        return;
    }
    t->hosts = apr_array_make(p, n ? (int)n : 1, sizeof(const char *));
    for (i = 0; i < n && !r->bad; ++i) {
        APR_ARRAY_PUSH(t->hosts, const char *) = get_str(r, 0);
    }
}

apr_status_t ptth_sdoc_decode(apr_pool_t *p, const char *payload,
                              apr_size_t len, ptth_sdoc **pdoc)
{
    ptth_sdoc *doc = apr_pcalloc(p, sizeof(*doc));
    ptth_sdoc_pool *pool = NULL;
    int seen_hub = 0, ended = 0;
    rd r;

    r.buf = (const unsigned char *)payload;
    r.len = len;
    r.pos = 0;
    r.bad = 0;
    if (get_u32(&r) != PTTH_SDOC_VERSION) {
        return r.bad ? APR_EINVAL : APR_ENOTIMPL;
    }
    doc->pools = apr_array_make(p, 4, sizeof(ptth_sdoc_pool));
    while (!r.bad && !ended && r.pos < r.len) {
        switch (get_u8(&r)) {
        case REC_HUB:
            if (seen_hub++) {
                r.bad = 1;
                break;
            }
            get_hub(&r, &doc->hub);
            break;
        case REC_POOL:
            pool = apr_array_push(doc->pools);
            get_pool(p, &r, pool);
            break;
        case REC_TUNNEL:
            if (!pool) {
                r.bad = 1;
                break;
            }
            get_tunnel(p, &r, apr_array_push(pool->tunnels));
            break;
        case REC_END:
            doc->omitted = get_u32(&r);
            ended = 1;
            break;
        default:
            r.bad = 1;
            break;
        }
    }
    if (r.bad || !seen_hub || !ended || r.pos != r.len) {
        return APR_EINVAL;
    }
    *pdoc = doc;
    return APR_SUCCESS;
}

const char *ptth_sdoc_hub_state_str(int state)
{
    switch (state) {
    case PTTH_SDOC_HUB_RUNNING:  return "running";
    case PTTH_SDOC_HUB_DRAINING: return "draining";
    case PTTH_SDOC_HUB_STOPPING: return "stopping";
    }
    return "unknown";
}

const char *ptth_sdoc_tunnel_state_str(int state)
{
    switch (state) {
    case PTTH_SDOC_TUN_PREFACE:  return "preface";
    case PTTH_SDOC_TUN_OPEN:     return "open";
    case PTTH_SDOC_TUN_DRAINING: return "draining";
    case PTTH_SDOC_TUN_CLOSED:   return "closed";
    }
    return "unknown";
}
