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

#ifndef PTTH_H2S_H
#define PTTH_H2S_H

/* The ptth stream path (PTTHStreamPath ptth): mod_ptth_backend's own
 * HTTP/2 server session on a dialed connection, instead of mod_http2.  See
 * "The ptth stream path" in docs/architecture.md.
 *
 * The thread that dialed the connection reads it: it runs an nghttp2
 * server session (RFC 9113) and queues every stream whose request head is
 * complete to the child's workers (ptth_workers.h).  A worker runs the
 * request through httpd's pipeline on a secondary connection (ptth_c2.c)
 * and writes the response into the session itself, then onto the
 * connection, without waking the tunnel's thread: one thread hand-off per
 * request, as for an HTTP/1.1 connection under the event MPM.
 *
 * Everything of the session (nghttp2, the streams, the connection's
 * filters, TLS included) is guarded by one lock, held only for
 * non-blocking work.  A worker waits (on its own condition variable, with
 * that lock) only for the router: request body not there yet, response
 * buffer full (flow control, RFC 9113 section 5.2, or a slow socket).
 *
 * Bounds on what the router controls: streams at once
 * (SETTINGS_MAX_CONCURRENT_STREAMS, PTTHMaxStreams, and twice that
 * counting reset streams whose workers have not let go yet); a request
 * head (PTTH_H2S_MAX_HEAD bytes as counted by RFC 9113 section 6.5.2, and
 * the virtual host's LimitRequestFields / LimitRequestFieldSize, else 431);
 * a request body (one window per stream: the window is only reopened as
 * the request reads it; PTTH_H2S_WINDOW, or PTTH_H2S_WINDOW_BULK for a
 * stream whose request read a whole window, while the session's
 * PTTH_H2S_BULK_BUDGET lasts); the response (PTTH_H2S_OUTBUF
 * per stream, the worker waits while it is full); the output waiting for
 * the socket (one round, PTTH_H2S_SEND_ROUND, at a time). */

#include <apr_buckets.h>
#include <apr_tables.h>
#include <apr_thread_cond.h>

#include <httpd.h>

#include "ptth_dialed.h"
#include "ptth_tls_io.h"
#include "ptth_workers.h"

#define PTTH_H2S_WINDOW        65535
#define PTTH_H2S_WINDOW_BULK   (512 * 1024)
#define PTTH_H2S_BULK_BUDGET   (4 * 1024 * 1024)
#define PTTH_H2S_OUTBUF        65536
#define PTTH_H2S_MAX_HEAD      65536
#define PTTH_H2S_SEND_ROUND    32768

typedef struct ptth_h2s ptth_h2s;
typedef struct ptth_stream ptth_stream;

/**
 * A stream as its worker sees it.  The request fields are written by the
 * tunnel's thread before the stream is queued and only read afterwards;
 * everything else goes through the functions below (under the session's
 * lock).  Lives in its own pool (a subpool of the session's) until both
 * nghttp2 and its worker are done with it.
 */
struct ptth_stream {
    ptth_task task;              /* first: the workers' queue links */
    ptth_h2s *h2s;
    apr_pool_t *pool;
    apr_int32_t id;

    /* the request (RFC 9113 section 8.3.1) */
    const char *method;
    const char *scheme;
    const char *authority;
    const char *path;
    apr_table_t *headers;        /* regular fields; Host from :authority */
    apr_time_t request_time;     /* when its HEADERS arrived */
    int has_body;                /* no END_STREAM on the request head */
    int reject;                  /* answer this status instead (431, 400,
                                  * 501): the head broke a limit or asked
                                  * for something not served here */
    apr_size_t head_bytes;       /* counted as in RFC 9113 section 6.5.2 */
    int nfields;
    long conn_id;                /* for the secondary connection */

    /* the rest: see ptth_h2s.c */
    struct ptth_stream_io *io;
};

/**
 * Serve the connection c1 (created, virtual host chosen and pre_connection
 * run by ptth_serve.c; TLS filters in place when tls is set) until it ends.
 * Returns why it ended, for the log.
 */
const char *ptth_h2s_serve(ptth_dialed *d, conn_rec *c1, server_rec *s,
                           apr_socket_t *sock, ptth_tls_io *tls);

/** Child start (PTTHStreamPath ptth): what every session of the child
 * shares (nghttp2's callbacks), in pchild. */
apr_status_t ptth_h2s_child_init(apr_pool_t *pchild);

/* ---- for the stream's worker (ptth_c2.c) ---- */

/**
 * A worker starts on the stream (its waits use the task's cond, set by
 * the workers): c2 gets a copy of the tunnel's conn_rec as it was when the
 * session started, with c2->master the tunnel's.  Returns 0 when the
 * stream is already gone (reset before it ran): only ptth_stream_done()
 * then.
 */
int ptth_stream_start(ptth_stream *st, conn_rec *c2);

/**
 * Take up to `max` bytes of request body (blocking or not).  *eos is set
 * once the body is over; *trailers then holds the request's trailers, if
 * any (in the stream's pool).  APR_EAGAIN: nothing yet (non-blocking);
 * APR_TIMEUP: nothing within the virtual host's Timeout; APR_ECONNABORTED:
 * the stream was reset or the tunnel lost.
 */
apr_status_t ptth_stream_read(ptth_stream *st, char *buf, apr_size_t max,
                              apr_size_t *got, apr_read_type_e block,
                              int *eos, apr_table_t **trailers);

/** Send an interim (1xx) response head now (RFC 9110 section 15.2);
 * p: the worker's, for the frame's fields. */
apr_status_t ptth_stream_interim(ptth_stream *st, int status,
                                 apr_table_t *headers, apr_pool_t *p);

/**
 * The final response head.  It is submitted with the first body bytes or
 * the end of the response, whichever comes first (so that a response
 * without body is a single HEADERS frame with END_STREAM).  headers must
 * live until then (r->pool).
 */
void ptth_stream_respond(ptth_stream *st, int status, apr_table_t *headers);

/** Whether the final response head was given. */
int ptth_stream_responded(ptth_stream *st);

/** Response body bytes; waits while the stream's buffer is full. */
apr_status_t ptth_stream_write(ptth_stream *st, const char *data,
                               apr_size_t len);

/** Send what is buffered now (a FLUSH). */
apr_status_t ptth_stream_flush(ptth_stream *st);

/**
 * The end of the response body, after its last `len` bytes (data may be
 * NULL when len is 0), with trailers (or NULL).  Waits until all of it has
 * gone into frames, so that nothing of the request's pool is needed
 * afterwards.
 */
apr_status_t ptth_stream_end(ptth_stream *st, const char *data,
                             apr_size_t len, apr_table_t *trailers);

/** Whether the stream can no longer be answered (reset, tunnel lost). */
int ptth_stream_aborted(ptth_stream *st);

/** The worker is done with the stream (ptth_c2.c, at the very end). */
void ptth_stream_done(ptth_stream *st);

#endif /* PTTH_H2S_H */
