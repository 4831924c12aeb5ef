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
 * serve its own virtual hosts on those connections: it is the TCP (and
 * TLS) client but the HTTP/2 server, through its own session (ptth_h2s.c)
 * or mod_http2 (PTTHStreamPath).  How it works is
 * "How the backend serves a dialed connection" in docs/architecture.md;
 * the wire protocol is docs/protocol.md.  The files, in the order a
 * tunnel meets them:
 *
 *   mod_ptth_backend.c      module record, hook registration and its order
 *                           against mod_http2
 *   ptth_backend_config.c   directives, server config, check_config and
 *                           post_config (the generation's seats)
 *   ptth_seat.c             seats: how many tunnels the whole server keeps
 *                           per endpoint, in shared memory across children
 *   ptth_dialer.c           per MPM child: the dialer threads, claiming
 *                           seats, the dial loop, stop and drain
 *   ptth_dial.c             one dial: connect, secure mode, wait for the
 *                           router's first bytes, serve, the next delay
 *   ptth_dialed.c           the dialed connection (ptth_dialed, the
 *                           router's ptth_tunnel seen from here): its state
 *                           machine, the stop as it sees it, an
 *                           interruptible wait, the count of open streams
 *   ptth_secure.c           secure mode while dialing: TLS client and the
 *                           PTTH handshake (common/ptth_hs_*.c)
 *   ptth_serve.c            the dialed connection as a conn_rec that
 *                           mod_http2 serves: virtual host, hooks, the
 *                           event "mini MPM" loop, per-stream connections
 *   ptth_tls_io.c           a secure tunnel's TLS, run by connection
 *                           filters in the thread that serves it
 *   ptth_gate.c             connection filters that count the streams open
 *                           on a tunnel and hold new ones back while the
 *                           child stops
 *   ptth_h2walk.c           the HTTP/2 frame walker of the gate
 *   ptth_backend_status.c   the "ptth-backend-status" handler (each seat's
 *                           record, ptth_seat.h), PTTH_ROUTER/PTTH_TUNNEL
 *                           for the access log, configtest warnings
 *   ptth_backend_status_out.c  that status as HTML, JSON and metrics
 *   ptth_h2s.c              PTTHStreamPath ptth: our own HTTP/2 server
 *                           session on the dialed connection instead of
 *                           mod_http2 (docs/architecture.md, "The ptth
 *                           stream path"): buffers, streams, sending, the
 *                           tunnel's thread
 *   ptth_h2s_frames.c       ... nghttp2's callbacks (what the router sends)
 *   ptth_h2s_stream.c       ... what the stream workers call
 *                           (ptth_h2s_priv.h: what the three share)
 *   ptth_c2.c               ... a stream as a request on a secondary
 *                           connection, and that connection's filters
 *   ptth_workers.c          ... the child's stream workers
 *
 * Includes go one way: ptth_dialer.h (private to ptth_dialer.c and
 * ptth_dial.c) includes ptth_dialed.h; serving (ptth_serve.h, ptth_gate.h,
 * ptth_tls_io.h) never includes ptth_dialer.h.
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
