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

/* The handshake request (include/ptth_handshake.h, docs/protocol.md
 * section 2.2): parsed by the router (ptth_hs_parse_request), built by the
 * backend (ptth_hs_build_request).  The shared grammar is in
 * ptth_hs_syntax.c. */

#include <string.h>

#include <apr_strings.h>
#include <apr_tables.h>

#include "ptth_hs_syntax.h"

/* -------------------------------------------------------------- parsing */

#define HS_REFUSE(st, w) do { *status = (st); *why = (w); return -1; } while (0)

/* request-line = method SP request-target SP HTTP-version (RFC 9112 3).
 * s[0..n) is the line without its CRLF when complete, else the bytes so
 * far: a prefix is judged as far as it goes, so a request that cannot
 * succeed is refused before its head is complete.  Returns 1 (complete
 * and valid; *t, *tlen locate the target), 0 (valid so far), -1. */
static int hs_request_line(const char *s, apr_size_t n, int complete,
                           apr_size_t *t, apr_size_t *tlen,
                           int *status, const char **why)
{
    static const char version[] = "HTTP/1.1";
    apr_size_t i = 0, ts, v;

    while (i < n && hs_tchar(s[i])) {
        i++;
    }
    if (i == n) {
        if (complete) {
            HS_REFUSE(400, "malformed request-line");
        }
        if (i > 3) {
            /* a method longer than GET is growing: no need to see more */
            HS_REFUSE(405, "method is not GET");
        }
        return 0;
    }
    if (i == 0 || s[i] != ' ') {
        HS_REFUSE(400, "malformed request-line");
    }
    /* RFC 9110 9.1: methods are case-sensitive; draft-kazuho-ptth-ptth:
     * the HTTP/1.1 form is "GET" with "Upgrade: ptth" */
    if (i != 3 || memcmp(s, "GET", 3) != 0) {
        HS_REFUSE(405, "method is not GET");
    }
    ts = ++i;
    while (i < n && s[i] != ' ') {
        if (!hs_target_char(s[i])) {
            HS_REFUSE(400, "invalid character in request-target");
        }
        if (i - ts >= PTTH_HS_MAX_TARGET) {
            HS_REFUSE(414, "request-target too long");
        }
        i++;
    }
    /* only origin-form: no absolute-form, authority-form or "*" */
    if (i > ts && s[ts] != '/') {
        HS_REFUSE(400, "request-target not in origin-form");
    }
    if (i == n) {
        if (complete) {
            HS_REFUSE(400, "malformed request-line");
        }
        return 0;
    }
    if (i == ts) {
        HS_REFUSE(400, "malformed request-line");
    }
    if (!ptth_hs_pct_ok(s + ts, i - ts)) {
        HS_REFUSE(400, "bad percent-encoding in request-target");
    }
    v = ++i;
    /* HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 2.3), case-sensitive */
    for (; i < n; i++) {
        apr_size_t k = i - v;
        unsigned char c = s[i];
        if (k >= 8 || ((k == 5 || k == 7) ? !hs_digit(c) : c != version[k])) {
            HS_REFUSE(400, "malformed HTTP-version");
        }
    }
    if (i - v < 8) {
        if (complete) {
            HS_REFUSE(400, "malformed HTTP-version");
        }
        return 0;
    }
    /* RFC 9110 7.8: Upgrade means nothing in HTTP/1.0; the draft's
     * upgrade is HTTP/1.1 */
    if (memcmp(s + v, version, 8) != 0) {
        HS_REFUSE(505, "HTTP version is not HTTP/1.1");
    }
    *t = ts;
    *tlen = v - 1 - ts;
    return 1;
}

