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

#ifndef PTTH_EXCHANGE_H
#define PTTH_EXCHANGE_H

/* An exchange: one request/response that a child sent over its link,
 * from the REQUEST frame until both sides are over (ptth_exchange.c).
 * It waits in its pool's queue, then runs as an HTTP/2 stream on a
 * tunnel; a stream the backend provably did not process is retried on
 * another tunnel (RFC 9113 8.7).  It may outlive its link (the child
 * moved on) and its stream (the response ended first), never both.
 *
 * States (ptth_exchange.c is their only writer; transitions logged at
 * debug):
 *   WAITING  in its pool's queue for a tunnel with room
 *   OPEN     an HTTP/2 stream on a tunnel
 *   ENDED    the response side is finished (END_STREAM or RESET sent to
 *            the child); freed once the child has finished its request
 *            side too and no tunnel holds it */

#include <nghttp2/nghttp2.h>

#include "ptth_hub.h"

typedef enum {
    PTTH_EX_WAITING,
    PTTH_EX_OPEN,
    PTTH_EX_ENDED
} ptth_exchange_state;

/* Streams one exchange may be sent as; each retry avoids the tunnels
 * that refused it already, and the wait time bounds them all. */
#define PTTH_EX_MAX_ATTEMPTS 8

/* What a tunnel keeps of the exchange it carries as a stream: written by
 * ptth_tunnel*.c only, set up anew for each attempt. */
typedef struct ptth_ex_stream {
    ptth_tunnel *tunnel;             /* NULL: on no tunnel */
    int32_t id;
    int headers_sent;                /* the backend may have acted on it */
    int deferred;                    /* the body provider waits for data */
    apr_size_t unconsumed;           /* DATA queued to the link, not yet
                                      * acknowledged to the backend */
    ptth_resp_check rc;              /* the response's message rules */
    apr_array_header_t *block;       /* header block being received: in
                                      * blk, its memory in the exchange's
                                      * block list until handed on */
    apr_array_header_t blk;
    int violated;                    /* the backend broke the rules */
    int connect;                     /* sent as extended CONNECT (RFC 8441) */
} ptth_ex_stream;

/* One allocation of an exchange (ptth_exchange_alloc). */
typedef struct ptth_ex_mem ptth_ex_mem;

struct ptth_exchange {
    APR_RING_ENTRY(ptth_exchange) link;  /* in its pool's queue or its
                                          * tunnel's streams */
    ptth_ex_mem *mem;                /* what it allocated, freed with it */
    ptth_ex_mem *blk_mem;            /* the response block in progress */
    ptth_hub *hub;
    ptth_link_hub *hl;               /* NULL once the child moved on */
    ptth_pool *pool;
    ptth_exchange_state state;
    ptth_ex_stream st;
    ptth_link_request req;
    const char *host;                /* :authority without port, lowercase */
    int head;                        /* HEAD: the response has no body */
    int has_body;                    /* request had no END_STREAM */
    int req_ended;                   /* the child finished sending */
    int req_end_sent;                /* END_STREAM (or trailers) went to
                                      * the backend */
    apr_array_header_t *req_trailers;
    ptth_buf body;                   /* request body not yet given to the
                                      * stream */
    ptth_buf replay;                 /* all of a small body, for a retry */
    int replayable;                  /* replay holds every byte received */
    apr_uint64_t body_sent;
    int attempts;
    apr_uint32_t tried[PTTH_EX_MAX_ATTEMPTS]; /* tunnels that refused it */
    int resp_final;                  /* final RESPONSE sent to the child */
    int resp_status;
    int resp_upgraded;               /* the link is a pipe now */
    apr_time_t deadline;             /* WAITING: give up at */
    apr_time_t last_activity;        /* OPEN: for the request's timeout */
};

/* ---- from the link (ptth_link_hub.c) ---- */

/* A REQUEST frame: decode it into a new exchange and queue it (or answer
 * it with a RESET at once).  APR_EINVAL: the frame is malformed, the
 * link must close. */
apr_status_t ptth_exchange_create(ptth_link_hub *hl, const char *payload,
                                  apr_size_t len, int end_stream,
                                  ptth_exchange **pex);
