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

/* The PTTH Upgrade handshake (include/ptth_handshake.h, docs/protocol.md).
 *
 * The router runs ptth_hs_parse_request() on bytes from the internet, so
 * the parsers are written to be boring: one forward pass over at most
 * PTTH_HS_MAX_HEAD bytes, no recursion, no writes into the input, fixed
 * arrays on the stack, pool allocations only for the few values returned
 * after a successful parse, and "why" texts that are string constants (so
 * they can never carry a token or any other input).
 *
 * This file uses APR and libc only (no httpd headers): t/unit/ and t/fuzz/
 * build it without httpd.  It logs nothing; callers log. */

#include <string.h>

#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_time.h>

#include "ptth_handshake.h"

/* ------------------------------------------------------------ characters */

/* Character classes are spelled out in ASCII, never taken from the locale. */
static int hs_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static int hs_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int hs_alnum(unsigned char c) { return hs_alpha(c) || hs_digit(c); }

static int hs_hex(unsigned char c)
{
    return hs_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int hs_hexval(unsigned char c)
{
    if (hs_digit(c)) {
        return c - '0';
    }
    return (c | 0x20) - 'a' + 10;
}

static unsigned char hs_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static int hs_ows(unsigned char c) { return c == ' ' || c == '\t'; }

/* tchar (RFC 9110 5.6.2) */
static int hs_tchar(unsigned char c)
{
    if (hs_alnum(c)) {
        return 1;
    }
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*':
    case '+': case '-': case '.': case '^': case '_': case '`': case '|':
    case '~':
        return 1;
    default:
        return 0;
    }
}

/* field-vchar, SP and HTAB (RFC 9110 5.5): anything but CTLs and DEL;
 * obs-text (0x80-0xff) is allowed in values we do not interpret. */
static int hs_value_char(unsigned char c)
{
    return c == '\t' || c == ' ' || (c > 0x20 && c != 0x7f);
}

/* unreserved / sub-delims (RFC 3986 2.2, 2.3) and "%" of pct-encoded */
static int hs_uri_char(unsigned char c)
{
    if (hs_alnum(c)) {
        return 1;
    }
    switch (c) {
    case '-': case '.': case '_': case '~':
    case '!': case '$': case '&': case '\'': case '(': case ')': case '*':
    case '+': case ',': case ';': case '=': case '%':
        return 1;
    default:
        return 0;
    }
}

/* pchar, "/" and "?" (RFC 3986 3.3, 3.4): origin-form (RFC 9112 3.2.1) */
static int hs_target_char(unsigned char c)
{
    return hs_uri_char(c) || c == ':' || c == '@' || c == '/' || c == '?';
}

/* Every "%" starts pct-encoded = "%" HEXDIG HEXDIG (RFC 3986 2.1). */
static int hs_pct_ok(const char *s, apr_size_t n)
{
    apr_size_t i;

    for (i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (i + 2 >= n || !hs_hex(s[i + 1]) || !hs_hex(s[i + 2])) {
                return 0;
            }
            i += 2;
        }
    }
    return 1;
}

/* ASCII case-insensitive match of s[0..n) against lowercase literal lc. */
static int hs_ieq(const char *s, apr_size_t n, const char *lc)
{
    apr_size_t i;

    for (i = 0; i < n; i++) {
        if (!lc[i] || hs_lower(s[i]) != (unsigned char)lc[i]) {
            return 0;
        }
    }
    return lc[n] == '\0';
}

/* -------------------------------------------------------------- grammar */

/* origin-form = absolute-path [ "?" query ] (RFC 9112 3.2.1) */
static int hs_target_ok(const char *s, apr_size_t n)
{
    apr_size_t i;

    if (n == 0 || n > PTTH_HS_MAX_TARGET || s[0] != '/') {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!hs_target_char(s[i])) {
            return 0;
        }
    }
    return hs_pct_ok(s, n);
}

