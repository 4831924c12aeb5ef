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

/* The router's answer to the handshake (include/ptth_handshake.h,
 * docs/protocol.md section 2.3): built by the router
 * (ptth_hs_build_switch, ptth_hs_build_refusal), parsed by the backend
 * (ptth_hs_parse_response).  The shared grammar is in ptth_hs_syntax.c. */

#include <string.h>

#include <apr_strings.h>
#include <apr_time.h>

#include "ptth_hs_syntax.h"

/* -------------------------------------------------------------- parsing */

#define HS_BAD(w) do { *why = (w); return -1; } while (0)
#define HS_INVALID(w) do { *why = (w); return APR_EINVAL; } while (0)

/* status-line = HTTP-version SP status-code SP [ reason-phrase ]
 * (RFC 9112 4), judged as far as it goes like hs_request_line().  A
 * missing SP after the code is tolerated (RFC 9112 4: the reason is
 * ignorable).  Returns 1, 0 or -1. */
static int hs_status_line(const char *s, apr_size_t n, int complete,
                          int *code, int *minor, const char **why)
{
    static const char proto[] = "HTTP/1.";
    static const char preface[] = "PRI * HTTP/2.0";
    apr_size_t i;

    for (i = 0; i < n && i < 12; i++) {
        unsigned char c = s[i];
        if (i < 7) {
            if (c != (unsigned char)proto[i]) {
                apr_size_t k = n < sizeof(preface) - 1 ? n : sizeof(preface) - 1;
                if (i == 5 && hs_digit(c)) {
                    HS_BAD("unsupported HTTP version");
                }
                if (i >= 5) {
                    HS_BAD("malformed status line");
                }
                /* name the usual wrong peers: a plain-mode (seed) listener
                 * speaks HTTP/2 at once; a TLS port answers with a record */
                if (k >= 3 && memcmp(s, preface, k) == 0) {
                    HS_BAD("peer sent an HTTP/2 preface, not a PTTH answer "
                           "(plain-mode listener?)");
                }
                if (n >= 2 && (s[0] == 0x15 || s[0] == 0x16) && s[1] == 0x03) {
                    HS_BAD("peer speaks TLS (use an https:// endpoint)");
                }
                HS_BAD("not an HTTP/1.x status line");
            }
        }
        else if (i == 7) {
            if (c != '0' && c != '1') {
                HS_BAD(hs_digit(c) ? "unsupported HTTP version"
                                   : "malformed status line");
            }
        }
        else if (i == 8) {
            if (c != ' ') {
                HS_BAD("malformed status line");
            }
        }
        else if (!hs_digit(c) || (i == 9 && (c < '1' || c > '5'))) {
            HS_BAD("malformed status code");
        }
    }
    if (i < 12) {
        if (complete) {
            HS_BAD("malformed status line");
        }
        return 0;
    }
    if (n > 12 && s[12] != ' ') {
        HS_BAD("malformed status line");
    }
    /* reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ) */
    for (i = 13; i < n; i++) {
        if (!hs_value_char(s[i])) {
            HS_BAD("control character in reason phrase");
        }
    }
    *minor = s[7] - '0';
    *code = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    return 1;
}

/* Retry-After = HTTP-date / delay-seconds (RFC 9110 10.2.3).  Only
 * delay-seconds counts, clamped: the backend does not trust a far-away
 * peer's clock or a peer that would keep it away for days. */
static apr_interval_time_t hs_retry_after(const char *s, apr_size_t n)
{
    apr_int64_t v = 0;
    apr_size_t i;

    if (n == 0) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (!hs_digit(s[i])) {
            return -1;
        }
        if (v <= PTTH_HS_MAX_RETRY_AFTER) {
            v = v * 10 + (s[i] - '0');
        }
    }
    if (v > PTTH_HS_MAX_RETRY_AFTER) {
        v = PTTH_HS_MAX_RETRY_AFTER;
    }
    return apr_time_from_sec(v);
}

#define HS_MAX_BODY_LEN ((apr_size_t)1 << 30)

