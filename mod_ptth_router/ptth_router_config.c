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

/* Directives and server configuration of mod_ptth_router. */

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

#define UNSET_TIME ((apr_interval_time_t)-1)

void *ptth_router_create_sconf(apr_pool_t *p, server_rec *s)
{
    ptth_router_sconf *conf = apr_pcalloc(p, sizeof(*conf));

    (void)s;
    conf->listeners = apr_array_make(p, 2, sizeof(ptth_router_listener));
    conf->drain_timeout = UNSET_TIME;
    conf->ping_interval = UNSET_TIME;
    conf->max_waiting = -1;
    conf->max_tunnels = -1;
    conf->pools = apr_array_make(p, 2, sizeof(ptth_pool_conf *));
    conf->handshake_timeout = UNSET_TIME;
    conf->max_handshakes = -1;
    conf->tunnel_max_requests = -1;
    conf->max_handshakes_per_addr = -1;
    conf->max_resp_header = -1;
    conf->max_interim = -1;
    conf->hub_memory = -1;
    conf->wait_timeout = PTTH_DEFAULT_WAIT_TIMEOUT;
    return conf;
}

void *ptth_router_merge_sconf(apr_pool_t *p, void *basev, void *addv)
{
    ptth_router_sconf *base = basev, *add = addv;
    ptth_router_sconf *conf = apr_pcalloc(p, sizeof(*conf));

    /* Global settings live on the main server; a vhost sees the main
     * server's values (PTTHListen etc. are refused inside a vhost). */
    *conf = *base;
    conf->wait_timeout = add->wait_timeout_set ? add->wait_timeout
                                               : base->wait_timeout;
    conf->wait_timeout_set = add->wait_timeout_set || base->wait_timeout_set;
    return conf;
}

ptth_router_sconf *ptth_router_sconf_get(server_rec *s)
{
    return ap_get_module_config(s->module_config, &ptth_router_module);
}

apr_interval_time_t ptth_router_drain_timeout(const ptth_router_sconf *c)
{
    return c->drain_timeout == UNSET_TIME ? PTTH_DEFAULT_DRAIN_TIMEOUT
                                          : c->drain_timeout;
}

apr_interval_time_t ptth_router_ping_interval(const ptth_router_sconf *c)
{
    return c->ping_interval == UNSET_TIME ? PTTH_DEFAULT_PING_INTERVAL
                                          : c->ping_interval;
}

int ptth_router_max_waiting(const ptth_router_sconf *c)
{
    return c->max_waiting < 0 ? PTTH_DEFAULT_MAX_WAITING : c->max_waiting;
}

int ptth_router_max_tunnels(const ptth_router_sconf *c)
{
    return c->max_tunnels < 0 ? PTTH_DEFAULT_MAX_TUNNELS : c->max_tunnels;
}

apr_interval_time_t ptth_router_handshake_timeout(const ptth_router_sconf *c)
{
    return c->handshake_timeout == UNSET_TIME ? PTTH_DEFAULT_HANDSHAKE_TIMEOUT
                                              : c->handshake_timeout;
}

int ptth_router_tunnel_max_requests(const ptth_router_sconf *c)
{
    return c->tunnel_max_requests < 0 ? PTTH_DEFAULT_TUNNEL_MAX_REQUESTS
                                      : c->tunnel_max_requests;
}

int ptth_router_max_handshakes(const ptth_router_sconf *c)
{
    return c->max_handshakes < 0 ? PTTH_DEFAULT_MAX_HANDSHAKES : c->max_handshakes;
}

int ptth_router_max_handshakes_per_addr(const ptth_router_sconf *c)
{
    return c->max_handshakes_per_addr < 0 ? PTTH_DEFAULT_MAX_HANDSHAKES_PER_ADDR
                                          : c->max_handshakes_per_addr;
}

apr_size_t ptth_router_max_resp_header(const ptth_router_sconf *c)
{
    return (apr_size_t)(c->max_resp_header < 0 ? PTTH_DEFAULT_MAX_RESP_HEADER
                                               : c->max_resp_header);
}

int ptth_router_max_interim(const ptth_router_sconf *c)
{
    return c->max_interim < 0 ? PTTH_DEFAULT_MAX_INTERIM : c->max_interim;
}

apr_size_t ptth_router_hub_memory(const ptth_router_sconf *c)
{
    return (apr_size_t)(c->hub_memory < 0 ? PTTH_DEFAULT_HUB_MEMORY
                                          : c->hub_memory);
}

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

/* ---- directive handlers -------------------------------------------- */

static ptth_router_sconf *cmd_sconf(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config, &ptth_router_module);
}

