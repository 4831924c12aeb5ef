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

/* Secure mode, backend side.  The dialer thread calls
 * ptth_secure_establish() on a freshly connected socket:
 *
 *   TLS      (https://) SSL_connect with the router's name checked
 *            (RFC 6125 via SSL_set1_host), SNI and ALPN "http/1.1"
 *   REQUEST  the PTTH request head (ptth_hs_build_request)
 *   ANSWER   the head of the router's answer (ptth_hs_parse_response):
 *            101 -> serve; anything else -> a refusal the dialer honours
 *            (Retry-After, else its backoff)
 *
 * httpd cannot read TLS it did not set up itself (mod_ssl would take the
 * server role), so over TLS it gets one end of a socketpair and a pump
 * thread relays between that end and the TLS connection (DESIGN section 3).
 * Over http:// it serves the TCP socket directly; the answer's head is read
 * with MSG_PEEK so that the router's HTTP/2 preface right behind it stays
 * in the socket for mod_http2. */

#include <errno.h>
#include <poll.h>
#include <unistd.h>
#include <sys/socket.h>

#include <apr_strings.h>
#include <apr_portable.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <http_main.h>

#include "ptth_backend.h"
#include "ptth_secure.h"
#include "ptth_tls.h"
#include "ptth_handshake.h"

struct ptth_pump {
    apr_thread_t *thread;
    SSL *ssl;
    int tcp;                  /* the TLS connection's socket */
    int pair;                 /* our end of the socketpair */
    char early[PTTH_HS_MAX_HEAD];
    apr_size_t early_len;     /* router bytes read with the answer */
};