/* Request body from the child.  APR_EAGAIN: the buffer is full, stop
 * reading the link until ptth_link_hub_resume(). */
apr_status_t ptth_exchange_request_body(ptth_exchange *ex, const char *data,
                                        apr_size_t len, int end_stream);
/* Request trailers (they end the body).  APR_EINVAL: malformed. */
apr_status_t ptth_exchange_request_trailers(ptth_exchange *ex,
                                            const char *payload,
                                            apr_size_t len);
/* Upgraded: bytes the child wrote into the pipe; returns how many fit
 * (the rest waits in the link).  eof: the child shut down writing. */
apr_size_t ptth_exchange_pipe_in(ptth_exchange *ex, const char *data,
                                 apr_size_t len, int eof);
/* The child reset it: nobody wants the response. */
void ptth_exchange_cancel(ptth_exchange *ex, const char *why);
/* The link is being destroyed: the same, and the exchange forgets it. */
void ptth_exchange_link_gone(ptth_exchange *ex);
/* The link wrote to the child; `left` bytes still wait in its buffer:
 * let the backend send again what the child was given. */
void ptth_exchange_link_flushed(ptth_exchange *ex, apr_size_t left);

/* Memory: an exchange is a heap object, not a pool (an APR pool's
 * first page would cost more than the request it holds, one per request
 * in flight).  ptth_exchange_alloc's blocks go with the exchange;
 * ptth_exchange_block_alloc's with the response header block being
 * received (ptth_exchange_block_free, once it is handed on).  NULL when
 * out of memory. */
void *ptth_exchange_alloc(ptth_exchange *ex, apr_size_t n);
char *ptth_exchange_memdup(ptth_exchange *ex, const char *s, apr_size_t n);
void *ptth_exchange_block_alloc(ptth_exchange *ex, apr_size_t n);
void ptth_exchange_block_free(ptth_exchange *ex);

/* ---- from the pool and the tunnel ---- */

/* Submitted as stream st.id on st.tunnel. */
void ptth_exchange_opened(ptth_exchange *ex);
/* tunnel_id refused it (or reset it before any answer): not again. */
void ptth_exchange_refused_by(ptth_exchange *ex, apr_uint32_t tunnel_id);
int ptth_exchange_tried(const ptth_exchange *ex, apr_uint32_t tunnel_id);
/* The backend did something for it (for the request's timeout). */
void ptth_exchange_touch(ptth_exchange *ex);
/* Up to len bytes of request body for the stream.  *end: the body is
 * over and all of it handed out; *trailers then are the request's
 * trailers (or NULL).  Returns how many bytes went to buf. */
apr_size_t ptth_exchange_take_body(ptth_exchange *ex, uint8_t *buf,
                                   apr_size_t len, int *end,
                                   const apr_array_header_t **trailers);
/* Response side.  ptth_exchange_response_data returns how many bytes
 * went to the link: the tunnel acknowledges them once the link is
 * flushed (st.unconsumed). */
void ptth_exchange_response(ptth_exchange *ex, int status, int upgraded,
                            apr_array_header_t *headers, int end_stream);
apr_size_t ptth_exchange_response_data(ptth_exchange *ex, const uint8_t *data,
                                       apr_size_t len, int end_stream);
/* The tunnel has counted what response_data took (st.unconsumed): the
 * link may write it now, and what it writes is acknowledged. */
void ptth_exchange_response_counted(ptth_exchange *ex);
void ptth_exchange_response_trailers(ptth_exchange *ex,
                                     apr_array_header_t *headers);
/* No complete response: RESET to the child with code. */
void ptth_exchange_failed(ptth_exchange *ex, ptth_link_reset_t code);
/* The stream left its tunnel (closed, reset, or the tunnel died), and
 * st.tunnel is NULL already: retry, fail, or let it go.  unprocessed:
 * RFC 9113 8.7 guarantees the backend did not act on it. */
void ptth_exchange_stream_gone(ptth_exchange *ex, int unprocessed);
/* Timers: the request's timeout while OPEN. */
void ptth_exchange_tick(ptth_exchange *ex, apr_time_t now);

#endif /* PTTH_EXCHANGE_H */
