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

/* libFuzzer target for the handshake, common/ptth_hs_*.c
 * (t/fuzz/run-fuzz.sh).
 *
 * FUZZ-SOURCES: common/ptth_hs_syntax.c common/ptth_hs_request.c common/ptth_hs_response.c
 *
 * The first byte of an input picks what the rest is fed to:
 *   '>'  ptth_hs_parse_request
 *   '<'  ptth_hs_parse_response
 *   'B'  ptth_hs_build_request from raw fields separated by '\n'
 *        (target, Host, token, identity, then one name per line)
 *   'b'  the same with every byte mapped into the field's alphabet, so
 *        that most inputs build
 *   'X'  ptth_hs_build_refusal (2 bytes status, whose top bit is the
 *        PTTH_HS_INVALID_TOKEN flag, 1 byte Retry-After, reason)
 *   else both parsers, on the whole input
 * Besides "no crash, no sanitizer report", every outcome is checked
 * against the API's promises (see check_* below); a broken promise
 * aborts, which libFuzzer reports as a crash. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_time.h>

#include "ptth_handshake.h"

static apr_pool_t *pool;

#define PROMISE(c) do { if (!(c)) { \
    fprintf(stderr, "broken promise at %s:%d: %s\n", __FILE__, __LINE__, #c); \
    abort(); } } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    apr_initialize();
    if (apr_pool_create(&pool, NULL) != APR_SUCCESS) {
        abort();
    }
    return 0;
}

static int printable(const char *s, apr_size_t max)
{
    apr_size_t n = 0;

    for (; *s; s++, n++) {
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f || n >= max) {
            return 0;
        }
    }
    return n > 0;
}

static int streq(const char *a, const char *b)
{
    return (!a || !b) ? a == b : strcmp(a, b) == 0;
}

/* A refusal for (status, why) must parse back exactly. */
static void check_refusal(int status, const char *why, int retry,
                          unsigned int flags)
{
    char *out = ptth_hs_build_refusal(pool, status, why, retry, flags);
    apr_size_t len = strlen(out), hl;
    ptth_hs_response r;
    const char *w;

    PROMISE(ptth_hs_parse_response(pool, out, len, &hl, &r, &w) == APR_SUCCESS);
    PROMISE(r.status == ((status >= 400 && status <= 599) ? status : 500));
    PROMISE(r.body_len == len - hl && r.body_len >= 1 && r.body_len <= 201);
    PROMISE(memchr(out + hl, '\n', len - hl) == out + len - 1);
    PROMISE(retry < 0 ? r.retry_after == -1
                      : r.retry_after == apr_time_from_sec(
                            retry > PTTH_HS_MAX_RETRY_AFTER
                            ? PTTH_HS_MAX_RETRY_AFTER : retry));
    PROMISE((r.status == 401) == (r.www_authenticate != NULL));
    PROMISE(r.status != 401 || streq(r.www_authenticate,
                                     (flags & PTTH_HS_INVALID_TOKEN)
                                     ? "Bearer realm=\"ptth\", error=\"invalid_token\""
                                     : "Bearer realm=\"ptth\""));
}

static void check_request_fields(const ptth_hs_request *a, const ptth_hs_request *b)
{
    int i;

    PROMISE(streq(a->target, b->target) && streq(a->host, b->host)
            && streq(a->token, b->token) && streq(a->backend_id, b->backend_id));
    PROMISE(a->hosts->nelts == b->hosts->nelts);
    for (i = 0; i < a->hosts->nelts; i++) {
        PROMISE(streq(APR_ARRAY_IDX(a->hosts, i, const char *),
                      APR_ARRAY_IDX(b->hosts, i, const char *)));
    }
}

