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

#ifndef PTTH_SECURE_H
#define PTTH_SECURE_H

/* Secure mode on the backend (docs/protocol.md section 2): TLS
 * client towards the router (verified, SNI, optional client certificate)
 * and the PTTH Upgrade handshake; afterwards httpd serves HTTP/2 on the
 * same connection, with the TLS session moved into a pair of connection
 * filters (ptth_tls_io.h) in the thread that serves it. */

#include <apr_network_io.h>
#include <openssl/ssl.h>

#include "ptth_util.h"
#include "ptth_handshake.h"

/* What PTTHConnect says about one router in secure mode. */
typedef struct ptth_secure_conf {
    SSL_CTX *tls;              /* https:// : verification on, CA, client cert */
    const char *verify_name;   /* the name the router's certificate must have */
    const char *token;         /* from token_file=, never logged */
    const char *backend_id;    /* id= */
    apr_array_header_t *hosts; /* hosts= (const char *) */
} ptth_secure_conf;

/* A TLS session that passed the PTTH handshake and waits to be served.
 * Until ptth_tls_io_add() takes it over, OpenSSL reads and writes the TCP
 * socket itself. */
typedef struct ptth_tls_conn {
    SSL *ssl;                           /* freed with the pool it came in */
    apr_socket_t *sock;                 /* the TCP connection it runs on */
    char early[PTTH_HS_MAX_HEAD];       /* cleartext the router sent after */
    apr_size_t early_len;               /* the answer's head: its preface */
} ptth_tls_conn;

/* Outcome of ptth_secure_establish() besides APR_SUCCESS. */
typedef struct ptth_refusal {
    int status;                         /* HTTP status, 0: not an answer */
    apr_interval_time_t retry_after;    /* from Retry-After, or -1 */
    const char *why;                    /* for the log */
} ptth_refusal;

/* On the connected TCP socket sock: TLS (https://) and the handshake,
 * bounded by timeout.  On success httpd serves sock; for https:// *tls is
 * the session to serve it through (NULL for http://).  Any other result
 * describes itself in *ref; the caller closes sock. */
apr_status_t ptth_secure_establish(const ptth_endpoint *ep,
                                   const ptth_secure_conf *sc,
                                   apr_pool_t *p, apr_socket_t *sock,
                                   apr_interval_time_t timeout,
                                   ptth_tls_conn **tls, ptth_refusal *ref);

/* Before serving: whether the router's first cleartext bytes are there.
 * Reads what the socket has without blocking.  APR_SUCCESS: there are;
 * APR_EAGAIN: not yet (wait for the socket); APR_EOF: the router closed;
 * else a TLS or socket error. */
apr_status_t ptth_secure_first_bytes(ptth_tls_conn *tls);

/* Build the TLS client context of a PTTHConnect (config time); it is
 * freed with p (SSL objects made from it hold a reference of their own). */
const char *ptth_secure_tls_ctx(apr_pool_t *p, const char *ca_file,
                                const char *cert_file, const char *key_file,
                                SSL_CTX **pctx);

#endif /* PTTH_SECURE_H */
