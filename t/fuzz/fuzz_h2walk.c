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

/* libFuzzer target for the backend gate's frame walker
 * (mod_ptth_backend/ptth_h2walk.c), run by t/fuzz/run-fuzz.sh.
 *
 * FUZZ-SOURCES: mod_ptth_backend/ptth_h2walk.c
 * FUZZ-LIBS: aprutil
 *
 * Input: byte 0 seeds which frames are held; bytes 1-8 give the sizes of
 * the pieces the rest arrives in (the brigades of successive reads, each
 * split into buckets); the rest is the router's byte stream.  The walker
 * rewrites every piece; the concatenated output must equal what a flat
 * reference parse of the whole stream says: the preface, then every
 * frame that is not held, whole, and nothing of a held one.  The same
 * stream is also scanned, whose callback must see the same frames. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_buckets.h>

#include "ptth_h2walk.h"

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

typedef struct ctx {
    unsigned seed;
    unsigned frames;
} ctx;

static int hold(unsigned seed, const ptth_h2_frame *fh)
{
    return ((fh->sid * 31u + fh->type * 7u + (unsigned)fh->length) ^ seed) % 3 == 0;
}

static int decide(void *c, const ptth_h2_frame *fh)
{
    ctx *x = c;
    x->frames++;
    return hold(x->seed, fh);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    apr_bucket_alloc_t *ba;
    ptth_h2_walk w, ws;
    ctx x = { 0, 0 }, xs = { 0, 0 };
    const uint8_t *stream, *pieces;
    size_t n, off = 0, i, expect_len = 0, out_len = 0;
    unsigned char *expect, *out;
    unsigned ref_frames = 0;

    if (size < 9) {
        return 0;
    }
    x.seed = xs.seed = data[0];
    pieces = data + 1;
    stream = data + 9;
    n = size - 9;

    /* Reference: the preface, then frames. */
    expect = malloc(n + 1);
    out = malloc(n + 64);
    if (!expect || !out) {
        abort();
    }
    i = 0;
    if (n >= PTTH_H2_PREFACE_LEN
        && !memcmp(stream, PTTH_H2_PREFACE, PTTH_H2_PREFACE_LEN)) {
        memcpy(expect, stream, PTTH_H2_PREFACE_LEN);
        expect_len = i = PTTH_H2_PREFACE_LEN;
        while (n - i >= PTTH_H2_FRAME_HDR_LEN) {
            ptth_h2_frame fh;
            size_t take;
            const uint8_t *h = stream + i;

            fh.length = ((size_t)h[0] << 16) | ((size_t)h[1] << 8) | h[2];
            fh.type = h[3];
            fh.flags = h[4];
            fh.sid = ((uint32_t)(h[5] & 0x7f) << 24) | ((uint32_t)h[6] << 16)
                     | ((uint32_t)h[7] << 8) | h[8];
            ref_frames++;
            take = PTTH_H2_FRAME_HDR_LEN
                   + (fh.length < n - i - PTTH_H2_FRAME_HDR_LEN
                      ? fh.length : n - i - PTTH_H2_FRAME_HDR_LEN);
            if (!hold(x.seed, &fh)) {
                memcpy(expect + expect_len, stream + i, take);
                expect_len += take;
            }
            i += take;
        }
    }
    else {
        /* Not HTTP/2: once the preface differs, everything passes. */
        memcpy(expect, stream, n);
        expect_len = n;
        i = n;
    }

    apr_pool_create(&p, root);
    ba = apr_bucket_alloc_create(p);
    ptth_h2_walk_init(&w, 1, decide, &x);
    ptth_h2_walk_init(&ws, 0, decide, &xs);
    for (i = 0; off < n; ++i) {
        apr_bucket_brigade *bb = apr_brigade_create(p, ba);
        apr_bucket *b;
        size_t piece = pieces[i % 8] + 1, j;

        if (piece > n - off) {
            piece = n - off;
        }
        /* One read: a few buckets. */
        for (j = 0; j < piece;) {
            size_t k = (piece - j) > 7 ? 1 + ((stream[off + j] + j) % 23) : piece - j;
            if (k > piece - j) {
                k = piece - j;
            }
            APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_heap_create(
                (const char *)stream + off + j, k, NULL, ba));
            j += k;
        }
        if (i % 3 == 0) {
            APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(ba));
        }
        PROMISE(ptth_h2_walk_rewrite(&w, bb) == APR_SUCCESS);
        for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
             b = APR_BUCKET_NEXT(b)) {
            const char *d;
            apr_size_t l;
            if (APR_BUCKET_IS_METADATA(b)) {
                continue;
            }
            PROMISE(apr_bucket_read(b, &d, &l, APR_BLOCK_READ) == APR_SUCCESS);
            PROMISE(out_len + l <= n + 64);
            memcpy(out + out_len, d, l);
            out_len += l;
        }
        apr_brigade_destroy(bb);
        off += piece;
    }
    PROMISE(out_len == expect_len);
    PROMISE(!memcmp(out, expect, out_len));
    if (!w.not_h2) {
        PROMISE(x.frames == ref_frames);
    }

    /* Scanning the frames after the preface sees the same ones. */
    if (!w.not_h2 && n >= PTTH_H2_PREFACE_LEN) {
        apr_bucket_brigade *bb = apr_brigade_create(p, ba);
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_heap_create(
            (const char *)stream + PTTH_H2_PREFACE_LEN,
            n - PTTH_H2_PREFACE_LEN, NULL, ba));
        PROMISE(ptth_h2_walk_scan(&ws, bb) == APR_SUCCESS);
        PROMISE(xs.frames == ref_frames);
        apr_brigade_destroy(bb);
    }
    apr_pool_destroy(p);
    free(expect);
    free(out);
    return 0;
}
