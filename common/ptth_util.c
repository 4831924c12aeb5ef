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

#include <stdlib.h>
#include <errno.h>

#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_file_info.h>
#include <apr_lib.h>
#include <apr_uri.h>
#include <apr_portable.h>

#include <httpd.h>
#include <http_config.h>

#include <openssl/crypto.h>

#include "ptth_util.h"

const char *ptth_parse_duration(apr_pool_t *p, const char *directive,
                                const char *arg, const char *default_unit,
                                apr_interval_time_t *result)
{
    apr_interval_time_t t;

    if (!arg || !*arg || *arg == '-'
        || ap_timeout_parameter_parse(arg, &t, default_unit) != APR_SUCCESS
        || t < 0) {
        return apr_psprintf(p, "%s: '%s' is not a valid duration "
                            "(use e.g. 500ms, 5s, 2mi, 1h)", directive,
                            arg ? arg : "");
    }
    *result = t;
    return NULL;
}

const char *ptth_parse_int(apr_pool_t *p, const char *directive,
                           const char *arg, long min, long max, long *result)
{
    char *end;
    long v;

    errno = 0;
    v = (arg && *arg) ? strtol(arg, &end, 10) : 0;
    if (!arg || !*arg || *end || errno || v < min || v > max) {
        return apr_psprintf(p, "%s: '%s' is not a number between %ld and %ld",
                            directive, arg ? arg : "", min, max);
    }
    *result = v;
    return NULL;
}

int ptth_split_kv(char *word, char **key, char **val)
{
    char *eq = strchr(word, '=');

    if (!eq || eq == word) {
        return -1;
    }
    *eq = '\0';
    *key = word;
    *val = eq + 1;
    return 0;
}

const char *ptth_parse_hostport(apr_pool_t *p, const char *arg,
                                const char **host, apr_port_t *port)
{
    char *h = NULL, *scope = NULL;
    apr_port_t prt = 0;

    if (!arg || !*arg) {
        return "empty address";
    }
    if (apr_parse_addr_port(&h, &scope, &prt, arg, p) != APR_SUCCESS
        || scope || prt == 0) {
        return apr_psprintf(p, "'%s' is not a valid host:port", arg);
    }
    *host = (h && strcmp(h, "*")) ? h : NULL;
    *port = prt;
    return NULL;
}

const char *ptth_parse_endpoint(apr_pool_t *p, const char *url, ptth_endpoint *ep)
{
    apr_uri_t u;

    memset(ep, 0, sizeof(*ep));
    if (!url || apr_uri_parse(p, url, &u) != APR_SUCCESS || !u.scheme
        || !u.hostname || !*u.hostname) {
        return apr_psprintf(p, "'%s' is not a URL of the form "
                            "tcp://host:port or https://host[:port]/path", url);
    }
    if (!strcasecmp(u.scheme, "tcp")) {
        ep->scheme = PTTH_EP_TCP;
        if (!u.port_str) {
            return apr_psprintf(p, "'%s': tcp:// needs an explicit port", url);
        }
        if (u.path && strcmp(u.path, "/") && *u.path) {
            return apr_psprintf(p, "'%s': tcp:// takes no path", url);
        }
    }
    else if (!strcasecmp(u.scheme, "http")) {
        ep->scheme = PTTH_EP_HTTP;
    }
    else if (!strcasecmp(u.scheme, "https")) {
        ep->scheme = PTTH_EP_HTTPS;
    }
    else {
        return apr_psprintf(p, "'%s': unknown scheme '%s' (tcp, http or https)",
                            url, u.scheme);
    }
    if (u.user || u.password) {
        return apr_psprintf(p, "'%s': credentials do not belong in the URL", url);
    }
    if (u.port_str) {
        /* apr_uri_parse keeps only 16 bits of the port: check the digits. */
        long port;
        if (ptth_parse_int(p, "port", u.port_str, 1, 65535, &port)) {
            return apr_psprintf(p, "'%s': invalid port '%s'", url, u.port_str);
        }
    }
    ep->url = apr_pstrdup(p, url);
    ep->host = u.hostname;
    ep->port = u.port_str ? u.port
                          : (ep->scheme == PTTH_EP_HTTPS ? 443 : 80);
    if (u.port_str && u.port == 0) {
        return apr_psprintf(p, "'%s': invalid port", url);
    }
    ep->path = (u.path && *u.path) ? u.path : "/";
    return NULL;
}