apr_status_t ptth_hs_parse_response(apr_pool_t *p, const char *buf, apr_size_t len,
                                    apr_size_t *head_len, ptth_hs_response *resp,
                                    const char **why)
{
    ptth_hs_fields fs;
    apr_size_t end = 0, scan, llen, body = 0;
    const ptth_hs_field *upgrade = NULL, *clen = NULL, *retry = NULL;
    const ptth_hs_field *auth[PTTH_HS_MAX_FIELDS];
    const char *eol, *w = NULL;
    int complete, rc, code = 0, minor = 0, st = 0, i, nauth = 0;
    int ptth = 0, conn_upgrade = 0, alpn_n = 0, alpn_h2 = 0, te = 0, retry_dup = 0;

    resp->status = 0;
    resp->retry_after = -1;
    resp->www_authenticate = NULL;
    resp->body_len = 0;
    *head_len = 0;
    *why = NULL;

    rc = ptth_hs_find_end(buf, len, &end, &w);
    if (rc <= 0) {
        /* the status line first: it names a peer that is not a PTTH
         * router (an HTTP/2 preface, TLS) better than a bare LF or NUL */
        scan = len < PTTH_HS_MAX_HEAD ? len : PTTH_HS_MAX_HEAD;
        llen = ptth_hs_line_len(buf, scan, &complete);
        if (hs_status_line(buf, llen, complete, &code, &minor, why) < 0) {
            return APR_EINVAL;
        }
        if (rc < 0) {
            HS_INVALID(w);
        }
        if (len >= PTTH_HS_MAX_HEAD) {
            HS_INVALID("response head too large");
        }
        return APR_INCOMPLETE;
    }

    eol = memchr(buf, '\r', end);
    llen = (apr_size_t)(eol - buf);
    if (hs_status_line(buf, llen, 1, &code, &minor, why) < 0) {
        return APR_EINVAL;
    }
    resp->status = code;
    if (ptth_hs_parse_fields(eol + 2, end - llen - 4, &fs, &st, why) < 0) {
        return APR_EINVAL;
    }

    for (i = 0; i < fs.n; i++) {
        const ptth_hs_field *f = &fs.f[i];
        const char *lp = f->val, *le = f->val + f->vlen, *e;
        apr_size_t elen;

        if (PTTH_HS_IS(f, "upgrade")) {
            if (upgrade) {
                HS_INVALID("duplicate Upgrade");
            }
            upgrade = f;
            while (ptth_hs_list_next(&lp, le, &e, &elen)) {
                rc = ptth_hs_upgrade_elt(e, elen);
                if (rc < 0) {
                    HS_INVALID("malformed Upgrade");
                }
                ptth |= rc;
            }
        }
        else if (PTTH_HS_IS(f, "connection")) {
            while (ptth_hs_list_next(&lp, le, &e, &elen)) {
                if (!ptth_hs_token_ok(e, elen)) {
                    HS_INVALID("malformed Connection");
                }
                conn_upgrade |= ptth_hs_ieq(e, elen, "upgrade");
            }
        }
        else if (PTTH_HS_IS(f, "alpn")) {
            while (ptth_hs_list_next(&lp, le, &e, &elen)) {
                rc = ptth_hs_alpn_elt(e, elen);
                if (rc < 0) {
                    HS_INVALID("malformed ALPN");
                }
                alpn_n++;
                alpn_h2 |= rc;
            }
        }
        else if (PTTH_HS_IS(f, "content-length")) {
            apr_size_t k;
            if (clen) {
                HS_INVALID("duplicate Content-Length");
            }
            clen = f;
            if (f->vlen == 0) {
                HS_INVALID("malformed Content-Length");
            }
            for (k = 0; k < f->vlen; k++) {
                apr_size_t d;
                if (!hs_digit(f->val[k])) {
                    HS_INVALID("malformed Content-Length");
                }
                d = (apr_size_t)(f->val[k] - '0');
                if (body > (HS_MAX_BODY_LEN - d) / 10) {
                    HS_INVALID("implausible Content-Length");
                }
                body = body * 10 + d;
            }
        }
        else if (PTTH_HS_IS(f, "transfer-encoding")) {
            te = 1;
        }
        else if (PTTH_HS_IS(f, "retry-after")) {
            retry_dup = retry != NULL;
            retry = f;
        }
        else if (PTTH_HS_IS(f, "www-authenticate")) {
            auth[nauth++] = f;
        }
    }

    if (code == 101) {
        /* RFC 9110 7.8, 15.2.2: the 101 names the protocol switched to;
         * the draft adds ALPN with the one version chosen */
        if (minor != 1) {
            HS_INVALID("101 in a response that is not HTTP/1.1");
        }
        if (!ptth) {
            HS_INVALID("101 without Upgrade: ptth");
        }
        if (!conn_upgrade) {
            HS_INVALID("101 without Connection: upgrade");
        }
        if (alpn_n != 1 || !alpn_h2) {
            HS_INVALID("101 without ALPN: h2");
        }
        /* RFC 9110 8.6, 6.4.1: no content in a 1xx; what follows is h2 */
        if (clen || te) {
            HS_INVALID("101 with Content-Length or Transfer-Encoding");
        }
    }
    else if (code < 200) {
        HS_INVALID("unexpected interim response");
    }
    else {
        if (retry && !retry_dup) {
            resp->retry_after = hs_retry_after(retry->val, retry->vlen);
        }
        resp->body_len = te ? 0 : body;
        if (nauth) {
            /* a list field: several lines combine with ", " (RFC 9110 5.3) */
            char *w = apr_pstrmemdup(p, auth[0]->val, auth[0]->vlen);
            for (i = 1; i < nauth; i++) {
                w = apr_pstrcat(p, w, ", ",
                                apr_pstrmemdup(p, auth[i]->val, auth[i]->vlen),
                                NULL);
            }
            resp->www_authenticate = w;
        }
    }
    *head_len = end;
    return APR_SUCCESS;
}

