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

#ifndef PTTH_BACKEND_H
#define PTTH_BACKEND_H

/* Private declarations shared by the files of mod_ptth_backend.
 *
 * mod_ptth_backend makes an httpd dial OUT to one or more ptth routers and
 * serve its own virtual hosts on those connections: it is the TCP client
 * but the HTTP/2 server (DESIGN.md section 3).  The files:
 *
 *   mod_ptth_backend.c      module record, hook registration, directives
 *   ptth_backend_config.c   directives, server config, startup checks
 *   ptth_seat.c             "seats": how many tunnels the whole server keeps
 *                           per endpoint, in shared memory across children
 *   ptth_dialer.c           per-child dialer threads, the tunnel state
 *                           machine, connect, backoff, stop and drain
 *   ptth_serve.c            turning a dialed socket into a conn_rec that
 *                           mod_http2 serves, the event "mini MPM" loop and
 *                           the hooks on the per-stream connections
 *   ptth_gate.c             connection filters that count the streams open
 *                           on a tunnel and hold back new ones while the
 *                           child stops
 *   ptth_secure.c           secure mode: TLS client and the PTTH handshake
 *                           before a tunnel is served
 *   ptth_tls_io.c           the connection filters that run a secure
 *                           tunnel's TLS in the thread serving it
 *   ptth_backend_status.c   the "ptth-backend-status" handler (each seat's
 *                           record, ptth_seat.h), PTTH_ROUTER/PTTH_TUNNEL
 *                           for the access log, configtest warnings
 *   ptth_backend_status_out.c  that status as HTML, JSON and metrics
 */

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>

#include "ptth_log.h"

/* mod_ptth_backend.c gets this from AP_DECLARE_MODULE(); declaring it twice
 * in one file would define aplog_module_index twice. */
#ifndef PTTH_BACKEND_MODULE_FILE
APLOG_USE_MODULE(ptth_backend);
#endif

#endif /* PTTH_BACKEND_H */
