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

/* Unit driver for the response rules (mod_ptth_router/ptth_respcheck.c),
 * run by t/08-response-unit.t: one "ok - " / "not ok - " line per check.
 *
 * A case is a script of what a backend sends on one stream, one event per
 * word:  H            begin a header block
 *        name=value   a field (":status=200")
 *        E / e        end the block with / without END_STREAM
 *        D<n>         n octets of DATA (forwarded unless dropped)
 *        S            END_STREAM on DATA
 * and the expected outcome: "" (valid) or a word of the violation. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptth_respcheck.h"

static int checks, failures;

typedef struct rcase {
    const char *name;
    int head, connect;
    const char *script;
    const char *expect;        /* "" valid, else part of the reason */
    long forwarded;            /* DATA octets let through (-1: don't care) */
} rcase;

static const rcase cases[] = {
    /* valid */
    { "200 with content-length and exact DATA", 0, 0,
      "H :status=200 content-length=10 e D6 D4 S", "", 10 },
    { "200 without content-length, END_STREAM on DATA", 0, 0,
      "H :status=200 e D100 D1 S", "", 101 },
    { "204 ends on HEADERS", 0, 0, "H :status=204 E", "", 0 },
    { "103 then 200", 0, 0,
      "H :status=103 link=</a.css> e H :status=200 content-length=1 e D1 S", "", 1 },
    { "trailers end the stream", 0, 0,
      "H :status=200 e D5 H grpc-status=0 E", "", 5 },
    { "trailers after content-length DATA", 0, 0,
      "H :status=200 content-length=3 e D3 H x=y E", "", 3 },
    { "HEAD: DATA dropped, not counted", 1, 0,
      "H :status=200 content-length=500 e D500 S", "", 0 },
    { "304 with content-length of the representation", 0, 0,
      "H :status=304 content-length=1234 E", "", 0 },
    { "204 with content-length 0", 0, 0, "H :status=204 content-length=0 E", "", 0 },
    { "extended CONNECT 2xx: a pipe, DATA not counted", 0, 1,
      "H :status=200 e D70000 D1 S", "", 70001 },
    { "content-length 0 and END_STREAM on HEADERS", 0, 0,
      "H :status=200 content-length=0 E", "", 0 },
    /* content-length (RFC 9110 8.6, RFC 9113 8.1.1) */
    { "more DATA than content-length", 0, 0,
      "H :status=200 content-length=0 e D40", "more DATA", 0 },
    { "content-length 10, 20 octets", 0, 0,
      "H :status=200 content-length=10 e D10 D10", "more DATA", 10 },
    { "content-length 100, 5 octets and END_STREAM", 0, 0,
      "H :status=200 content-length=100 e D5 S", "before content-length", 5 },
    { "content-length 5 and END_STREAM on HEADERS", 0, 0,
      "H :status=200 content-length=5 E", "before content-length", 0 },
    { "content-length list 5, 5", 0, 0, "H :status=200 content-length=5,_5 e", "plain decimal", -1 },
    { "content-length 5x", 0, 0, "H :status=200 content-length=5x e", "plain decimal", -1 },
    { "content-length -1", 0, 0, "H :status=200 content-length=-1 e", "plain decimal", -1 },
    { "content-length +5", 0, 0, "H :status=200 content-length=+5 e", "plain decimal", -1 },
    { "content-length empty", 0, 0, "H :status=200 content-length= e", "plain decimal", -1 },
    { "two content-length fields", 0, 0,
      "H :status=200 content-length=5 content-length=6 e", "more than one", -1 },
    { "two equal content-length fields", 0, 0,
      "H :status=200 content-length=5 content-length=5 e", "more than one", -1 },
    { "content-length in trailers", 0, 0,
      "H :status=200 e D1 H content-length=1 E", "in trailers", 1 },
    { "content-length in a 1xx", 0, 0,
      "H :status=103 content-length=1 e", "interim", -1 },
    { "content-length of 19 digits", 0, 0,
      "H :status=200 content-length=1000000000000000000 e", "plain decimal", -1 },
    /* statuses and pseudo-fields (RFC 9113 8.3.2) */
    { "second :status", 0, 0, "H :status=200 :status=302 e", "second :status", -1 },
    { "unknown pseudo-field", 0, 0, "H :status=200 :foo=bar e", "unknown pseudo", -1 },
    { "pseudo-field after a regular one", 0, 0,
      "H :status=200 x=y :status=200 e", "after a regular", -1 },
    { "regular field before :status", 0, 0, "H x=y :status=200 e", "before :status", -1 },
    { "no :status", 0, 0, "H x=y e", "before :status", -1 },
    { "empty head", 0, 0, "H e", "without :status", -1 },
    { ":status 2000", 0, 0, "H :status=2000 e", "invalid :status", -1 },
    { ":status 099", 0, 0, "H :status=099 e", "invalid :status", -1 },
    { ":status 600", 0, 0, "H :status=600 e", "invalid :status", -1 },
    { ":status 20x", 0, 0, "H :status=20x e", "invalid :status", -1 },
    { "101 in HTTP/2", 0, 0, "H :status=101 e", "101", -1 },
    { ":status in trailers", 0, 0, "H :status=200 e D1 H :status=200 E", "pseudo-header field in trailers", 1 },
    { "second final response", 0, 0,
      "H :status=200 e H :status=200 e", "pseudo-header field in trailers", -1 },
    /* connection-specific fields (RFC 9113 8.2.2) */
    { "connection", 0, 0, "H :status=200 connection=x e", "connection-specific", -1 },
    { "keep-alive", 0, 0, "H :status=200 keep-alive=5 e", "connection-specific", -1 },
    { "proxy-connection", 0, 0, "H :status=200 proxy-connection=x e", "connection-specific", -1 },
    { "transfer-encoding", 0, 0, "H :status=200 transfer-encoding=chunked e", "connection-specific", -1 },
    { "upgrade", 0, 0, "H :status=200 upgrade=h2c e", "connection-specific", -1 },
    { "te", 0, 0, "H :status=200 te=trailers e", "connection-specific", -1 },
    /* names and values (RFC 9113 8.2.1, RFC 9110 5.5) */
    { "uppercase name", 0, 0, "H :status=200 X-Up=1 e", "invalid field name", -1 },
    { "name with a non-token character", 0, 0, "H :status=200 a@b=1 e",
      "invalid field name", -1 },
    { "value with CR LF", 0, 0, "H :status=200 x=a\rb e", "invalid character", -1 },
    { "value with NUL", 0, 0, "H :status=200 x=a#b e", "invalid character", -1 },
    { "value with leading space", 0, 0, "H :status=200 x=_a e", "invalid character", -1 },
    { "value with DEL", 0, 0, "H :status=200 x=a\177 e", "invalid character", -1 },
    /* stream structure (RFC 9113 8.1) */
    { "DATA before HEADERS", 0, 0, "D10", "DATA before", 0 },
    { "DATA after a 1xx only", 0, 0, "H :status=100 e D10", "DATA before", 0 },
    { "1xx with END_STREAM", 0, 0, "H :status=100 E", "interim response with END_STREAM", -1 },
    { "trailers without END_STREAM", 0, 0,
      "H :status=200 e D1 H x=y e", "trailers without END_STREAM", 1 },
    { "END_STREAM before any response", 0, 0, "S", "before the final response", -1 },
    { "HEADERS after the end", 0, 0, "H :status=200 E H :status=200 e", "after the end", 0 },
    /* budgets */
    { "11 interim responses (limit 10)", 0, 0,
      "H :status=103 e H :status=103 e H :status=103 e H :status=103 e "
      "H :status=103 e H :status=103 e H :status=103 e H :status=103 e "
      "H :status=103 e H :status=103 e H :status=103 e", "PTTHMaxInterimResponses", -1 },
    { "10 interim responses, then a final one", 0, 0,
      "H :status=103 e H :status=103 e H :status=103 e H :status=103 e "
      "H :status=103 e H :status=103 e H :status=103 e H :status=103 e "
      "H :status=103 e H :status=103 e H :status=200 E", "", 0 },
    { "header bytes over the budget (all blocks)", 0, 0,
      "H :status=103 big=! e H :status=103 big=! e H :status=200 big=! E",
      "PTTHMaxResponseHeaderSize", -1 },
};