/* ------------------------------------------------------------- building */

const char *ptth_hs_build_switch(apr_pool_t *p)
{
    (void)p;
    /* RFC 9110 15.2.2 and draft-kazuho-ptth-ptth: Upgrade names the
     * protocol switched to, ALPN the transposed HTTP version */
    return "HTTP/1.1 101 Switching Protocols\r\n"
           "Connection: upgrade\r\n"
           "Upgrade: ptth\r\n"
           "ALPN: h2\r\n"
           "\r\n";
}

static const char *hs_reason_phrase(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 414: return "URI Too Long";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default:
        return (status >= 400 && status < 500) ? "Client Error" : "Server Error";
    }
}

#define HS_MAX_REASON 200

char *ptth_hs_build_refusal(apr_pool_t *p, int status, const char *reason,
                            int retry_after_s, unsigned int flags)
{
    char date[APR_RFC822_DATE_LEN];
    const char *phrase, *extra = "", *conn = "close";
    char *body;
    apr_size_t i, n;

    if (status < 400 || status > 599) {
        status = 500;
    }
    phrase = hs_reason_phrase(status);
    if (!reason || !*reason) {
        reason = phrase;
    }
    /* one line of printable ASCII: nothing in it can end the head or a
     * terminal's patience */
    n = strlen(reason);
    if (n > HS_MAX_REASON) {
        n = HS_MAX_REASON;
    }
    body = apr_palloc(p, n + 2);
    for (i = 0; i < n; i++) {
        unsigned char c = reason[i];
        body[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    body[n] = '\n';
    body[n + 1] = '\0';

    switch (status) {
    case 401:
        /* RFC 9110 15.5.2, 11.6.1; RFC 6750 3 and 3.1 */
        extra = (flags & PTTH_HS_INVALID_TOKEN)
              ? "WWW-Authenticate: Bearer realm=\"ptth\", error=\"invalid_token\"\r\n"
              : "WWW-Authenticate: Bearer realm=\"ptth\"\r\n";
        break;
    case 405:
        /* RFC 9110 15.5.6 */
        extra = "Allow: GET\r\n";
        break;
    case 426:
        /* RFC 9110 15.5.22 and 7.8: Upgrade with the "upgrade" option */
        extra = "Upgrade: ptth\r\n";
        conn = "upgrade, close";
        break;
    default:
        break;
    }
    /* RFC 9110 6.6.1: an origin server with a clock sends Date */
    apr_rfc822_date(date, apr_time_now());

    return apr_psprintf(p,
                        "HTTP/1.1 %d %s\r\n"
                        "Date: %s\r\n"
                        "Content-Type: text/plain; charset=us-ascii\r\n"
                        "Content-Length: %" APR_SIZE_T_FMT "\r\n"
                        "%s%s%s%s"
                        "Connection: %s\r\n"
                        "\r\n"
                        "%s",
                        status, phrase, date, n + 1, extra,
                        retry_after_s >= 0 ? "Retry-After: " : "",
                        retry_after_s >= 0 ? apr_itoa(p, retry_after_s) : "",
                        retry_after_s >= 0 ? "\r\n" : "",
                        conn, body);
}
