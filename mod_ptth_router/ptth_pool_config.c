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

/* The pools of mod_ptth_router: <PTTHPool> sections and the directives
 * inside them (endpoint, tokens, client certificates, host claims,
 * per-backend limits), and the checks made at configtest: every pool can
 * be reached and authenticates its backends, every ptth://POOL names a
 * pool (docs/mod_ptth_router.md). */

#include <apr_escape.h>
#include <apr_strings.h>
#include <apr_hash.h>
#include <apr_file_io.h>
#include <apr_file_info.h>

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <mod_proxy.h>

#include "ptth_util.h"
#include "ptth_tls.h"
#include "ptth_router.h"
#include "ptth_router_config.h"

ptth_pool_conf *ptth_router_pool_find(ptth_router_sconf *conf, const char *name)
{
    int i;

    for (i = 0; i < conf->pools->nelts; ++i) {
        ptth_pool_conf *pool = APR_ARRAY_IDX(conf->pools, i, ptth_pool_conf *);
        if (!strcasecmp(pool->name, name)) {
            return pool;
        }
    }
    return NULL;
}

int ptth_router_pool_known(server_rec *s, const char *pool)
{
    ptth_router_sconf *conf = ptth_router_sconf_get(s);
    int i;

    if (ptth_router_pool_find(conf, pool)) {
        return 1;
    }

    for (i = 0; i < conf->listeners->nelts; ++i) {
        const ptth_router_listener *l =
            &APR_ARRAY_IDX(conf->listeners, i, ptth_router_listener);
        if (l->plain_pool && !strcasecmp(l->plain_pool, pool)) {
            return 1;
        }
    }
    return 0;
}


int ptth_pool_name_valid(const char *name)
{
    const char *c;

    /* Pool names become the host part of ptth://POOL/ URLs, which
     * mod_proxy lowercases (RFC 3986 3.2.2 reg-name). */
    if (!*name || strlen(name) > 64) {
        return 0;
    }
    for (c = name; *c; ++c) {
        if (!apr_isalnum(*c) && *c != '-' && *c != '_' && *c != '.') {
            return 0;
        }
    }
    return 1;
}


/* ---- <PTTHPool name> ------------------------------------------------ */

static ptth_pool_conf *cur_pool(cmd_parms *cmd)
{
    return ptth_router_sconf_get(cmd->server)->section;
}

const char *ptth_cmd_pool_section(cmd_parms *cmd, void *dc, const char *arg)
{
    ptth_router_sconf *conf = ptth_router_sconf_get(cmd->server);
    const char *endp = ap_strrchr_c(arg, '>');
    ptth_pool_conf *pool;
    const char *err;
    char *name;

    (void)dc;
    if ((err = ap_check_cmd_context(cmd, GLOBAL_ONLY))) {
        return err;
    }
    if (!endp) {
        return "<PTTHPool> directive missing closing '>'";
    }
    name = apr_pstrndup(cmd->pool, arg, endp - arg);
    name = ap_getword_conf(cmd->pool, (const char **)&name);
    if (!ptth_pool_name_valid(name)) {
        return apr_psprintf(cmd->pool, "<PTTHPool %s>: a pool name is 1-64 "
                            "letters, digits, '-', '_' or '.'", name);
    }
    ap_str_tolower(name);
    if (ptth_router_pool_find(conf, name)) {
        return apr_psprintf(cmd->pool, "<PTTHPool %s> is declared twice", name);
    }
    pool = apr_pcalloc(cmd->pool, sizeof(*pool));
    pool->name = name;
    pool->endpoint = apr_pstrcat(cmd->pool, "/", name, NULL);
    pool->token_hashes = apr_array_make(cmd->pool, 2, 32);
    pool->client_ids = apr_array_make(cmd->pool, 2, sizeof(const char *));
    pool->allow_hosts = apr_array_make(cmd->pool, 2, sizeof(const char *));
    pool->max_tunnels = -1;
    pool->max_per_backend = -1;
    pool->defined_at = apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename,
                                    cmd->directive->line_num);
    APR_ARRAY_PUSH(conf->pools, ptth_pool_conf *) = pool;
    /* Like mod_md's <MDomain>: the section's directives find the pool
     * being read in the server config, the walk keeps httpd's context. */
    conf->section = pool;
    err = ap_walk_config(cmd->directive->first_child, cmd, cmd->context);
    conf->section = NULL;
    return err;
}

#define IN_POOL(cmd, name, pool) \
    if (!((pool) = cur_pool(cmd))) { \
        return name ": only inside <PTTHPool name>"; \
    }

const char *ptth_cmd_endpoint(cmd_parms *cmd, void *dc, const char *arg)
{
    ptth_pool_conf *pool;

    (void)dc;
    IN_POOL(cmd, "PTTHEndpoint", pool);
    if (arg[0] != '/' || strlen(arg) > 256 || strpbrk(arg, " \t?#%")) {
        return apr_psprintf(cmd->pool, "PTTHEndpoint: '%s' is not an absolute "
                            "path without query (e.g. /tunnels/app)", arg);
    }
    pool->endpoint = arg;
    return NULL;
}

