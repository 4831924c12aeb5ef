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

/* Directives of mod_ptth_backend.
 *
 * All of them belong to the server config (global, outside <VirtualHost>).
 * Without PTTHConnect the module does nothing.
 *
 * PTTHConnect URL [key=value ...]
 *     Dial the ptth router at URL and serve this server's virtual hosts on
 *     the connection with HTTP/2 (mod_http2 must be loaded).  Repeatable,
 *     one line per router.
 *       tcp://host:port         seed-compatible plain mode: the router
 *                               speaks HTTP/2 (prior knowledge, RFC 9113
 *                               section 3.3) as soon as the connection is
 *                               up; no handshake, no TLS: trusted networks
 *                               only.
 *       http://host[:port]/path the authenticated PTTH Upgrade handshake
 *       https://host[:port]/path  (draft-kazuho-ptth-ptth), in cleartext or
 *                               over TLS verified against the router
 *                               (ptth_secure.c).
 *     Parameters, every scheme:
 *       tunnels=N        tunnels to this router, overrides PTTHTunnels
 *       address=IP:PORT  local address the tunnel pretends to have,
 *                        overrides PTTHVirtualAddress
 *     http:// and https:// also:
 *       token_file=PATH  bearer token, read from its own file
 *       id=NAME          backend identity sent in the handshake
 *       hosts=a,b        host names the backend asks to serve
 *     https:// also:
 *       ca=PATH          CA certificates to verify the router with
 *       cert=PATH key=PATH  client certificate (together)
 *       name=HOST        name to verify, default: the URL's host
 *     Paths are relative to ServerRoot.
 *
 * PTTHTunnels N                      default 2 (8 when mod_http2 serves), 1..64
 *     How many tunnels the whole server keeps to each PTTHConnect router,
 *     whatever the number of MPM children.
 *
 * PTTHVirtualAddress IP:PORT         default: the first Listen address
 *     The local address tunnel connections pretend to have arrived on.  It
 *     selects the virtual host set exactly as for a connection accepted on
 *     that address: <VirtualHost *:PORT> or <VirtualHost IP:PORT>, then
 *     ServerName/ServerAlias by the :authority of each request.  The address
 *     needs no Listen, so a <VirtualHost> just for tunnels is possible.
 *
 * PTTHReconnect MIN MAX              default 100ms 30s
 *     Jittered exponential backoff between failed dials.  It resets after
 *     a tunnel served a request or stayed up for 5 seconds; such a tunnel
 *     is re-dialed at once when the router closes it.
 *
 * PTTHConnectTimeout T               default 10s
 *     Limit for establishing the TCP connection.
 *
 * PTTHDrainTimeout T                 default 30s
 *     On graceful restart or stop, how long requests in flight on a tunnel
 *     may take before the tunnel is closed anyway.  0 closes at once.
 *
 * PTTHStreamPath auto|http2|ptth    default auto
 *     Who serves the HTTP/2 streams of the tunnels: mod_http2, or
 *     mod_ptth_backend's own session (ptth_h2s.c), which runs each stream
 *     as a request on a pooled secondary connection in a worker thread.
 *     auto: ptth, unless the configuration has `H2WebSockets on`
 *     (WebSocket through the tunnel is mod_http2's).
 *
 * PTTHMaxStreams N                   default 100, 1..1000
 *     On the ptth stream path: the streams a tunnel carries at once
 *     (SETTINGS_MAX_CONCURRENT_STREAMS).  With mod_http2, its
 *     H2MaxSessionStreams decides.
 *
 * Durations take the units of Timeout-like directives: ms, s, mi, h; a bare
 * number is seconds.
 */

#include <arpa/inet.h>

#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_tables.h>

#include <http_core.h>
#include <util_cfgtree.h>

#include "ptth_backend.h"
#include "ptth_backend_config.h"
#include "ptth_seat.h"
#include "ptth_secure.h"
#include "ptth_handshake.h"
#include "ptth_version.h"

