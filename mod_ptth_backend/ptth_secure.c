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

/* Secure mode, backend side (docs/protocol.md section 2, "The handshake"
 * in docs/architecture.md).  The dialer thread calls
 * ptth_secure_establish() on a freshly connected socket:
 *
 *   TLS      (https://) SSL_connect with the router's name checked
 *            (RFC 6125 via SSL_set1_host), SNI and ALPN "http/1.1"
 *   REQUEST  the PTTH request head (ptth_hs_build_request)
 *   ANSWER   the head of the router's answer (ptth_hs_parse_response):
 *            101 -> serve; anything else -> a refusal the dialer honours
 *            (Retry-After, else its backoff)
 *
 * Over TLS the session then moves into the connection filters of
 * ptth_tls_io.c, which httpd runs in the thread that serves the tunnel;
 * the cleartext that came with the answer (the router's HTTP/2 preface)
 * is the first input they deliver.  Over http:// httpd serves the TCP
 * socket directly; the answer's head is read with MSG_PEEK so that the
 * router's preface right behind it stays in the socket for mod_http2. */

#include <errno.h>
#include <sys/socket.h>

#include <apr_strings.h>
#include <apr_portable.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <http_main.h>

#include "ptth_backend.h"
#include "ptth_io.h"
#include "ptth_secure.h"
#include "ptth_tls.h"
#include "ptth_handshake.h"

static apr_status_t tls_ctx_cleanup(void *data)
{
    SSL_CTX_free(data);
    return APR_SUCCESS;
}

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
    /* Once per configuration read (twice at start, then per restart):
     * freed with the generation's pconf, not kept for the process. */
    apr_pool_cleanup_register(p, ctx, tls_ctx_cleanup, apr_pool_cleanup_null);
    *pctx = ctx;
    return NULL;
}

/* Wait until the handshake can go on, or the deadline.  dir is what the
 * step does (APR_POLLIN: read, APR_POLLOUT: write); TLS may need the
 * other direction first (ptth_io_wants). */
static apr_status_t wait_until(apr_socket_t *sock, SSL *ssl, apr_int16_t dir,
                               apr_time_t deadline)
{
    apr_interval_time_t left = deadline - apr_time_now();

    if (left <= 0) {
        return APR_TIMEUP;
    }
    return ptth_wait_socket(sock, ptth_io_wants(ssl, dir), left, NULL);
}