static const char *add_token_hash(cmd_parms *cmd, ptth_pool_conf *pool,
                                  const char *name, const char *v)
{
    unsigned char h[32];
    apr_size_t len = 0;

    if (strncasecmp(v, "sha256:", 7) || strlen(v) != 7 + 64
        || apr_unescape_hex((char *)h, v + 7, 64, 0, &len) != APR_SUCCESS
        || len != sizeof(h)) {
        return apr_psprintf(cmd->pool, "%s: expected sha256:<64 hex digits> "
                            "(printf %%s \"$TOKEN\" | sha256sum)", name);
    }
    memcpy(apr_array_push(pool->token_hashes), h, sizeof(h));
    return NULL;
}

/* PTTHToken sha256:<hex>: only the hash of a token is in the config. */
const char *ptth_cmd_token(cmd_parms *cmd, void *dc, const char *arg)
{
    ptth_pool_conf *pool;

    (void)dc;
    IN_POOL(cmd, "PTTHToken", pool);
    return add_token_hash(cmd, pool, "PTTHToken", arg);
}

/* PTTHTokenFile path: one token per line, as sha256:<hex> or as the token
 * itself (hashed here; the file should be readable by root only). */
const char *ptth_cmd_token_file(cmd_parms *cmd, void *dc, const char *arg)
{
    ptth_pool_conf *pool;
    const char *path = ap_server_root_relative(cmd->pool, arg);
    apr_array_header_t *tokens;
    const char *err;
    int i;

    (void)dc;
    IN_POOL(cmd, "PTTHTokenFile", pool);
    if (!path) {
        return apr_psprintf(cmd->pool, "PTTHTokenFile: cannot read %s", arg);
    }
    if ((err = ptth_read_token_file(cmd->temp_pool, cmd->temp_pool, path,
                                    &tokens))) {
        return apr_pstrcat(cmd->pool, "PTTHTokenFile: ", err, NULL);
    }
    for (i = 0; i < tokens->nelts; ++i) {
        char *t = APR_ARRAY_IDX(tokens, i, char *);
        if (!strncasecmp(t, "sha256:", 7)) {
            err = add_token_hash(cmd, pool, "PTTHTokenFile", t);
        }
        else {
            ptth_sha256(t, strlen(t), apr_array_push(pool->token_hashes));
        }
        memset(t, 0, strlen(t));    /* no plain token left behind */
        if (err) {
            return apr_psprintf(cmd->pool, "%s (in %s, token %d)", err, arg, i + 1);
        }
    }
    if (!tokens->nelts) {
        return apr_psprintf(cmd->pool, "PTTHTokenFile: %s holds no token", arg);
    }
    return NULL;
}

const char *ptth_cmd_client_cert(cmd_parms *cmd, void *dc, const char *arg)
{
    ptth_pool_conf *pool;
    char *v;

    (void)dc;
    IN_POOL(cmd, "PTTHClientCertificate", pool);
    v = apr_pstrdup(cmd->pool, arg);
    ap_str_tolower(v);
    APR_ARRAY_PUSH(pool->client_ids, const char *) = v;
    return NULL;
}

const char *ptth_cmd_allow_hosts(cmd_parms *cmd, void *dc, const char *arg)
{
    ptth_pool_conf *pool;
    const char *c;
    char *v;

    (void)dc;
    IN_POOL(cmd, "PTTHAllowHosts", pool);
    for (c = arg; *c; ++c) {
        if (!apr_isalnum(*c) && *c != '-' && *c != '.' && !(*c == '*' && c == arg)) {
            return apr_psprintf(cmd->pool, "PTTHAllowHosts: '%s' is not a host "
                                "name or *.domain", arg);
        }
    }
    if (arg[0] == '*' && arg[1] != '.') {
        return apr_psprintf(cmd->pool, "PTTHAllowHosts: '%s': a wildcard is *.domain", arg);
    }
    v = apr_pstrdup(cmd->pool, arg);
    ap_str_tolower(v);
    APR_ARRAY_PUSH(pool->allow_hosts, const char *) = v;
    return NULL;
}

const char *ptth_cmd_max_per_backend(cmd_parms *cmd, void *dc, const char *arg)
{
    ptth_pool_conf *pool;
    long v;
    const char *err;

    (void)dc;
    IN_POOL(cmd, "PTTHMaxTunnelsPerBackend", pool);
    if ((err = ptth_parse_int(cmd->pool, "PTTHMaxTunnelsPerBackend", arg, 1,
                              100000, &v))) {
        return err;
    }
    pool->max_per_backend = (int)v;
    return NULL;
}


