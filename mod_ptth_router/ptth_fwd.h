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

#ifndef PTTH_FWD_H
#define PTTH_FWD_H

/* A forwarded request: one request of a user, carried by an httpd child
 * over a link to the hub as one exchange (ptth_link.h), with its
 * response back into the request's output filters.  Plain blocking I/O
 * in the request thread, like mod_proxy_http; while a body write waits,
 * frames from the hub are still read (ptth_fwd_pump()), so an early
 * response or a RESET never deadlocks against an unread body.
 *
 * The state is the exchange's, as RFC 9113 5.1 has it for a stream, and
 * it is what every decision reads (docs/architecture.md, "The forwarded
 * request"):
 *
 *   IDLE -------> OPEN ---our END_STREAM---> HALF_CLOSED_LOCAL
 *                  |                                |
 *                  | response ended                 | response ended
 *                  v                                v
 *          HALF_CLOSED_REMOTE ---our END_STREAM---> CLOSED
 *
 *   any of them --(why)--> RESET      OPEN --(2xx to an upgrade)--> PIPE
 *
 * CLOSED is the only clean end: the link may then carry the next
 * exchange.  RESET says why in fwd->why: the hub reset the exchange (or
 * drains: GOAWAY), the link broke or the hub broke its protocol, the user
 * went away, reading the user's body failed, or we gave up on an
 * overridden error body.  HALF_CLOSED_REMOTE is an early answer: the
 * rest of the body is not sent.  The HTTP status is chosen once, from
 * the state, in ptth_fwd_result(). */

#include <apr_buckets.h>

#include <httpd.h>
#include <mod_proxy.h>

#include "ptth_link.h"
#include "ptth_link_child.h"

typedef enum {
    PTTH_FWD_IDLE,
    PTTH_FWD_OPEN,
    PTTH_FWD_HALF_CLOSED_LOCAL,
    PTTH_FWD_HALF_CLOSED_REMOTE,
    PTTH_FWD_CLOSED,
    PTTH_FWD_PIPE,
    PTTH_FWD_RESET
} ptth_fwd_state;

typedef enum {
    PTTH_FWD_WHY_NONE,
    PTTH_FWD_WHY_HUB_RESET,      /* RESET (fwd->hub_code) or GOAWAY */
    PTTH_FWD_WHY_PROTOCOL,       /* the hub broke the link protocol */
    PTTH_FWD_WHY_LINK,           /* link I/O failed (fwd->rv) */
    PTTH_FWD_WHY_CLIENT_GONE,    /* the user went away */
    PTTH_FWD_WHY_CLIENT_BODY,    /* reading the user's body failed (fwd->rv) */
    PTTH_FWD_WHY_GIVEN_UP        /* an overridden error body too large */
} ptth_fwd_why;

/* What has been read of the user's body for this request_rec.  A
 * failover to another balancer member calls the handler again with the
 * same r (and a draining hub makes us send again): the body can only go
 * again if nothing consumed was lost. */
typedef struct ptth_fwd_body {
    apr_bucket_brigade *saved;   /* copy of the consumed bytes */
    apr_off_t saved_len;
    apr_off_t consumed;          /* bytes read from r->input_filters */
    unsigned int eos:1;          /* the input filters delivered EOS */
    unsigned int lost:1;         /* consumed more than saved: no replay */
} ptth_fwd_body;

typedef struct ptth_fwd {
    request_rec *r;
    conn_rec *c;
    proxy_worker *worker;
    proxy_server_conf *conf;
    proxy_dir_conf *dconf;
    const char *pool_name;
    const char *link_path;
    ptth_link_request req;
    char *head;                        /* the REQUEST frame */
    apr_size_t head_len;
    ptth_link_conn *lc;
    ptth_fwd_body *body;

    ptth_fwd_state state;
    ptth_fwd_why why;                  /* RESET: why */
    ptth_link_reset_t hub_code;        /* WHY_HUB_RESET: the hub's code */
    apr_status_t rv;                   /* WHY_LINK, WHY_CLIENT_BODY */

    apr_interval_time_t wait;          /* for a tunnel (and for the hub) */
    apr_interval_time_t timeout;       /* backend silence */
    apr_interval_time_t link_timeout;  /* our own socket waits */

    apr_bucket_brigade *in;            /* user's body */
    apr_bucket_brigade *out;           /* response to the user */
    apr_off_t out_pending;

    apr_size_t sb_len;                 /* bytes in lc->sbuf */
    apr_size_t sb_frame;               /* offset of the open DATA frame */

    int original_status;
    const char *original_status_line;
    char portstr[32];                  /* ":port" of this server, for Via */

    /* What arrived of the response. */
    int status;                        /* final status, 0: none yet */
    int interim;                       /* interim responses */
    apr_off_t resp_cl;                 /* its Content-Length, -1: none */
    apr_off_t resp_got;                /* DATA octets of it so far */
    apr_off_t drained;                 /* error body dropped (override) */
    apr_array_header_t *up_headers;    /* the backend's 2xx to an upgrade */
    const char *ws_key;                /* the user's Sec-WebSocket-Key */

    unsigned int has_body:1;           /* the REQUEST has no END_STREAM */
    unsigned int expect_100:1;         /* end-to-end 100-continue */
    unsigned int awaiting_100:1;       /* the body waits for the 100 */
    unsigned int sb_open:1;            /* a DATA frame is being filled */
    unsigned int passed:1;             /* output went down the filters */
    unsigned int need_flush:1;
    unsigned int discard:1;            /* drop the response body */
    unsigned int override:1;           /* ProxyErrorOverride took it */
    unsigned int upgrade:1;            /* a WebSocket upgrade asked for */
    unsigned int link_dirty:1;         /* a frame write was cut short */
} ptth_fwd;