/* The semantics of the request's fields (see docs/protocol.md). */
static int hs_request_fields(apr_pool_t *p, const ptth_hs_fields *fs,
                             ptth_hs_request *req, int *status,
                             const char **why)
{
    const ptth_hs_field *host = NULL, *auth = NULL, *upgrade = NULL;
    const ptth_hs_field *backend = NULL;
    const ptth_hs_field *hosts[PTTH_HS_MAX_FIELDS];
    int nhosts_fields = 0, conn_upgrade = 0, alpn_seen = 0, alpn_h2 = 0;
    int ptth = 0, nnames = 0, i, r;
    const char *token = NULL;
    apr_size_t token_len = 0;

    for (i = 0; i < fs->n; i++) {
        const ptth_hs_field *f = &fs->f[i];
        const char *lp, *le, *e;
        apr_size_t elen;

        /* RFC 9112 3.2: a request with more than one Host gets 400; the
         * other singletons are equally ambiguous when repeated */
        if (PTTH_HS_IS(f, "host")) {
            if (host) {
                HS_REFUSE(400, "duplicate Host");
            }
            host = f;
        }
        else if (PTTH_HS_IS(f, "authorization")) {
            if (auth) {
                HS_REFUSE(400, "duplicate Authorization");
            }
            auth = f;
        }
        else if (PTTH_HS_IS(f, "upgrade")) {
            if (upgrade) {
                HS_REFUSE(400, "duplicate Upgrade");
            }
            upgrade = f;
        }
        else if (PTTH_HS_IS(f, "ptth-backend")) {
            if (backend) {
                HS_REFUSE(400, "duplicate PTTH-Backend");
            }
            backend = f;
        }
        else if (PTTH_HS_IS(f, "connection")) {
            /* RFC 9110 7.6.1: a list of case-insensitive options; it may
             * be split over several lines */
            lp = f->val;
            le = f->val + f->vlen;
            while (ptth_hs_list_next(&lp, le, &e, &elen)) {
                if (!ptth_hs_token_ok(e, elen)) {
                    HS_REFUSE(400, "malformed Connection");
                }
                if (ptth_hs_ieq(e, elen, "upgrade")) {
                    conn_upgrade = 1;
                }
            }
        }
        else if (PTTH_HS_IS(f, "alpn")) {
            /* RFC 7639 2: ALPN = 1#protocol-id */
            alpn_seen = 1;
            lp = f->val;
            le = f->val + f->vlen;
            while (ptth_hs_list_next(&lp, le, &e, &elen)) {
                r = ptth_hs_alpn_elt(e, elen);
                if (r < 0) {
                    HS_REFUSE(400, "malformed ALPN");
                }
                alpn_h2 |= r;
            }
        }
        else if (PTTH_HS_IS(f, "ptth-hosts")) {
            hosts[nhosts_fields++] = f;
        }
        else if (PTTH_HS_IS(f, "transfer-encoding")) {
            /* The bytes after the head are HTTP/2: a body cannot be */
            HS_REFUSE(400, "handshake request has a body");
        }
        else if (PTTH_HS_IS(f, "content-length")) {
            apr_size_t k;
            if (f->vlen == 0) {
                HS_REFUSE(400, "malformed Content-Length");
            }
            for (k = 0; k < f->vlen; k++) {
                if (!hs_digit(f->val[k])) {
                    HS_REFUSE(400, "malformed Content-Length");
                }
                if (f->val[k] != '0') {
                    HS_REFUSE(400, "handshake request has a body");
                }
            }
        }
    }

    if (!host) {
        HS_REFUSE(400, "missing Host");
    }
    if (!ptth_hs_host_ok(host->val, host->vlen)) {
        HS_REFUSE(400, "invalid Host");
    }

    /* RFC 9110 7.8: Upgrade lists protocols; ours must be among them, and
     * the sender also sends the "upgrade" connection option.  A request
     * without them is answered 426 (RFC 9110 15.5.22). */
    if (upgrade) {
        const char *lp = upgrade->val, *le = upgrade->val + upgrade->vlen, *e;
        apr_size_t elen;
        while (ptth_hs_list_next(&lp, le, &e, &elen)) {
            r = ptth_hs_upgrade_elt(e, elen);
            if (r < 0) {
                HS_REFUSE(400, "malformed Upgrade");
            }
            ptth |= r;
        }
    }
    if (!ptth) {
        HS_REFUSE(426, "Upgrade: ptth required");
    }
    if (!conn_upgrade) {
        HS_REFUSE(426, "Connection: upgrade required");
    }
    /* draft-kazuho-ptth-ptth: the request MUST carry ALPN; we speak h2 */
    if (!alpn_seen) {
        HS_REFUSE(400, "missing ALPN");
    }
    if (!alpn_h2) {
        HS_REFUSE(400, "ALPN does not offer h2");
    }

    if (auth) {
        /* credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
         * (RFC 9110 11.4); the scheme is case-insensitive (11.1) */
        const char *v = auth->val;
        apr_size_t n = auth->vlen, k = 0;
        while (k < n && hs_tchar(v[k])) {
            k++;
        }
        if (k == 0 || (k < n && v[k] != ' ')) {
            HS_REFUSE(400, "malformed Authorization");
        }
        if (ptth_hs_ieq(v, k, "bearer")) {
            /* RFC 6750 2.1: "Bearer" 1*SP b64token; a malformed one is
             * invalid_request, 400 (RFC 6750 3.1) */
            while (k < n && v[k] == ' ') {
                k++;
            }
            if (!ptth_hs_b64token_ok(v + k, n - k)) {
                HS_REFUSE(400, "malformed Bearer credentials");
            }
            token = v + k;
            token_len = n - k;
        }
    }

    if (backend && !ptth_hs_backend_id_ok(backend->val, backend->vlen)) {
        HS_REFUSE(400, "invalid PTTH-Backend");
    }

    /* PTTH-Hosts = #hostname, possibly over several lines: validate and
     * count everything before allocating anything */
    for (i = 0; i < nhosts_fields; i++) {
        const char *lp = hosts[i]->val, *le = lp + hosts[i]->vlen, *e;
        apr_size_t elen;
        while (ptth_hs_list_next(&lp, le, &e, &elen)) {
            if (!ptth_hs_hostname_ok(e, elen)) {
                HS_REFUSE(400, "invalid name in PTTH-Hosts");
            }
            if (++nnames > PTTH_HS_MAX_HOSTS) {
                HS_REFUSE(400, "too many names in PTTH-Hosts");
            }
        }
    }

    req->host = apr_pstrmemdup(p, host->val, host->vlen);
    req->token = token ? apr_pstrmemdup(p, token, token_len) : NULL;
    req->backend_id = backend ? apr_pstrmemdup(p, backend->val, backend->vlen)
                              : NULL;
    req->hosts = apr_array_make(p, nnames ? nnames : 1, sizeof(const char *));
    for (i = 0; i < nhosts_fields; i++) {
        const char *lp = hosts[i]->val, *le = lp + hosts[i]->vlen, *e;
        apr_size_t elen, k;
        while (ptth_hs_list_next(&lp, le, &e, &elen)) {
            char *name = apr_pstrmemdup(p, e, elen);
            int j, dup = 0;
            for (k = 0; k < elen; k++) {
                name[k] = (char)hs_lower(name[k]);
            }
            for (j = 0; j < req->hosts->nelts && !dup; j++) {
                dup = !strcmp(APR_ARRAY_IDX(req->hosts, j, const char *), name);
            }
            if (!dup) {
                APR_ARRAY_PUSH(req->hosts, const char *) = name;
            }
        }
    }
    return 0;
}

