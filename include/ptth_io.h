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

#ifndef PTTH_IO_H
#define PTTH_IO_H

/* Non-blocking I/O on a socket, in cleartext or through an OpenSSL session
 * that reads and writes the socket itself (common/ptth_io.c), for both
 * modules: the hub's tunnels and handshakes (mod_ptth_router), the
 * backend's handshake (ptth_secure.c).
 *
 * Both calls speak the socket's conventions whatever the transport:
 * APR_SUCCESS with *len bytes moved, APR_EAGAIN when nothing can move now,
 * APR_EOF at the peer's end, anything else an error.  The backend's
 * served TLS session is not done here: its BIOs read from and write to
 * httpd's filters, not the socket (ptth_tls_io.c). */

#include <apr_network_io.h>
#include <apr_poll.h>
#include <openssl/ssl.h>

/**
 * Receive up to *len bytes into buf from sock, or through ssl when not
 * NULL.  On return *len holds the bytes received (0 unless APR_SUCCESS).
 * TLS: the end of the session (close_notify, or the TCP connection closed
 * without one) is APR_EOF.  *want_write (may be NULL) is set when TLS needs
 * the socket writable before it can read on (a record to send first); the
 * caller then waits for APR_POLLOUT as well.
 */
apr_status_t ptth_io_recv(apr_socket_t *sock, SSL *ssl, char *buf,
                          apr_size_t *len, int *want_write);

/**
 * Send up to *len bytes of buf on sock, or through ssl when not NULL.  On
 * return *len holds the bytes taken (0 unless APR_SUCCESS).  TLS: retry an
 * APR_EAGAIN with the same bytes (the context allows a moving buffer,
 * ptth_tls.h); ptth_io_wants() tells what to wait for.
 */
apr_status_t ptth_io_send(apr_socket_t *sock, SSL *ssl, const char *buf,
                          apr_size_t *len);

/**
 * After APR_EAGAIN from a ptth_io_* call or from an SSL handshake step:
 * the events to wait for before trying again.  `dir` is the operation's
 * own direction (APR_POLLIN to read, APR_POLLOUT to write); TLS may need
 * the other one first (e.g. a write that waits for the peer's record).
 */
apr_int16_t ptth_io_wants(SSL *ssl, apr_int16_t dir);

/**
 * Wait until sock has one of `events` (APR_POLLIN, APR_POLLOUT), or
 * timeout (-1: none) passed.  A signal does not end the wait early.
 * *rtnevents (may be NULL) gets what happened (APR_POLLHUP and
 * APR_POLLERR count as ready).
 * @return APR_SUCCESS, APR_TIMEUP or a poll error
 */
apr_status_t ptth_wait_socket(apr_socket_t *sock, apr_int16_t events,
                              apr_interval_time_t timeout,
                              apr_int16_t *rtnevents);

#endif /* PTTH_IO_H */