static apr_status_t send_all(apr_socket_t *sock, SSL *ssl, const char *buf,
                             apr_size_t len, apr_time_t deadline)
{
    while (len) {
        apr_size_t n = len;
        apr_status_t rv = ptth_io_send(sock, ssl, buf, &n);

        if (rv == APR_SUCCESS) {
            buf += n;
            len -= n;
            continue;
        }
        if (!APR_STATUS_IS_EAGAIN(rv)) {
            return rv;
        }
        if ((rv = wait_until(sock, ssl, APR_POLLOUT, deadline))
            != APR_SUCCESS) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

/* Read the answer's head.  Over TLS whatever follows it is kept in
 * early[]; in cleartext only the head leaves the socket: the answer is
 * peeked at (APR has no MSG_PEEK) until its head is complete, then
 * exactly the head is read. */
static apr_status_t read_answer(apr_socket_t *sock, SSL *ssl, apr_pool_t *p,
                                apr_time_t deadline, char *buf,
                                apr_size_t *len, apr_size_t *head_len,
                                ptth_hs_response *resp, const char **why)
{
    apr_os_sock_t fd;
    apr_status_t rv;

    apr_os_sock_get(&fd, sock);
    *len = 0;
    for (;;) {
        if (ssl) {
            apr_size_t n = PTTH_HS_MAX_HEAD - *len;

            rv = ptth_io_recv(sock, ssl, buf + *len, &n, NULL);
            if (APR_STATUS_IS_EAGAIN(rv)) {
                if ((rv = wait_until(sock, ssl, APR_POLLIN, deadline))
                    != APR_SUCCESS) {
                    return rv;
                }
                continue;
            }
            if (rv != APR_SUCCESS) {
                return rv;
            }
            *len += n;
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
                if ((rv = wait_until(sock, NULL, APR_POLLIN, deadline))
                    != APR_SUCCESS) {
                    return rv;
                }
                continue;
            }
            if ((apr_size_t)n == *len) {
                /* Nothing new since the last look: wait for more. */
                if ((rv = wait_until(sock, NULL, APR_POLLIN, deadline))
                    != APR_SUCCESS) {
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
        /* Take exactly the head off the socket (it is there: peeked). */
        apr_size_t got = 0;
        while (got < *head_len) {
            apr_size_t n = *head_len - got;
            if (apr_socket_recv(sock, buf + got, &n) != APR_SUCCESS || !n) {
                return APR_EOF;
            }
            got += n;
        }
        *len = *head_len;
    }
    return rv;
}

static apr_status_t tls_cleanup(void *data)
{
    ptth_tls_conn *tls = data;

    /* Also frees the BIOs; the filters' ones only point into c->pool
     * (ptth_tls_io.c detaches them first). */
    if (tls->ssl) {
        SSL_free(tls->ssl);
        tls->ssl = NULL;
    }
    return APR_SUCCESS;
}

apr_status_t ptth_secure_first_bytes(ptth_tls_conn *tls)
{
    apr_size_t n = sizeof(tls->early);
    apr_status_t rv;

    if (tls->early_len > 0 || SSL_pending(tls->ssl) > 0) {
        return APR_SUCCESS;
    }
    /* Records without application data (TLS 1.3 session tickets) may come
     * first: SSL_read processes them and reads on while the socket has
     * more, and says "would block" when it has not. */
    rv = ptth_io_recv(tls->sock, tls->ssl, tls->early, &n, NULL);
    if (rv == APR_SUCCESS) {
        tls->early_len = n;
    }
    return rv;
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
                                   ptth_tls_conn **ptls, ptth_refusal *ref)
{
    apr_time_t deadline = apr_time_now() + timeout;
    apr_os_sock_t fd;
    SSL *ssl = NULL;
    ptth_tls_conn *tls = NULL;
    ptth_hs_response resp;
    const char *req, *why = NULL;
    char *buf;
    apr_size_t len = 0, head_len = 0;
    apr_status_t rv;

    memset(ref, 0, sizeof(*ref));
    ref->retry_after = -1;
    *ptls = NULL;
    apr_os_sock_get(&fd, sock);

    if (ep->scheme == PTTH_EP_HTTPS) {
        tls = apr_pcalloc(p, sizeof(*tls));
        apr_pool_cleanup_register(p, tls, tls_cleanup, apr_pool_cleanup_null);
        tls->sock = sock;
        ssl = tls->ssl = SSL_new(sc->tls);
        if (!ssl || SSL_set_fd(ssl, fd) != 1
            || SSL_set_tlsext_host_name(ssl, sc->verify_name) != 1
            || SSL_set1_host(ssl, sc->verify_name) != 1) {
            ref->why = apr_pstrcat(p, "cannot set up TLS: ", ptth_tls_errors(p), NULL);
            return APR_EGENERAL;
        }
        for (;;) {
            int n, err;

            ERR_clear_error();
            n = SSL_connect(ssl);
            if (n == 1) {
                break;
            }
            err = SSL_get_error(ssl, n);
            rv = (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
                 ? wait_until(sock, ssl, APR_POLLIN, deadline)
                 : (err == SSL_ERROR_ZERO_RETURN) ? APR_EOF : APR_EGENERAL;
            if (rv != APR_SUCCESS) {
                long vr = SSL_get_verify_result(ssl);
                ref->why = (vr != X509_V_OK)
                    ? apr_psprintf(p, "cannot verify the router's certificate "
                                   "for %s: %s", sc->verify_name,
                                   X509_verify_cert_error_string(vr))
                    : APR_STATUS_IS_TIMEUP(rv) ? "TLS handshake timed out"
                    : apr_pstrcat(p, "TLS handshake failed: ", ptth_tls_errors(p), NULL);
                return rv;
            }
        }
    }

    req = ptth_hs_build_request(p, ep->path, ep->host, sc->token,
                                sc->backend_id, sc->hosts);
    if (!req) {
        ref->why = "PTTHConnect parameters do not fit in a handshake";
        return APR_EINVAL;
    }
    if ((rv = send_all(sock, ssl, req, strlen(req), deadline)) != APR_SUCCESS) {
        ref->why = "cannot send the handshake";
        return rv;
    }
    buf = tls ? tls->early : apr_palloc(p, PTTH_HS_MAX_HEAD);
    rv = read_answer(sock, ssl, p, deadline, buf, &len, &head_len, &resp, &why);
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

    if (tls) {
        /* Keep what came after the head: the start of the router's
         * HTTP/2 stream, the first input httpd must read. */
        tls->early_len = len - head_len;
        memmove(tls->early, tls->early + head_len, tls->early_len);
        *ptls = tls;
    }
    return APR_SUCCESS;
}
