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

/* The grammar both handshake messages share, see include/ptth_hs_syntax.h:
 * character classes, field values, heads and field lines. */

#include <string.h>

#include <apr_escape.h>
#include <apr_strings.h>

#include "ptth_hs_syntax.h"

/* ------------------------------------------------------------ characters */

/* Every "%" starts pct-encoded = "%" HEXDIG HEXDIG (RFC 3986 2.1). */
int ptth_hs_pct_ok(const char *s, apr_size_t n)
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
int ptth_hs_ieq(const char *s, apr_size_t n, const char *lc)
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
int ptth_hs_target_ok(const char *s, apr_size_t n)
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
    return ptth_hs_pct_ok(s, n);
}

/* Host = uri-host [ ":" port ] (RFC 9110 7.2; RFC 3986 3.2.2, 3.2.3).
 * IP-literal is limited to IPv6 characters (no IPvFuture); the value must
 * not be empty: a router is always named. */
int ptth_hs_host_ok(const char *s, apr_size_t n)
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
        if (i == 0 || !ptth_hs_pct_ok(s, i)) {
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
int ptth_hs_hostname_ok(const char *s, apr_size_t n)
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
int ptth_hs_b64token_ok(const char *s, apr_size_t n)
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
int ptth_hs_backend_id_ok(const char *s, apr_size_t n)
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
int ptth_hs_list_next(const char **pp, const char *end,
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

int ptth_hs_token_ok(const char *s, apr_size_t n)
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
int ptth_hs_upgrade_elt(const char *e, apr_size_t n)
{
    const char *slash = memchr(e, '/', n);

    if (slash) {
        apr_size_t a = (apr_size_t)(slash - e);
        if (!ptth_hs_token_ok(e, a)
            || !ptth_hs_token_ok(slash + 1, n - a - 1)) {
            return -1;
        }
        return 0;
    }
    if (!ptth_hs_token_ok(e, n)) {
        return -1;
    }
    return ptth_hs_ieq(e, n, "ptth");
}

/* protocol-id (RFC 7639 2): a token in which octets outside tchar, and
 * "%" itself, are percent-encoded; identifiers compare octet for octet
 * after decoding.  Returns -1 when malformed, 1 for "h2", else 0. */
int ptth_hs_alpn_elt(const char *e, apr_size_t n)
{
    unsigned char dec[3];
    apr_size_t i, d = 0;

    if (!ptth_hs_token_ok(e, n)) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = e[i];
        if (c == '%') {
            /* HEXDIG is ASCII (RFC 5234 B.1): checked here, decoded by
             * APR. */
            if (i + 2 >= n || !hs_hex(e[i + 1]) || !hs_hex(e[i + 2])
                || apr_unescape_hex(&c, e + i + 1, 2, 0, NULL) != APR_SUCCESS) {
                return -1;
            }
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

/* Find the end of the head in buf[0..len), looking at no more than
 * PTTH_HS_MAX_HEAD bytes.  Lines end in CRLF only: RFC 9112 2.2 lets a
 * recipient accept a bare LF and have a bare CR replaced by SP; we reject
 * both (disagreeing about line ends is what request smuggling is made
 * of), and NUL too.
 * Returns 1 and *end (bytes up to and including CRLFCRLF), 0 when more
 * bytes are needed, -1 with *why. */
int ptth_hs_find_end(const char *buf, apr_size_t len, apr_size_t *end,
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
apr_size_t ptth_hs_line_len(const char *buf, apr_size_t n, int *complete)
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
 * CRLF; ptth_hs_find_end() vouched that every CR is followed by LF). */
int ptth_hs_parse_fields(const char *s, apr_size_t n, ptth_hs_fields *fs,
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
