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

#ifndef PTTH_TLS_H
#define PTTH_TLS_H

/* OpenSSL pieces both modules share (common/ptth_tls.c).  The router is
 * the TLS server of a tunnel, the backend its client. */

#include <apr_pools.h>
#include <openssl/ssl.h>

/* A context with the floor every tunnel gets: TLS 1.2 or newer, no
 * renegotiation, no compression, partial writes from moving buffers (the
 * event loops retry with the same bytes from another address).  Returns
 * NULL and sets *err on failure. */
SSL_CTX *ptth_tls_ctx_new(apr_pool_t *p, int server, const char **err);

/* Load a certificate chain file (PEM: certificate first) and its key;
 * extra_chain may be NULL.  NULL on success, else an error message. */
const char *ptth_tls_ctx_use_cert(apr_pool_t *p, SSL_CTX *ctx,
                                  const char *cert_file, const char *key_file,
                                  const char *extra_chain);

/* Trust anchors for verifying the peer: a PEM file (NULL: the system's
 * default store).  NULL on success, else an error message. */
const char *ptth_tls_ctx_trust(apr_pool_t *p, SSL_CTX *ctx, const char *ca_file);

/* Drain OpenSSL's error queue of this thread into one line. */
const char *ptth_tls_errors(apr_pool_t *p);

/* The peer certificate's identities: the subject CN and the DNS names of
 * its subjectAltName, lowercase.  Empty when there is no certificate or
 * it did not verify. */
apr_array_header_t *ptth_tls_peer_ids(apr_pool_t *p, SSL *ssl);

/* SHA-256 of data into out (32 bytes). */
void ptth_sha256(const void *data, apr_size_t len, unsigned char out[32]);

#endif /* PTTH_TLS_H */