static void check_request(const char *buf, apr_size_t len)
{
    ptth_hs_request r, r2;
    apr_size_t hl, hl2;
    int st, st2, i;
    const char *why, *why2, *s;
    apr_status_t rv = ptth_hs_parse_request(pool, buf, len, &hl, &r, &st, &why);

    if (rv == APR_INCOMPLETE) {
        PROMISE(len < PTTH_HS_MAX_HEAD && st == 0 && !why && hl == 0);
        return;
    }
    if (rv != APR_SUCCESS) {
        PROMISE(rv == APR_EINVAL && hl == 0);
        PROMISE(st == 400 || st == 405 || st == 414 || st == 426 || st == 431
                || st == 505);
        PROMISE(why && printable(why, 200));
        check_refusal(st, why, -1, 0);
        return;
    }
    PROMISE(st == 0 && !why);
    PROMISE(hl >= 4 && hl <= len && hl <= PTTH_HS_MAX_HEAD);
    PROMISE(memcmp(buf + hl - 4, "\r\n\r\n", 4) == 0);
    PROMISE(r.target && r.target[0] == '/' && strlen(r.target) <= PTTH_HS_MAX_TARGET);
    PROMISE(r.host && *r.host);
    PROMISE(!r.backend_id || strlen(r.backend_id) <= PTTH_HS_MAX_BACKEND_ID);
    PROMISE(r.hosts && r.hosts->nelts <= PTTH_HS_MAX_HOSTS);
    for (i = 0; i < r.hosts->nelts; i++) {
        for (s = APR_ARRAY_IDX(r.hosts, i, const char *); *s; s++) {
            PROMISE(!(*s >= 'A' && *s <= 'Z'));
        }
    }
    /* the head alone is the same success; one byte less is incomplete */
    PROMISE(ptth_hs_parse_request(pool, buf, hl, &hl2, &r2, &st2, &why2) == APR_SUCCESS
            && hl2 == hl);
    check_request_fields(&r, &r2);
    PROMISE(ptth_hs_parse_request(pool, buf, hl - 1, &hl2, &r2, &st2, &why2)
            == APR_INCOMPLETE);
    /* what was accepted can be rebuilt, and the rebuild says the same */
    {
        char *again = ptth_hs_build_request(pool, r.target, r.host, r.token,
                                            r.backend_id, r.hosts);
        if (again) {
            PROMISE(ptth_hs_parse_request(pool, again, strlen(again), &hl2, &r2,
                                          &st2, &why2) == APR_SUCCESS);
            PROMISE(hl2 == strlen(again));
            check_request_fields(&r, &r2);
        }
    }
}

static void check_response(const char *buf, apr_size_t len)
{
    ptth_hs_response r, r2;
    apr_size_t hl, hl2;
    const char *why, *why2;
    apr_status_t rv = ptth_hs_parse_response(pool, buf, len, &hl, &r, &why);

    if (rv == APR_INCOMPLETE) {
        PROMISE(len < PTTH_HS_MAX_HEAD && !why && hl == 0);
        return;
    }
    if (rv != APR_SUCCESS) {
        PROMISE(rv == APR_EINVAL && hl == 0 && why && printable(why, 200));
        PROMISE(r.status == 0 || (r.status >= 100 && r.status <= 599));
        return;
    }
    PROMISE(!why);
    PROMISE(hl >= 4 && hl <= len && hl <= PTTH_HS_MAX_HEAD);
    PROMISE(memcmp(buf + hl - 4, "\r\n\r\n", 4) == 0);
    PROMISE(r.status == 101 || (r.status >= 200 && r.status <= 599));
    PROMISE(r.retry_after == -1
            || (r.retry_after >= 0
                && r.retry_after <= apr_time_from_sec(PTTH_HS_MAX_RETRY_AFTER)));
    if (r.status == 101) {
        PROMISE(r.retry_after == -1 && !r.www_authenticate && r.body_len == 0);
    }
    PROMISE(ptth_hs_parse_response(pool, buf, hl, &hl2, &r2, &why2) == APR_SUCCESS
            && hl2 == hl && r2.status == r.status && r2.body_len == r.body_len
            && r2.retry_after == r.retry_after
            && streq(r2.www_authenticate, r.www_authenticate));
    PROMISE(ptth_hs_parse_response(pool, buf, hl - 1, &hl2, &r2, &why2)
            == APR_INCOMPLETE);
}

#define MAX_SEGS (4 + PTTH_HS_MAX_HOSTS + 8)

static const char *const alphabets[5] = {
    "/abcAZ09-._~!$&'()*+,;=:@%?",                 /* target */
    "abcXYZ09-.[]:",                               /* Host */
    "abcXYZ09-._~+/=",                             /* token */
    "abcXYZ09-._~:@+",                             /* identity */
    "abcXYZ09-.*",                                 /* names */
};