/* Every declared pool can be reached and authenticates its backends. */
static int check_pools(server_rec *s, ptth_router_sconf *conf)
{
    int i, j, secure = 0, client_ca = 0;

    for (i = 0; i < conf->listeners->nelts; ++i) {
        const ptth_router_listener *l =
            &APR_ARRAY_IDX(conf->listeners, i, ptth_router_listener);
        secure |= !l->plain_pool;
        client_ca |= l->client_ca != NULL;
    }
    if (secure && !conf->pools->nelts) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, PTTHLOGNO(01003)
                     "PTTHListen: a listener without plain= takes tunnels for "
                     "declared pools: add a <PTTHPool name> section");
        return !OK;
    }
    for (i = 0; i < conf->listeners->nelts; ++i) {
        const ptth_router_listener *l =
            &APR_ARRAY_IDX(conf->listeners, i, ptth_router_listener);
        for (j = 0; l->pools && j < l->pools->nelts; ++j) {
            const char *name = APR_ARRAY_IDX(l->pools, j, const char *);
            if (!ptth_router_pool_find(conf, name)) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, PTTHLOGNO(01009)
                             "PTTHListen %s pools=: no <PTTHPool %s>", l->addr,
                             name);
                return !OK;
            }
        }
    }
    for (i = 0; i < conf->pools->nelts; ++i) {
        ptth_pool_conf *p = APR_ARRAY_IDX(conf->pools, i, ptth_pool_conf *);
        if (!p->token_hashes->nelts && !p->client_ids->nelts) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, PTTHLOGNO(01004)
                         "<PTTHPool %s> (%s): no way to authenticate backends: "
                         "add PTTHToken, PTTHTokenFile or PTTHClientCertificate",
                         p->name, p->defined_at);
            return !OK;
        }
        if (p->client_ids->nelts && !client_ca) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, PTTHLOGNO(01005)
                         "<PTTHPool %s>: PTTHClientCertificate needs a PTTHListen "
                         "with client_ca=", p->name);
            return !OK;
        }
        if (!secure) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, PTTHLOGNO(01006)
                         "<PTTHPool %s>: no PTTHListen without plain= accepts "
                         "handshakes for it", p->name);
            return !OK;
        }
        for (j = 0; j < conf->listeners->nelts; ++j) {
            const ptth_router_listener *l =
                &APR_ARRAY_IDX(conf->listeners, j, ptth_router_listener);
            if (l->plain_pool && !strcasecmp(l->plain_pool, p->name)) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, PTTHLOGNO(01007)
                             "<PTTHPool %s> is also PTTHListen plain=%s: a pool "
                             "is either authenticated or plain", p->name, p->name);
                return !OK;
            }
        }
        for (j = 0; j < i; ++j) {
            ptth_pool_conf *o = APR_ARRAY_IDX(conf->pools, j, ptth_pool_conf *);
            if (!strcmp(o->endpoint, p->endpoint)) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, PTTHLOGNO(01008)
                             "PTTHEndpoint %s: used by <PTTHPool %s> and "
                             "<PTTHPool %s>", p->endpoint, o->name, p->name);
                return !OK;
            }
        }
    }
    return OK;
}

/* ---- check_config: every ptth://POOL names a pool ------------------- */

static const char *unknown_pool_in(server_rec *s, const proxy_worker *w)
{
    if (w->s && !strcasecmp(w->s->scheme, PTTH_SCHEME)
        && !ptth_router_pool_known(s, w->s->hostname_ex)) {
        return w->s->hostname_ex;
    }
    return NULL;
}

int ptth_router_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp, server_rec *s)
{
    module *proxy = ap_find_linked_module("mod_proxy.c");
    server_rec *vs;

    (void)pconf; (void)plog; (void)ptemp;
    if (check_pools(s, ptth_router_sconf_get(s)) != OK) {
        return !OK;
    }
    if (!proxy) {
        /* ptth:// is a mod_proxy scheme: without mod_proxy nothing uses it,
         * but the listener alone makes no sense either. */
        if (ptth_router_sconf_get(s)->listeners->nelts) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, PTTHLOGNO(01001)
                         "PTTHListen: mod_ptth_router needs mod_proxy: add "
                         "LoadModule proxy_module before it");
            return !OK;
        }
        return OK;
    }
    for (vs = s; vs; vs = vs->next) {
        proxy_server_conf *pc = ap_get_module_config(vs->module_config, proxy);
        const char *bad = NULL;
        int i, j;

        for (i = 0; pc && !bad && i < pc->workers->nelts; ++i) {
            bad = unknown_pool_in(s, &APR_ARRAY_IDX(pc->workers, i, proxy_worker));
        }
        for (i = 0; pc && !bad && i < pc->balancers->nelts; ++i) {
            proxy_balancer *b = &APR_ARRAY_IDX(pc->balancers, i, proxy_balancer);
            for (j = 0; !bad && b->workers && j < b->workers->nelts; ++j) {
                bad = unknown_pool_in(s, APR_ARRAY_IDX(b->workers, j, proxy_worker *));
            }
        }
        if (bad) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, vs, PTTHLOGNO(01002)
                         "ProxyPass/BalancerMember ptth://%s/: no pool '%s' "
                         "(declare <PTTHPool %s> or add plain=%s to a "
                         "PTTHListen)", bad, bad, bad, bad);
            return !OK;
        }
    }
    return OK;
}