/* Host = uri-host [ ":" port ] (RFC 9110 7.2; RFC 3986 3.2.2, 3.2.3).
 * IP-literal is limited to IPv6 characters (no IPvFuture); the value must
 * not be empty: a router is always named. */
static int hs_host_ok(const char *s, apr_size_t n)
{
    apr_size_t i = 0, d;

    if (n == 0 || n > 255 + 6) {
        return 0;
    }
    if (s[0] == '[') {
        for (i = 1; i < n && s[i] != ']'; i++) {
            if (!hs_hex(s[i]) && s[i] != ':' && s[i] != '.') {
                return 0;
            }
        }
        if (i == n || i < 3) {
            return 0;
        }
        i++;
    }
    else {
        for (; i < n && s[i] != ':'; i++) {
            if (!hs_uri_char(s[i])) {
                return 0;
            }
        }
        if (i == 0 || !hs_pct_ok(s, i)) {
            return 0;
        }
    }
    if (i < n) {
        if (s[i] != ':') {
            return 0;
        }
        for (i++, d = 0; i < n; i++, d++) {
            if (!hs_digit(s[i]) || d >= 5) {
                return 0;
            }
        }
    }
    return 1;
}

/* A name in PTTH-Hosts: a DNS name of letter-digit-hyphen labels
 * (RFC 1123 2.1), 1-63 octets each, 253 in all, no trailing dot;
 * optionally "*." in front for a wildcard. */
static int hs_hostname_ok(const char *s, apr_size_t n)
{
    apr_size_t i = 0, label = 0;

    if (n == 0 || n > 253) {
        return 0;
    }
    if (n >= 2 && s[0] == '*' && s[1] == '.') {
        i = 2;
    }
    if (i == n) {
        return 0;
    }
    for (; i < n; i++) {
        unsigned char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-') {
                return 0;
            }
            label = 0;
            continue;
        }
        if (c == '-') {
            if (label == 0) {
                return 0;
            }
        }
        else if (!hs_alnum(c)) {
            return 0;
        }
        if (++label > 63) {
            return 0;
        }
    }
    return label > 0 && s[n - 1] != '-';
}

/* b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
 * (RFC 6750 2.1) */
static int hs_b64token_ok(const char *s, apr_size_t n)
{
    apr_size_t i = 0;

    while (i < n && (hs_alnum(s[i]) || s[i] == '-' || s[i] == '.'
                     || s[i] == '_' || s[i] == '~' || s[i] == '+'
                     || s[i] == '/')) {
        i++;
    }
    if (i == 0) {
        return 0;
    }
    while (i < n && s[i] == '=') {
        i++;
    }
    return i == n;
}

/* PTTH-Backend = 1*128( ALPHA / DIGIT / "-" / "." / "_" / "~" / ":" /
 * "@" / "+" ): an identity for logs and policy, safe to log as is. */
static int hs_backend_id_ok(const char *s, apr_size_t n)
{
    apr_size_t i;

    if (n == 0 || n > PTTH_HS_MAX_BACKEND_ID) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (!hs_alnum(c) && c != '-' && c != '.' && c != '_' && c != '~'
            && c != ':' && c != '@' && c != '+') {
            return 0;
        }
    }
    return 1;
}

/* Next element of a comma-separated list (RFC 9110 5.6.1): OWS around
 * elements and empty elements are skipped.  Returns 0 at the end. */
static int hs_list_next(const char **pp, const char *end,
                        const char **e, apr_size_t *elen)
{
    const char *p = *pp, *s, *q;

    while (p < end && (hs_ows(*p) || *p == ',')) {
        p++;
    }
    if (p >= end) {
        *pp = p;
        return 0;
    }
    s = p;
    while (p < end && *p != ',') {
        p++;
    }
    q = p;
    while (q > s && hs_ows(q[-1])) {
        q--;
    }
    *e = s;
    *elen = (apr_size_t)(q - s);
    *pp = p;
    return 1;
}

