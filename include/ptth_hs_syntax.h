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

#ifndef PTTH_HS_SYNTAX_H
#define PTTH_HS_SYNTAX_H

/* The grammar the PTTH handshake's two messages share, private to the
 * handshake's files in common/:
 *
 *   ptth_hs_syntax.c    characters, field values, heads and field lines
 *   ptth_hs_request.c   the backend's request: parsed by the router,
 *                       built by the backend
 *   ptth_hs_response.c  the router's answer (101 or a refusal): built by
 *                       the router, parsed by the backend
 *
 * The public interface is include/ptth_handshake.h; docs/protocol.md
 * section 2 is the protocol.  These files use APR and libc only (no httpd
 * headers): t/unit/ and t/fuzz/ build them without httpd.  They log
 * nothing; callers log.
 *
 * The router runs the request parser on bytes from the internet, so the
 * parsers are written to be boring: one forward pass over at most
 * PTTH_HS_MAX_HEAD bytes, no recursion, no writes into the input, fixed
 * arrays on the stack, pool allocations only for the few values returned
 * after a successful parse, and "why" texts that are string constants (so
 * they can never carry a token or any other input). */

#include <apr.h>
#include <apr_general.h>

#include "ptth_handshake.h"

/* Character classes are spelled out in ASCII, never taken from the locale. */
static APR_INLINE int hs_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static APR_INLINE int hs_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static APR_INLINE int hs_alnum(unsigned char c)
{
    return hs_alpha(c) || hs_digit(c);
}

static APR_INLINE int hs_hex(unsigned char c)
{
    return hs_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static APR_INLINE unsigned char hs_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static APR_INLINE int hs_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* tchar (RFC 9110 5.6.2) */
static APR_INLINE int hs_tchar(unsigned char c)
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
static APR_INLINE int hs_value_char(unsigned char c)
{
    return c == '\t' || c == ' ' || (c > 0x20 && c != 0x7f);
}

/* unreserved / sub-delims (RFC 3986 2.2, 2.3) and "%" of pct-encoded */
static APR_INLINE int hs_uri_char(unsigned char c)
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
static APR_INLINE int hs_target_char(unsigned char c)
{
    return hs_uri_char(c) || c == ':' || c == '@' || c == '/' || c == '?';
}

/* ---------------------------------------------- grammar (ptth_hs_syntax.c) */

/* Every "%" starts pct-encoded = "%" HEXDIG HEXDIG (RFC 3986 2.1). */
int ptth_hs_pct_ok(const char *s, apr_size_t n);

/* ASCII case-insensitive match of s[0..n) against lowercase literal lc. */
int ptth_hs_ieq(const char *s, apr_size_t n, const char *lc);

/* origin-form = absolute-path [ "?" query ] (RFC 9112 3.2.1), at most
 * PTTH_HS_MAX_TARGET bytes. */
int ptth_hs_target_ok(const char *s, apr_size_t n);

/* Host = uri-host [ ":" port ] (RFC 9110 7.2), not empty. */
int ptth_hs_host_ok(const char *s, apr_size_t n);

/* A name in PTTH-Hosts: a DNS name, optionally "*." in front. */
int ptth_hs_hostname_ok(const char *s, apr_size_t n);

/* b64token (RFC 6750 2.1): a Bearer token. */
int ptth_hs_b64token_ok(const char *s, apr_size_t n);

/* A PTTH-Backend identity, safe to log as is. */
int ptth_hs_backend_id_ok(const char *s, apr_size_t n);

/* token (RFC 9110 5.6.2) */
int ptth_hs_token_ok(const char *s, apr_size_t n);

/* Next element of a comma-separated list (RFC 9110 5.6.1): OWS around
 * elements and empty elements are skipped.  Returns 0 at the end. */
int ptth_hs_list_next(const char **pp, const char *end,
                      const char **e, apr_size_t *elen);

/* An element of Upgrade: -1 malformed, 1 "ptth", else 0. */
int ptth_hs_upgrade_elt(const char *e, apr_size_t n);

/* An element of ALPN (RFC 7639 2): -1 malformed, 1 "h2", else 0. */
int ptth_hs_alpn_elt(const char *e, apr_size_t n);

/* ------------------------------------------------ heads (ptth_hs_syntax.c) */

typedef struct {
    const char *name;
    apr_size_t nlen;
    const char *val;      /* without surrounding OWS */
    apr_size_t vlen;
} ptth_hs_field;

typedef struct {
    ptth_hs_field f[PTTH_HS_MAX_FIELDS];
    int n;
} ptth_hs_fields;

#define PTTH_HS_IS(fl, lc) ptth_hs_ieq((fl)->name, (fl)->nlen, (lc))

/* Find the end of the head in buf[0..len), looking at no more than
 * PTTH_HS_MAX_HEAD bytes; lines end in CRLF only.  Returns 1 and *end
 * (bytes up to and including CRLFCRLF), 0 when more bytes are needed, -1
 * with *why. */
int ptth_hs_find_end(const char *buf, apr_size_t len, apr_size_t *end,
                     const char **why);

/* Length of the first line in buf[0..n), up to a CR or LF; *complete
 * tells whether such an end was seen. */
apr_size_t ptth_hs_line_len(const char *buf, apr_size_t n, int *complete);

/* The field lines s[0..n) of a complete head into *fs.  Returns 0, or -1
 * with the HTTP status to refuse with (400, 431) and *why. */
int ptth_hs_parse_fields(const char *s, apr_size_t n, ptth_hs_fields *fs,
                         int *status, const char **why);

#endif /* PTTH_HS_SYNTAX_H */