void *ptth_backend_create_sconf(apr_pool_t *p, server_rec *s)
{
    ptth_backend_sconf *conf = apr_pcalloc(p, sizeof(*conf));

    (void)s;
    conf->connects = apr_array_make(p, 2, sizeof(ptth_connect));
    conf->tunnels = 0;                 /* unset: by stream path, below */
    conf->reconnect_min = PTTH_DEFAULT_RECONNECT_MIN;
    conf->reconnect_max = PTTH_DEFAULT_RECONNECT_MAX;
    conf->connect_timeout = PTTH_DEFAULT_CONNECT_TIMEOUT;
    conf->drain_timeout = PTTH_DEFAULT_DRAIN_TIMEOUT;
    conf->max_streams = PTTH_DEFAULT_MAX_STREAMS;
    return conf;
}

ptth_backend_sconf *ptth_backend_sconf_get(server_rec *s)
{
    return ap_get_module_config(s->module_config, &ptth_backend_module);
}

int ptth_connect_tunnels(const ptth_backend_sconf *conf, const ptth_connect *pc)
{
    return pc->tunnels > 0 ? pc->tunnels : conf->tunnels;
}

static ptth_backend_sconf *cmd_sconf(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config,
                                &ptth_backend_module);
}

/* "IP:PORT" with a numeric address: the address only feeds the virtual
 * host lookup (ap_update_vhost_given_ip), which compares addresses, so a
 * name that might resolve differently later is refused. */
static const char *parse_vaddr(cmd_parms *cmd, const char *directive,
                               const char *arg, apr_sockaddr_t **psa)
{
    const char *host = NULL, *err;
    apr_port_t port = 0;
    unsigned char buf[sizeof(struct in6_addr)];
    apr_status_t rv;

    err = ptth_parse_hostport(cmd->temp_pool, arg, &host, &port);
    if (err) {
        return apr_psprintf(cmd->pool, "%s: %s (expected IP:PORT)",
                            directive, err);
    }
    if (!host || (inet_pton(AF_INET, host, buf) != 1
                  && inet_pton(AF_INET6, host, buf) != 1)) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not an IP:PORT "
                            "(a numeric address, e.g. 127.0.0.1:8080 or "
                            "[::1]:8080)", directive, arg);
    }
    rv = apr_sockaddr_info_get(psa, host, APR_UNSPEC, port, 0, cmd->pool);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "%s: cannot use '%s' as an address",
                            directive, arg);
    }
    return NULL;
}

/* token_file=: the bearer token lives in its own file (mode 0600, owned
 * by root) so that it is neither in httpd.conf nor in any log. */
static const char *read_token(cmd_parms *cmd, const char *arg, const char **token)
{
    const char *path = ap_server_root_relative(cmd->pool, arg);
    apr_array_header_t *tokens;
    const char *err;

    if (!path) {
        return apr_psprintf(cmd->pool, "PTTHConnect: token_file=%s: cannot read it", arg);
    }
    if ((err = ptth_read_token_file(cmd->pool, cmd->temp_pool, path, &tokens))) {
        return apr_psprintf(cmd->pool, "PTTHConnect: token_file=: %s", err);
    }
    if (tokens->nelts != 1) {
        return apr_psprintf(cmd->pool, "PTTHConnect: token_file=%s holds %s", arg,
                            tokens->nelts ? "more than one token" : "no token");
    }
    *token = APR_ARRAY_IDX(tokens, 0, const char *);
    return NULL;
}