static int hs_token_ok(const char *s, apr_size_t n)
{
    apr_size_t i;

    if (n == 0) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!hs_tchar(s[i])) {
            return 0;
        }
    }
    return 1;
}

/* protocol = protocol-name ["/" protocol-version] (RFC 9110 7.8).
 * Returns -1 when malformed, 1 for exactly "ptth" (case-insensitive; the
 * draft registers no version token), else 0. */
static int hs_upgrade_elt(const char *e, apr_size_t n)
{
    const char *slash = memchr(e, '/', n);

    if (slash) {
        apr_size_t a = (apr_size_t)(slash - e);
        if (!hs_token_ok(e, a) || !hs_token_ok(slash + 1, n - a - 1)) {
            return -1;
        }
        return 0;
    }
    if (!hs_token_ok(e, n)) {
        return -1;
    }
    return hs_ieq(e, n, "ptth");
}

/* protocol-id (RFC 7639 2): a token in which octets outside tchar, and
 * "%" itself, are percent-encoded; identifiers compare octet for octet
 * after decoding.  Returns -1 when malformed, 1 for "h2", else 0. */
static int hs_alpn_elt(const char *e, apr_size_t n)
{
    unsigned char dec[3];
    apr_size_t i, d = 0;

    if (!hs_token_ok(e, n)) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = e[i];
        if (c == '%') {
            if (i + 2 >= n || !hs_hex(e[i + 1]) || !hs_hex(e[i + 2])) {
                return -1;
            }
            c = (unsigned char)(hs_hexval(e[i + 1]) * 16 + hs_hexval(e[i + 2]));
            i += 2;
        }
        if (d < sizeof(dec)) {
            dec[d] = c;
        }
        d++;
    }
    return d == 2 && dec[0] == 'h' && dec[1] == '2';
}

/* ----------------------------------------------------------------- heads */

typedef struct {
    const char *name;
    apr_size_t nlen;
    const char *val;      /* without surrounding OWS */
    apr_size_t vlen;
} hs_field;

typedef struct {
    hs_field f[PTTH_HS_MAX_FIELDS];
    int n;
} hs_fields;

#define HS_IS(fl, lc) hs_ieq((fl)->name, (fl)->nlen, (lc))

/* Find the end of the head in buf[0..len), looking at no more than
 * PTTH_HS_MAX_HEAD bytes.  Lines end in CRLF only: RFC 9112 2.2 lets a
 * recipient accept a bare LF and have a bare CR replaced by SP; we reject
 * both (disagreeing about line ends is what request smuggling is made
 * of), and NUL too.
 * Returns 1 and *end (bytes up to and including CRLFCRLF), 0 when more
 * bytes are needed, -1 with *why. */
static int hs_find_end(const char *buf, apr_size_t len, apr_size_t *end,
                       const char **why)
{
    apr_size_t i, n = len < PTTH_HS_MAX_HEAD ? len : PTTH_HS_MAX_HEAD;

    for (i = 0; i < n; i++) {
        switch (buf[i]) {
        case '\n':
            if (i == 0 || buf[i - 1] != '\r') {
                *why = "bare LF (lines must end in CRLF)";
                return -1;
            }
            if (i >= 3 && buf[i - 2] == '\n') {
                *end = i + 1;
                return 1;
            }
            break;
        case '\r':
            if (i + 1 < len && buf[i + 1] != '\n') {
                *why = "bare CR (lines must end in CRLF)";
                return -1;
            }
            break;
        case '\0':
            *why = "NUL in head";
            return -1;
        default:
            break;
        }
    }
    return 0;
}

/* Length of the first line in buf[0..n), up to a CR or LF; *complete
 * tells whether such an end was seen. */
static apr_size_t hs_line_len(const char *buf, apr_size_t n, int *complete)
{
    apr_size_t i;

    for (i = 0; i < n; i++) {
        if (buf[i] == '\r' || buf[i] == '\n') {
            *complete = 1;
            return i;
        }
    }
    *complete = 0;
    return n;
}

