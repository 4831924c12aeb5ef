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

/* Response fields of a forwarded request, from the hub's frame into an
 * httpd table: hop-by-hop fields go (ptth_fields.h), names get the case
 * HTTP/1.1 clients and logs expect, and ProxyPassReverse /
 * ProxyPassReverseCookie* apply, as for mod_proxy_http. */

#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include <httpd.h>
#include <http_log.h>

#include "ptth_router.h"
#include "ptth_fields.h"
#include "ptth_fwd.h"
#include "ptth_fwd_fields.h"

char *ptth_fwd_lower(apr_pool_t *p, const char *s)
{
    char *l = apr_pstrdup(p, s);

    ap_str_tolower(l);
    return l;
}

/* "content-type" -> "Content-Type"; the few fields that some clients
 * match case-sensitively are spelled as their RFCs do. */
static char *camel_dup(apr_pool_t *p, const char *s, apr_size_t len)
{
    static const char *const special[] = {
        "ETag", "WWW-Authenticate", "Content-MD5", NULL
    };
    char *n = apr_pstrmemdup(p, s, len);
    int start = 1;
    apr_size_t i;

    for (i = 0; special[i]; ++i) {
        if (!ap_cstr_casecmp(special[i], n)) {
            return apr_pstrdup(p, special[i]);
        }
    }
    for (i = 0; i < len; ++i) {
        if (start) {
            n[i] = apr_toupper(n[i]);
        }
        start = (n[i] == '-');
    }
    return n;
}

/* A backend reached as ptth://POOL sees the pool as its host (without
 * ProxyPreserveHost), so it writes absolute URLs as http(s)://POOL/...
 * ProxyPassReverse names the worker URL, ptth://POOL/: try the URL in that
 * form first, then as it came (for ProxyPassReverse http://POOL/). */
static const char *location_reverse_map(request_rec *r, proxy_dir_conf *dconf,
                                        const char *pool, const char *url)
{
    apr_size_t plen = strlen(pool), skip = 0;
    const char *rest, *as_ptth, *mapped;

    if (!ap_cstr_casecmpn(url, "http://", 7)) {
        skip = 7;
    }
    else if (!ap_cstr_casecmpn(url, "https://", 8)) {
        skip = 8;
    }
    if (skip && !ap_cstr_casecmpn(url + skip, pool, plen)) {
        rest = url + skip + plen;
        if (!*rest || *rest == '/' || *rest == '?' || *rest == '#') {
            as_ptth = apr_pstrcat(r->pool, PTTH_SCHEME "://", pool, rest, NULL);
            mapped = ap_proxy_location_reverse_map(r, dconf, as_ptth);
            if (mapped != as_ptth && strcmp(mapped, as_ptth)) {
                return mapped;
            }
        }
    }
    return ap_proxy_location_reverse_map(r, dconf, url);
}

static const char *reverse_map(request_rec *r, proxy_dir_conf *dconf,
                               const char *pool, const char *lname,
                               const char *value)
{
    if (!strcmp(lname, "location") || !strcmp(lname, "content-location")
        || !strcmp(lname, "uri") || !strcmp(lname, "destination")) {
        return location_reverse_map(r, dconf, pool, value);
    }
    if (!strcmp(lname, "set-cookie")) {
        return ap_proxy_cookie_reverse_map(r, dconf, value);
    }
    return value;
}

apr_status_t ptth_fwd_map_fields(ptth_fwd *fwd, const apr_array_header_t *nvs,
                                 int trailers, apr_table_t **pt)
{
    request_rec *r = fwd->r;
    apr_table_t *t = apr_table_make(r->pool, nvs ? nvs->nelts + 2 : 2);
    int i;

    for (i = 0; nvs && i < nvs->nelts; ++i) {
        const ptth_nv *nv = &APR_ARRAY_IDX(nvs, i, ptth_nv);
        char *lname, *name;
        const char *value;

        /* Strings are NUL-terminated by the codec; an embedded NUL would
         * silently cut a field. */
        if (!nv->nlen || strlen(nv->name) != nv->nlen
            || strlen(nv->value) != nv->vlen) {
            return APR_EINVAL;
        }
        if (nv->name[0] == ':') {
            continue;
        }
        lname = ptth_fwd_lower(r->pool, nv->name);
        if (ptth_field_response_skip(lname)
            || (trailers && ptth_field_request_skip(lname))) {
            continue;
        }
        name = camel_dup(r->pool, nv->name, nv->nlen);
        value = apr_pstrmemdup(r->pool, nv->value, nv->vlen);
        if (!trailers) {
            value = reverse_map(r, fwd->dconf, fwd->pool_name, lname, value);
        }
        if (APLOGrtrace2(r)) {
            ap_log_rerror(APLOG_MARK, APLOG_TRACE2, 0, r, "ptth: %s %s: %s",
                          trailers ? "trailer" : "header", name,
                          ptth_field_is_secret(lname) ? "[not logged]" : value);
        }
        apr_table_addn(t, name, value);
    }
    *pt = t;
    return APR_SUCCESS;
}
