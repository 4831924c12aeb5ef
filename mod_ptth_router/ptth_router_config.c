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

#include <apr_strings.h>
#include <apr_hash.h>

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <mod_proxy.h>

#include "ptth_util.h"
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

int ptth_router_pool_known(server_rec *s, const char *pool)
{
    ptth_router_sconf *conf = ptth_router_sconf_get(s);
    int i;

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
        else {
            return apr_psprintf(cmd->pool, "PTTHListen: unknown parameter '%s'", key);
        }
    }
    if (!l->plain_pool) {
        return "PTTHListen: this build accepts tunnels in plain mode only "
               "(seed protocol, trusted networks): add plain=POOL";
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

const char *ptth_cmd_max_tunnels(cmd_parms *cmd, void *dc, const char *arg)
{
    (void)dc;
    return global_int(cmd, "PTTHMaxTunnels", arg, 1, 100000,
                      &cmd_sconf(cmd)->max_tunnels);
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
                         "ProxyPass/BalancerMember ptth://%s/: no PTTHListen "
                         "serves pool '%s' (add plain=%s to a PTTHListen)",
                         bad, bad, bad);
            return !OK;
        }
    }
    return OK;
}
