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

/* libFuzzer target for the child<->hub link codec
 * (mod_ptth_router/ptth_link.c), run by t/fuzz/run-fuzz.sh.
 *
 * FUZZ-SOURCES: mod_ptth_router/ptth_link.c
 *
 * Byte 0 picks the decoder the rest is fed to (REQUEST, RESPONSE,
 * TRAILERS, RESET); the payload is then also walked as a sequence of
 * framed records the way both ends split a link stream.  Besides "no
 * crash, no sanitizer report": every string a decoder hands out lies
 * inside the payload, is NUL-terminated at its length, and whatever
 * decodes encodes back to the same payload (the codec has one form). */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_tables.h>

#include "ptth_link.h"

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

static void check_str(const char *buf, size_t len, const char *s, size_t slen)
{
    PROMISE(s >= buf && s + slen < buf + len);
    PROMISE(s[slen] == '\0');
}

static void check_nvs(const char *buf, size_t len, const apr_array_header_t *h)
{
    int i;

    PROMISE(h);
    for (i = 0; i < h->nelts; ++i) {
        const ptth_nv *nv = &APR_ARRAY_IDX(h, i, ptth_nv);
        check_str(buf, len, nv->name, nv->nlen);
        check_str(buf, len, nv->value, nv->vlen);
    }
}

static void check_cstr(const char *buf, size_t len, const char *s)
{
    if (s) {
        check_str(buf, len, s, strlen(s));
    }
}

/* Encoders give header + payload: the payload must be the input. */
static void same(const char *frame, apr_size_t flen, const char *payload,
                 size_t len)
{
    ptth_link_fhdr fh;

    PROMISE(flen == PTTH_LINK_HDR_LEN + len);
    ptth_link_hdr_unpack((const unsigned char *)frame, &fh);
    PROMISE(fh.length == len);
    PROMISE(!memcmp(frame + PTTH_LINK_HDR_LEN, payload, len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    const char *payload;
    char *copy;
    size_t len, off;

    if (size < 1) {
        return 0;
    }
    apr_pool_create(&p, root);
    len = size - 1;
    /* The decoders read only inside the payload: give them an exact copy
     * so that ASan sees any read beyond it. */
    copy = malloc(len ? len : 1);
    if (!copy) {
        abort();
    }
    memcpy(copy, data + 1, len);
    payload = copy;

    switch (data[0] % 4) {
    case 0: {
        ptth_link_request req;
        if (ptth_link_decode_request(p, payload, len, &req) == APR_SUCCESS) {
            apr_size_t flen;
            char *f;
            check_cstr(payload, len, req.pool_name);
            check_cstr(payload, len, req.method);
            check_cstr(payload, len, req.scheme);
            check_cstr(payload, len, req.authority);
            check_cstr(payload, len, req.path);
            check_cstr(payload, len, req.protocol);
            check_nvs(payload, len, req.headers);
            PROMISE(*req.pool_name && *req.method && *req.path);
            f = ptth_link_encode_request(p, &req, 0, &flen);
            /* protocol "" decodes as NULL and encodes as "": same bytes */
            same(f, flen, payload, len);
        }
        break;
    }
    case 1: {
        ptth_link_response resp;
        if (ptth_link_decode_response(p, payload, len, &resp) == APR_SUCCESS) {
            apr_size_t flen;
            char *f;
            PROMISE(resp.status >= 100 && resp.status <= 999);
            check_nvs(payload, len, resp.headers);
            resp.upgraded = 0;
            f = ptth_link_encode_response(p, &resp, 0, &flen);
            same(f, flen, payload, len);
        }
        break;
    }
    case 2: {
        apr_array_header_t *h;
        if (ptth_link_decode_trailers(p, payload, len, &h) == APR_SUCCESS) {
            apr_size_t flen;
            char *f;
            check_nvs(payload, len, h);
            f = ptth_link_encode_trailers(p, h, &flen);
            same(f, flen, payload, len);
        }
        break;
    }
    default: {
        ptth_link_reset_t code;
        if (ptth_link_decode_reset(payload, len, &code) == APR_SUCCESS) {
            unsigned char f[PTTH_LINK_HDR_LEN + 4];
            PROMISE(len == 4);
            ptth_link_encode_reset(f, code);
            same((const char *)f, sizeof(f), payload, len);
            PROMISE(ptth_link_reset_str(code) != NULL);
        }
        break;
    }
    }

    /* The same bytes as a stream of frames: every header's length either
     * fits what follows or the walk stops, as both ends do. */
    for (off = 0; len - off >= PTTH_LINK_HDR_LEN;) {
        ptth_link_fhdr fh;
        ptth_link_hdr_unpack((const unsigned char *)payload + off, &fh);
        if (fh.length > PTTH_LINK_MAX_HEAD || fh.length > len - off - PTTH_LINK_HDR_LEN) {
            break;
        }
        off += PTTH_LINK_HDR_LEN + fh.length;
    }
    free(copy);
    apr_pool_destroy(p);
    return 0;
}
