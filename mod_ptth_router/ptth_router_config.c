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

/* Server configuration of mod_ptth_router and its global directives;
 * the pools' sections and the configtest checks are in ptth_pool_config.c. */

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

/* ---- directive handlers -------------------------------------------- */

static ptth_router_sconf *cmd_sconf(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config, &ptth_router_module);
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
            if (!ptth_pool_name_valid(val)) {
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
                if (!ptth_pool_name_valid(name)) {
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

/* Global, or inside <PTTHPool> for that pool. */
const char *ptth_cmd_max_tunnels(cmd_parms *cmd, void *dc, const char *arg)
{
    ptth_pool_conf *pool = cmd_sconf(cmd)->section;

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