/* "!" in a value stands for 1500 octets; "_" a space; "#" a NUL. */
static size_t expand(const char *v, size_t vl, unsigned char *out)
{
    size_t i, n = 0;

    for (i = 0; i < vl; ++i) {
        if (v[i] == '!') {
            memset(out + n, 'x', 1500);
            n += 1500;
        }
        else {
            out[n++] = v[i] == '_' ? ' ' : v[i] == '#' ? '\0' : (unsigned char)v[i];
        }
    }
    return n;
}

static void run(const rcase *c)
{
    ptth_resp_limits lim = { 4096, 10 };
    ptth_resp_check rc;
    const char *p = c->script, *why = NULL;
    long forwarded = 0;
    static unsigned char val[8192];

    ptth_resp_init(&rc, c->head, c->connect);
    while (*p && !why) {
        const char *w = p, *eq;
        size_t wl;

        while (*p && *p != ' ') {
            ++p;
        }
        wl = (size_t)(p - w);
        while (*p == ' ') {
            ++p;
        }
        if (wl == 1 && *w == 'H') {
            why = ptth_resp_block_begin(&rc);
        }
        else if (wl == 1 && (*w == 'E' || *w == 'e')) {
            ptth_resp_block kind;
            why = ptth_resp_block_end(&rc, &lim, *w == 'E', &kind);
        }
        else if (wl == 1 && *w == 'S') {
            why = ptth_resp_data_end(&rc);
        }
        else if (*w == 'D') {
            int drop;
            long n = atol(w + 1);
            why = ptth_resp_data(&rc, (apr_size_t)n, &drop);
            if (!why && !drop) {
                forwarded += n;
            }
        }
        else if ((eq = memchr(w + 1, '=', wl - 1)) != NULL) {
            int fwd;
            size_t vl = expand(eq + 1, wl - (size_t)(eq + 1 - w), val);
            why = ptth_resp_field(&rc, &lim, (const unsigned char *)w,
                                  (size_t)(eq - w), val, vl, &fwd);
        }
    }
    checks++;
    if ((*c->expect ? why && strstr(why, c->expect) : !why)
        && (c->forwarded < 0 || forwarded == c->forwarded)) {
        printf("ok - %s: %s\n", c->name, why ? why : "valid");
    }
    else {
        failures++;
        printf("not ok - %s\n# got \"%s\", %ld octets forwarded; expected \"%s\", "
               "%ld\n", c->name, why ? why : "valid", forwarded,
               *c->expect ? c->expect : "valid", c->forwarded);
    }
}

int main(int argc, char **argv)
{
    size_t i;

    if (argc > 1 && !strcmp(argv[1], "--ping")) {
        printf("pong\n");
        return 0;
    }
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
        run(&cases[i]);
    }
    printf("done %d\n", checks);
    return failures ? 1 : 0;
}