apr_status_t ptth_hs_parse_request(apr_pool_t *p, const char *buf, apr_size_t len,
                                   apr_size_t *head_len, ptth_hs_request *req,
                                   int *status, const char **why)
{
    ptth_hs_fields fs;
    apr_size_t end = 0, t = 0, tlen = 0, scan, llen;
    const char *eol, *w = NULL;
    int rc, complete;

    memset(req, 0, sizeof(*req));
    *head_len = 0;
    *status = 0;
    *why = NULL;

    rc = ptth_hs_find_end(buf, len, &end, &w);
    if (rc <= 0) {
        /* Judge the request-line as far as it goes (early 405, 414, 505,
         * 400: the most telling answer), then the line ends, then the
         * size. */
        scan = len < PTTH_HS_MAX_HEAD ? len : PTTH_HS_MAX_HEAD;
        llen = ptth_hs_line_len(buf, scan, &complete);
        if (hs_request_line(buf, llen, complete, &t, &tlen, status, why) < 0) {
            return APR_EINVAL;
        }
        if (rc < 0) {
            *status = 400;
            *why = w;
            return APR_EINVAL;
        }
        if (len >= PTTH_HS_MAX_HEAD) {
            *status = 431;
            *why = "request head too large";
            return APR_EINVAL;
        }
        return APR_INCOMPLETE;
    }

    eol = memchr(buf, '\r', end);   /* found: the head ends in CRLFCRLF */
    llen = (apr_size_t)(eol - buf);
    if (hs_request_line(buf, llen, 1, &t, &tlen, status, why) < 0
        || ptth_hs_parse_fields(eol + 2, end - llen - 4, &fs, status, why) < 0
        || hs_request_fields(p, &fs, req, status, why) < 0) {
        memset(req, 0, sizeof(*req));
        return APR_EINVAL;
    }
    req->target = apr_pstrmemdup(p, buf + t, tlen);
    *head_len = end;
    return APR_SUCCESS;
}