const char *ptth_secure_tls_ctx(apr_pool_t *p, const char *ca_file,
                                const char *cert_file, const char *key_file,
                                SSL_CTX **pctx)
{
    static const unsigned char alpn[] = "\x08http/1.1";
    const char *err = NULL;
    SSL_CTX *ctx = ptth_tls_ctx_new(p, 0, &err);

    if (!ctx) {
        return err;
    }
    /* Verification is not optional: a backend that talks to a router it
     * cannot authenticate hands its users to whoever answers. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if ((err = ptth_tls_ctx_trust(p, ctx, ca_file))) {
        SSL_CTX_free(ctx);
        return err;
    }
    if (cert_file && (err = ptth_tls_ctx_use_cert(p, ctx, cert_file, key_file, NULL))) {
        SSL_CTX_free(ctx);
        return err;
    }
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
    *pctx = ctx;
    return NULL;
}

/* Wait for fd to become ready for events, until the deadline. */
static apr_status_t wait_fd(int fd, short events, apr_time_t deadline)
{
    for (;;) {
        struct pollfd pfd;
        apr_interval_time_t left = deadline - apr_time_now();
        int n;

        if (left <= 0) {
            return APR_TIMEUP;
        }
        pfd.fd = fd;
        pfd.events = events;
        pfd.revents = 0;
        n = poll(&pfd, 1, (int)(apr_time_as_msec(left) + 1));
        if (n > 0) {
            return APR_SUCCESS;
        }
        if (n < 0 && errno != EINTR) {
            return APR_FROM_OS_ERROR(errno);
        }
    }
}

/* SSL operation with the non-blocking socket and a deadline. */
static apr_status_t ssl_wait(SSL *ssl, int fd, int ret, apr_time_t deadline)
{
    switch (SSL_get_error(ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        return wait_fd(fd, POLLIN, deadline);
    case SSL_ERROR_WANT_WRITE:
        return wait_fd(fd, POLLOUT, deadline);
    case SSL_ERROR_ZERO_RETURN:
        return APR_EOF;
    default:
        return APR_EGENERAL;
    }
}

static apr_status_t send_all(SSL *ssl, int fd, const char *buf, apr_size_t len,
                             apr_time_t deadline)
{
    while (len) {
        apr_status_t rv;
        if (ssl) {
            int n;
            ERR_clear_error();
            n = SSL_write(ssl, buf, (int)len);
            if (n > 0) {
                buf += n;
                len -= (apr_size_t)n;
                continue;
            }
            rv = ssl_wait(ssl, fd, n, deadline);
        }
        else {
            ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
            if (n > 0) {
                buf += n;
                len -= (apr_size_t)n;
                continue;
            }
            rv = (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                 ? wait_fd(fd, POLLOUT, deadline) : APR_FROM_OS_ERROR(errno);
        }
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

/* Read the answer's head.  Over TLS whatever follows it is kept in
 * early[]; in cleartext only the head leaves the socket. */
static apr_status_t read_answer(SSL *ssl, int fd, apr_pool_t *p,
                                apr_time_t deadline, char *buf,
                                apr_size_t *len, apr_size_t *head_len,
                                ptth_hs_response *resp, const char **why)
{
    apr_status_t rv;

    *len = 0;
    for (;;) {
        if (ssl) {
            int n;
            ERR_clear_error();
            n = SSL_read(ssl, buf + *len, (int)(PTTH_HS_MAX_HEAD - *len));
            if (n <= 0) {
                if ((rv = ssl_wait(ssl, fd, n, deadline)) != APR_SUCCESS) {
                    return rv;
                }
                continue;
            }
            *len += (apr_size_t)n;
        }
        else {
            ssize_t n = recv(fd, buf, PTTH_HS_MAX_HEAD, MSG_PEEK);
            if (n == 0) {
                return APR_EOF;
            }
            if (n < 0) {
                if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                    return APR_FROM_OS_ERROR(errno);
                }
                if ((rv = wait_fd(fd, POLLIN, deadline)) != APR_SUCCESS) {
                    return rv;
                }
                continue;
            }
            if ((apr_size_t)n == *len) {
                /* Nothing new since the last look: wait for more. */
                if ((rv = wait_fd(fd, POLLIN, deadline)) != APR_SUCCESS) {
                    return rv;
                }
                apr_sleep(apr_time_from_msec(1));
                continue;
            }
            *len = (apr_size_t)n;
        }
        rv = ptth_hs_parse_response(p, buf, *len, head_len, resp, why);
        if (rv != APR_INCOMPLETE) {
            break;
        }
    }
    if (rv == APR_SUCCESS && !ssl) {
        /* Take exactly the head off the socket. */
        apr_size_t got = 0;
        while (got < *head_len) {
            ssize_t n = recv(fd, buf + got, *head_len - got, 0);
            if (n <= 0) {
                return APR_EOF;
            }
            got += (apr_size_t)n;
        }
        *len = *head_len;
    }
    return rv;
}

static apr_status_t pump_cleanup(void *data)
{
    ptth_pump *pump = data;

    if (pump->ssl) {
        SSL_free(pump->ssl);
        pump->ssl = NULL;
    }
    if (pump->pair >= 0) {
        close(pump->pair);
        pump->pair = -1;
    }
    return APR_SUCCESS;
}

/* Relay until both directions ended.  Non-blocking on both sockets; TLS
 * may need the other direction to make progress, and decrypted bytes may
 * wait inside OpenSSL where poll cannot see them (SSL_pending). */
static void *APR_THREAD_FUNC pump_main(apr_thread_t *thd, void *data)
{
    ptth_pump *pump = data;
    char down[16384], up[16384];          /* router->httpd, httpd->router */
    apr_size_t down_len = pump->early_len, down_off = 0, up_len = 0, up_off = 0;
    int tls_eof = 0, pair_eof = 0, tls_want_write = 0, failed = 0;

    memcpy(down, pump->early, pump->early_len);
    while (!failed && !(tls_eof && down_len == down_off)
           && !(pair_eof && up_len == up_off)) {
        struct pollfd pfd[2];
        int progress = 0;

        /* router -> httpd */
        if (down_off == down_len && !tls_eof) {
            int n;
            ERR_clear_error();
            n = SSL_read(pump->ssl, down, sizeof(down));
            if (n > 0) {
                down_len = (apr_size_t)n;
                down_off = 0;
                progress = 1;
            }
            else {
                int e = SSL_get_error(pump->ssl, n);
                if (e == SSL_ERROR_WANT_WRITE) {
                    tls_want_write = 1;
                }
                else if (e != SSL_ERROR_WANT_READ) {
                    tls_eof = 1;      /* close_notify, reset or TLS error */
                    shutdown(pump->pair, SHUT_WR);
                }
            }
        }
        if (down_off < down_len) {
            ssize_t n = send(pump->pair, down + down_off, down_len - down_off,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) {
                down_off += (apr_size_t)n;
                progress = 1;
            }
            else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                failed = 1;
            }
        }
        /* httpd -> router */
        if (up_off == up_len && !pair_eof) {
            ssize_t n = recv(pump->pair, up, sizeof(up), MSG_DONTWAIT);
            if (n > 0) {
                up_len = (apr_size_t)n;
                up_off = 0;
                progress = 1;
            }
            else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                pair_eof = 1;         /* httpd closed the connection */
            }
        }
        if (up_off < up_len) {
            int n;
            ERR_clear_error();
            n = SSL_write(pump->ssl, up + up_off, (int)(up_len - up_off));
            if (n > 0) {
                up_off += (apr_size_t)n;
                progress = 1;
                tls_want_write = 0;
            }
            else {
                int e = SSL_get_error(pump->ssl, n);
                if (e == SSL_ERROR_WANT_WRITE) {
                    tls_want_write = 1;
                }
                else if (e != SSL_ERROR_WANT_READ) {
                    failed = 1;
                }
            }
        }
        if (progress || (SSL_pending(pump->ssl) && down_off == down_len)) {
            continue;
        }
        pfd[0].fd = pump->tcp;
        pfd[0].events = (short)(((!tls_eof && down_off == down_len) ? POLLIN : 0)
                                | (tls_want_write ? POLLOUT : 0));
        pfd[0].revents = 0;
        pfd[1].fd = pump->pair;
        pfd[1].events = (short)(((!pair_eof && up_off == up_len) ? POLLIN : 0)
                                | (down_off < down_len ? POLLOUT : 0));
        pfd[1].revents = 0;
        if (poll(pfd, 2, 1000) < 0 && errno != EINTR) {
            failed = 1;
        }
    }
    if (!failed && !tls_eof) {
        SSL_shutdown(pump->ssl);      /* close_notify, best effort */
    }
    shutdown(pump->tcp, SHUT_RDWR);
    shutdown(pump->pair, SHUT_RDWR);
    apr_thread_exit(thd, APR_SUCCESS);
    return NULL;
}

void ptth_pump_finish(ptth_pump *pump)
{
    apr_status_t rv;

    if (pump && pump->thread) {
        /* httpd closed its end already; the pump sees EOF and ends. */
        shutdown(pump->pair, SHUT_RDWR);
        apr_thread_join(&rv, pump->thread);
        pump->thread = NULL;
    }
}

static int refusal_level(int status)
{
    /* A refused credential is an operator's problem: say it loudly.  A
     * full pool or a restarting router is ordinary. */
    return (status == 429 || status == 503) ? APLOG_INFO : APLOG_ERR;
}

apr_status_t ptth_secure_establish(const ptth_endpoint *ep,
                                   const ptth_secure_conf *sc,
                                   apr_pool_t *p, apr_socket_t *sock,
                                   apr_interval_time_t timeout,
                                   apr_socket_t **served, ptth_pump **ppump,
                                   ptth_refusal *ref)
{
    apr_time_t deadline = apr_time_now() + timeout;
    apr_os_sock_t fd;
    SSL *ssl = NULL;
    ptth_pump *pump = NULL;
    ptth_hs_response resp;
    const char *req, *why = NULL;
    char *buf;
    apr_size_t len = 0, head_len = 0;
    apr_status_t rv;
    int sv[2];

    memset(ref, 0, sizeof(*ref));
    ref->retry_after = -1;
    *ppump = NULL;
    apr_os_sock_get(&fd, sock);

    if (ep->scheme == PTTH_EP_HTTPS) {
        int n;
        pump = apr_pcalloc(p, sizeof(*pump));
        pump->pair = -1;
        pump->tcp = fd;
        apr_pool_cleanup_register(p, pump, pump_cleanup, apr_pool_cleanup_null);
        ssl = pump->ssl = SSL_new(sc->tls);
        if (!ssl || SSL_set_fd(ssl, fd) != 1
            || SSL_set_tlsext_host_name(ssl, sc->verify_name) != 1
            || SSL_set1_host(ssl, sc->verify_name) != 1) {
            ref->why = apr_pstrcat(p, "cannot set up TLS: ", ptth_tls_errors(p), NULL);
            return APR_EGENERAL;
        }
        for (;;) {
            ERR_clear_error();
            n = SSL_connect(ssl);
            if (n == 1) {
                break;
            }
            rv = ssl_wait(ssl, fd, n, deadline);
            if (rv != APR_SUCCESS) {
                long vr = SSL_get_verify_result(ssl);
                ref->why = (vr != X509_V_OK)
                    ? apr_psprintf(p, "cannot verify the router's certificate "
                                   "for %s: %s", sc->verify_name,
                                   X509_verify_cert_error_string(vr))
                    : APR_STATUS_IS_TIMEUP(rv) ? "TLS handshake timed out"
                    : apr_pstrcat(p, "TLS handshake failed: ", ptth_tls_errors(p), NULL);
                return rv == APR_SUCCESS ? APR_EGENERAL : rv;
            }
        }
    }

    req = ptth_hs_build_request(p, ep->path, ep->host, sc->token,
                                sc->backend_id, sc->hosts);
    if (!req) {
        ref->why = "PTTHConnect parameters do not fit in a handshake";
        return APR_EINVAL;
    }
    if ((rv = send_all(ssl, fd, req, strlen(req), deadline)) != APR_SUCCESS) {
        ref->why = "cannot send the handshake";
        return rv;
    }
    buf = pump ? pump->early : apr_palloc(p, PTTH_HS_MAX_HEAD);
    rv = read_answer(ssl, fd, p, deadline, buf, &len, &head_len, &resp, &why);
    if (rv != APR_SUCCESS) {
        ref->why = APR_STATUS_IS_TIMEUP(rv) ? "no answer to the handshake in time"
                 : rv == APR_EOF ? "the router closed during the handshake"
                 : apr_pstrcat(p, "not a PTTH answer: ", why ? why : "malformed", NULL);
        return rv == APR_INCOMPLETE ? APR_EGENERAL : rv;
    }
    if (resp.status != 101) {
        ref->status = resp.status;
        ref->retry_after = resp.retry_after;
        ref->why = apr_psprintf(p, "the router refused the tunnel with %d%s",
                                resp.status,
                                resp.status == 401 ? " (check token_file=)"
                                : resp.status == 403 ? " (not allowed in this pool)"
                                : resp.status == 404 ? " (no such pool endpoint)" : "");
        ap_log_error(APLOG_MARK, refusal_level(resp.status), 0, ap_server_conf,
                     PTTHLOGNO(03101) "tunnel to %s: %s", ep->url, ref->why);
        return APR_EACCES;
    }

    if (!pump) {
        *served = sock;
        return APR_SUCCESS;
    }
    /* TLS: httpd gets a socketpair end; keep what came after the head. */
    pump->early_len = len - head_len;
    memmove(pump->early, pump->early + head_len, pump->early_len);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        ref->why = "socketpair failed";
        return APR_FROM_OS_ERROR(errno);
    }
    pump->pair = sv[1];
    *served = NULL;
    if ((rv = apr_os_sock_put(served, &sv[0], p)) != APR_SUCCESS) {
        close(sv[0]);
        ref->why = "cannot wrap the socketpair";
        return rv;
    }
    apr_pool_cleanup_register(p, *served, (apr_status_t (*)(void *))apr_socket_close,
                              apr_pool_cleanup_null);
    if ((rv = apr_thread_create(&pump->thread, NULL, pump_main, pump, p)) != APR_SUCCESS) {
        ref->why = "cannot start the TLS relay";
        return rv;
    }
    *ppump = pump;
    return APR_SUCCESS;
}
