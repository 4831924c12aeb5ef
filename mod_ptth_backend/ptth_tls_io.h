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

#ifndef PTTH_TLS_IO_H
#define PTTH_TLS_IO_H

/* TLS on a served secure tunnel: a pair of connection filters right above
 * httpd's core network filters (AP_FTYPE_CONNECTION + 5) that run the
 * backend's TLS client session over BIOs reading from and writing to the
 * next filters.  Everything above them (the gate, mod_http2) sees the
 * cleartext HTTP/2 stream, as on a plain tunnel: the connection is h2c to
 * mod_http2, ap_ssl_conn_is_ssl() stays false (the TLS is the tunnel's,
 * not the users' connection), and the filters run in the thread that
 * serves the tunnel, where mod_http2 reads and writes it.
 *
 * The output filter encrypts all it is given in records of up to 16 KiB
 * and passes the records on at once: it never holds data, so the core
 * output filter's buffering, its blocking writes bounded by the socket
 * timeout (the virtual host's Timeout) and c->data_in_output_filters work
 * as on a plain tunnel.  The input filter may hold cleartext that the
 * reader above did not ask for yet, and OpenSSL may hold decrypted bytes
 * of a record (SSL_pending): neither is visible to a poll on the socket,
 * hence ptth_tls_io_input_pending(). */

#include <httpd.h>

#include "ptth_secure.h"

typedef struct ptth_tls_io ptth_tls_io;

/** Register the filters and create the BIO methods (register_hooks;
 * freed with p). */
void ptth_tls_io_register(apr_pool_t *p);

/**
 * Put the TLS filters on the tunnel connection c (after pre_connection,
 * when the core filters are there) and move tls's session onto them.  The
 * router's early bytes (tls->early) are the first input they deliver.
 * The SSL object stays tls's (freed with its pool, c->pool or a parent).
 */
ptth_tls_io *ptth_tls_io_add(conn_rec *c, ptth_tls_conn *tls);

/** Whether cleartext input waits above the socket (in the filter or in
 * OpenSSL), so that a poll on the socket must not be the next step. */
int ptth_tls_io_input_pending(ptth_tls_io *io);

/** Whether the router ended the TLS session (close_notify or TCP EOF). */
int ptth_tls_io_peer_closed(ptth_tls_io *io);

#endif /* PTTH_TLS_IO_H */