static int valid_pool_name(const char *name)
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

/* PTTHListen [host:]port [plain=POOL] */
const char *ptth_cmd_listen(cmd_parms *cmd, void *dc, const char *args)
{
    ptth_router_sconf *conf = cmd_sconf(cmd);
    ptth_router_listener *l;
    const char *err, *addr;
    char *word;
    int i;

    (void)dc;
    if ((err = ap_check_cmd_context(cmd, GLOBAL_ONLY))) {
        return err;
    }
    addr = ap_getword_conf(cmd->pool, &args);
    if (!*addr) {
        return "PTTHListen: missing address (e.g. 127.0.0.1:8887)";
    }
    l = apr_array_push(conf->listeners);
    memset(l, 0, sizeof(*l));
    l->addr = addr;
    if (apr_isdigit(*addr) && !strchr(addr, ':') && !strchr(addr, '.')) {
        /* A bare port number, as with Listen. */
        long port;
        if ((err = ptth_parse_int(cmd->pool, "PTTHListen", addr, 1, 65535, &port))) {
            return err;
        }
        l->port = (apr_port_t)port;
    }
    else if ((err = ptth_parse_hostport(cmd->pool, addr, &l->host, &l->port))) {
        return apr_pstrcat(cmd->pool, "PTTHListen: ", err, NULL);
    }

    while (*(word = ap_getword_conf(cmd->pool, &args))) {
        char *key, *val;
        if (ptth_split_kv(word, &key, &val)) {
            return apr_psprintf(cmd->pool, "PTTHListen: '%s' is not key=value", word);
        }
        if (!strcasecmp(key, "plain")) {
            if (!valid_pool_name(val)) {
                return apr_psprintf(cmd->pool, "PTTHListen: plain=%s: a pool name "
                                    "is 1-64 letters, digits, '-', '_' or '.'", val);
            }
            l->plain_pool = apr_pstrdup(cmd->pool, val);
            ap_str_tolower((char *)l->plain_pool);
        }
        else if (!strcasecmp(key, "pools")) {
            char *list = apr_pstrdup(cmd->pool, val), *name, *last;
            l->pools = apr_array_make(cmd->pool, 4, sizeof(const char *));
            for (name = apr_strtok(list, ",", &last); name;
                 name = apr_strtok(NULL, ",", &last)) {
                if (!valid_pool_name(name)) {
                    return apr_psprintf(cmd->pool, "PTTHListen: pools=%s: '%s' is "
                                        "not a pool name", val, name);
                }
                ap_str_tolower(name);
                APR_ARRAY_PUSH(l->pools, const char *) = name;
            }
            if (!l->pools->nelts) {
                return "PTTHListen: pools= needs at least one pool name";
            }
        }
        else if (!strcasecmp(key, "cert") || !strcasecmp(key, "key")
                 || !strcasecmp(key, "chain") || !strcasecmp(key, "client_ca")) {
            const char *path = ap_server_root_relative(cmd->pool, val);
            apr_finfo_t fi;
            if (!path || apr_stat(&fi, path, APR_FINFO_TYPE, cmd->temp_pool)
                         != APR_SUCCESS || fi.filetype != APR_REG) {
                return apr_psprintf(cmd->pool, "PTTHListen: %s=%s: not a readable "
                                    "file", key, val);
            }
            if (!strcasecmp(key, "cert")) l->cert_file = path;
            else if (!strcasecmp(key, "key")) l->key_file = path;
            else if (!strcasecmp(key, "chain")) l->chain_file = path;
            else l->client_ca = path;
        }
        else {
            return apr_psprintf(cmd->pool, "PTTHListen: unknown parameter '%s'", key);
        }
    }
    if (!l->cert_file != !l->key_file) {
        return "PTTHListen: cert= and key= go together";
    }
    if ((l->chain_file || l->client_ca) && !l->cert_file) {
        return "PTTHListen: chain= and client_ca= need TLS (cert= and key=)";
    }
    if (l->plain_pool && l->cert_file) {
        return "PTTHListen: plain= (seed protocol) cannot be combined with TLS";
    }
    if (l->plain_pool && l->pools) {
        return "PTTHListen: pools= is for handshake listeners; plain= names "
               "the one pool of a plain listener";
    }
    if (l->cert_file) {
        /* Load it now so that configtest reports a bad certificate. */
        const char *err = NULL;
        SSL_CTX *ctx = ptth_tls_ctx_new(cmd->temp_pool, 1, &err);
        if (!ctx) {
            return apr_pstrcat(cmd->pool, "PTTHListen: ", err, NULL);
        }
        err = ptth_tls_ctx_use_cert(cmd->temp_pool, ctx, l->cert_file,
                                    l->key_file, l->chain_file);
        if (!err && l->client_ca) {
            err = ptth_tls_ctx_trust(cmd->temp_pool, ctx, l->client_ca);
        }
        SSL_CTX_free(ctx);
        if (err) {
            return apr_pstrcat(cmd->pool, "PTTHListen: ", err, NULL);
        }
    }
    for (i = 0; i < conf->listeners->nelts - 1; ++i) {
        const ptth_router_listener *o =
            &APR_ARRAY_IDX(conf->listeners, i, ptth_router_listener);
        if (o->port == l->port && ((!o->host && !l->host)
                                   || (o->host && l->host && !strcmp(o->host, l->host)))) {
            return apr_psprintf(cmd->pool, "PTTHListen: %s is configured twice", addr);
        }
    }
    return NULL;
}

