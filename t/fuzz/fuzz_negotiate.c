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

/* libFuzzer target for the status handlers' choice of output
 * (common/ptth_negotiate.c), run by t/fuzz/run-fuzz.sh.  The query and
 * the Accept header are the user's.
 *
 * FUZZ-SOURCES: common/ptth_negotiate.c
 *
 * Byte 0 picks the mode:
 *   even  the rest is "QUERY\nACCEPT": any bytes; the answer must be one
 *         of the four outputs and the refresh 0 or within its bounds;
 *   odd   the rest is a q value X in "Accept: application/json;q=0.5,
 *         text/html;q=X": the page must be HTML exactly when X is a
 *         qvalue of RFC 9110 section 12.4.2 above 0.5 (a reference
 *         written here, apart from the parser). */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_tables.h>

#include <httpd.h>

#include "ptth_negotiate.h"

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

/* The reference: X as 1000ths when it is "0", "0.", "0.d", "0.dd",
 * "0.ddd", "1", "1.", "1.0", "1.00", "1.000"; else -1. */
static int ref_qvalue(const char *x, size_t n)
{
    char buf[8];
    int whole, frac = 0, digits = 0;

    if (n < 1 || n > 5) {
        return -1;
    }
    memcpy(buf, x, n);
    buf[n] = '\0';
    if (buf[0] != '0' && buf[0] != '1') {
        return -1;
    }
    whole = buf[0] - '0';
    if (n > 1) {
        size_t i;
        if (buf[1] != '.') {
            return -1;
        }
        for (i = 2; i < n; ++i) {
            if (buf[i] < '0' || buf[i] > '9') {
                return -1;
            }
            frac = frac * 10 + (buf[i] - '0');
            ++digits;
        }
        while (digits++ < 3) {
            frac *= 10;
        }
    }
    if (whole == 1 && frac != 0) {
        return -1;
    }
    return whole * 1000 + frac;
}

static int has_ows_or_sep(const char *x, size_t n)
{
    size_t i;

    for (i = 0; i < n; ++i) {
        if (x[i] == ' ' || x[i] == '\t' || x[i] == ',' || x[i] == ';'
            || x[i] == '\0') {
            return 1;
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    request_rec r;
    ptth_out_fmt fmt;
    int refresh = -1;

    if (size < 1) {
        return 0;
    }
    apr_pool_create(&p, root);
    memset(&r, 0, sizeof(r));
    r.pool = p;
    r.headers_in = apr_table_make(p, 2);

    if (!(data[0] & 1)) {
        const char *rest = (const char *)data + 1;
        size_t len = size - 1;
        const char *nl = memchr(rest, '\n', len);
        size_t qlen = nl ? (size_t)(nl - rest) : len;

        r.args = apr_pstrndup(p, rest, qlen);
        if (nl) {
            apr_table_setn(r.headers_in, "Accept",
                           apr_pstrndup(p, nl + 1, len - qlen - 1));
        }
        fmt = ptth_out_negotiate(&r, &refresh);
        PROMISE(fmt == PTTH_OUT_JSON || fmt == PTTH_OUT_HTML
                || fmt == PTTH_OUT_OPENMETRICS || fmt == PTTH_OUT_PROMETHEUS);
        PROMISE(refresh == 0
                || (refresh >= PTTH_REFRESH_MIN && refresh <= PTTH_REFRESH_MAX));
    }
    else {
        const char *x = (const char *)data + 1;
        size_t n = size - 1;
        int q;

        /* Separators and spaces would change the header's structure, not
         * the q value: leave them to the other mode. */
        if (!has_ows_or_sep(x, n) && n < 64) {
            q = ref_qvalue(x, n);
            apr_table_setn(r.headers_in, "Accept",
                           apr_psprintf(p, "application/json;q=0.5, text/html;q=%.*s",
                                        (int)n, x));
            fmt = ptth_out_negotiate(&r, &refresh);
            PROMISE(refresh == 0);
            PROMISE(fmt == (q > 500 ? PTTH_OUT_HTML : PTTH_OUT_JSON));
        }
    }
    apr_pool_destroy(p);
    return 0;
}