/* Build a request from '\n'-separated fields, parse it back. */
static void check_build(const uint8_t *data, size_t size, int mapped)
{
    char *segs[MAX_SEGS];
    int nseg = 0, i, j;
    size_t start = 0, k;
    apr_array_header_t *hosts = apr_array_make(pool, 8, sizeof(const char *));
    apr_array_header_t *want = apr_array_make(pool, 8, sizeof(const char *));
    ptth_hs_request r;
    apr_size_t hl;
    int st;
    const char *why;
    char *out;

    for (k = 0; k <= size && nseg < MAX_SEGS; k++) {
        if (k == size || data[k] == '\n') {
            char *s = apr_pstrmemdup(pool, (const char *)data + start, k - start);
            if (mapped) {
                const char *a = alphabets[nseg < 4 ? nseg : 4];
                size_t al = strlen(a), m;
                for (m = 0; m < k - start; m++) {
                    s[m] = a[(unsigned char)s[m] % al];
                }
            }
            segs[nseg++] = s;
            start = k + 1;
        }
    }
    while (nseg < 4) {
        segs[nseg++] = "";
    }
    for (i = 4; i < nseg; i++) {
        APR_ARRAY_PUSH(hosts, const char *) = segs[i];
    }
    out = ptth_hs_build_request(pool, segs[0], segs[1], segs[2], segs[3], hosts);
    if (!out) {
        return;
    }
    PROMISE(strlen(out) <= PTTH_HS_MAX_HEAD);
    PROMISE(ptth_hs_parse_request(pool, out, strlen(out), &hl, &r, &st, &why)
            == APR_SUCCESS);
    PROMISE(hl == strlen(out));
    PROMISE(streq(r.target, segs[0]) && streq(r.host, segs[1]));
    PROMISE(streq(r.token, *segs[2] ? segs[2] : NULL));
    PROMISE(streq(r.backend_id, *segs[3] ? segs[3] : NULL));
    /* names come back lowercased, first occurrence kept */
    for (i = 4; i < nseg; i++) {
        char *l = apr_pstrdup(pool, segs[i]);
        int dup = 0;
        for (k = 0; l[k]; k++) {
            if (l[k] >= 'A' && l[k] <= 'Z') {
                l[k] = (char)(l[k] + 32);
            }
        }
        for (j = 0; j < want->nelts && !dup; j++) {
            dup = streq(APR_ARRAY_IDX(want, j, const char *), l);
        }
        if (!dup) {
            APR_ARRAY_PUSH(want, const char *) = l;
        }
    }
    PROMISE(r.hosts->nelts == want->nelts);
    for (j = 0; j < want->nelts; j++) {
        PROMISE(streq(APR_ARRAY_IDX(r.hosts, j, const char *),
                      APR_ARRAY_IDX(want, j, const char *)));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy: a read past the input is a heap overflow */
    char *buf;

    if (size == 0) {
        return 0;
    }
    switch (data[0]) {
    case '>':
    case '<':
        buf = malloc(size - 1 ? size - 1 : 1);
        memcpy(buf, data + 1, size - 1);
        if (data[0] == '>') {
            check_request(buf, size - 1);
        }
        else {
            check_response(buf, size - 1);
        }
        PROMISE(memcmp(buf, data + 1, size - 1) == 0);
        free(buf);
        break;
    case 'B':
    case 'b':
        check_build(data + 1, size - 1, data[0] == 'b');
        break;
    case 'X':
        if (size >= 4) {
            int status = ((data[1] & 0x7f) << 8 | data[2]) % 700;
            unsigned int flags = (data[1] & 0x80) ? PTTH_HS_INVALID_TOKEN : 0;
            int retry = data[3] == 0xff ? -1 : data[3] * 20;
            char *reason = apr_pstrmemdup(pool, (const char *)data + 4, size - 4);
            check_refusal(status, reason, retry, flags);
        }
        break;
    default:
        buf = malloc(size);
        memcpy(buf, data, size);
        check_request(buf, size);
        check_response(buf, size);
        PROMISE(memcmp(buf, data, size) == 0);
        free(buf);
        break;
    }
    apr_pool_clear(pool);
    return 0;
}
