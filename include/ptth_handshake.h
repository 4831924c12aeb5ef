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
 * shared by both modules (common/ptth_hs_syntax.c, ptth_hs_request.c,
 * ptth_hs_response.c):
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
#define PTTH_HS_MAX_TARGET    1024   /* request-target (else 414) */
#define PTTH_HS_MAX_BACKEND_ID 128   /* PTTH-Backend value */
#define PTTH_HS_MAX_RETRY_AFTER 3600 /* Retry-After is clamped to this (s) */

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
 *                   secret values from the input
 * A prefix that can no longer become a valid head (bare LF, a method other
 * than GET, an over-long target, ...) is refused at once, without waiting
 * for the rest.  The fields of *req are set on APR_SUCCESS only (hosts is
 * then an array, empty when PTTH-Hosts was absent); the pool is used only
 * on APR_SUCCESS, for copies of the values returned.  An Authorization
 * with a scheme other than Bearer leaves token NULL (policy is the
 * caller's); a malformed Bearer credential is a 400 (RFC 6750 3.1). */
apr_status_t ptth_hs_parse_request(apr_pool_t *p, const char *buf, apr_size_t len,
                                   apr_size_t *head_len, ptth_hs_request *req,
                                   int *status, const char **why);

/* Same outcome for the router's answer, seen by the backend:
 *   APR_SUCCESS     a well-formed head: resp->status 101 means the channel
 *                   is open (Upgrade: ptth, Connection: upgrade and ALPN: h2
 *                   were checked); any other final status is a refusal
 *                   (retry_after, www_authenticate, body_len describe it)
 *   APR_INCOMPLETE  need more bytes
 *   APR_EINVAL      not a usable PTTH answer (malformed, an interim 1xx
 *                   other than 101, a 101 without the PTTH fields, over the
 *                   limits); resp->status is set when the status line was
 *                   readable, else 0.
 * retry_after is taken from delay-seconds only, clamped to
 * PTTH_HS_MAX_RETRY_AFTER; an HTTP-date or an invalid value gives -1. */
apr_status_t ptth_hs_parse_response(apr_pool_t *p, const char *buf, apr_size_t len,
                                    apr_size_t *head_len, ptth_hs_response *resp,
                                    const char **why);

/* Build the backend's request head.  token, backend_id and hosts may be
 * NULL/empty.  Returns a NUL-terminated string, or NULL when an argument
 * would not pass ptth_hs_parse_request (a bad target, Host, token,
 * identity or name, more than PTTH_HS_MAX_HOSTS names, or a head over
 * PTTH_HS_MAX_HEAD): nothing the caller passes can inject a field.
 * Names in PTTH-Hosts are sent in lowercase. */
char *ptth_hs_build_request(apr_pool_t *p, const char *target, const char *host,
                            const char *token, const char *backend_id,
                            const apr_array_header_t *hosts);

/* Build the router's 101 answer. */
const char *ptth_hs_build_switch(apr_pool_t *p);

/* ptth_hs_build_refusal flags */
/* A 401 for a token that was presented but is not accepted: the challenge
 * carries error="invalid_token" (RFC 6750 3.1).  Without it a 401 says
 * only that credentials are required (no error code, RFC 6750 3). */
#define PTTH_HS_INVALID_TOKEN 0x1

/* Build a complete refusal: status line, Date, Content-Type text/plain,
 * Content-Length, Connection: close, plus WWW-Authenticate for 401
 * (Bearer realm="ptth", with error="invalid_token" under
 * PTTH_HS_INVALID_TOKEN), Allow: GET for 405, Upgrade: ptth for 426, and
 * Retry-After when retry_after_s >= 0; the body is a one-line reason
 * (printable ASCII only, at most 200 characters; NULL gives the reason
 * phrase).  A status outside 400-599 is sent as 500. */
char *ptth_hs_build_refusal(apr_pool_t *p, int status, const char *reason,
                            int retry_after_s, unsigned int flags);

#endif /* PTTH_HANDSHAKE_H */
