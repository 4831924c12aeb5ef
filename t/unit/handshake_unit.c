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

/* Unit driver for the handshake (common/ptth_hs_*.c), run by
 * t/06-handshake-unit.t.
 *
 * Prints one line per check, "ok - <what>" or "not ok - <what>", with
 * "# ..." lines after a failure, and "done <n>" at the end; exits 1 when a
 * check failed.  Every parse runs on an exact-size heap copy of its input,
 * so an over-read shows up under AddressSanitizer, and the copy is
 * compared afterwards (the parsers must not write into it) and freed
 * before the results are looked at (they must not point into it).
 *
 * Build: cc -Iinclude $(apr-1-config --cflags --cppflags --includes)
 *        t/unit/handshake_unit.c common/ptth_hs_syntax.c
 *        common/ptth_hs_request.c common/ptth_hs_response.c
 *        $(apr-1-config --link-ld) */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_time.h>

#include "ptth_handshake.h"

#define SECRET "S3cr3tT0k3n-do-not-echo"

static apr_pool_t *P;
static int checks, failures;

static int check(int cond, const char *fmt, ...)
{
    va_list ap;

    checks++;
    printf("%s - ", cond ? "ok" : "not ok");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!cond) {
        failures++;
    }
    fflush(stdout);
    return cond;
}

static void diag(const char *fmt, ...)
{
    va_list ap;

    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

static const char *rvname(apr_status_t rv)
{
    switch (rv) {
    case APR_SUCCESS:    return "APR_SUCCESS";
    case APR_INCOMPLETE: return "APR_INCOMPLETE";
    case APR_EINVAL:     return "APR_EINVAL";
    default:             return "other";
    }
}

/* why must be a short printable text without anything secret. */
static int why_ok(const char *why)
{
    const char *s;

    if (!why || !*why || strlen(why) > 200 || strstr(why, SECRET)) {
        return 0;
    }
    for (s = why; *s; s++) {
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f) {
            return 0;
        }
    }
    return 1;
}

static apr_status_t preq(const char *in, apr_size_t n, apr_size_t *hl,
                         ptth_hs_request *r, int *st, const char **why)
{
    char *copy = malloc(n ? n : 1);
    apr_status_t rv;

    memcpy(copy, in, n);
    rv = ptth_hs_parse_request(P, copy, n, hl, r, st, why);
    if (memcmp(copy, in, n) != 0) {
        check(0, "parse_request left its input alone");
    }
    memset(copy, 'Z', n);   /* results must not point into the input */
    free(copy);
    return rv;
}

static apr_status_t presp(const char *in, apr_size_t n, apr_size_t *hl,
                          ptth_hs_response *r, const char **why)
{
    char *copy = malloc(n ? n : 1);
    apr_status_t rv;

    memcpy(copy, in, n);
    rv = ptth_hs_parse_response(P, copy, n, hl, r, why);
    if (memcmp(copy, in, n) != 0) {
        check(0, "parse_response left its input alone");
    }
    memset(copy, 'Z', n);
    free(copy);
    return rv;
}

/* A request case: expected outcome and, for APR_EINVAL, the status. */
static int req_n(const char *name, const char *in, apr_size_t n,
                 apr_status_t want, int want_status)
{
    ptth_hs_request r;
    apr_size_t hl;
    int st;
    const char *why;
    apr_status_t rv = preq(in, n, &hl, &r, &st, &why);
    int ok = rv == want;

    if (ok && want == APR_EINVAL) {
        ok = st == want_status && why_ok(why) && hl == 0;
    }
    if (ok && want == APR_SUCCESS) {
        ok = hl > 0 && hl <= n && st == 0 && why == NULL;
    }
    if (ok && want == APR_INCOMPLETE) {
        ok = st == 0 && why == NULL && hl == 0;
    }
    if (!check(ok, "request: %s -> %s", name,
               want == APR_EINVAL ? apr_psprintf(P, "%d", want_status)
                                  : rvname(want))) {
        diag("got %s status %d why \"%s\"", rvname(rv), st, why ? why : "(null)");
    }
    return ok;
}

static int req(const char *name, const char *in, apr_status_t want, int want_status)
{
    return req_n(name, in, strlen(in), want, want_status);
}

/* A refusal whose why must name the reason (a substring of it). */
static int req_why(const char *name, const char *in, int want_status,
                   const char *want_why)
{
    ptth_hs_request r;
    apr_size_t hl;
    int st;
    const char *why;
    apr_status_t rv = preq(in, strlen(in), &hl, &r, &st, &why);
    int ok = rv == APR_EINVAL && st == want_status && why_ok(why)
             && strstr(why, want_why) != NULL;

    if (!check(ok, "request: %s -> %d \"...%s...\"", name, want_status, want_why)) {
        diag("got %s status %d why \"%s\"", rvname(rv), st, why ? why : "(null)");
    }
    return ok;
}

static int resp_case(const char *name, const char *in, apr_status_t want,
                     int want_status)
{
    ptth_hs_response r;
    apr_size_t hl;
    const char *why;
    apr_status_t rv = presp(in, strlen(in), &hl, &r, &why);
    int ok = rv == want && (want_status < 0 || r.status == want_status);

    if (ok && want == APR_EINVAL) {
        ok = why_ok(why) && hl == 0;
    }
    if (ok && want == APR_SUCCESS) {
        ok = hl > 0 && why == NULL;
    }
    if (!check(ok, "response: %s -> %s, status %d", name, rvname(want),
               want_status)) {
        diag("got %s status %d why \"%s\"", rvname(rv), r.status,
             why ? why : "(null)");
    }
    return ok;
}

/* Every proper prefix of a valid head is APR_INCOMPLETE. */
static void prefixes_req(const char *name, const char *in)
{
    apr_size_t n, len = strlen(in), bad = 0, at = 0;
    ptth_hs_request r;
    apr_size_t hl;
    int st;
    const char *why;

    for (n = 0; n < len; n++) {
        if (preq(in, n, &hl, &r, &st, &why) != APR_INCOMPLETE) {
            if (!bad++) {
                at = n;
            }
        }
    }
    if (!check(bad == 0, "request: each of the %lu prefixes of %s is INCOMPLETE",
               (unsigned long)len, name)) {
        diag("%lu prefixes were not, the first of length %lu",
             (unsigned long)bad, (unsigned long)at);
    }
}