/* field-line = field-name ":" OWS field-value OWS (RFC 9112 5).
 * s[0..n) is the field section of a complete head (each line ends in
 * CRLF; hs_find_end() vouched that every CR is followed by LF). */
static int hs_parse_fields(const char *s, apr_size_t n, hs_fields *fs,
                           int *status, const char **why)
{
    apr_size_t i = 0;

    fs->n = 0;
    while (i < n) {
        const char *line = s + i;
        const char *eol = memchr(line, '\r', n - i);
        apr_size_t llen, k, vs, ve, j;

        if (!eol) {
            *status = 400;
            *why = "malformed field line";
            return -1;
        }
        llen = (apr_size_t)(eol - line);
        i += llen + 2;
        /* RFC 9112 5.2: obs-fold; a server may reject it with 400 */
        if (llen > 0 && hs_ows(line[0])) {
            *status = 400;
            *why = "obsolete line folding";
            return -1;
        }
        for (k = 0; k < llen && hs_tchar(line[k]); k++)
            ;
        if (k == llen) {
            *status = 400;
            *why = "field line without colon";
            return -1;
        }
        if (line[k] != ':') {
            /* RFC 9112 5.1: whitespace before the colon MUST get a 400 */
            *status = 400;
            *why = hs_ows(line[k]) ? "whitespace between field name and colon"
                                   : "invalid character in field name";
            return -1;
        }
        if (k == 0) {
            *status = 400;
            *why = "empty field name";
            return -1;
        }
        vs = k + 1;
        while (vs < llen && hs_ows(line[vs])) {
            vs++;
        }
        ve = llen;
        while (ve > vs && hs_ows(line[ve - 1])) {
            ve--;
        }
        for (j = vs; j < ve; j++) {
            if (!hs_value_char(line[j])) {
                /* RFC 9110 5.5: CR, LF, NUL and other CTLs are invalid */
                *status = 400;
                *why = "control character in field value";
                return -1;
            }
        }
        if (fs->n == PTTH_HS_MAX_FIELDS) {
            *status = 431;
            *why = "too many header fields";
            return -1;
        }
        fs->f[fs->n].name = line;
        fs->f[fs->n].nlen = k;
        fs->f[fs->n].val = line + vs;
        fs->f[fs->n].vlen = ve - vs;
        fs->n++;
    }
    return 0;
}