/* ------------------------------------------------------------- building */

char *ptth_hs_build_request(apr_pool_t *p, const char *target, const char *host,
                            const char *token, const char *backend_id,
                            const apr_array_header_t *hosts)
{
    char *out, *names = NULL;
    apr_size_t total = 0;
    int i, n = hosts ? hosts->nelts : 0;

    if (!target || !ptth_hs_target_ok(target, strlen(target))
        || !host || !ptth_hs_host_ok(host, strlen(host))) {
        return NULL;
    }
    if (token && *token && !ptth_hs_b64token_ok(token, strlen(token))) {
        return NULL;
    }
    if (backend_id && *backend_id
        && !ptth_hs_backend_id_ok(backend_id, strlen(backend_id))) {
        return NULL;
    }
    if (n > PTTH_HS_MAX_HOSTS) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        const char *h = APR_ARRAY_IDX(hosts, i, const char *);
        if (!h || !ptth_hs_hostname_ok(h, strlen(h))) {
            return NULL;
        }
        total += strlen(h) + 2;
    }
    if (total > PTTH_HS_MAX_HEAD) {
        return NULL;
    }
    if (n > 0) {
        char *w = names = apr_palloc(p, total + 1);
        for (i = 0; i < n; i++) {
            const char *h = APR_ARRAY_IDX(hosts, i, const char *);
            if (i > 0) {
                *w++ = ',';
                *w++ = ' ';
            }
            while (*h) {
                *w++ = (char)hs_lower(*h++);
            }
        }
        *w = '\0';
    }

    out = apr_pstrcat(p,
                      "GET ", target, " HTTP/1.1\r\n",
                      "Host: ", host, "\r\n",
                      "Connection: upgrade\r\n",
                      "Upgrade: ptth\r\n",
                      "ALPN: h2\r\n",
                      (token && *token) ? "Authorization: Bearer " : "",
                      (token && *token) ? token : "",
                      (token && *token) ? "\r\n" : "",
                      (backend_id && *backend_id) ? "PTTH-Backend: " : "",
                      (backend_id && *backend_id) ? backend_id : "",
                      (backend_id && *backend_id) ? "\r\n" : "",
                      names ? "PTTH-Hosts: " : "",
                      names ? names : "",
                      names ? "\r\n" : "",
                      "\r\n", NULL);
    return strlen(out) <= PTTH_HS_MAX_HEAD ? out : NULL;
}