static const char *cmd_connect(cmd_parms *cmd, void *dconf,
                               int argc, char *const argv[])
{
    ptth_backend_sconf *conf = cmd_sconf(cmd);
    ptth_connect *pc;
    const char *err, *ca = NULL, *cert = NULL, *keyf = NULL;
    int i;

    (void)dconf;
    if ((err = ap_check_cmd_context(cmd, GLOBAL_ONLY))) {
        return err;
    }
    if (argc < 1) {
        return "PTTHConnect: needs a router URL, e.g. tcp://router:8887";
    }

    pc = apr_pcalloc(cmd->pool, sizeof(*pc));
    err = ptth_parse_endpoint(cmd->pool, argv[0], &pc->ep);
    if (err) {
        return apr_pstrcat(cmd->pool, "PTTHConnect: ", err, NULL);
    }
    pc->secure.verify_name = pc->ep.host;
    pc->secure.hosts = apr_array_make(cmd->pool, 2, sizeof(const char *));

    for (i = 1; i < argc; ++i) {
        char *word = apr_pstrdup(cmd->temp_pool, argv[i]), *key, *val;

        if (ptth_split_kv(word, &key, &val) != 0) {
            return apr_psprintf(cmd->pool, "PTTHConnect: '%s' is not a "
                                "key=value parameter (tunnels=N, "
                                "address=IP:PORT)", argv[i]);
        }
        if (!strcasecmp(key, "tunnels")) {
            long n;
            err = ptth_parse_int(cmd->pool, "PTTHConnect tunnels", val,
                                 1, PTTH_MAX_TUNNELS, &n);
            if (err) {
                return err;
            }
            pc->tunnels = (int)n;
        }
        else if (!strcasecmp(key, "address")) {
            err = parse_vaddr(cmd, "PTTHConnect address", val, &pc->vaddr);
            if (err) {
                return err;
            }
            pc->vaddr_arg = apr_pstrdup(cmd->pool, val);
        }
        else if (pc->ep.scheme != PTTH_EP_TCP && !strcasecmp(key, "token_file")) {
            err = read_token(cmd, val, &pc->secure.token);
            if (err) {
                return err;
            }
        }
        else if (pc->ep.scheme != PTTH_EP_TCP && !strcasecmp(key, "id")) {
            pc->secure.backend_id = apr_pstrdup(cmd->pool, val);
        }
        else if (pc->ep.scheme != PTTH_EP_TCP && !strcasecmp(key, "hosts")) {
            char *list = apr_pstrdup(cmd->pool, val), *last, *h;
            for (h = apr_strtok(list, ",", &last); h; h = apr_strtok(NULL, ",", &last)) {
                ap_str_tolower(h);
                APR_ARRAY_PUSH(pc->secure.hosts, const char *) = h;
            }
        }
        else if (pc->ep.scheme == PTTH_EP_HTTPS
                 && (!strcasecmp(key, "ca") || !strcasecmp(key, "cert")
                     || !strcasecmp(key, "key"))) {
            const char *path = ap_server_root_relative(cmd->pool, val);
            if (!path) {
                return apr_psprintf(cmd->pool, "PTTHConnect: %s=%s: bad path", key, val);
            }
            if (!strcasecmp(key, "ca")) ca = path;
            else if (!strcasecmp(key, "cert")) cert = path;
            else keyf = path;
        }
        else if (pc->ep.scheme == PTTH_EP_HTTPS && !strcasecmp(key, "name")) {
            pc->secure.verify_name = apr_pstrdup(cmd->pool, val);
        }
        else {
            return apr_psprintf(cmd->pool, "PTTHConnect: unknown parameter "
                                "'%s' (known: tunnels=N, address=IP:PORT%s)",
                                key, pc->ep.scheme == PTTH_EP_TCP ? ""
                                : pc->ep.scheme == PTTH_EP_HTTP
                                ? ", token_file=, id=, hosts="
                                : ", token_file=, id=, hosts=, ca=, cert=, key=, name=");
        }
    }
    if (!cert != !keyf) {
        return "PTTHConnect: cert= and key= go together";
    }
    if (pc->ep.scheme == PTTH_EP_HTTPS) {
        /* Built now so that configtest reports unusable files; the
         * children inherit it. */
        err = ptth_secure_tls_ctx(cmd->pool, ca, cert, keyf, &pc->secure.tls);
        if (err) {
            return apr_pstrcat(cmd->pool, "PTTHConnect: ", err, NULL);
        }
    }
    if (pc->ep.scheme != PTTH_EP_TCP
        && !ptth_hs_build_request(cmd->temp_pool, pc->ep.path, pc->ep.host,
                                  pc->secure.token, pc->secure.backend_id,
                                  pc->secure.hosts)) {
        return "PTTHConnect: the path, id=, hosts= or the token cannot be sent "
               "in a PTTH handshake (invalid characters or too long)";
    }

    for (i = 0; i < conf->connects->nelts; ++i) {
        const ptth_connect *o = &APR_ARRAY_IDX(conf->connects, i, ptth_connect);
        if (!strcasecmp(o->ep.host, pc->ep.host) && o->ep.port == pc->ep.port) {
            return apr_psprintf(cmd->pool, "PTTHConnect: %s is configured "
                                "twice (use tunnels=N for more tunnels)",
                                pc->ep.url);
        }
    }
    APR_ARRAY_PUSH(conf->connects, ptth_connect) = *pc;
    return NULL;
}