const char *ptth_cmd_wait_timeout(cmd_parms *cmd, void *dc, const char *arg)
{
    ptth_router_sconf *conf = cmd_sconf(cmd);
    const char *err;

    (void)dc;
    if ((err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE))) {
        return err;
    }
    if ((err = ptth_parse_duration(cmd->pool, "PTTHWaitTimeout", arg, "s",
                                   &conf->wait_timeout))) {
        return err;
    }
    if (conf->wait_timeout > apr_time_from_sec(3600)) {
        return "PTTHWaitTimeout: at most 1 hour";
    }
    conf->wait_timeout_set = 1;
    return NULL;
}

static const char *global_duration(cmd_parms *cmd, const char *name,
                                   const char *arg, apr_interval_time_t max,
                                   apr_interval_time_t *dst)
{
    const char *err;

    if ((err = ap_check_cmd_context(cmd, GLOBAL_ONLY))) {
        return err;
    }
    if ((err = ptth_parse_duration(cmd->pool, name, arg, "s", dst))) {
        return err;
    }
    if (*dst > max) {
        return apr_psprintf(cmd->pool, "%s: at most %" APR_TIME_T_FMT " seconds",
                            name, apr_time_sec(max));
    }
    return NULL;
}

const char *ptth_cmd_drain_timeout(cmd_parms *cmd, void *dc, const char *arg)
{
    (void)dc;
    return global_duration(cmd, "PTTHDrainTimeout", arg, apr_time_from_sec(86400),
                           &cmd_sconf(cmd)->drain_timeout);
}

const char *ptth_cmd_ping_interval(cmd_parms *cmd, void *dc, const char *arg)
{
    ptth_router_sconf *conf = cmd_sconf(cmd);
    const char *err = global_duration(cmd, "PTTHPingInterval", arg,
                                      apr_time_from_sec(3600), &conf->ping_interval);

    (void)dc;
    if (!err && conf->ping_interval && conf->ping_interval < apr_time_from_msec(100)) {
        return "PTTHPingInterval: at least 100ms (or 0 to disable)";
    }
    return err;
}

static const char *global_int(cmd_parms *cmd, const char *name, const char *arg,
                              long min, long max, int *dst)
{
    const char *err;
    long v;

    if ((err = ap_check_cmd_context(cmd, GLOBAL_ONLY))) {
        return err;
    }
    if ((err = ptth_parse_int(cmd->pool, name, arg, min, max, &v))) {
        return err;
    }
    *dst = (int)v;
    return NULL;
}

const char *ptth_cmd_max_waiting(cmd_parms *cmd, void *dc, const char *arg)
{
    (void)dc;
    return global_int(cmd, "PTTHMaxWaiting", arg, 0, 1000000,
                      &cmd_sconf(cmd)->max_waiting);
}

static ptth_pool_conf *cur_pool(cmd_parms *cmd);

/* Global, or inside <PTTHPool> for that pool. */
const char *ptth_cmd_max_tunnels(cmd_parms *cmd, void *dc, const char *arg)
{
    ptth_pool_conf *pool = cur_pool(cmd);

    (void)dc;
    return global_int(cmd, "PTTHMaxTunnels", arg, 1, 100000,
                      pool ? &pool->max_tunnels : &cmd_sconf(cmd)->max_tunnels);
}

const char *ptth_cmd_hub_socket(cmd_parms *cmd, void *dc, const char *arg)
{
    ptth_router_sconf *conf = cmd_sconf(cmd);
    const char *err;

    (void)dc;
    if ((err = ap_check_cmd_context(cmd, GLOBAL_ONLY))) {
        return err;
    }
    conf->hub_socket = ap_runtime_dir_relative(cmd->pool, arg);
    if (!conf->hub_socket) {
        return apr_psprintf(cmd->pool, "PTTHHubSocket: invalid path '%s'", arg);
    }
    /* sun_path is 108 bytes on Linux, 104 on the BSDs. */
    if (strlen(conf->hub_socket) >= 100) {
        return apr_psprintf(cmd->pool, "PTTHHubSocket: '%s' is too long for a "
                            "Unix socket path (max 99 bytes)", conf->hub_socket);
    }
    return NULL;
}

