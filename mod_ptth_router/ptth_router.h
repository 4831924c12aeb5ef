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

#ifndef PTTH_ROUTER_H
#define PTTH_ROUTER_H

/* Declarations shared by the files of mod_ptth_router: the module, its
 * configuration, and the entry points mod_ptth_router.c registers.  The
 * files and what each holds: docs/architecture.md, "The files"; the hub's
 * objects have their own headers (ptth_hub.h lists them). */

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>

#include "ptth_log.h"

/* mod_ptth_router.c declares the module (AP_DECLARE_MODULE), which
 * already does what APLOG_USE_MODULE does for every other file. */
#ifndef PTTH_ROUTER_MODULE_FILE
APLOG_USE_MODULE(ptth_router);
#endif
extern module AP_MODULE_DECLARE_DATA ptth_router_module;

#define PTTH_SCHEME "ptth"

/* One PTTHListen line. */
typedef struct ptth_router_listener {
    const char *addr;        /* as written, for logs */
    const char *host;        /* NULL: all addresses */
    apr_port_t port;
    const char *plain_pool;  /* plain= : seed protocol, every tunnel joins it */
    /* Secure mode (no plain=): the PTTH handshake, over TLS when cert= */
    const char *cert_file;   /* cert= : certificate (and chain), PEM */
    const char *key_file;    /* key= */
    const char *chain_file;  /* chain= : extra chain certificates */
    const char *client_ca;   /* client_ca= : verify client certificates */
    apr_array_header_t *pools; /* pools= : the declared pools a backend may
                                * join here (const char *); NULL: all */
} ptth_router_listener;

/* A <PTTHPool name> section: who may serve the pool, and how many. */
typedef struct ptth_pool_conf {
    const char *name;
    const char *endpoint;             /* PTTHEndpoint, default "/<name>" */
    apr_array_header_t *token_hashes; /* of unsigned char[32] (SHA-256) */
    apr_array_header_t *client_ids;   /* PTTHClientCertificate: CN/DNS names,
                                       * "*" = any verified certificate */
    apr_array_header_t *allow_hosts;  /* PTTHAllowHosts: names, "*.domain" */
    int max_tunnels;                  /* PTTHMaxTunnels inside, -1: global */
    int max_per_backend;              /* PTTHMaxTunnelsPerBackend, -1: none */
    const char *defined_at;           /* file:line, for messages */
} ptth_pool_conf;

typedef struct ptth_router_sconf {
    /* Global settings: only meaningful on the main server. */
    apr_array_header_t *listeners;      /* of ptth_router_listener */
    const char *hub_socket;             /* PTTHHubSocket, NULL = default */
    apr_interval_time_t drain_timeout;  /* PTTHDrainTimeout */
    int max_waiting;                    /* PTTHMaxWaiting, per pool */
    apr_interval_time_t ping_interval;  /* PTTHPingInterval, 0 = off */
    int max_tunnels;                    /* PTTHMaxTunnels, per pool */
    apr_array_header_t *pools;          /* of ptth_pool_conf * */
    apr_interval_time_t handshake_timeout; /* PTTHHandshakeTimeout */
    int max_handshakes;                 /* PTTHMaxHandshakes */
    int tunnel_max_requests;            /* PTTHTunnelMaxRequests, 0 = never */
    int max_handshakes_per_addr;        /* PTTHMaxHandshakesPerAddress */
    apr_off_t max_resp_header;          /* PTTHMaxResponseHeaderSize */
    int max_interim;                    /* PTTHMaxInterimResponses */
    apr_off_t hub_memory;               /* PTTHHubMemoryLimit, 0 = none */
    ptth_pool_conf *section;          /* while reading a <PTTHPool> */

    /* Per virtual host, merged. */
    apr_interval_time_t wait_timeout;   /* PTTHWaitTimeout */
    int wait_timeout_set;
} ptth_router_sconf;

#define PTTH_DEFAULT_WAIT_TIMEOUT   apr_time_from_sec(5)
#define PTTH_DEFAULT_DRAIN_TIMEOUT  apr_time_from_sec(30)
#define PTTH_DEFAULT_MAX_WAITING    1024
#define PTTH_DEFAULT_PING_INTERVAL  apr_time_from_sec(30)
#define PTTH_DEFAULT_MAX_TUNNELS    64
#define PTTH_DEFAULT_HANDSHAKE_TIMEOUT apr_time_from_sec(10)
#define PTTH_DEFAULT_MAX_HANDSHAKES 256
#define PTTH_DEFAULT_MAX_HANDSHAKES_PER_ADDR 16
/* Response header fields one stream may send, all blocks together
 * (RFC 9113 6.5.2 counting): room for any real response head. */
#define PTTH_DEFAULT_MAX_RESP_HEADER (64 * 1024)
/* Interim responses per stream, as mod_proxy_http allows. */
#define PTTH_DEFAULT_MAX_INTERIM    10
/* What the hub's buffers and HTTP/2 sessions may hold together. */
#define PTTH_DEFAULT_HUB_MEMORY     ((apr_off_t)256 * 1024 * 1024)
/* mod_http2 keeps ~65 bytes per stream for a session's life
 * (docs/architecture.md, "Tunnel recycling"): retire a tunnel after this
 * many and let the backend re-dial. */
#define PTTH_DEFAULT_TUNNEL_MAX_REQUESTS 100000

ptth_router_sconf *ptth_router_sconf_get(server_rec *s);

/* Path of the current generation's hub link socket.  Valid in the parent
 * after post_config and in every child (inherited at fork). */
const char *ptth_router_link_path(void);

/* 1 when `pool` is served by this configuration (a plain listener or a
 * declared pool names it). */
int ptth_router_pool_known(server_rec *s, const char *pool);

/* The declared pool of that name, or NULL. */
ptth_pool_conf *ptth_router_pool_find(ptth_router_sconf *conf, const char *name);

/* ptth_proxy.c: the ptth:// scheme and canon handlers (children). */
void ptth_proxy_register_hooks(apr_pool_t *p);

/* ptth_router_audit.c: warnings for risky configurations. */
int ptth_router_audit_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                                   apr_pool_t *ptemp, server_rec *s);
int ptth_router_audit_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                                  apr_pool_t *ptemp, server_rec *s);

/* ptth_status.c: the "ptth-status" handler. */
void ptth_status_register_hooks(apr_pool_t *p);

/* ptth_supervisor.c: fork and supervise the hub (parent), see
 * docs/architecture.md. */
int ptth_hub_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                         apr_pool_t *ptemp, server_rec *s);
/* In httpd children: close the hub's inherited sockets. */
void ptth_supervisor_child_init(apr_pool_t *pchild, server_rec *s);

#endif /* PTTH_ROUTER_H */
