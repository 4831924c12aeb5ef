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

/* Non-blocking socket and TLS I/O, see include/ptth_io.h. */

#include <errno.h>
#include <limits.h>
#include <string.h>

#include <apr_poll.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "ptth_io.h"

/* A failed TLS call that is neither "would block" nor close_notify.  A
 * transport error is reported as such; a TCP end without close_notify
 * (SSL_ERROR_SYSCALL without errno under OpenSSL 1.1, an "unexpected
 * EOF" error from 3.0 on) is the peer's end too: over HTTP/2 a truncation
 * shows as an incomplete frame or stream (RFC 9113 section 8.1). */
static apr_status_t tls_failed(int err)
{
    if (err == SSL_ERROR_SYSCALL) {
        return errno ? APR_FROM_OS_ERROR(errno) : APR_EOF;
    }
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
    if (err == SSL_ERROR_SSL
        && ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        return APR_EOF;
    }
#endif
    return APR_EGENERAL;
}

/* OpenSSL counts in int. */
static int tls_len(apr_size_t len)
{
    return len > INT_MAX ? INT_MAX : (int)len;
}

apr_status_t ptth_io_recv(apr_socket_t *sock, SSL *ssl, char *buf,
                          apr_size_t *len, int *want_write)
{
    int n, err;

    if (want_write) {
        *want_write = 0;
    }
    if (!ssl) {
        return apr_socket_recv(sock, buf, len);
    }
    ERR_clear_error();
    errno = 0;
    n = SSL_read(ssl, buf, tls_len(*len));
    if (n > 0) {
        *len = (apr_size_t)n;
        return APR_SUCCESS;
    }
    *len = 0;
    err = SSL_get_error(ssl, n);
    switch (err) {
    case SSL_ERROR_WANT_WRITE:
        if (want_write) {
            *want_write = 1;
        }
        /* fall through */
    case SSL_ERROR_WANT_READ:
        return APR_EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return APR_EOF;
    default:
        return tls_failed(err);
    }
}

apr_status_t ptth_io_send(apr_socket_t *sock, SSL *ssl, const char *buf,
                          apr_size_t *len)
{
    int n, err;

    if (!ssl) {
        return apr_socket_send(sock, buf, len);
    }
    if (!*len) {
        return APR_SUCCESS;
    }
    ERR_clear_error();
    errno = 0;
    n = SSL_write(ssl, buf, tls_len(*len));
    if (n > 0) {
        *len = (apr_size_t)n;
        return APR_SUCCESS;
    }
    *len = 0;
    err = SSL_get_error(ssl, n);
    if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
        return APR_EAGAIN;
    }
    return tls_failed(err);
}

apr_int16_t ptth_io_wants(SSL *ssl, apr_int16_t dir)
{
    if (ssl) {
        if (SSL_want_read(ssl)) {
            return APR_POLLIN;
        }
        if (SSL_want_write(ssl)) {
            return APR_POLLOUT;
        }
    }
    return dir;
}

apr_status_t ptth_wait_socket(apr_socket_t *sock, apr_int16_t events,
                              apr_interval_time_t timeout,
                              apr_int16_t *rtnevents)
{
    apr_time_t deadline = timeout > 0 ? apr_time_now() + timeout : 0;
    apr_pollfd_t pfd;
    apr_int32_t n = 0;
    apr_status_t rv;

    memset(&pfd, 0, sizeof(pfd));
    pfd.desc_type = APR_POLL_SOCKET;
    pfd.desc.s = sock;
    pfd.reqevents = events;
    for (;;) {
        rv = apr_poll(&pfd, 1, &n, timeout);
        if (!APR_STATUS_IS_EINTR(rv)) {
            break;
        }
        if (timeout > 0) {
            /* Interrupted: wait for what is left, not longer. */
            timeout = deadline - apr_time_now();
            if (timeout <= 0) {
                rv = APR_TIMEUP;
                break;
            }
        }
    }
    if (APR_STATUS_IS_TIMEUP(rv) || (rv == APR_SUCCESS && n < 1)) {
        rv = APR_TIMEUP;
    }
    if (rtnevents) {
        *rtnevents = (rv == APR_SUCCESS) ? pfd.rtnevents : 0;
    }
    return rv;
}