/* ------------------------------------------------------------- requests */

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
    if (!hs_pct_ok(s + ts, i - ts)) {
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
static int hs_request_fields(apr_pool_t *p, const hs_fields *fs,
                             ptth_hs_request *req, int *status,
                             const char **why)
{
    const hs_field *host = NULL, *auth = NULL, *upgrade = NULL;
    const hs_field *backend = NULL;
    const hs_field *hosts[PTTH_HS_MAX_FIELDS];
    int nhosts_fields = 0, conn_upgrade = 0, alpn_seen = 0, alpn_h2 = 0;
    int ptth = 0, nnames = 0, i, r;
    const char *token = NULL;
    apr_size_t token_len = 0;

    for (i = 0; i < fs->n; i++) {
        const hs_field *f = &fs->f[i];
        const char *lp, *le, *e;
        apr_size_t elen;

        /* RFC 9112 3.2: a request with more than one Host gets 400; the
         * other singletons are equally ambiguous when repeated */
        if (HS_IS(f, "host")) {
            if (host) {
                HS_REFUSE(400, "duplicate Host");
            }
            host = f;
        }
        else if (HS_IS(f, "authorization")) {
            if (auth) {
                HS_REFUSE(400, "duplicate Authorization");
            }
            auth = f;
        }
        else if (HS_IS(f, "upgrade")) {
            if (upgrade) {
                HS_REFUSE(400, "duplicate Upgrade");
            }
            upgrade = f;
        }
        else if (HS_IS(f, "ptth-backend")) {
            if (backend) {
                HS_REFUSE(400, "duplicate PTTH-Backend");
            }
            backend = f;
        }
        else if (HS_IS(f, "connection")) {
            /* RFC 9110 7.6.1: a list of case-insensitive options; it may
             * be split over several lines */
            lp = f->val;
            le = f->val + f->vlen;
            while (hs_list_next(&lp, le, &e, &elen)) {
                if (!hs_token_ok(e, elen)) {
                    HS_REFUSE(400, "malformed Connection");
                }
                if (hs_ieq(e, elen, "upgrade")) {
                    conn_upgrade = 1;
                }
            }
        }
        else if (HS_IS(f, "alpn")) {
            /* RFC 7639 2: ALPN = 1#protocol-id */
            alpn_seen = 1;
            lp = f->val;
            le = f->val + f->vlen;
            while (hs_list_next(&lp, le, &e, &elen)) {
                r = hs_alpn_elt(e, elen);
                if (r < 0) {
                    HS_REFUSE(400, "malformed ALPN");
                }
                alpn_h2 |= r;
            }
        }
        else if (HS_IS(f, "ptth-hosts")) {
            hosts[nhosts_fields++] = f;
        }
        else if (HS_IS(f, "transfer-encoding")) {
            /* The bytes after the head are HTTP/2: a body cannot be */
            HS_REFUSE(400, "handshake request has a body");
        }
        else if (HS_IS(f, "content-length")) {
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
    if (!hs_host_ok(host->val, host->vlen)) {
        HS_REFUSE(400, "invalid Host");
    }

    /* RFC 9110 7.8: Upgrade lists protocols; ours must be among them, and
     * the sender also sends the "upgrade" connection option.  A request
     * without them is answered 426 (RFC 9110 15.5.22). */
    if (upgrade) {
        const char *lp = upgrade->val, *le = upgrade->val + upgrade->vlen, *e;
        apr_size_t elen;
        while (hs_list_next(&lp, le, &e, &elen)) {
            r = hs_upgrade_elt(e, elen);
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
        if (hs_ieq(v, k, "bearer")) {
            /* RFC 6750 2.1: "Bearer" 1*SP b64token; a malformed one is
             * invalid_request, 400 (RFC 6750 3.1) */
            while (k < n && v[k] == ' ') {
                k++;
            }
            if (!hs_b64token_ok(v + k, n - k)) {
                HS_REFUSE(400, "malformed Bearer credentials");
            }
            token = v + k;
            token_len = n - k;
        }
    }

    if (backend && !hs_backend_id_ok(backend->val, backend->vlen)) {
        HS_REFUSE(400, "invalid PTTH-Backend");
    }

    /* PTTH-Hosts = #hostname, possibly over several lines: validate and
     * count everything before allocating anything */
    for (i = 0; i < nhosts_fields; i++) {
        const char *lp = hosts[i]->val, *le = lp + hosts[i]->vlen, *e;
        apr_size_t elen;
        while (hs_list_next(&lp, le, &e, &elen)) {
            if (!hs_hostname_ok(e, elen)) {
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
        while (hs_list_next(&lp, le, &e, &elen)) {
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
    hs_fields fs;
    apr_size_t end = 0, t = 0, tlen = 0, scan, llen;
    const char *eol, *w = NULL;
    int rc, complete;

    memset(req, 0, sizeof(*req));
    *head_len = 0;
    *status = 0;
    *why = NULL;

    rc = hs_find_end(buf, len, &end, &w);
    if (rc <= 0) {
        /* Judge the request-line as far as it goes (early 405, 414, 505,
         * 400: the most telling answer), then the line ends, then the
         * size. */
        scan = len < PTTH_HS_MAX_HEAD ? len : PTTH_HS_MAX_HEAD;
        llen = hs_line_len(buf, scan, &complete);
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
        || hs_parse_fields(eol + 2, end - llen - 4, &fs, status, why) < 0
        || hs_request_fields(p, &fs, req, status, why) < 0) {
        memset(req, 0, sizeof(*req));
        return APR_EINVAL;
    }
    req->target = apr_pstrmemdup(p, buf + t, tlen);
    *head_len = end;
    return APR_SUCCESS;
}

/* ------------------------------------------------------------ responses */

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
    hs_fields fs;
    apr_size_t end = 0, scan, llen, body = 0;
    const hs_field *upgrade = NULL, *clen = NULL, *retry = NULL;
    const hs_field *auth[PTTH_HS_MAX_FIELDS];
    const char *eol, *w = NULL;
    int complete, rc, code = 0, minor = 0, st = 0, i, nauth = 0;
    int ptth = 0, conn_upgrade = 0, alpn_n = 0, alpn_h2 = 0, te = 0, retry_dup = 0;

    resp->status = 0;
    resp->retry_after = -1;
    resp->www_authenticate = NULL;
    resp->body_len = 0;
    *head_len = 0;
    *why = NULL;

    rc = hs_find_end(buf, len, &end, &w);
    if (rc <= 0) {
        /* the status line first: it names a peer that is not a PTTH
         * router (an HTTP/2 preface, TLS) better than a bare LF or NUL */
        scan = len < PTTH_HS_MAX_HEAD ? len : PTTH_HS_MAX_HEAD;
        llen = hs_line_len(buf, scan, &complete);
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
    if (hs_parse_fields(eol + 2, end - llen - 4, &fs, &st, why) < 0) {
        return APR_EINVAL;
    }

    for (i = 0; i < fs.n; i++) {
        const hs_field *f = &fs.f[i];
        const char *lp = f->val, *le = f->val + f->vlen, *e;
        apr_size_t elen;

        if (HS_IS(f, "upgrade")) {
            if (upgrade) {
                HS_INVALID("duplicate Upgrade");
            }
            upgrade = f;
            while (hs_list_next(&lp, le, &e, &elen)) {
                rc = hs_upgrade_elt(e, elen);
                if (rc < 0) {
                    HS_INVALID("malformed Upgrade");
                }
                ptth |= rc;
            }
        }
        else if (HS_IS(f, "connection")) {
            while (hs_list_next(&lp, le, &e, &elen)) {
                if (!hs_token_ok(e, elen)) {
                    HS_INVALID("malformed Connection");
                }
                conn_upgrade |= hs_ieq(e, elen, "upgrade");
            }
        }
        else if (HS_IS(f, "alpn")) {
            while (hs_list_next(&lp, le, &e, &elen)) {
                rc = hs_alpn_elt(e, elen);
                if (rc < 0) {
                    HS_INVALID("malformed ALPN");
                }
                alpn_n++;
                alpn_h2 |= rc;
            }
        }
        else if (HS_IS(f, "content-length")) {
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
        else if (HS_IS(f, "transfer-encoding")) {
            te = 1;
        }
        else if (HS_IS(f, "retry-after")) {
            retry_dup = retry != NULL;
            retry = f;
        }
        else if (HS_IS(f, "www-authenticate")) {
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

/* ------------------------------------------------------------- builders */

char *ptth_hs_build_request(apr_pool_t *p, const char *target, const char *host,
                            const char *token, const char *backend_id,
                            const apr_array_header_t *hosts)
{
    char *out, *names = NULL;
    apr_size_t total = 0;
    int i, n = hosts ? hosts->nelts : 0;

    if (!target || !hs_target_ok(target, strlen(target))
        || !host || !hs_host_ok(host, strlen(host))) {
        return NULL;
    }
    if (token && *token && !hs_b64token_ok(token, strlen(token))) {
        return NULL;
    }
    if (backend_id && *backend_id
        && !hs_backend_id_ok(backend_id, strlen(backend_id))) {
        return NULL;
    }
    if (n > PTTH_HS_MAX_HOSTS) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        const char *h = APR_ARRAY_IDX(hosts, i, const char *);
        if (!h || !hs_hostname_ok(h, strlen(h))) {
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
