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

#ifndef PTTH_HANDSHAKE_H
#define PTTH_HANDSHAKE_H

/* The PTTH Upgrade handshake (draft-kazuho-ptth-ptth; docs/protocol.md),
 * shared by both modules (common/ptth_handshake.c):
 *
 *   backend -> router   GET /<endpoint> HTTP/1.1
 *                       Host: <router name>
 *                       Connection: upgrade
 *                       Upgrade: ptth
 *                       ALPN: h2
 *                       Authorization: Bearer <token>        (optional)
 *                       PTTH-Backend: <identity>             (optional)
 *                       PTTH-Hosts: <host>[, <host>]*        (optional)
 *
 *   router -> backend   HTTP/1.1 101 Switching Protocols
 *                       Connection: upgrade
 *                       Upgrade: ptth
 *                       ALPN: h2
 *                   or  a complete refusal (4xx/5xx, Content-Length,
 *                       Connection: close), then close.
 *
 * After a 101 the router is the HTTP/2 client: it sends the connection
 * preface first (RFC 9113 3.4).
 *
 * Parsers work on a buffer that holds everything received so far; they
 * never read past the end of the head, never allocate more than the
 * limits allow, and never write into the buffer. */

#include <apr_pools.h>
#include <apr_tables.h>

#define PTTH_HS_MAX_HEAD      8192   /* whole request or response head */
#define PTTH_HS_MAX_FIELDS    32     /* header fields in one head */
#define PTTH_HS_MAX_HOSTS     64     /* names in PTTH-Hosts */

typedef struct ptth_hs_request {
    const char *target;        /* request-target, origin-form, e.g. "/app" */
    const char *host;          /* Host */
    const char *token;         /* from "Authorization: Bearer <token>", or NULL */
    const char *backend_id;    /* PTTH-Backend, or NULL */
    apr_array_header_t *hosts; /* of const char *, lowercase; empty if absent */
} ptth_hs_request;

typedef struct ptth_hs_response {
    int status;
    apr_interval_time_t retry_after;  /* from Retry-After (delta-seconds), or -1 */
    const char *www_authenticate;     /* or NULL */
    apr_size_t body_len;              /* Content-Length of a refusal, or 0 */
} ptth_hs_response;

/* Outcome of a parse:
 *   APR_SUCCESS     a complete, valid head; *head_len bytes were consumed
 *                   (anything after them is already the next protocol)
 *   APR_INCOMPLETE  need more bytes (and fewer than PTTH_HS_MAX_HEAD so far)
 *   APR_EINVAL      malformed or refused; *status is the HTTP status to
 *                   answer with (400, 405, 414, 426, 431, 505 ...) and
 *                   *why a short text for the log, never containing
 *                   secret values from the input */
apr_status_t ptth_hs_parse_request(apr_pool_t *p, const char *buf, apr_size_t len,
                                   apr_size_t *head_len, ptth_hs_request *req,
                                   int *status, const char **why);

apr_status_t ptth_hs_parse_response(apr_pool_t *p, const char *buf, apr_size_t len,
                                    apr_size_t *head_len, ptth_hs_response *resp,
                                    const char **why);

/* Build the backend's request head.  token, backend_id and hosts may be
 * NULL/empty.  Returns a NUL-terminated string. */
char *ptth_hs_build_request(apr_pool_t *p, const char *target, const char *host,
                            const char *token, const char *backend_id,
                            const apr_array_header_t *hosts);

/* Build the router's 101 answer. */
const char *ptth_hs_build_switch(apr_pool_t *p);

/* Build a complete refusal: status line, Content-Type text/plain,
 * Content-Length, Connection: close, plus WWW-Authenticate for 401 and
 * Retry-After when retry_after_s >= 0; the body is a one-line reason. */
char *ptth_hs_build_refusal(apr_pool_t *p, int status, const char *reason,
                            int retry_after_s);

#endif /* PTTH_HANDSHAKE_H */
