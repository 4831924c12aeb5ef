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

#ifndef PTTH_SERVE_H
#define PTTH_SERVE_H

/* Serving a dialed connection through httpd itself: the connection gets a
 * conn_rec like an accepted one, pretends to have arrived on the virtual
 * address so the usual virtual host lookup applies, and goes through the
 * pre_connection hooks.  Then either our own HTTP/2 session serves it
 * (ptth_h2s.h, the ptth stream path) or the process_connection hooks
 * run, where mod_http2 finds the router's preface and serves HTTP/2
 * (prior knowledge, RFC 9113 section 3.3).  Every stream runs through the
 * normal request pipeline on a worker thread: name-based virtual hosts by
 * :authority, access control, handlers, filters, logs. */

#include "ptth_dialed.h"
#include "ptth_secure.h"

/**
 * Serve one dialed connection until it ends.  Runs in the thread that
 * dialed it (ptth_dialer.c).
 * @param d       the dialed connection
 * @param ptrans  pool for this connection (destroyed by the caller)
 * @param sock    the connected socket, with the router's first bytes ready
 * @param tls     secure mode over TLS: the session (ptth_tls_io.h), or NULL
 * @param id      conn_rec id, outside the MPM's range
 * @param vaddr   the virtual local address, NULL to keep the real one
 * @param why     set to the reason the connection ended, for the log
 */
apr_status_t ptth_serve(ptth_dialed *d, apr_pool_t *ptrans, apr_socket_t *sock,
                        ptth_tls_conn *tls, long id, apr_sockaddr_t *vaddr,
                        const char **why);

/** pre_connection: per-stream connections of a tunnel use the real
 * virtual host again (see ptth_serve.c). */
int ptth_serve_pre_connection(conn_rec *c, void *csd);

/** post_read_request: requests on a tunnel use the real virtual host. */
int ptth_serve_post_read_request(request_rec *r);

/** The dialed connection a per-stream connection belongs to, or NULL. */
ptth_dialed *ptth_serve_dialed_of(conn_rec *c);

#endif /* PTTH_SERVE_H */