static const char *cmd_tunnels(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err;
    long n;

    (void)dconf;
    if ((err = ap_check_cmd_context(cmd, GLOBAL_ONLY))) {
        return err;
    }
    err = ptth_parse_int(cmd->pool, "PTTHTunnels", arg, 1, PTTH_MAX_TUNNELS, &n);
    if (err) {
        return err;
    }
    cmd_sconf(cmd)->tunnels = (int)n;
    return NULL;
}

static const char *cmd_vaddr(cmd_parms *cmd, void *dconf, const char *arg)
{
    ptth_backend_sconf *conf = cmd_sconf(cmd);
    const char *err;

    (void)dconf;
    if ((err = ap_check_cmd_context(cmd, GLOBAL_ONLY))) {
        return err;
    }
    err = parse_vaddr(cmd, "PTTHVirtualAddress", arg, &conf->vaddr);
    if (err) {
        return err;
    }
    conf->vaddr_arg = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

static const char *cmd_reconnect(cmd_parms *cmd, void *dconf,
                                 const char *amin, const char *amax)
{
    ptth_backend_sconf *conf = cmd_sconf(cmd);
    apr_interval_time_t tmin, tmax;
    const char *err;

    (void)dconf;
    if ((err = ap_check_cmd_context(cmd, GLOBAL_ONLY))) {
        return err;
    }
    if ((err = ptth_parse_duration(cmd->pool, "PTTHReconnect", amin, "s", &tmin))
        || (err = ptth_parse_duration(cmd->pool, "PTTHReconnect", amax, "s",
                                      &tmax))) {
        return err;
    }
    if (tmin <= 0) {
        return "PTTHReconnect: the minimum delay must be greater than 0";
    }
    if (tmax < tmin) {
        return "PTTHReconnect: the maximum delay must not be smaller than "
               "the minimum";
    }
    conf->reconnect_min = tmin;
    conf->reconnect_max = tmax;
    return NULL;
}

/* PTTHConnectTimeout and PTTHDrainTimeout: a global duration into the
 * field described by cmd->info. */
typedef struct {
    apr_size_t offset;
    int allow_zero;
} duration_slot;

static const duration_slot connect_timeout_slot = {
    APR_OFFSETOF(ptth_backend_sconf, connect_timeout), 0
};
static const duration_slot drain_timeout_slot = {
    APR_OFFSETOF(ptth_backend_sconf, drain_timeout), 1
};

static const char *cmd_duration(cmd_parms *cmd, void *dconf, const char *arg)
{
    const duration_slot *slot = cmd->info;
    const char *name = cmd->cmd->name;
    apr_interval_time_t t;
    const char *err;

    (void)dconf;
    if ((err = ap_check_cmd_context(cmd, GLOBAL_ONLY))) {
        return err;
    }
    if ((err = ptth_parse_duration(cmd->pool, name, arg, "s", &t))) {
        return err;
    }
    if (t <= 0 && !slot->allow_zero) {
        return apr_pstrcat(cmd->pool, name, ": must be greater than 0", NULL);
    }
    *(apr_interval_time_t *)((char *)cmd_sconf(cmd) + slot->offset) = t;
    return NULL;
}

static const char *cmd_stream_path(cmd_parms *cmd, void *dconf,
                                   const char *arg)
{
    const char *err;

    (void)dconf;
    if ((err = ap_check_cmd_context(cmd, GLOBAL_ONLY))) {
        return err;
    }
    if (!strcasecmp(arg, "auto")) {
        cmd_sconf(cmd)->stream_path = PTTH_STREAM_PATH_AUTO;
    }
    else if (!strcasecmp(arg, "http2")) {
        cmd_sconf(cmd)->stream_path = PTTH_STREAM_PATH_HTTP2;
    }
    else if (!strcasecmp(arg, "ptth")) {
        cmd_sconf(cmd)->stream_path = PTTH_STREAM_PATH_PTTH;
    }
    else {
        return apr_psprintf(cmd->pool, "PTTHStreamPath: '%s' is not auto, "
                            "http2 or ptth", arg);
    }
    return NULL;
}

static const char *cmd_max_streams(cmd_parms *cmd, void *dconf,
                                   const char *arg)
{
    const char *err;
    long n;

    (void)dconf;
    if ((err = ap_check_cmd_context(cmd, GLOBAL_ONLY))) {
        return err;
    }
    err = ptth_parse_int(cmd->pool, "PTTHMaxStreams", arg, 1,
                         PTTH_MAX_MAX_STREAMS, &n);
    if (err) {
        return err;
    }
    cmd_sconf(cmd)->max_streams = (int)n;
    return NULL;
}

const command_rec ptth_backend_cmds[] = {
    AP_INIT_TAKE_ARGV("PTTHConnect", cmd_connect, NULL, RSRC_CONF,
        "PTTHConnect tcp://router:port | http(s)://router[:port]/endpoint "
        "[key=value ...] - dial a ptth router and serve this server's "
        "virtual hosts on it"),
    AP_INIT_TAKE1("PTTHTunnels", cmd_tunnels, NULL, RSRC_CONF,
        "tunnels the whole server keeps to each PTTHConnect router "
        "(1-64, default 2)"),
    AP_INIT_TAKE1("PTTHVirtualAddress", cmd_vaddr, NULL, RSRC_CONF,
        "IP:PORT tunnel connections pretend to have arrived on, for virtual "
        "host selection (default: the first Listen)"),
    AP_INIT_TAKE2("PTTHReconnect", cmd_reconnect, NULL, RSRC_CONF,
        "minimum and maximum delay between failed dials "
        "(default 500ms 30s)"),
    AP_INIT_TAKE1("PTTHConnectTimeout", cmd_duration,
        (void *)&connect_timeout_slot, RSRC_CONF,
        "limit for establishing a tunnel's TCP connection (default 10s)"),
    AP_INIT_TAKE1("PTTHDrainTimeout", cmd_duration,
        (void *)&drain_timeout_slot, RSRC_CONF,
        "how long requests in flight may take on graceful restart or stop "
        "(default 30s)"),
    AP_INIT_TAKE1("PTTHStreamPath", cmd_stream_path, NULL, RSRC_CONF,
        "who serves the tunnels' HTTP/2 streams: auto (the default: ptth "
        "unless H2WebSockets is on), http2 (mod_http2) or ptth "
        "(mod_ptth_backend's own session)"),
    AP_INIT_TAKE1("PTTHMaxStreams", cmd_max_streams, NULL, RSRC_CONF,
        "streams a tunnel carries at once on the ptth stream path "
        "(1-1000, default 100)"),
    { NULL }
};

/* Whether the configuration anywhere (server, virtual hosts) turns
 * mod_http2's WebSockets on: extended CONNECT (RFC 8441) through the
 * tunnel needs mod_http2 to serve it. */
static const ap_directive_t *find_websockets_on(const ap_directive_t *d)
{
    for (; d; d = d->next) {
        const ap_directive_t *in;

        if (!strcasecmp(d->directive, "H2WebSockets") && d->args
            && !strncasecmp(d->args, "on", 2)
            && (d->args[2] == '\0' || apr_isspace(d->args[2]))) {
            return d;
        }
        if ((in = find_websockets_on(d->first_child)) != NULL) {
            return in;
        }
    }
    return NULL;
}

int ptth_backend_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp, server_rec *s)
{
    ptth_backend_sconf *conf = ptth_backend_sconf_get(s);

    (void)plog; (void)ptemp;
    conf->stream_path_eff = conf->stream_path;
    if (conf->stream_path == PTTH_STREAM_PATH_AUTO) {
        const ap_directive_t *ws = ap_find_linked_module("mod_http2.c")
                                   ? find_websockets_on(ap_conftree) : NULL;

        conf->stream_path_eff = ws ? PTTH_STREAM_PATH_HTTP2
                                   : PTTH_STREAM_PATH_PTTH;
        conf->stream_path_why = ws
            ? apr_psprintf(pconf, "PTTHStreamPath auto: mod_http2 serves the "
                           "tunnels (H2WebSockets on, %s:%d)", ws->filename,
                           ws->line_num)
            : "PTTHStreamPath auto: mod_ptth_backend serves the tunnels";
    }
    else {
        conf->stream_path_why = apr_psprintf(pconf, "PTTHStreamPath %s",
            conf->stream_path == PTTH_STREAM_PATH_PTTH ? "ptth" : "http2");
    }
    if (!conf->tunnels) {
        conf->tunnels = conf->stream_path_eff == PTTH_STREAM_PATH_HTTP2
                        ? PTTH_DEFAULT_TUNNELS_HTTP2 : PTTH_DEFAULT_TUNNELS_PTTH;
    }
    if (conf->connects->nelts == 0
        || conf->stream_path_eff == PTTH_STREAM_PATH_PTTH) {
        return OK;
    }
    /* The tunnels are served by mod_http2 (h2c prior knowledge); without
     * it the router's preface would be parsed as an HTTP/1.1 request. */
    if (!ap_find_linked_module("mod_http2.c")) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, s,
                     PTTHLOGNO(03001) "PTTHConnect needs mod_http2: add "
                     "`LoadModule http2_module modules/mod_http2.so` (or "
                     "PTTHStreamPath ptth)");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