static void prefixes_resp(const char *name, const char *in)
{
    apr_size_t n, len = strlen(in), bad = 0, at = 0;
    ptth_hs_response r;
    apr_size_t hl;
    const char *why;

    for (n = 0; n < len; n++) {
        if (presp(in, n, &hl, &r, &why) != APR_INCOMPLETE) {
            if (!bad++) {
                at = n;
            }
        }
    }
    if (!check(bad == 0, "response: each of the %lu prefixes of %s is INCOMPLETE",
               (unsigned long)len, name)) {
        diag("%lu prefixes were not, the first of length %lu",
             (unsigned long)bad, (unsigned long)at);
    }
}

static int streq(const char *a, const char *b)
{
    if (!a || !b) {
        return a == b;
    }
    return strcmp(a, b) == 0;
}

static const char *host_list(const apr_array_header_t *a)
{
    const char *s = "";
    int i;

    if (!a) {
        return "(null)";
    }
    for (i = 0; i < a->nelts; i++) {
        s = apr_pstrcat(P, s, i ? "|" : "", APR_ARRAY_IDX(a, i, const char *), NULL);
    }
    return s;
}

#define RL   "GET /pool HTTP/1.1\r\n"
#define BASE "Host: router.example\r\nConnection: upgrade\r\nUpgrade: ptth\r\nALPN: h2\r\n"
#define AUTH "Authorization: Bearer " SECRET "\r\n"
#define END  "\r\n"

/* A minimal valid request with one extra field line (CRLF included). */
static const char *with(const char *extra)
{
    return apr_pstrcat(P, RL, BASE, extra, END, NULL);
}


/* A request from its request-line and field lines (each with CRLF). */
static const char *mk(const char *line, const char *fields)
{
    return apr_pstrcat(P, line, fields, END, NULL);
}

/* "X-Pad: aaa..." making the whole head exactly `total` bytes. */
static const char *padded(apr_size_t total)
{
    const char *base = with("");
    apr_size_t fixed = strlen(base) + strlen("X-Pad: \r\n");
    char *pad;

    if (total < fixed) {
        return base;
    }
    pad = apr_palloc(P, total - fixed + 1);
    memset(pad, 'a', total - fixed);
    pad[total - fixed] = '\0';
    return with(apr_pstrcat(P, "X-Pad: ", pad, "\r\n", NULL));
}

static void test_request_valid(void)
{
    const char *full = "GET /app/pool?x=1 HTTP/1.1\r\n"
                       "host: Router.Example:8443\r\n"
                       "CONNECTION: keep-alive, Upgrade\r\n"
                       "upgrade: PTTH\r\n"
                       "Alpn: h2, http%2F1.1\r\n"
                       "Authorization: bearer " SECRET "==\r\n"
                       "PTTH-Backend: web-1.example:01\r\n"
                       "PTTH-Hosts: A.example, b.example ,*.c.example\r\n"
                       "X-Other: anything \x80\xff goes\t\r\n"
                       "\r\n";
    const char *h2 = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    const char *in = apr_pstrcat(P, full, h2, NULL);
    const char *min = with("");
    ptth_hs_request r;
    apr_size_t hl;
    int st;
    const char *why;
    apr_status_t rv;

    rv = preq(in, strlen(in), &hl, &r, &st, &why);
    check(rv == APR_SUCCESS, "request: full valid request parses");
    check(hl == strlen(full), "request: head_len is the head through CRLFCRLF (%lu)",
          (unsigned long)hl);
    check(memcmp(in + hl, h2, strlen(h2)) == 0,
          "request: the HTTP/2 bytes after the head are left for the caller");
    check(streq(r.target, "/app/pool?x=1"), "request: target extracted");
    check(streq(r.host, "Router.Example:8443"), "request: Host extracted as sent");
    check(streq(r.token, SECRET "=="),
          "request: Bearer token extracted; scheme \"bearer\" is case-insensitive");
    check(streq(r.backend_id, "web-1.example:01"), "request: PTTH-Backend extracted");
    if (!check(r.hosts && r.hosts->nelts == 3
               && streq(host_list(r.hosts), "a.example|b.example|*.c.example"),
               "request: PTTH-Hosts split at commas, OWS trimmed, lowercased")) {
        diag("hosts: %s", host_list(r.hosts));
    }

    rv = preq(min, strlen(min), &hl, &r, &st, &why);
    check(rv == APR_SUCCESS && r.token == NULL && r.backend_id == NULL
          && r.hosts && r.hosts->nelts == 0 && streq(r.target, "/pool")
          && streq(r.host, "router.example") && hl == strlen(min),
          "request: minimal request: no token, no identity, empty hosts array");

    prefixes_req("the full request", full);
    prefixes_req("the minimal request", min);

    req("Connection split over two lines",
        mk(RL, "Host: r\r\nConnection: keep-alive\r\nUpgrade: ptth\r\n"
               "Connection: upgrade\r\nALPN: h2\r\n"), APR_SUCCESS, 0);
    req("Upgrade list containing ptth",
        mk(RL, "Host: r\r\nConnection: upgrade\r\nUpgrade: websocket, ptth\r\nALPN: h2\r\n"),
        APR_SUCCESS, 0);
    req("ALPN with h2 second", with("ALPN: http%2F1.1\r\n") /* plus BASE's h2 */,
        APR_SUCCESS, 0);
    req("ALPN h2 percent-encoded (h%32)",
        mk(RL, "Host: r\r\nConnection: upgrade\r\nUpgrade: ptth\r\nALPN: h%32\r\n"),
        APR_SUCCESS, 0);
    req("OWS around values, HTAB inside", with("X-A:\t a\tb \t\r\nX-B:\r\n"),
        APR_SUCCESS, 0);
    req("Content-Length: 0 is no body", with("Content-Length: 0\r\n"), APR_SUCCESS, 0);
    req("Host as IPv6 literal with port",
        mk(RL, "Host: [::1]:8443\r\nConnection: upgrade\r\nUpgrade: ptth\r\nALPN: h2\r\n"),
        APR_SUCCESS, 0);
    req("origin-form with pchars", mk("GET /a/b;c=d/%41@x:y?q=1/2 HTTP/1.1\r\n", BASE),
        APR_SUCCESS, 0);
    req("Authorization with another scheme (token stays NULL)",
        with("Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"), APR_SUCCESS, 0);
    {
        const char *b = with("Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n");
        rv = preq(b, strlen(b), &hl, &r, &st, &why);
        check(rv == APR_SUCCESS && r.token == NULL,
              "request: a Basic credential yields no Bearer token");
    }
    {
        const char *b = with("Authorization: BEARER   abc-._~+/9=\r\n");
        rv = preq(b, strlen(b), &hl, &r, &st, &why);
        check(rv == APR_SUCCESS && streq(r.token, "abc-._~+/9="),
              "request: BEARER, several SP, full b64token charset");
    }
}