/* ---- <PTTHPool name> ------------------------------------------------ */

static ptth_pool_conf *cur_pool(cmd_parms *cmd)
{
    return cmd_sconf(cmd)->section;
}

const char *ptth_cmd_pool_section(cmd_parms *cmd, void *dc, const char *arg)
{
    ptth_router_sconf *conf = cmd_sconf(cmd);
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
    if (!valid_pool_name(name)) {
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

const char *ptth_cmd_handshake_timeout(cmd_parms *cmd, void *dc, const char *arg)
{
    ptth_router_sconf *conf = cmd_sconf(cmd);
    const char *err = global_duration(cmd, "PTTHHandshakeTimeout", arg,
                                      apr_time_from_sec(300),
                                      &conf->handshake_timeout);

    (void)dc;
    if (!err && conf->handshake_timeout < apr_time_from_msec(100)) {
        return "PTTHHandshakeTimeout: at least 100ms";
    }
    return err;
}

const char *ptth_cmd_max_handshakes(cmd_parms *cmd, void *dc, const char *arg)
{
    (void)dc;
    return global_int(cmd, "PTTHMaxHandshakes", arg, 1, 100000,
                      &cmd_sconf(cmd)->max_handshakes);
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

const char *ptth_cmd_tunnel_max_requests(cmd_parms *cmd, void *dc, const char *arg)
{
    (void)dc;
    return global_int(cmd, "PTTHTunnelMaxRequests", arg, 0, 1000000000,
                      &cmd_sconf(cmd)->tunnel_max_requests);
}

const char *ptth_cmd_max_handshakes_per_addr(cmd_parms *cmd, void *dc,
                                             const char *arg)
{
    (void)dc;
    return global_int(cmd, "PTTHMaxHandshakesPerAddress", arg, 1, 100000,
                      &cmd_sconf(cmd)->max_handshakes_per_addr);
}

/* A size in bytes with an optional K, M or G suffix (binary). */
static const char *global_size(cmd_parms *cmd, const char *name, const char *arg,
                               apr_off_t min, apr_off_t max, apr_off_t *dst)
{
    const char *err;
    char *end;
    apr_off_t v;

    if ((err = ap_check_cmd_context(cmd, GLOBAL_ONLY))) {
        return err;
    }
    if (apr_strtoff(&v, arg, &end, 10) != APR_SUCCESS || v < 0 || end == arg) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a size (e.g. 65536, "
                            "64K, 256M)", name, arg);
    }
    switch (apr_tolower(*end)) {
    case 'k': v *= 1024; ++end; break;
    case 'm': v *= 1024 * 1024; ++end; break;
    case 'g': v *= (apr_off_t)1024 * 1024 * 1024; ++end; break;
    default: break;
    }
    if (*end) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a size (e.g. 65536, "
                            "64K, 256M)", name, arg);
    }
    if (v < min || v > max) {
        return apr_psprintf(cmd->pool, "%s: %s is outside %" APR_OFF_T_FMT
                            "-%" APR_OFF_T_FMT " bytes", name, arg, min, max);
    }
    *dst = v;
    return NULL;
}

const char *ptth_cmd_max_resp_header(cmd_parms *cmd, void *dc, const char *arg)
{
    (void)dc;
    return global_size(cmd, "PTTHMaxResponseHeaderSize", arg, 1024,
                       16 * 1024 * 1024, &cmd_sconf(cmd)->max_resp_header);
}

const char *ptth_cmd_max_interim(cmd_parms *cmd, void *dc, const char *arg)
{
    (void)dc;
    return global_int(cmd, "PTTHMaxInterimResponses", arg, 0, 1000,
                      &cmd_sconf(cmd)->max_interim);
}

const char *ptth_cmd_hub_memory(cmd_parms *cmd, void *dc, const char *arg)
{
    ptth_router_sconf *conf = cmd_sconf(cmd);

    (void)dc;
    if (!strcmp(arg, "0") || !strcasecmp(arg, "unlimited")) {
        const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
        if (!err) {
            conf->hub_memory = 0;
        }
        return err;
    }
    return global_size(cmd, "PTTHHubMemoryLimit", arg, 16 * 1024 * 1024,
                       (apr_off_t)1024 * 1024 * 1024 * 1024, &conf->hub_memory);
}
