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

#ifndef PTTH_BACKEND_CONFIG_H
#define PTTH_BACKEND_CONFIG_H

/* Configuration of mod_ptth_backend.  Every directive is global (server
 * config outside <VirtualHost>): the tunnels belong to the whole server, and
 * the virtual hosts they serve are selected per request as usual. */

#include <apr_network_io.h>

#include "ptth_util.h"
#include "ptth_secure.h"

/* The default PTTHTunnels depends on who serves the streams (measured with
 * bench/compare.pl, docs/mod_ptth_backend.md "PTTHTunnels"):
 *   - the module's own HTTP/2 session: 2.  CPU per request falls with
 *     fewer tunnels, in the backend and in the router's hub alike (more
 *     frames per read and write); 2 rather than 1 so that a request has a
 *     tunnel while the other one is re-dialed;
 *   - mod_http2: 8.  It keeps at most 3 spare per-stream "transits" a
 *     connection and destroys the others (their allocators unmapped) when
 *     more streams end together; with 8 tunnels few streams share one,
 *     for about 2x the requests/s and half the backend CPU of 2. */
#define PTTH_DEFAULT_TUNNELS_PTTH     2
#define PTTH_DEFAULT_TUNNELS_HTTP2    8
#define PTTH_MAX_TUNNELS              64
#define PTTH_DEFAULT_RECONNECT_MIN    apr_time_from_msec(100)
#define PTTH_DEFAULT_RECONNECT_MAX    apr_time_from_sec(30)
#define PTTH_DEFAULT_CONNECT_TIMEOUT  apr_time_from_sec(10)
#define PTTH_DEFAULT_DRAIN_TIMEOUT    apr_time_from_sec(30)

#define PTTH_DEFAULT_MAX_STREAMS      100
#define PTTH_MAX_MAX_STREAMS          1000

/** PTTHStreamPath: who serves the HTTP/2 streams of a tunnel. */
typedef enum {
    PTTH_STREAM_PATH_AUTO = 0,    /* ptth, or http2 with H2WebSockets on */
    PTTH_STREAM_PATH_HTTP2,       /* mod_http2 */
    PTTH_STREAM_PATH_PTTH         /* our own session (ptth_h2s.h) */
} ptth_stream_path;

/**
 * One PTTHConnect line: a router endpoint and how many tunnels the whole
 * server keeps to it.  Lives in pconf; children inherit it at fork.
 */
typedef struct ptth_connect {
    ptth_endpoint ep;          /* parsed URL */
    ptth_secure_conf secure;   /* http://, https://: handshake, TLS */
    int tunnels;               /* tunnels=N, 0 = PTTHTunnels */
    const char *vaddr_arg;     /* address= as written, NULL = global */
    apr_sockaddr_t *vaddr;     /* address= parsed, NULL = global */
    int seat_base;             /* first seat of this endpoint (post_config) */
} ptth_connect;

/**
 * The server config.  Only the main server's instance is used.
 */
typedef struct ptth_backend_sconf {
    apr_array_header_t *connects;        /* of ptth_connect */
    int tunnels;                         /* PTTHTunnels */
    const char *vaddr_arg;               /* PTTHVirtualAddress as written */
    apr_sockaddr_t *vaddr;               /* ... parsed, NULL = first Listen */
    apr_interval_time_t reconnect_min;   /* PTTHReconnect */
    apr_interval_time_t reconnect_max;
    apr_interval_time_t connect_timeout; /* PTTHConnectTimeout */
    apr_interval_time_t drain_timeout;   /* PTTHDrainTimeout */
    ptth_stream_path stream_path;        /* PTTHStreamPath as written */
    ptth_stream_path stream_path_eff;    /* ... what it means here: HTTP2
                                          * or PTTH (check_config) */
    const char *stream_path_why;         /* ... said at startup */
    int max_streams;                     /* PTTHMaxStreams */

    /* Set in post_config (parent), inherited by the children. */
    struct ptth_seats *seats;            /* NULL: module inactive */
    int total_seats;
} ptth_backend_sconf;

extern const command_rec ptth_backend_cmds[];

void *ptth_backend_create_sconf(apr_pool_t *p, server_rec *s);

ptth_backend_sconf *ptth_backend_sconf_get(server_rec *s);

/** The number of tunnels kept to one endpoint (tunnels= or PTTHTunnels). */
int ptth_connect_tunnels(const ptth_backend_sconf *conf,
                         const ptth_connect *pc);

/** check_config: decides the stream path (PTTHStreamPath auto: ptth,
 * unless the configuration turns mod_http2's WebSockets on), and refuses
 * to start (and `apache2 -t` fails) without mod_http2 when PTTHConnect
 * is used with the http2 path. */
int ptth_backend_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp, server_rec *s);

/** post_config: creates this generation's seats (parent, real run only). */
int ptth_backend_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp, server_rec *s);

#endif /* PTTH_BACKEND_CONFIG_H */