static void test_request_syntax(void)
{
    char nul[] = RL "Host: r\0x\r\nConnection: upgrade\r\nUpgrade: ptth\r\nALPN: h2\r\n\r\n";

    req_why("bare LF ending a field line", with("X-A: b\n"), 400, "bare LF");
    req("bare LF ending the request-line",
        "GET /pool HTTP/1.1\nHost: r\r\n\r\n", APR_EINVAL, 400);
    req("bare LF only (partial head refused at once)", "GET / HTTP/1.1\n", APR_EINVAL, 400);
    req("LF LF head", "GET / HTTP/1.1\n\n", APR_EINVAL, 400);
    req_why("bare CR in a value", with("X-A: a\rb\r\n"), 400, "bare CR");
    req_why("obs-fold (SP continuation)", with("X-A: a\r\n b\r\n"), 400, "folding");
    req_why("obs-fold (HTAB continuation)", with("X-A: a\r\n\tb\r\n"), 400, "folding");
    req("obs-fold of Upgrade", mk(RL, "Host: r\r\nConnection: upgrade\r\nUpgrade:\r\n ptth\r\n"
                                      "ALPN: h2\r\n"), APR_EINVAL, 400);
    req_why("whitespace before colon", with("X-A : b\r\n"), 400, "colon");
    req("whitespace before colon of Host",
        mk(RL, "Host : r\r\nConnection: upgrade\r\nUpgrade: ptth\r\nALPN: h2\r\n"),
        APR_EINVAL, 400);
    req_why("non-tchar in field name", with("X(A): b\r\n"), 400, "field name");
    req("empty field name", with(": b\r\n"), APR_EINVAL, 400);
    req("field line without colon", with("X-A b\r\n"), APR_EINVAL, 400);
    req_n("NUL in a field value", nul, sizeof(nul) - 1, APR_EINVAL, 400);
    req_why("CTL (0x01) in a field value", with("X-A: a\x01" "b\r\n"), 400, "control");
    req("DEL in a field value", with("X-A: a\x7f" "b\r\n"), APR_EINVAL, 400);
    req("ESC in a field value", with("X-A: \x1b[31m\r\n"), APR_EINVAL, 400);
    req("leading CRLF before the request-line", apr_pstrcat(P, "\r\n", with(""), NULL),
        APR_EINVAL, 400);
    req("empty head", "\r\n\r\n", APR_EINVAL, 400);
    req("missing HTTP-version", mk("GET /pool\r\n", BASE), APR_EINVAL, 400);
    req("two spaces after method", mk("GET  /pool HTTP/1.1\r\n", BASE), APR_EINVAL, 400);
    req("trailing space after version", mk("GET /pool HTTP/1.1 \r\n", BASE), APR_EINVAL, 400);
    req("HTAB as separator", mk("GET\t/pool HTTP/1.1\r\n", BASE), APR_EINVAL, 400);
    req("absolute-form target", mk("GET http://r/pool HTTP/1.1\r\n", BASE), APR_EINVAL, 400);
    req("asterisk-form target", mk("GET * HTTP/1.1\r\n", BASE), APR_EINVAL, 400);
    req("target with a fragment", mk("GET /p#f HTTP/1.1\r\n", BASE), APR_EINVAL, 400);
    req("target with a CTL", mk("GET /p\x01 HTTP/1.1\r\n", BASE), APR_EINVAL, 400);
    req("target with a non-ASCII byte", mk("GET /p\xc3\xa9 HTTP/1.1\r\n", BASE), APR_EINVAL, 400);
    req("target with bad percent-encoding", mk("GET /p%zz HTTP/1.1\r\n", BASE), APR_EINVAL, 400);
    req("target with truncated percent-encoding", mk("GET /p%4 HTTP/1.1\r\n", BASE),
        APR_EINVAL, 400);
    req("lowercase HTTP-name", mk("GET /pool http/1.1\r\n", BASE), APR_EINVAL, 400);
    req("malformed version HTTP/1.1x", mk("GET /pool HTTP/1.1x\r\n", BASE), APR_EINVAL, 400);
    req("malformed version HTTP/11", mk("GET /pool HTTP/11\r\n", BASE), APR_EINVAL, 400);
    req("junk", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", APR_EINVAL, 400);
    req_n("NUL first", "\0GET", 4, APR_EINVAL, 400);
}

static void test_request_refusals(void)
{
    char *longt, *target;
    int i;
    const char *fields;

    req("POST", mk("POST /pool HTTP/1.1\r\n", BASE), APR_EINVAL, 405);
    req("lowercase get (methods are case-sensitive)", mk("get /pool HTTP/1.1\r\n", BASE),
        APR_EINVAL, 405);
    req("CONNECT", mk("CONNECT r:443 HTTP/1.1\r\n", BASE), APR_EINVAL, 405);
    req("partial \"POST \" refused before the head is complete", "POST ", APR_EINVAL, 405);
    req("HTTP/1.0", mk("GET /pool HTTP/1.0\r\n", BASE), APR_EINVAL, 505);
    req("HTTP/2.0", mk("GET /pool HTTP/2.0\r\n", BASE), APR_EINVAL, 505);
    req("HTTP/1.2", mk("GET /pool HTTP/1.2\r\n", BASE), APR_EINVAL, 505);
    req("partial HTTP/1.0 request-line refused at once", "GET / HTTP/1.0\r\n", APR_EINVAL, 505);

    req_why("missing Host", mk(RL, "Connection: upgrade\r\nUpgrade: ptth\r\nALPN: h2\r\n"),
            400, "missing Host");
    req_why("duplicate Host", with("Host: other.example\r\n"), 400, "duplicate Host");
    req("duplicate Host, differently cased", with("HOST: router.example\r\n"), APR_EINVAL, 400);
    req("empty Host", mk(RL, "Host:\r\nConnection: upgrade\r\nUpgrade: ptth\r\nALPN: h2\r\n"),
        APR_EINVAL, 400);
    req("Host with a space", mk(RL, "Host: a b\r\nConnection: upgrade\r\nUpgrade: ptth\r\n"
                                    "ALPN: h2\r\n"), APR_EINVAL, 400);
    req("Host with a bad port", mk(RL, "Host: r:80x\r\nConnection: upgrade\r\nUpgrade: ptth\r\n"
                                       "ALPN: h2\r\n"), APR_EINVAL, 400);
    req("Host with a slash", mk(RL, "Host: r/x\r\nConnection: upgrade\r\nUpgrade: ptth\r\n"
                                    "ALPN: h2\r\n"), APR_EINVAL, 400);

    req("missing Upgrade", mk(RL, "Host: r\r\nConnection: upgrade\r\nALPN: h2\r\n"),
        APR_EINVAL, 426);
    req("Upgrade: websocket", mk(RL, "Host: r\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
                                     "ALPN: h2\r\n"), APR_EINVAL, 426);
    req("Upgrade: ptth/1 (no version is registered)",
        mk(RL, "Host: r\r\nConnection: upgrade\r\nUpgrade: ptth/1\r\nALPN: h2\r\n"),
        APR_EINVAL, 426);
    req("Upgrade: h2c", mk(RL, "Host: r\r\nConnection: upgrade\r\nUpgrade: h2c\r\nALPN: h2\r\n"),
        APR_EINVAL, 426);
    req("malformed Upgrade element", mk(RL, "Host: r\r\nConnection: upgrade\r\n"
                                            "Upgrade: ptth, a b\r\nALPN: h2\r\n"),
        APR_EINVAL, 400);
    req_why("duplicate Upgrade", with("Upgrade: ptth\r\n"), 400, "duplicate Upgrade");
    req("missing Connection", mk(RL, "Host: r\r\nUpgrade: ptth\r\nALPN: h2\r\n"),
        APR_EINVAL, 426);
    req("Connection: keep-alive only",
        mk(RL, "Host: r\r\nConnection: keep-alive\r\nUpgrade: ptth\r\nALPN: h2\r\n"),
        APR_EINVAL, 426);
    req("Connection: upgraded (not the option)",
        mk(RL, "Host: r\r\nConnection: upgraded\r\nUpgrade: ptth\r\nALPN: h2\r\n"),
        APR_EINVAL, 426);
    req("malformed Connection", mk(RL, "Host: r\r\nConnection: up grade\r\nUpgrade: ptth\r\n"
                                       "ALPN: h2\r\n"), APR_EINVAL, 400);

    req_why("missing ALPN", mk(RL, "Host: r\r\nConnection: upgrade\r\nUpgrade: ptth\r\n"),
            400, "ALPN");
    req("ALPN without h2", mk(RL, "Host: r\r\nConnection: upgrade\r\nUpgrade: ptth\r\n"
                                  "ALPN: http%2F1.1\r\n"), APR_EINVAL, 400);
    req("ALPN H2 (octets compare case-sensitively)",
        mk(RL, "Host: r\r\nConnection: upgrade\r\nUpgrade: ptth\r\nALPN: H2\r\n"),
        APR_EINVAL, 400);
    req("ALPN with bad percent-encoding",
        mk(RL, "Host: r\r\nConnection: upgrade\r\nUpgrade: ptth\r\nALPN: h2, http%2\r\n"),
        APR_EINVAL, 400);
    req("ALPN element with a slash (not a token)",
        mk(RL, "Host: r\r\nConnection: upgrade\r\nUpgrade: ptth\r\nALPN: h2, http/1.1\r\n"),
        APR_EINVAL, 400);

    req("Content-Length: 5 (a body)", with("Content-Length: 5\r\n"), APR_EINVAL, 400);
    req("Content-Length not a number", with("Content-Length: 0x0\r\n"), APR_EINVAL, 400);
    req_why("Transfer-Encoding: chunked", with("Transfer-Encoding: chunked\r\n"), 400, "body");

    /* sizes */
    target = apr_palloc(P, PTTH_HS_MAX_TARGET + 2);
    target[0] = '/';
    memset(target + 1, 'a', PTTH_HS_MAX_TARGET);
    target[PTTH_HS_MAX_TARGET] = '\0';
    req("target of PTTH_HS_MAX_TARGET bytes",
        mk(apr_pstrcat(P, "GET ", target, " HTTP/1.1\r\n", NULL), BASE), APR_SUCCESS, 0);
    target[PTTH_HS_MAX_TARGET] = 'a';
    target[PTTH_HS_MAX_TARGET + 1] = '\0';
    req("target one byte over PTTH_HS_MAX_TARGET",
        mk(apr_pstrcat(P, "GET ", target, " HTTP/1.1\r\n", NULL), BASE), APR_EINVAL, 414);
    req("over-long target refused before the head is complete",
        apr_pstrcat(P, "GET ", target, NULL), APR_EINVAL, 414);
    longt = apr_palloc(P, 9001);
    longt[0] = '/';
    memset(longt + 1, 'b', 8999);
    longt[9000] = '\0';
    req("9000-byte target with no end (414 before 431)",
        apr_pstrcat(P, "GET ", longt, NULL), APR_EINVAL, 414);

    req("head of exactly PTTH_HS_MAX_HEAD bytes", padded(PTTH_HS_MAX_HEAD), APR_SUCCESS, 0);
    req("head of PTTH_HS_MAX_HEAD + 1 bytes", padded(PTTH_HS_MAX_HEAD + 1), APR_EINVAL, 431);
    req_n("no end yet, PTTH_HS_MAX_HEAD - 1 bytes", padded(PTTH_HS_MAX_HEAD + 100),
          PTTH_HS_MAX_HEAD - 1, APR_INCOMPLETE, 0);
    req_n("no end within PTTH_HS_MAX_HEAD bytes", padded(PTTH_HS_MAX_HEAD + 100),
          PTTH_HS_MAX_HEAD, APR_EINVAL, 431);
    req_n("no end, 3 x PTTH_HS_MAX_HEAD bytes", padded(3 * PTTH_HS_MAX_HEAD),
          3 * PTTH_HS_MAX_HEAD - 10, APR_EINVAL, 431);

    fields = "";
    for (i = 0; i < PTTH_HS_MAX_FIELDS - 4; i++) {
        fields = apr_psprintf(P, "%sX-F%d: %d\r\n", fields, i, i);
    }
    req("PTTH_HS_MAX_FIELDS fields", with(fields), APR_SUCCESS, 0);
    req("PTTH_HS_MAX_FIELDS + 1 fields", with(apr_pstrcat(P, fields, "X-Last: 1\r\n", NULL)),
        APR_EINVAL, 431);
    req("hundreds of empty-valued fields", with(apr_pstrcat(P, fields, fields, fields, fields,
                                                              NULL)), APR_EINVAL, 431);
}

static void test_request_auth(void)
{
    const char *in;
    ptth_hs_request r;
    apr_size_t hl;
    int st;
    const char *why;
    apr_status_t rv;
    char *out;

    in = with("Authorization: bearer tok\r\n");
    rv = preq(in, strlen(in), &hl, &r, &st, &why);
    check(rv == APR_SUCCESS && streq(r.token, "tok"), "auth: \"bearer\" lowercase accepted");
    req("Bearer without a token", with("Authorization: Bearer\r\n"), APR_EINVAL, 400);
    req("Bearer with only spaces", with("Authorization: Bearer    \r\n"), APR_EINVAL, 400);
    req("Bearer token with a space inside", with("Authorization: Bearer ab " SECRET "\r\n"),
        APR_EINVAL, 400);
    req("Bearer token with a comma", with("Authorization: Bearer " SECRET ",x\r\n"),
        APR_EINVAL, 400);
    req("Bearer token with \"=\" inside", with("Authorization: Bearer a=" SECRET "\r\n"),
        APR_EINVAL, 400);
    req("Bearer token of only \"=\"", with("Authorization: Bearer ==\r\n"), APR_EINVAL, 400);
    req("Bearer token with obs-text", with("Authorization: Bearer " SECRET "\xe9\r\n"),
        APR_EINVAL, 400);
    req("Bearer then HTAB", with("Authorization: Bearer\t" SECRET "\r\n"), APR_EINVAL, 400);
    req("scheme that is not a token", with("Authorization: Bea(rer " SECRET "\r\n"),
        APR_EINVAL, 400);
    req_why("duplicate Authorization", with(AUTH AUTH), 400, "duplicate Authorization");
    req("token present, Host missing (why has no secret)",
        mk(RL, "Connection: upgrade\r\nUpgrade: ptth\r\nALPN: h2\r\n" AUTH), APR_EINVAL, 400);

    /* a refusal built from a parse failure never echoes the token */
    in = mk(RL, AUTH "Host: a b\r\nConnection: upgrade\r\nUpgrade: ptth\r\nALPN: h2\r\n");
    rv = preq(in, strlen(in), &hl, &r, &st, &why);
    out = ptth_hs_build_refusal(P, st, why, -1, 0);
    check(rv == APR_EINVAL && st == 400 && !strstr(out, SECRET) && !strstr(out, "a b"),
          "auth: refusal built from the parser's why echoes no token or value");
    in = mk(RL, "Host: r\r\nConnection: upgrade\r\nUpgrade: ptth\r\nALPN: h2\r\n"
                "Authorization: Bearer " SECRET "\x01\r\n");
    rv = preq(in, strlen(in), &hl, &r, &st, &why);
    out = ptth_hs_build_refusal(P, st, why, -1, 0);
    check(rv == APR_EINVAL && !strstr(out, SECRET),
          "auth: a CTL after the token: refused without the token in why");

    /* PTTH-Backend */
    req("PTTH-Backend with a space", with("PTTH-Backend: a b\r\n"), APR_EINVAL, 400);
    req("PTTH-Backend with a slash", with("PTTH-Backend: a/b\r\n"), APR_EINVAL, 400);
    req("empty PTTH-Backend", with("PTTH-Backend:\r\n"), APR_EINVAL, 400);
    req("duplicate PTTH-Backend", with("PTTH-Backend: a\r\nptth-backend: a\r\n"),
        APR_EINVAL, 400);
    {
        char id[PTTH_HS_MAX_BACKEND_ID + 2];
        memset(id, 'i', sizeof(id) - 1);
        id[PTTH_HS_MAX_BACKEND_ID] = '\0';
        req("PTTH-Backend of PTTH_HS_MAX_BACKEND_ID bytes",
            with(apr_pstrcat(P, "PTTH-Backend: ", id, "\r\n", NULL)), APR_SUCCESS, 0);
        id[PTTH_HS_MAX_BACKEND_ID] = 'i';
        id[PTTH_HS_MAX_BACKEND_ID + 1] = '\0';
        req("PTTH-Backend one byte too long",
            with(apr_pstrcat(P, "PTTH-Backend: ", id, "\r\n", NULL)), APR_EINVAL, 400);
    }
}

static void test_request_hosts(void)
{
    const char *in, *names = "";
    ptth_hs_request r;
    apr_size_t hl;
    int st, i;
    const char *why;
    apr_status_t rv;
    char label[65];

    in = with("PTTH-Hosts: , A.Example,,\tb.example ,\r\nptth-hosts: c.example, a.example\r\n");
    rv = preq(in, strlen(in), &hl, &r, &st, &why);
    if (!check(rv == APR_SUCCESS
               && streq(host_list(r.hosts), "a.example|b.example|c.example"),
               "hosts: empty elements skipped, lines combined, duplicates dropped")) {
        diag("rv %d hosts %s why %s", rv, host_list(r.hosts), why ? why : "");
    }
    in = with("PTTH-Hosts:\r\n");
    rv = preq(in, strlen(in), &hl, &r, &st, &why);
    check(rv == APR_SUCCESS && r.hosts && r.hosts->nelts == 0,
          "hosts: an empty PTTH-Hosts gives an empty array");
    req("hosts: underscore", with("PTTH-Hosts: a_b.example\r\n"), APR_EINVAL, 400);
    req("hosts: leading hyphen in a label", with("PTTH-Hosts: -a.example\r\n"), APR_EINVAL, 400);
    req("hosts: trailing hyphen in a label", with("PTTH-Hosts: a-.example\r\n"), APR_EINVAL, 400);
    req("hosts: empty label", with("PTTH-Hosts: a..example\r\n"), APR_EINVAL, 400);
    req("hosts: trailing dot", with("PTTH-Hosts: a.example.\r\n"), APR_EINVAL, 400);
    req("hosts: with a port", with("PTTH-Hosts: a.example:80\r\n"), APR_EINVAL, 400);
    req("hosts: IPv6 literal", with("PTTH-Hosts: [::1]\r\n"), APR_EINVAL, 400);
    req("hosts: bare \"*\"", with("PTTH-Hosts: *\r\n"), APR_EINVAL, 400);
    req("hosts: \"*\" inside", with("PTTH-Hosts: a.*.example\r\n"), APR_EINVAL, 400);
    req("hosts: space inside an element", with("PTTH-Hosts: a example\r\n"), APR_EINVAL, 400);
    req("hosts: non-ASCII", with("PTTH-Hosts: \xc3\xa9.example\r\n"), APR_EINVAL, 400);
    memset(label, 'l', 64);
    label[64] = '\0';
    req("hosts: 64-octet label", with(apr_pstrcat(P, "PTTH-Hosts: ", label, ".example\r\n",
                                                  NULL)), APR_EINVAL, 400);
    label[63] = '\0';
    req("hosts: 63-octet label", with(apr_pstrcat(P, "PTTH-Hosts: ", label, ".example\r\n",
                                                  NULL)), APR_SUCCESS, 0);
    for (i = 0; i < PTTH_HS_MAX_HOSTS; i++) {
        names = apr_psprintf(P, "%s%sh%d.example", names, i ? "," : "", i);
    }
    in = with(apr_pstrcat(P, "PTTH-Hosts: ", names, "\r\n", NULL));
    rv = preq(in, strlen(in), &hl, &r, &st, &why);
    check(rv == APR_SUCCESS && r.hosts->nelts == PTTH_HS_MAX_HOSTS,
          "hosts: PTTH_HS_MAX_HOSTS names accepted");
    req("hosts: PTTH_HS_MAX_HOSTS + 1 names",
        with(apr_pstrcat(P, "PTTH-Hosts: ", names, ",one-more.example\r\n", NULL)),
        APR_EINVAL, 400);
    req("hosts: PTTH_HS_MAX_HOSTS + 1 names over two lines",
        with(apr_pstrcat(P, "PTTH-Hosts: ", names, "\r\nPTTH-Hosts: x.example\r\n", NULL)),
        APR_EINVAL, 400);
}

static void test_response(void)
{
    const char *sw = ptth_hs_build_switch(P);
    const char *h2 = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04";
    const char *in;
    ptth_hs_response r;
    apr_size_t hl;
    const char *why;
    apr_status_t rv;
    char *big;

    in = apr_pstrcat(P, sw, h2, NULL);
    rv = presp(in, strlen(in), &hl, &r, &why);
    check(rv == APR_SUCCESS && r.status == 101 && hl == strlen(sw)
          && r.retry_after == -1 && r.www_authenticate == NULL && r.body_len == 0,
          "response: our 101 parses; head_len stops before the HTTP/2 bytes");
    prefixes_resp("the 101", sw);
    resp_case("101, other spelling and extra fields",
              "HTTP/1.1 101 Switching Protocols\r\nServer: x\r\nupgrade: PTTH\r\n"
              "connection: Upgrade\r\nalpn: h2\r\n\r\n", APR_SUCCESS, 101);
    resp_case("101 without Upgrade", "HTTP/1.1 101 Switching Protocols\r\n"
              "Connection: upgrade\r\nALPN: h2\r\n\r\n", APR_EINVAL, 101);
    resp_case("101 with Upgrade: websocket", "HTTP/1.1 101 Switching Protocols\r\n"
              "Connection: upgrade\r\nUpgrade: websocket\r\nALPN: h2\r\n\r\n", APR_EINVAL, 101);
    resp_case("101 without Connection: upgrade", "HTTP/1.1 101 Switching Protocols\r\n"
              "Upgrade: ptth\r\nALPN: h2\r\n\r\n", APR_EINVAL, 101);
    resp_case("101 without ALPN", "HTTP/1.1 101 Switching Protocols\r\n"
              "Connection: upgrade\r\nUpgrade: ptth\r\n\r\n", APR_EINVAL, 101);
    resp_case("101 with ALPN http/1.1", "HTTP/1.1 101 Switching Protocols\r\n"
              "Connection: upgrade\r\nUpgrade: ptth\r\nALPN: http%2F1.1\r\n\r\n", APR_EINVAL, 101);
    resp_case("101 with two ALPN choices", "HTTP/1.1 101 Switching Protocols\r\n"
              "Connection: upgrade\r\nUpgrade: ptth\r\nALPN: h2, http%2F1.1\r\n\r\n",
              APR_EINVAL, 101);
    resp_case("101 with Content-Length", "HTTP/1.1 101 Switching Protocols\r\n"
              "Connection: upgrade\r\nUpgrade: ptth\r\nALPN: h2\r\nContent-Length: 0\r\n\r\n",
              APR_EINVAL, 101);
    resp_case("101 in HTTP/1.0", "HTTP/1.0 101 Switching Protocols\r\n"
              "Connection: upgrade\r\nUpgrade: ptth\r\nALPN: h2\r\n\r\n", APR_EINVAL, 101);
    resp_case("100 Continue", "HTTP/1.1 100 Continue\r\n\r\n", APR_EINVAL, 100);

    in = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"ptth\", "
         "error=\"invalid_token\"\r\nContent-Length: 13\r\nConnection: close\r\n\r\n"
         "unauthorized\n";
    rv = presp(in, strlen(in), &hl, &r, &why);
    check(rv == APR_SUCCESS && r.status == 401 && r.body_len == 13
          && streq(r.www_authenticate, "Bearer realm=\"ptth\", error=\"invalid_token\"")
          && hl + 13 == strlen(in),
          "response: 401 with WWW-Authenticate and Content-Length");
    in = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"x\"\r\n"
         "www-authenticate: Bearer realm=\"ptth\"\r\n\r\n";
    rv = presp(in, strlen(in), &hl, &r, &why);
    check(rv == APR_SUCCESS
          && streq(r.www_authenticate, "Basic realm=\"x\", Bearer realm=\"ptth\""),
          "response: two WWW-Authenticate lines combine");
    in = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 30\r\nContent-Length: 0\r\n\r\n";
    rv = presp(in, strlen(in), &hl, &r, &why);
    check(rv == APR_SUCCESS && r.status == 429 && r.retry_after == apr_time_from_sec(30),
          "response: 429 with Retry-After: 30");
    in = "HTTP/1.1 503 Service Unavailable\r\nRetry-After:  120 \r\n\r\n";
    rv = presp(in, strlen(in), &hl, &r, &why);
    check(rv == APR_SUCCESS && r.status == 503 && r.retry_after == apr_time_from_sec(120),
          "response: 503 with Retry-After: 120 (OWS)");
    in = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 99999999999999999999999999\r\n\r\n";
    rv = presp(in, strlen(in), &hl, &r, &why);
    check(rv == APR_SUCCESS
          && r.retry_after == apr_time_from_sec(PTTH_HS_MAX_RETRY_AFTER),
          "response: huge Retry-After clamped to PTTH_HS_MAX_RETRY_AFTER");
    in = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: Fri, 31 Dec 1999 23:59:59 GMT\r\n\r\n";
    rv = presp(in, strlen(in), &hl, &r, &why);
    check(rv == APR_SUCCESS && r.retry_after == -1,
          "response: HTTP-date Retry-After gives -1 (own backoff applies)");
    in = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: -5\r\n\r\n";
    rv = presp(in, strlen(in), &hl, &r, &why);
    check(rv == APR_SUCCESS && r.retry_after == -1, "response: negative Retry-After ignored");
    in = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nRetry-After: 6\r\n\r\n";
    rv = presp(in, strlen(in), &hl, &r, &why);
    check(rv == APR_SUCCESS && r.retry_after == -1, "response: two Retry-After ignored");
    in = "HTTP/1.1 503 Service Unavailable\r\n\r\n";
    rv = presp(in, strlen(in), &hl, &r, &why);
    check(rv == APR_SUCCESS && r.retry_after == -1 && r.body_len == 0,
          "response: 503 without Retry-After");
    resp_case("HTTP/1.0 503 from a front proxy", "HTTP/1.0 503 Service Unavailable\r\n\r\n",
              APR_SUCCESS, 503);
    resp_case("status line without reason", "HTTP/1.1 404 \r\n\r\n", APR_SUCCESS, 404);
    resp_case("status line without SP after the code", "HTTP/1.1 404\r\n\r\n", APR_SUCCESS, 404);
    resp_case("200 (no upgrade happened) is a refusal", "HTTP/1.1 200 OK\r\n"
              "Content-Length: 2\r\n\r\nok", APR_SUCCESS, 200);
    resp_case("HTTP/2 preface instead of an answer", h2, APR_EINVAL, 0);
    rv = presp(h2, 3, &hl, &r, &why);
    check(rv == APR_EINVAL && why && strstr(why, "HTTP/2"),
          "response: the first bytes of an HTTP/2 preface are named as such");
    rv = presp("\x15\x03\x03\x00\x02\x02\x46", 7, &hl, &r, &why);
    check(rv == APR_EINVAL && why && strstr(why, "TLS"),
          "response: a TLS alert is named as such");
    resp_case("status code 99", "HTTP/1.1 099 X\r\n\r\n", APR_EINVAL, 0);
    resp_case("status code 600", "HTTP/1.1 600 X\r\n\r\n", APR_EINVAL, 0);
    resp_case("four-digit status code", "HTTP/1.1 4040 X\r\n\r\n", APR_EINVAL, 0);
    resp_case("HTTP/2.0 status line", "HTTP/2.0 200 OK\r\n\r\n", APR_EINVAL, 0);
    resp_case("lowercase http", "http/1.1 200 OK\r\n\r\n", APR_EINVAL, 0);
    resp_case("bare LF", "HTTP/1.1 503 Service Unavailable\n\n", APR_EINVAL, 0);
    resp_case("obs-fold", "HTTP/1.1 503 x\r\nRetry-After: 1\r\n 2\r\n\r\n", APR_EINVAL, 503);
    resp_case("CTL in reason", "HTTP/1.1 503 x\x01y\r\n\r\n", APR_EINVAL, 0);
    resp_case("invalid Content-Length", "HTTP/1.1 503 x\r\nContent-Length: 1,1\r\n\r\n",
              APR_EINVAL, 503);
    resp_case("implausible Content-Length",
              "HTTP/1.1 503 x\r\nContent-Length: 184467440737095516160\r\n\r\n",
              APR_EINVAL, 503);
    resp_case("duplicate Content-Length",
              "HTTP/1.1 503 x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
              APR_EINVAL, 503);
    big = apr_palloc(P, PTTH_HS_MAX_HEAD + 64);
    memcpy(big, "HTTP/1.1 503 x\r\nX: ", 19);
    memset(big + 19, 'x', PTTH_HS_MAX_HEAD + 40);
    big[PTTH_HS_MAX_HEAD + 59] = '\0';
    resp_case("head over PTTH_HS_MAX_HEAD without end", big, APR_EINVAL, 0);
    resp_case("partial status line", "HTTP/1.1 10", APR_INCOMPLETE, 0);
}

static void test_builders(void)
{
    apr_array_header_t *hosts = apr_array_make(P, 4, sizeof(const char *));
    apr_array_header_t *many = apr_array_make(P, 80, sizeof(const char *));
    ptth_hs_request r;
    ptth_hs_response rs;
    apr_size_t hl;
    int st, i;
    const char *why;
    apr_status_t rv;
    char *out;
    static const int statuses[] = { 400, 401, 403, 404, 405, 408, 414, 426, 429,
                                    431, 500, 502, 503, 505 };

    out = ptth_hs_build_request(P, "/pool", "router.example", NULL, NULL, NULL);
    rv = out ? preq(out, strlen(out), &hl, &r, &st, &why) : APR_EGENERAL;
    check(rv == APR_SUCCESS && hl == strlen(out) && streq(r.target, "/pool")
          && streq(r.host, "router.example") && !r.token && !r.backend_id
          && r.hosts->nelts == 0,
          "build: minimal request parses back to the same fields");
    if (out) {
        prefixes_req("the built request", out);
    }
    APR_ARRAY_PUSH(hosts, const char *) = "A.example";
    APR_ARRAY_PUSH(hosts, const char *) = "*.b.example";
    out = ptth_hs_build_request(P, "/p?x=%41", "[::1]:8443", SECRET, "web-1", hosts);
    rv = out ? preq(out, strlen(out), &hl, &r, &st, &why) : APR_EGENERAL;
    check(rv == APR_SUCCESS && hl == strlen(out) && streq(r.target, "/p?x=%41")
          && streq(r.host, "[::1]:8443") && streq(r.token, SECRET)
          && streq(r.backend_id, "web-1")
          && streq(host_list(r.hosts), "a.example|*.b.example"),
          "build: full request parses back (names lowercased)");
    out = ptth_hs_build_request(P, "/p", "r", "", "", hosts);
    check(out && !strstr(out, "Authorization") && !strstr(out, "PTTH-Backend"),
          "build: empty token and identity send no field");
    check(!ptth_hs_build_request(P, "/p", "r", "tok\r\nX-Injected: 1", NULL, NULL),
          "build: token with CRLF refused (NULL)");
    check(!ptth_hs_build_request(P, "/p", "r", "a b", NULL, NULL),
          "build: token with a space refused");
    check(!ptth_hs_build_request(P, "/p", "r\r\nX: 1", NULL, NULL, NULL),
          "build: Host with CRLF refused");
    check(!ptth_hs_build_request(P, "/p", "", NULL, NULL, NULL), "build: empty Host refused");
    check(!ptth_hs_build_request(P, "p", "r", NULL, NULL, NULL),
          "build: target without leading slash refused");
    check(!ptth_hs_build_request(P, "/p q", "r", NULL, NULL, NULL),
          "build: target with a space refused");
    check(!ptth_hs_build_request(P, NULL, "r", NULL, NULL, NULL), "build: NULL target refused");
    check(!ptth_hs_build_request(P, "/p", "r", NULL, "a\nb", NULL),
          "build: identity with LF refused");
    APR_ARRAY_PUSH(hosts, const char *) = "bad host";
    check(!ptth_hs_build_request(P, "/p", "r", NULL, NULL, hosts),
          "build: invalid name in hosts refused");
    for (i = 0; i < PTTH_HS_MAX_HOSTS + 1; i++) {
        APR_ARRAY_PUSH(many, const char *) = apr_psprintf(P, "h%d.example", i);
    }
    check(!ptth_hs_build_request(P, "/p", "r", NULL, NULL, many),
          "build: more than PTTH_HS_MAX_HOSTS names refused");
    many->nelts = PTTH_HS_MAX_HOSTS;
    out = ptth_hs_build_request(P, "/p", "r", NULL, NULL, many);
    rv = out ? preq(out, strlen(out), &hl, &r, &st, &why) : APR_EGENERAL;
    check(rv == APR_SUCCESS && r.hosts->nelts == PTTH_HS_MAX_HOSTS,
          "build: PTTH_HS_MAX_HOSTS names round-trip");
    for (i = 0; i < PTTH_HS_MAX_HOSTS; i++) {
        char l[64];
        memset(l, 'a' + i % 26, 63);
        l[63] = '\0';
        APR_ARRAY_IDX(many, i, const char *) = apr_psprintf(P, "%s.%s.h%d", l, l, i);
    }
    check(!ptth_hs_build_request(P, "/p", "r", NULL, NULL, many),
          "build: a head over PTTH_HS_MAX_HEAD refused");

    for (i = 0; i < (int)(sizeof(statuses) / sizeof(statuses[0])); i++) {
        int s = statuses[i];
        int ra = (s == 429 || s == 503) ? 7 : -1;
        apr_size_t len;
        int ok;

        out = ptth_hs_build_refusal(P, s, "refused: some reason", ra, 0);
        len = strlen(out);
        rv = presp(out, len, &hl, &rs, &why);
        ok = rv == APR_SUCCESS && rs.status == s && rs.body_len == len - hl
             && strcmp(out + hl, "refused: some reason\n") == 0
             && strstr(out, "\r\nDate: ") && strstr(out, "\r\nContent-Type: text/plain")
             && strstr(out, s == 426 ? "\r\nConnection: upgrade, close\r\n"
                                     : "\r\nConnection: close\r\n")
             && (s != 401 || streq(rs.www_authenticate, "Bearer realm=\"ptth\""))
             && (s == 401 || rs.www_authenticate == NULL)
             && (s != 405 || strstr(out, "\r\nAllow: GET\r\n"))
             && (s != 426 || strstr(out, "\r\nUpgrade: ptth\r\n"))
             && rs.retry_after == (ra < 0 ? -1 : apr_time_from_sec(ra));
        if (!check(ok, "build: refusal %d parses back, Content-Length exact, "
                   "required fields present", s)) {
            diag("%s", out);
        }
    }
    out = ptth_hs_build_refusal(P, 400, "evil\r\nX-Injected: 1\r\n\r\nmore\x80", -1, 0);
    rv = presp(out, strlen(out), &hl, &rs, &why);
    check(rv == APR_SUCCESS && !strstr(out, "\r\nX-Injected") && rs.body_len == strlen(out) - hl
          && strchr(out + hl, '\n') == out + strlen(out) - 1,
          "build: CR/LF in a reason cannot inject a field; body is one line");
    out = ptth_hs_build_refusal(P, 401, "invalid token", -1, PTTH_HS_INVALID_TOKEN);
    rv = presp(out, strlen(out), &hl, &rs, &why);
    check(rv == APR_SUCCESS && rs.status == 401
          && streq(rs.www_authenticate, "Bearer realm=\"ptth\", error=\"invalid_token\""),
          "build: 401 for a rejected token says error=\"invalid_token\" (RFC 6750 3.1)");
    out = ptth_hs_build_refusal(P, 403, "forbidden", -1, PTTH_HS_INVALID_TOKEN);
    rv = presp(out, strlen(out), &hl, &rs, &why);
    check(rv == APR_SUCCESS && rs.status == 403 && rs.www_authenticate == NULL,
          "build: PTTH_HS_INVALID_TOKEN adds nothing to a status other than 401");
    out = ptth_hs_build_refusal(P, 200, NULL, -1, 0);
    rv = presp(out, strlen(out), &hl, &rs, &why);
    check(rv == APR_SUCCESS && rs.status == 500
          && strcmp(out + hl, "Internal Server Error\n") == 0,
          "build: status outside 400-599 becomes 500; NULL reason gives the phrase");
    {
        char longr[600];
        memset(longr, 'r', sizeof(longr) - 1);
        longr[sizeof(longr) - 1] = '\0';
        out = ptth_hs_build_refusal(P, 403, longr, 0, 0);
        rv = presp(out, strlen(out), &hl, &rs, &why);
        check(rv == APR_SUCCESS && rs.body_len == 201 && rs.retry_after == 0,
              "build: reason truncated to 200 characters; Retry-After: 0 kept");
    }
    out = (char *)ptth_hs_build_switch(P);
    rv = presp(out, strlen(out), &hl, &rs, &why);
    check(rv == APR_SUCCESS && rs.status == 101 && hl == strlen(out),
          "build: the 101 parses back");
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--ping") == 0) {
        printf("pong\n");
        return 0;
    }
    apr_initialize();
    apr_pool_create(&P, NULL);

    test_request_valid();
    test_request_syntax();
    test_request_refusals();
    test_request_auth();
    test_request_hosts();
    test_response();
    test_builders();

    printf("done %d\n", checks);
    apr_pool_destroy(P);
    apr_terminate();
    return failures ? 1 : 0;
}
