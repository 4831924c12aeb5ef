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

/* libFuzzer target for the status document's reader and writer
 * (mod_ptth_router/ptth_status_doc.c), run by t/fuzz/run-fuzz.sh.
 *
 * FUZZ-SOURCES: mod_ptth_router/ptth_status_doc.c mod_ptth_router/ptth_buf.c
 *
 * The input is a payload as a child would get it from the hub.  Besides
 * "no crash, no sanitizer report": every string the reader hands out lies
 * inside the payload; whatever decodes is written again by the writer
 * (as the hub would write that document) and the result decodes to the
 * same numbers and strings, and writes to the same bytes (the writer's
 * form is a fixed point).  A writer bounded below the document's size
 * leaves tunnels out and counts them, keeps within the bound whenever it
 * keeps a tunnel, and what it writes still decodes. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_tables.h>

#include "ptth_buf.h"
#include "ptth_status_doc.h"

#define PROMISE(c) do { if (!(c)) { \
    fprintf(stderr, "broken promise at %s:%d: %s\n", __FILE__, __LINE__, #c); \
    abort(); } } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static apr_pool_t *root;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    apr_initialize();
    if (apr_pool_create(&root, NULL) != APR_SUCCESS) {
        abort();
    }
    return 0;
}

static void inside(const char *buf, size_t len, const char *s)
{
    if (s) {
        PROMISE(s >= buf && s < buf + len);
        PROMISE(memchr(s, '\0', (size_t)(buf + len - s)) != NULL);
    }
}

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Write doc as the hub would, within max octets. */
/* *kept_end: where the last tunnel written ends, in payload octets (0:
 * none written).  Pool records are always written, so they, unlike
 * tunnels, may take the document past max. */
static apr_status_t write_doc(apr_pool_t *p, const ptth_sdoc *doc, ptth_buf *out,
                             apr_size_t max, apr_uint32_t *omitted,
                             apr_size_t *kept_end)
{
    ptth_sdoc_writer w;
    apr_status_t rv;
    int i, j;

    *kept_end = 0;
    ptth_sdoc_begin(&w, out, max);
    ptth_sdoc_put_hub(&w, &doc->hub);
    for (i = 0; i < doc->pools->nelts; ++i) {
        const ptth_sdoc_pool *pl = &APR_ARRAY_IDX(doc->pools, i, ptth_sdoc_pool);
        ptth_sdoc_put_pool(&w, pl);
        for (j = 0; j < pl->tunnels->nelts; ++j) {
            const ptth_sdoc_tunnel *t = &APR_ARRAY_IDX(pl->tunnels, j, ptth_sdoc_tunnel);
            apr_uint32_t before = w.omitted;
            ptth_sdoc_put_tunnel(&w, t, (const char *const *)t->hosts->elts,
                                 t->hosts->nelts);
            if (w.omitted == before) {
                *kept_end = out->len - w.start;
            }
        }
    }
    /* The END record carries the writer's count; the document's own
     * count is what the first writer had left out. */
    w.omitted += doc->omitted;
    rv = ptth_sdoc_end(&w);
    *omitted = w.omitted;
    (void)p;
    return rv;
}

