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

/* Choosing a status output (include/ptth_negotiate.h). */

#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include <httpd.h>

#include "ptth_negotiate.h"

/* Accept is read up to this many octets and ranges: it comes from the
 * user, and what we look for fits well within. */
#define ACCEPT_MAX_LEN    2048
#define ACCEPT_MAX_RANGES 32

/* A query word: "name" or "name=value" (value NULL for the former). */
static int arg_is(const char *w, apr_size_t n, const char *name,
                  const char **value, apr_size_t *vlen)
{
    apr_size_t k = strlen(name);

    if (n < k || strncasecmp(w, name, k)) {
        return 0;
    }
    if (n == k) {
        *value = NULL;
        *vlen = 0;
        return 1;
    }
    if (w[k] != '=') {
        return 0;
    }
    *value = w + k + 1;
    *vlen = n - k - 1;
    return 1;
}

/* N of refresh=N, clamped to the bounds; 0 when it is not a number. */
static int parse_refresh(const char *v, apr_size_t n)
{
    long secs = 0;
    apr_size_t i;

    if (!v || !n) {
        return 0;
    }
    for (i = 0; i < n; ++i) {
        if (!apr_isdigit(v[i])) {
            return 0;
        }
        if (secs <= PTTH_REFRESH_MAX) {
            secs = secs * 10 + (v[i] - '0');
        }
    }
    if (secs < PTTH_REFRESH_MIN) {
        return PTTH_REFRESH_MIN;
    }
    return secs > PTTH_REFRESH_MAX ? PTTH_REFRESH_MAX : (int)secs;
}

/* A qvalue (RFC 9110 section 12.4.2) in 1000ths, or -1 when v is not one:
 *   qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) */
static int parse_qvalue(const char *v, apr_size_t n)
{
    int q, scale = 100;
    apr_size_t i;

    if (n == 0 || (v[0] != '0' && v[0] != '1')) {
        return -1;
    }
    q = (v[0] - '0') * 1000;
    if (n == 1) {
        return q;
    }
    if (v[1] != '.' || n > 5) {
        return -1;
    }
    for (i = 2; i < n; ++i, scale /= 10) {
        if (!apr_isdigit(v[i]) || (q == 1000 && v[i] != '0')) {
            return -1;
        }
        q += (v[i] - '0') * scale;
    }
    return q;
}

/* The weight of a media range from its parameters (what follows its first
 * ';'): the q parameter in 1000ths, 1000 without one, 0 for a q that is
 * not a qvalue (the range is then not taken). */
static int range_q(const char *params)
{
    while (params && *params) {
        apr_size_t n = strcspn(params, ";");
        const char *p = params, *end = params + n;

        while (p < end && (*p == ' ' || *p == '\t')) {
            ++p;
        }
        while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
            --end;
        }
        if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            int q = parse_qvalue(p + 2, (apr_size_t)(end - p - 2));
            return q < 0 ? 0 : q;
        }
        params += n;
        if (*params) {
            ++params;
        }
    }
    return 1000;
}

/* What Accept prefers among the formats in want (a bit per format), or
 * -1 when it prefers none of them. */
static int accept_pick(request_rec *r, unsigned want)
{
    const char *accept = apr_table_get(r->headers_in, "Accept");
    char *copy, *range, *last;
    int best = -1, best_q = 0, n = 0;

    if (!accept) {
        return -1;
    }
    copy = apr_pstrndup(r->pool, accept, ACCEPT_MAX_LEN);
    for (range = apr_strtok(copy, ",", &last); range && n < ACCEPT_MAX_RANGES;
         range = apr_strtok(NULL, ",", &last), ++n) {
        char *params = strchr(range, ';');
        int fmt = -1, q;

        if (params) {
            *params++ = '\0';
        }
        apr_collapse_spaces(range, range);   /* (it returns the end) */
        if (!strcasecmp(range, "text/html")
            || !strcasecmp(range, "application/xhtml+xml")) {
            fmt = PTTH_OUT_HTML;
        }
        else if (!strcasecmp(range, "application/json")) {
            fmt = PTTH_OUT_JSON;
        }
        else if (!strcasecmp(range, "application/openmetrics-text")) {
            fmt = PTTH_OUT_OPENMETRICS;
        }
        else if (!strcasecmp(range, "text/plain")) {
            fmt = PTTH_OUT_PROMETHEUS;
        }
        if (fmt < 0 || !(want & (1u << fmt))) {
            continue;
        }
        q = range_q(params);
        /* Ties go to the range listed first. */
        if (q > best_q) {
            best = fmt;
            best_q = q;
        }
    }
    return best;
}

ptth_out_fmt ptth_out_negotiate(request_rec *r, int *refresh)
{
    const char *args = r->args ? r->args : "";
    int forced = -1, metrics = 0, picked;

    *refresh = 0;
    while (*args) {
        apr_size_t n = strcspn(args, "&;");
        const char *v;
        apr_size_t vlen;

        if (arg_is(args, n, "json", &v, &vlen)) {
            forced = PTTH_OUT_JSON;
        }
        else if (arg_is(args, n, "html", &v, &vlen)) {
            forced = PTTH_OUT_HTML;
        }
        else if (arg_is(args, n, "openmetrics", &v, &vlen)) {
            forced = PTTH_OUT_OPENMETRICS;
        }
        else if (arg_is(args, n, "metrics", &v, &vlen)) {
            metrics = 1;
        }
        else if (arg_is(args, n, "refresh", &v, &vlen)) {
            *refresh = parse_refresh(v, vlen);
        }
        args += n;
        if (*args) {
            args++;
        }
    }
    if (forced >= 0) {
        return (ptth_out_fmt)forced;
    }
    if (metrics) {
        picked = accept_pick(r, (1u << PTTH_OUT_OPENMETRICS)
                                | (1u << PTTH_OUT_PROMETHEUS));
        return picked >= 0 ? (ptth_out_fmt)picked : PTTH_OUT_PROMETHEUS;
    }
    if (*refresh) {
        return PTTH_OUT_HTML;
    }
    picked = accept_pick(r, (1u << PTTH_OUT_JSON) | (1u << PTTH_OUT_HTML)
                            | (1u << PTTH_OUT_OPENMETRICS)
                            | (1u << PTTH_OUT_PROMETHEUS));
    return picked >= 0 ? (ptth_out_fmt)picked : PTTH_OUT_JSON;
}
