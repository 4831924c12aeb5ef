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

/* Secure mode on the backend (DESIGN section 1, docs/protocol.md): TLS
 * client towards the router (verified, SNI, optional client certificate)
 * and the PTTH Upgrade handshake; afterwards httpd serves HTTP/2 on a
 * cleartext view of the connection. */

#include <apr_network_io.h>
#include <apr_thread_proc.h>
#include <openssl/ssl.h>

#include "ptth_util.h"

/* What PTTHConnect says about one router in secure mode. */
typedef struct ptth_secure_conf {
    SSL_CTX *tls;              /* https:// : verification on, CA, client cert */
    const char *verify_name;   /* the name the router's certificate must have */
    const char *token;         /* from token_file=, never logged */
    const char *backend_id;    /* id= */
    apr_array_header_t *hosts; /* hosts= (const char *) */
} ptth_secure_conf;

/* A relay between TLS and the socketpair end httpd reads and writes. */
typedef struct ptth_pump ptth_pump;

/* Outcome of ptth_secure_establish() besides APR_SUCCESS. */
typedef struct ptth_refusal {
    int status;                         /* HTTP status, 0: not an answer */
    apr_interval_time_t retry_after;    /* from Retry-After, or -1 */
    const char *why;                    /* for the log */
} ptth_refusal;

/* On the connected TCP socket sock: TLS (https://) and the handshake,
 * bounded by timeout.  On success *served is what httpd serves (sock for
 * http://, a socketpair end for https:// with *pump relaying).  Any other
 * result describes itself in *ref; the caller closes sock. */
apr_status_t ptth_secure_establish(const ptth_endpoint *ep,
                                   const ptth_secure_conf *sc,
                                   apr_pool_t *p, apr_socket_t *sock,
                                   apr_interval_time_t timeout,
                                   apr_socket_t **served, ptth_pump **pump,
                                   ptth_refusal *ref);

/* After httpd has closed its end: let the relay finish and join it. */
void ptth_pump_finish(ptth_pump *pump);

/* Build the TLS client context of a PTTHConnect (config time). */
const char *ptth_secure_tls_ctx(apr_pool_t *p, const char *ca_file,
                                const char *cert_file, const char *key_file,
                                SSL_CTX **pctx);

#endif /* PTTH_SECURE_H */