void ptth_backoff_init(ptth_backoff *b, apr_interval_time_t min,
                       apr_interval_time_t max)
{
    b->min = min > 0 ? min : apr_time_from_msec(100);
    b->max = max >= b->min ? max : b->min;
    b->cur = 0;
    b->seed = (apr_uint32_t)(apr_time_now() ^ (apr_time_t)getpid()
                             ^ (apr_time_t)(apr_uintptr_t)b);
}

void ptth_backoff_reset(ptth_backoff *b)
{
    b->cur = 0;
}

apr_interval_time_t ptth_backoff_next(ptth_backoff *b)
{
    apr_interval_time_t half;

    b->cur = b->cur ? b->cur * 2 : b->min;
    if (b->cur > b->max) {
        b->cur = b->max;
    }
    /* xorshift32: the jitter only has to decorrelate backends that lost
     * their router at the same moment, not be unpredictable. */
    b->seed ^= b->seed << 13;
    b->seed ^= b->seed >> 17;
    b->seed ^= b->seed << 5;
    half = b->cur / 2;
    return half + (apr_interval_time_t)(b->seed % (apr_uint64_t)(half + 1));
}

int ptth_ct_equal(const void *a, apr_size_t alen, const void *b, apr_size_t blen)
{
    /* Lengths are not secret (a token's length is seen on the wire, a
     * hash's is fixed); the bytes are compared in time that does not
     * reveal a common prefix. */
    if (alen != blen) {
        return 0;
    }
    return alen == 0 || CRYPTO_memcmp(a, b, alen) == 0;
}

const char *ptth_read_token_file(apr_pool_t *p, apr_pool_t *ptemp,
                                 const char *path, apr_array_header_t **tokens)
{
    apr_file_t *f;
    apr_finfo_t fi;
    char *buf, *line, *next;
    apr_size_t n;
    apr_status_t rv;
    const char *err = NULL;
    int lineno = 0;

    *tokens = apr_array_make(p, 2, sizeof(const char *));
    if (apr_file_open(&f, path, APR_FOPEN_READ, 0, ptemp) != APR_SUCCESS
        || apr_file_info_get(&fi, APR_FINFO_SIZE, f) != APR_SUCCESS) {
        return apr_psprintf(p, "cannot read %s", path);
    }
    if (fi.size > PTTH_TOKEN_FILE_MAX) {
        apr_file_close(f);
        return apr_psprintf(p, "%s is larger than %d bytes", path,
                            PTTH_TOKEN_FILE_MAX);
    }
    n = (apr_size_t)fi.size;
    buf = apr_palloc(ptemp, n + 1);
    rv = n ? apr_file_read_full(f, buf, n, &n) : APR_SUCCESS;
    apr_file_close(f);
    if (rv != APR_SUCCESS) {
        memset(buf, 0, n);
        return apr_psprintf(p, "cannot read %s", path);
    }
    buf[n] = '\0';
    for (line = buf; line && !err; line = next) {
        char *e;

        ++lineno;
        next = strchr(line, '\n');
        if (next) {
            *next++ = '\0';
        }
        while (*line == ' ' || *line == '\t') {
            ++line;
        }
        e = line + strlen(line);
        while (e > line && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) {
            *--e = '\0';
        }
        if (!*line || *line == '#') {
            continue;
        }
        if (e - line > PTTH_TOKEN_MAX) {
            err = apr_psprintf(p, "%s line %d: longer than %d characters",
                               path, lineno, PTTH_TOKEN_MAX);
            break;
        }
        APR_ARRAY_PUSH(*tokens, const char *) = apr_pstrmemdup(p, line, e - line);
    }
    memset(buf, 0, n);
    return err;
}