static void same_doc(const ptth_sdoc *a, const ptth_sdoc *b)
{
    int i, j, k;

    PROMISE(!memcmp(&a->hub, &b->hub, sizeof(a->hub)));
    PROMISE(a->omitted == b->omitted);
    PROMISE(a->pools->nelts == b->pools->nelts);
    for (i = 0; i < a->pools->nelts; ++i) {
        const ptth_sdoc_pool *x = &APR_ARRAY_IDX(a->pools, i, ptth_sdoc_pool);
        const ptth_sdoc_pool *y = &APR_ARRAY_IDX(b->pools, i, ptth_sdoc_pool);
        PROMISE(same_str(x->name, y->name));
        PROMISE(!x->declared == !y->declared);
        PROMISE(x->max_tunnels == y->max_tunnels && x->n_tunnels == y->n_tunnels
                && x->waiting == y->waiting && x->requests == y->requests
                && x->retries == y->retries);
        PROMISE(x->tunnels->nelts == y->tunnels->nelts);
        for (j = 0; j < x->tunnels->nelts; ++j) {
            const ptth_sdoc_tunnel *s = &APR_ARRAY_IDX(x->tunnels, j, ptth_sdoc_tunnel);
            const ptth_sdoc_tunnel *t = &APR_ARRAY_IDX(y->tunnels, j, ptth_sdoc_tunnel);
            PROMISE(s->id == t->id && s->state == t->state
                    && !s->penalized == !t->penalized && s->active == t->active
                    && s->capacity == t->capacity && s->max_streams == t->max_streams
                    && s->served == t->served && s->bytes_in == t->bytes_in
                    && s->bytes_out == t->bytes_out && s->rtt == t->rtt
                    && s->opened == t->opened && s->last_read == t->last_read
                    && s->session_mem == t->session_mem);
            PROMISE(same_str(s->peer, t->peer) && same_str(s->backend, t->backend)
                    && same_str(s->last_error, t->last_error));
            PROMISE(s->hosts->nelts == t->hosts->nelts);
            for (k = 0; k < s->hosts->nelts; ++k) {
                PROMISE(same_str(APR_ARRAY_IDX(s->hosts, k, const char *),
                                 APR_ARRAY_IDX(t->hosts, k, const char *)));
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    ptth_sdoc *doc, *doc2, *doc3;
    apr_size_t kept_end;
    ptth_buf b1, b2, b3;
    apr_uint32_t omitted;
    char *copy;
    int i, j;

    apr_pool_create(&p, root);
    /* An exact copy, so that ASan sees any read beyond it. */
    copy = malloc(size ? size : 1);
    if (!copy) {
        abort();
    }
    memcpy(copy, data, size);
    if (ptth_sdoc_decode(p, copy, size, &doc) == APR_SUCCESS) {
        for (i = 0; i < doc->pools->nelts; ++i) {
            const ptth_sdoc_pool *pl = &APR_ARRAY_IDX(doc->pools, i, ptth_sdoc_pool);
            PROMISE(pl->name);
            inside(copy, size, pl->name);
            for (j = 0; j < pl->tunnels->nelts; ++j) {
                const ptth_sdoc_tunnel *t = &APR_ARRAY_IDX(pl->tunnels, j, ptth_sdoc_tunnel);
                int k;
                PROMISE(t->peer && t->backend && t->hosts);
                inside(copy, size, t->peer);
                inside(copy, size, t->backend);
                inside(copy, size, t->last_error);
                for (k = 0; k < t->hosts->nelts; ++k) {
                    const char *h = APR_ARRAY_IDX(t->hosts, k, const char *);
                    PROMISE(h);
                    inside(copy, size, h);
                }
                PROMISE(strcmp(ptth_sdoc_tunnel_state_str(t->state), "unknown"));
            }
        }
        PROMISE(strcmp(ptth_sdoc_hub_state_str(doc->hub.state), "unknown"));

        /* Written again, unbounded: the same document, and a fixed point. */
        ptth_buf_init(&b1);
        ptth_buf_init(&b2);
        PROMISE(write_doc(p, doc, &b1, (apr_size_t)-1, &omitted, &kept_end) == APR_SUCCESS);
        PROMISE(omitted == doc->omitted);
        PROMISE(ptth_sdoc_decode(p, ptth_buf_head(&b1), b1.len, &doc2) == APR_SUCCESS);
        same_doc(doc, doc2);
        PROMISE(write_doc(p, doc2, &b2, (apr_size_t)-1, &omitted, &kept_end) == APR_SUCCESS);
        PROMISE(b1.len == b2.len && !memcmp(ptth_buf_head(&b1), ptth_buf_head(&b2), b1.len));

        /* Written within half its size: tunnels left out are counted. */
        ptth_buf_init(&b3);
        PROMISE(write_doc(p, doc, &b3, b1.len / 2, &omitted, &kept_end) == APR_SUCCESS);
        PROMISE(ptth_sdoc_decode(p, ptth_buf_head(&b3), b3.len, &doc3) == APR_SUCCESS);
        {
            apr_uint32_t kept = 0, all = 0;
            for (i = 0; i < doc->pools->nelts; ++i) {
                all += (apr_uint32_t)APR_ARRAY_IDX(doc->pools, i, ptth_sdoc_pool).tunnels->nelts;
                kept += (apr_uint32_t)APR_ARRAY_IDX(doc3->pools, i, ptth_sdoc_pool).tunnels->nelts;
            }
            PROMISE(doc3->pools->nelts == doc->pools->nelts);
            PROMISE(doc3->omitted == doc->omitted + (all - kept));
            /* A tunnel is kept only when it and END (5 octets) fit the
             * bound; pool records after it may not (a fuzzer input had
             * a tunnel kept before pool records that passed the bound). */
            PROMISE(kept == 0 || kept_end + 5 <= b1.len / 2);
            PROMISE(b3.len <= b1.len);
        }
        ptth_buf_free(&b1);
        ptth_buf_free(&b2);
        ptth_buf_free(&b3);
    }
    free(copy);
    apr_pool_destroy(p);
    return 0;
}