#define PTTH_FWD_MSG(fwd, msg) "ptth(%s, link %u): " msg, (fwd)->pool_name, \
                               (fwd)->lc ? (fwd)->lc->id : 0

/* Bytes asked from the user's input filters per read. */
#define PTTH_BODY_READ        (4 * PTTH_LINK_MAX_DATA)
/* Request body kept in memory so that it can be sent again. */
#define PTTH_BODY_REPLAY_MAX  (64 * 1024)

/* Per-request variables for the access log (docs/mod_ptth_router.md,
 * "Logging"): the pool, and from the final RESPONSE which tunnel and
 * backend answered and how many streams the hub opened for it. */
#define PTTH_ENV_POOL     "PTTH_POOL"
#define PTTH_ENV_TUNNEL   "PTTH_TUNNEL"
#define PTTH_ENV_BACKEND  "PTTH_BACKEND"
#define PTTH_ENV_ATTEMPTS "PTTH_ATTEMPTS"

/* ptth_fwd.c: state and outcome */
const char *ptth_fwd_state_str(ptth_fwd_state s);
void ptth_fwd_transit(ptth_fwd *fwd, ptth_fwd_state ns, const char *why);
/* Our side ended (END_STREAM or TRAILERS went out). */
void ptth_fwd_request_ended(ptth_fwd *fwd);
/* The response ended (END_STREAM or TRAILERS came). */
void ptth_fwd_response_ended(ptth_fwd *fwd);
/* The exchange ends early; the first reason is kept.  Returns a status
 * for the caller to pass on: APR_ECONNABORTED, or rv when given. */
apr_status_t ptth_fwd_reset(ptth_fwd *fwd, ptth_fwd_why why, apr_status_t rv,
                            const char *what);
apr_status_t ptth_fwd_proto_error(ptth_fwd *fwd, const char *what);
apr_status_t ptth_fwd_link_failed(ptth_fwd *fwd, apr_status_t rv,
                                  const char *what);
#define ptth_fwd_failed(f)     ((f)->state == PTTH_FWD_RESET)
#define ptth_fwd_req_done(f)   ((f)->state == PTTH_FWD_HALF_CLOSED_LOCAL \
                                || (f)->state == PTTH_FWD_CLOSED)
#define ptth_fwd_resp_done(f)  ((f)->state == PTTH_FWD_HALF_CLOSED_REMOTE \
                                || (f)->state == PTTH_FWD_CLOSED)
/* Hand the link back (kept only after a clean end) or cancel. */
void ptth_fwd_finish_link(ptth_fwd *fwd);
/* Whether the hub did not act on it and it can go again (GOAWAY, RESET
 * SHUTDOWN; nothing lost); then back to IDLE. */
int ptth_fwd_may_resend(ptth_fwd *fwd, int attempt);
void ptth_fwd_new_attempt(ptth_fwd *fwd);
/* The handler's return value and, for failures, the error response. */
int ptth_fwd_result(ptth_fwd *fwd);
/* Set PTTH_TUNNEL, PTTH_BACKEND, PTTH_ATTEMPTS from a final response. */
void ptth_fwd_note_route(ptth_fwd *fwd, const ptth_link_response *resp);

/* ptth_fwd_request.c: the REQUEST */
void ptth_fwd_request_init(void);      /* optional functions of mod_proxy */
apr_status_t ptth_fwd_build_request(ptth_fwd *fwd, const char *url);
/* Fields of a table as HTTP/2 wants them (lowercase, hop-by-hop dropped,
 * one cookie field). */
apr_array_header_t *ptth_fwd_fields_of(apr_pool_t *p, apr_table_t *t);
/* A Via value for this router ("received" is the protocol version). */
const char *ptth_fwd_via(ptth_fwd *fwd, const char *received);
apr_status_t ptth_fwd_send_head(ptth_fwd *fwd, int fresh);

/* ptth_fwd_body.c: the user's body */
ptth_fwd_body *ptth_fwd_body_get(request_rec *r);
apr_status_t ptth_fwd_send_body(ptth_fwd *fwd);
apr_status_t ptth_fwd_await_continue(ptth_fwd *fwd);
/* Write frames; while the link is full, frames from the hub are read. */
apr_status_t ptth_fwd_write(ptth_fwd *fwd, const struct iovec *vec, int nvec);
/* End an empty body (after an upgrade that was not made). */
apr_status_t ptth_fwd_end_empty_body(ptth_fwd *fwd);

/* ptth_fwd_response.c: the response */
apr_status_t ptth_fwd_on_frame(ptth_fwd *fwd, const ptth_link_fhdr *fh,
                               const char *payload);
/* Whatever the hub has sent, without waiting for more; APR_ECONNABORTED
 * when the exchange is over on the hub's side. */
apr_status_t ptth_fwd_pump(void *ctx);
/* Wait for and process frames until the response is complete. */
apr_status_t ptth_fwd_read_response(ptth_fwd *fwd);
/* Frames until the response head (or the upgrade) arrived. */
apr_status_t ptth_fwd_read_head(ptth_fwd *fwd);

#endif /* PTTH_FWD_H */
