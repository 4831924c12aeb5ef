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

/* Configuration audits for warnings (include/ptth_conf_audit.h).
 *
 * Whether a status handler is open to all cannot be read from the merged
 * per-directory configurations: mod_authz_core keeps its Require lines
 * private.  What the administrator wrote can be read: the configuration
 * tree (ap_conftree, util_cfgtree.h) still holds every section and
 * directive while the configuration is checked, so the section that sets
 * the handler is searched for access control directives. */

#include <apr_network_io.h>
#include <apr_strings.h>

#include <httpd.h>
#include <http_config.h>
#include <util_cfgtree.h>

#include "ptth_conf_audit.h"

int ptth_host_is_loopback(apr_pool_t *p, const char *host)
{
    apr_sockaddr_t *sa, *a;

    if (!host || !*host || !strcmp(host, "*")) {
        return 0;
    }
    if (apr_sockaddr_info_get(&sa, host, APR_UNSPEC, 0, 0, p) != APR_SUCCESS) {
        return 0;
    }
    for (a = sa; a; a = a->next) {
        const unsigned char *ip = a->ipaddr_ptr;
        if (a->family == APR_INET) {
            if (ip[0] != 127) {
                return 0;
            }
        }
#if APR_HAVE_IPV6
        else if (a->family == APR_INET6) {
            static const unsigned char v6lo[16] = { 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1 };
            static const unsigned char v4map[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };
            if (memcmp(ip, v6lo, 16)
                && !(!memcmp(ip, v4map, 12) && ip[12] == 127)) {
                return 0;
            }
        }
#endif
        else {
            return 0;
        }
    }
    return 1;
}

/* A section's argument without the closing '>'. */
static const char *section_arg(apr_pool_t *p, const ap_directive_t *d)
{
    const char *a = d->args ? d->args : "";
    apr_size_t n = strlen(a);

    while (n && (a[n - 1] == '>' || a[n - 1] == ' ' || a[n - 1] == '\t')) {
        --n;
    }
    return apr_pstrmemdup(p, a, n);
}

/* Directives that restrict who may get a response. */
static int is_access_control(apr_pool_t *p, const ap_directive_t *d)
{
    const char *name = d->directive;

    if (!strcasecmp(name, "Require")) {
        const char *args = d->args ? d->args : "";
        char *w1 = ap_getword_conf(p, &args);
        char *w2 = ap_getword_conf(p, &args);
        /* "Require all granted" is the absence of control. */
        return !(!strcasecmp(w1, "all") && !strcasecmp(w2, "granted")
                 && !*args);
    }
    return !strcasecmp(name, "Allow") || !strcasecmp(name, "Deny")
           || !strcasecmp(name, "AuthType")
           || !strcasecmp(name, "<RequireAll") || !strcasecmp(name, "<RequireAny")
           || !strcasecmp(name, "<RequireNone");
}

static int has_access_control(apr_pool_t *p, const ap_directive_t *first)
{
    const ap_directive_t *d;

    for (d = first; d; d = d->next) {
        if (is_access_control(p, d)
            || (d->first_child && has_access_control(p, d->first_child))) {
            return 1;
        }
    }
    return 0;
}

static int is_location(const ap_directive_t *d)
{
    return !strcasecmp(d->directive, "<Location")
           || !strcasecmp(d->directive, "<LocationMatch");
}

typedef struct {
    apr_pool_t *p;
    const char *handler;
    apr_array_header_t *guarded;   /* <Location> args with control */
    apr_array_header_t *found;
} audit_ctx;

static void collect_guarded(audit_ctx *ctx, const ap_directive_t *d)
{
    for (; d; d = d->next) {
        if (is_location(d) && d->first_child
            && has_access_control(ctx->p, d->first_child)) {
            APR_ARRAY_PUSH(ctx->guarded, const char *) = section_arg(ctx->p, d);
        }
        if (d->first_child) {
            collect_guarded(ctx, d->first_child);
        }
    }
}

static int guarded_elsewhere(audit_ctx *ctx, const ap_directive_t *sec)
{
    const char *arg = section_arg(ctx->p, sec);
    int i;

    for (i = 0; i < ctx->guarded->nelts; ++i) {
        if (!strcmp(APR_ARRAY_IDX(ctx->guarded, i, const char *), arg)) {
            return 1;
        }
    }
    return 0;
}

/* <IfModule>, <IfDefine> ... say whether, not where: not a scope. */
static int is_conditional(const ap_directive_t *d)
{
    return !strncasecmp(d->directive, "<If", 3) && strcasecmp(d->directive, "<If");
}

static void check_handler(audit_ctx *ctx, const ap_directive_t *d)
{
    const ap_directive_t *sec, *named = NULL;
    ptth_open_handler *oh;

    for (sec = d->parent; sec; sec = sec->parent) {
        if (!strcasecmp(sec->directive, "<VirtualHost")) {
            break;
        }
        if (!named && !is_conditional(sec)) {
            named = sec;
        }
        if (has_access_control(ctx->p, sec->first_child)
            || (is_location(sec) && guarded_elsewhere(ctx, sec))) {
            return;
        }
    }
    oh = apr_array_push(ctx->found);
    oh->file = d->filename;
    oh->line = d->line_num;
    oh->section = named ? apr_pstrcat(ctx->p, named->directive, " ",
                                      section_arg(ctx->p, named), ">", NULL)
                        : "the server (no section)";
}

static void find_handlers(audit_ctx *ctx, const ap_directive_t *d)
{
    for (; d; d = d->next) {
        if (!strcasecmp(d->directive, "SetHandler") && d->args) {
            const char *args = d->args;
            char *w = ap_getword_conf(ctx->p, &args);
            if (!strcasecmp(w, ctx->handler)) {
                check_handler(ctx, d);
            }
        }
        if (d->first_child) {
            find_handlers(ctx, d->first_child);
        }
    }
}

apr_array_header_t *ptth_find_open_handlers(apr_pool_t *p, const char *handler)
{
    audit_ctx ctx;

    ctx.p = p;
    ctx.handler = handler;
    ctx.guarded = apr_array_make(p, 4, sizeof(const char *));
    ctx.found = apr_array_make(p, 2, sizeof(ptth_open_handler));
    collect_guarded(&ctx, ap_conftree);
    find_handlers(&ctx, ap_conftree);
    return ctx.found;
}
