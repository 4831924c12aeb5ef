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

/* mod_ptth_router: the public side of reverse HTTP/2 tunnels.
 *
 * Backends dial in to PTTHListen; a hub process (ptth_hub.c) owns every
 * tunnel and is the HTTP/2 client on it; httpd children proxy user
 * requests with "ProxyPass /path ptth://POOL/" (ptth_proxy.c) over a
 * Unix-domain link to the hub.  This file holds only the module record,
 * the directive table and the hook registration. */

#include <httpd.h>
#include <http_config.h>

#define PTTH_ROUTER_MODULE_FILE
#include "ptth_router.h"
#include "ptth_router_config.h"

static const command_rec ptth_router_cmds[] = {
    AP_INIT_RAW_ARGS("PTTHListen", ptth_cmd_listen, NULL, RSRC_CONF,
        "[host:]port [plain=POOL | [cert=FILE key=FILE [chain=FILE] "
        "[client_ca=FILE]] [pools=a,b]] - accept tunnels from backends"),
    AP_INIT_TAKE1("PTTHWaitTimeout", ptth_cmd_wait_timeout, NULL, RSRC_CONF,
        "how long a request waits for a tunnel of its pool before 503"),
    AP_INIT_TAKE1("PTTHDrainTimeout", ptth_cmd_drain_timeout, NULL, RSRC_CONF,
        "how long an old hub lets streams finish after a graceful restart"),
    AP_INIT_TAKE1("PTTHPingInterval", ptth_cmd_ping_interval, NULL, RSRC_CONF,
        "idle time after which a tunnel is PINGed (0: never)"),
    AP_INIT_TAKE1("PTTHMaxWaiting", ptth_cmd_max_waiting, NULL, RSRC_CONF,
        "requests that may wait for a tunnel, per pool"),
    AP_INIT_TAKE1("PTTHMaxTunnels", ptth_cmd_max_tunnels, NULL, RSRC_CONF,
        "tunnels a pool accepts"),
    AP_INIT_TAKE1("PTTHTunnelMaxRequests", ptth_cmd_tunnel_max_requests, NULL,
        RSRC_CONF, "streams after which a tunnel is drained and closed, so "
        "that the backend re-dials (0: never)"),
    AP_INIT_TAKE1("PTTHHubSocket", ptth_cmd_hub_socket, NULL, RSRC_CONF,
        "path of the hub's Unix socket (relative to DefaultRuntimeDir)"),
    AP_INIT_TAKE1("PTTHHandshakeTimeout", ptth_cmd_handshake_timeout, NULL,
        RSRC_CONF, "time a backend has to complete TLS and the PTTH handshake"),
    AP_INIT_TAKE1("PTTHMaxHandshakes", ptth_cmd_max_handshakes, NULL, RSRC_CONF,
        "handshakes in progress at once; more connections are closed"),
    AP_INIT_TAKE1("PTTHMaxHandshakesPerAddress", ptth_cmd_max_handshakes_per_addr,
        NULL, RSRC_CONF, "handshakes in progress at once from one address "
        "(IPv6: one /64)"),
    AP_INIT_TAKE1("PTTHMaxResponseHeaderSize", ptth_cmd_max_resp_header, NULL,
        RSRC_CONF, "response header bytes one stream may send, all blocks "
        "together (1xx, final head, trailers)"),
    AP_INIT_TAKE1("PTTHMaxInterimResponses", ptth_cmd_max_interim, NULL,
        RSRC_CONF, "interim (1xx) responses one stream may send"),
    AP_INIT_TAKE1("PTTHHubMemoryLimit", ptth_cmd_hub_memory, NULL, RSRC_CONF,
        "memory the hub's buffers and HTTP/2 sessions may hold together "
        "(0: no limit)"),
    AP_INIT_RAW_ARGS("<PTTHPool", ptth_cmd_pool_section, NULL, RSRC_CONF,
        "<PTTHPool name> ... </PTTHPool>: who may serve a pool"),
    AP_INIT_TAKE1("PTTHEndpoint", ptth_cmd_endpoint, NULL, RSRC_CONF,
        "(in <PTTHPool>) request-target backends use; default /<name>"),
    AP_INIT_TAKE1("PTTHToken", ptth_cmd_token, NULL, RSRC_CONF,
        "(in <PTTHPool>) sha256:<hex> of an accepted bearer token"),
    AP_INIT_TAKE1("PTTHTokenFile", ptth_cmd_token_file, NULL, RSRC_CONF,
        "(in <PTTHPool>) file of accepted tokens, one per line"),
    AP_INIT_ITERATE("PTTHClientCertificate", ptth_cmd_client_cert, NULL,
        RSRC_CONF, "(in <PTTHPool>) required client certificate CN or DNS "
        "name, or * for any verified one"),
    AP_INIT_ITERATE("PTTHAllowHosts", ptth_cmd_allow_hosts, NULL, RSRC_CONF,
        "(in <PTTHPool>) host names the pool's backends may claim"),
    AP_INIT_TAKE1("PTTHMaxTunnelsPerBackend", ptth_cmd_max_per_backend, NULL,
        RSRC_CONF, "(in <PTTHPool>) tunnels one backend identity may hold"),
    AP_INIT_TAKE1(NULL, NULL, NULL, 0, NULL)
};

static void ptth_router_register_hooks(apr_pool_t *p)
{
    static const char *const after_proxy[] = { "mod_proxy.c", NULL };

    ap_hook_check_config(ptth_router_check_config, after_proxy, NULL,
                         APR_HOOK_MIDDLE);
    ap_hook_post_config(ptth_hub_post_config, after_proxy, NULL,
                        APR_HOOK_MIDDLE);
    ap_hook_check_config(ptth_router_audit_check_config, NULL, NULL,
                         APR_HOOK_LAST);
    ap_hook_post_config(ptth_router_audit_post_config, NULL, NULL,
                        APR_HOOK_LAST);
    ap_hook_child_init(ptth_supervisor_child_init, NULL, NULL,
                       APR_HOOK_REALLY_FIRST);
    ptth_proxy_register_hooks(p);
    ptth_status_register_hooks(p);
}

AP_DECLARE_MODULE(ptth_router) = {
    STANDARD20_MODULE_STUFF,
    NULL,                       /* create per-directory config */
    NULL,                       /* merge per-directory config */
    ptth_router_create_sconf,   /* create per-server config */
    ptth_router_merge_sconf,    /* merge per-server config */
    ptth_router_cmds,           /* directives */
    ptth_router_register_hooks,
#if defined(AP_MODULE_FLAG_ALWAYS_MERGE)
    AP_MODULE_FLAG_ALWAYS_MERGE
#endif
};
