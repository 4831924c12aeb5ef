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

/* A tunnel's HTTP/2 session's memory (ptth_tunnel.h).
 *
 * Everything nghttp2 allocates for the session is charged to the tunnel
 * (PTTH_TUNNEL_SESSION_MEM) and to the hub (PTTHHubMemoryLimit); past
 * either, nghttp2 gets NULL, fails the session, and the tunnel that asked
 * is closed.
 *
 * What a new session allocates (about 25 KiB with nghttp2 1.52: the
 * session, the HPACK tables, the stream map, a 16 KiB frame buffer) goes
 * into one anonymous mapping of its own: the kernel hands it out zeroed,
 * so calloc() needs no memset, and only the pages nghttp2 reads or writes
 * become resident.  The session and the frame buffer (whose first bytes
 * every frame is written to) share the first page; the tables (1-4 KiB
 * blocks after the first) are placed from the end, a 4 KiB one on a page
 * of its own, and stay untouched until used.  Their sizes are kept beside
 * the tunnel, not in headers that would touch their pages.  An idle
 * tunnel then costs two pages of session (the first, and the stream map
 * that SETTINGS walk); from the heap the same allocations touched five.
 * Later allocations (streams, queued frames) come from the heap. */

#include <sys/mman.h>

#include "ptth_tunnel.h"

/* What one tunnel's HTTP/2 session may allocate: HPACK tables, stream
 * state and queued frames. */
#define PTTH_TUNNEL_SESSION_MEM  (8 * 1024 * 1024)
/* The set-up region: room for what nghttp2 1.52 allocates for a new
 * client session; anything beyond comes from the heap. */
#define PTTH_TUNNEL_ARENA        (28 * 1024)

typedef union tunnel_mem_hdr {
    apr_size_t size;
    long double align_ld;
    void *align_p;
} tunnel_mem_hdr;

static int in_arena(ptth_tunnel *t, const void *p)
{
    return t->arena && (const char *)p >= t->arena
           && (const char *)p < t->arena + PTTH_TUNNEL_ARENA;
}

/* The size of a block of the region. */
static apr_size_t arena_size(ptth_tunnel *t, const void *p)
{
    int i;

    for (i = 0; i < t->arena_n; ++i) {
        if (t->arena + t->arena_blk[i].off == (const char *)p) {
            return t->arena_blk[i].size;
        }
    }
    return 0;
}

/* A block of the region (zeroed: fresh pages, never reused), or NULL. */
static void *arena_alloc(ptth_tunnel *t, apr_size_t size)
{
    apr_size_t need = (size + 15) & ~(apr_size_t)15, off;

    if (!t->arena_open || !t->arena || t->arena_n == PTTH_TUNNEL_ARENA_BLOCKS
        || t->arena_back - t->arena_used < need) {
        return NULL;
    }
    if (t->arena_n && size >= 1024 && size <= 4096) {
        /* A table: from the end, a page's worth on a page of its own. */
        off = t->arena_back - need;
        if (size > 2048) {
            off &= ~(apr_size_t)4095;
        }
        if (off < t->arena_used) {
            return NULL;
        }
        t->arena_back = off;
    }
    else {
        off = t->arena_used;
        t->arena_used += need;
    }
    t->arena_blk[t->arena_n].off = (apr_uint32_t)off;
    t->arena_blk[t->arena_n].size = (apr_uint32_t)size;
    t->arena_n++;
    return t->arena + off;
}

static int mem_charge(ptth_tunnel *t, apr_size_t size)
{
    if (size > PTTH_TUNNEL_SESSION_MEM || !ptth_budget_take(&t->mem, size)) {
        t->mem_refused = 1;
        return 0;
    }
    if (!ptth_budget_take(&t->hub->mem, size)) {
        ptth_budget_give(&t->mem, size);
        t->mem_refused = 2;
        return 0;
    }
    return 1;
}

static void mem_uncharge(ptth_tunnel *t, apr_size_t size)
{
    ptth_budget_give(&t->mem, size);
    ptth_budget_give(&t->hub->mem, size);
}

static void *mem_alloc(ptth_tunnel *t, size_t size, int zero)
{
    tunnel_mem_hdr *h;
    void *p;

    if (!mem_charge(t, size)) {
        return NULL;
    }
    if ((p = arena_alloc(t, size)) != NULL) {
        return p;
    }
    if (!(h = malloc(sizeof(*h) + size))) {
        mem_uncharge(t, size);
        return NULL;
    }
    if (zero) {
        memset(h + 1, 0, size);
    }
    h->size = size;
    return h + 1;
}

static apr_size_t mem_size(ptth_tunnel *t, void *ptr)
{
    return in_arena(t, ptr) ? arena_size(t, ptr)
                            : ((tunnel_mem_hdr *)ptr - 1)->size;
}

static void *tunnel_mem_malloc(size_t size, void *ud)
{
    return mem_alloc(ud, size, 0);
}

static void tunnel_mem_free(void *ptr, void *ud)
{
    ptth_tunnel *t = ud;

    if (ptr) {
        mem_uncharge(t, mem_size(t, ptr));
        if (!in_arena(t, ptr)) {
            free((tunnel_mem_hdr *)ptr - 1);
        }
        /* A block of the region is not reused: it goes with the tunnel. */
    }
}

static void *tunnel_mem_calloc(size_t nmemb, size_t size, void *ud)
{
    if (size && nmemb > PTTH_TUNNEL_SESSION_MEM / size) {
        return NULL;
    }
    return mem_alloc(ud, nmemb * size, 1);
}

static void *tunnel_mem_realloc(void *ptr, size_t size, void *ud)
{
    apr_size_t old;
    void *n;

    if (!ptr) {
        return tunnel_mem_malloc(size, ud);
    }
    old = mem_size(ud, ptr);
    if ((n = tunnel_mem_malloc(size, ud)) != NULL) {
        memcpy(n, ptr, old < size ? old : size);
        tunnel_mem_free(ptr, ud);
    }
    return n;
}

void ptth_tunnel_mem_init(ptth_tunnel *t)
{
    void *a;

    t->mem_fns.mem_user_data = t;
    t->mem_fns.malloc = tunnel_mem_malloc;
    t->mem_fns.free = tunnel_mem_free;
    t->mem_fns.calloc = tunnel_mem_calloc;
    t->mem_fns.realloc = tunnel_mem_realloc;
    t->mem.limit = PTTH_TUNNEL_SESSION_MEM;
    a = mmap(NULL, PTTH_TUNNEL_ARENA, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    /* Without it, everything comes from the heap. */
    t->arena = a == MAP_FAILED ? NULL : a;
    t->arena_used = t->arena_n = 0;
    t->arena_back = PTTH_TUNNEL_ARENA;
    t->arena_open = 1;
}

void ptth_tunnel_mem_settled(ptth_tunnel *t)
{
    t->arena_open = 0;
}

void ptth_tunnel_mem_release(ptth_tunnel *t)
{
    if (t->arena) {
        munmap(t->arena, PTTH_TUNNEL_ARENA);
        t->arena = NULL;
    }
}