int ptth_backend_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp, server_rec *s)
{
    ptth_backend_sconf *conf = ptth_backend_sconf_get(s);
    apr_status_t rv;
    int i, total = 0;

    (void)plog; (void)ptemp;
    conf->seats = NULL;
    if (conf->connects->nelts == 0
        || ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        /* Nothing to dial, or the first (dry) run of the config. */
        return OK;
    }

    for (i = 0; i < conf->connects->nelts; ++i) {
        ptth_connect *pc = &APR_ARRAY_IDX(conf->connects, i, ptth_connect);
        pc->seat_base = total;
        total += ptth_connect_tunnels(conf, pc);
    }

    /* A new segment per generation: see ptth_seat.h. */
    rv = ptth_seats_create(&conf->seats, total, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, PTTHLOGNO(03002)
                     "cannot create shared memory for %d tunnel seats", total);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    conf->total_seats = total;

    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, PTTHLOGNO(03004)
                 "mod_ptth_backend/" MOD_PTTH_VERSION " started: %d tunnel "
                 "seat(s) to %d router(s)", total, conf->connects->nelts);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, PTTHLOGNO(03005) "%s",
                 conf->stream_path_why);
    for (i = 0; i < conf->connects->nelts; ++i) {
        const ptth_connect *pc = &APR_ARRAY_IDX(conf->connects, i, ptth_connect);
        const char *vaddr = pc->vaddr_arg ? pc->vaddr_arg
                          : conf->vaddr_arg ? conf->vaddr_arg
                          : "the first Listen address";
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, PTTHLOGNO(03003)
                     "will keep %d tunnel(s) to %s, serving virtual hosts "
                     "of %s", ptth_connect_tunnels(conf, pc), pc->ep.url,
                     vaddr);
    }
    return OK;
}
