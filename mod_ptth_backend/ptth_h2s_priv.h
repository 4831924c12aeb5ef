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

/* Private to the ptth stream path (ptth_h2s.c, ptth_h2s_frames.c,
 * ptth_h2s_stream.c): the session and stream objects they share, and the
 * functions one calls in another.  See ptth_h2s.h for the interface and
 * "The ptth stream path" in docs/architecture.md. */

#ifndef PTTH_H2S_PRIV_H
#define PTTH_H2S_PRIV_H

#include <string.h>
#include <stdlib.h>

#include <apr_atomic.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>

#include <httpd.h>
#include <http_connection.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <ap_mpm.h>
#include <mpm_common.h>
#include <util_filter.h>

#include <nghttp2/nghttp2.h>

#include "ptth_backend.h"
#include "ptth_backend_config.h"
#include "ptth_c2.h"
#include "ptth_h2s.h"

/* Frames read in one round before the lock is let go once. */
#define PTTH_H2S_READ_ROUNDS   8
#define PTTH_H2S_READ_MAX      65536
/* A read that got less than this emptied the socket (see read_input). */
#define PTTH_H2S_READ_SHORT    APR_BUCKET_BUFF_SIZE
/* Buffers of PTTH_H2S_OUTBUF bytes kept for the next streams. */
#define PTTH_H2S_FREEBUFS      16
/* Body bytes buffered in a stream before they are framed and sent. */
#define PTTH_H2S_SEND_AT       16384

typedef struct ptth_buf {
    char *data;                  /* cap bytes, or NULL */
    apr_size_t cap;              /* PTTH_H2S_OUTBUF, or
                                  * PTTH_H2S_WINDOW_BULK (a request body) */
    apr_size_t off, len;
} ptth_buf;

/* The part of a stream the session's lock guards. */
typedef struct ptth_stream_io {
    ptth_stream *next, *prev;    /* the session's list */

    /* request body */
    ptth_buf in;
    apr_size_t in_read;          /* body bytes the request read, until
                                  * the window is widened */
    int in_bulk;                 /* window PTTH_H2S_WINDOW_BULK */
    int in_bulk_denied;          /* ... not given (logged once) */
    int in_eos;                  /* END_STREAM from the router */
    int in_trailers;             /* a trailer block is being received */
    apr_table_t *trailers_in;

    /* response */
    int status;                  /* final response given (>= 200) */
    apr_table_t *headers;
    int submitted;               /* ... and submitted to nghttp2 */
    ptth_buf out;
    int out_eos;                 /* the worker ended the body */
    nghttp2_nv *trailers;
    apr_size_t ntrailers;
    int out_done;                /* END_STREAM (or trailers) framed */
    int deferred;                /* the data source waits for bytes */

    /* life */
    ptth_stream *ready_next;     /* in the session's list of heads to queue */
    int working;                 /* a worker holds it (queued, running) */
    int closed;                  /* nghttp2 closed it */
    volatile apr_uint32_t aborted; /* nothing more can be sent or read
                                  * (written under lock; read without it
                                  * only as a hint) */
    int waiting;                 /* its worker waits on task.cond */
} ptth_stream_io;

struct ptth_h2s {
    ptth_dialed *d;
    conn_rec *c1;
    conn_rec c1_copy;            /* c1 as the session started, for the
                                  * workers' secondary connections */
    server_rec *s;               /* the virtual address's server */
    apr_socket_t *sock;
    ptth_tls_io *tls;
    ptth_workers *workers;
    int max_streams;             /* PTTHMaxStreams */
    apr_pool_t *pool;            /* own allocator: only under lock */
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *done;     /* the last worker let go (closing) */
    nghttp2_session *ngh;
    apr_bucket_brigade *ibb;
    apr_bucket_brigade *obb;
    ap_filter_t *core_out;       /* c1's last output filter */

    ptth_stream *streams;        /* every stream object */
    ptth_stream *ready;          /* heads complete, to queue once the lock
                                  * is let go (ready_last: its end) */
    ptth_stream *ready_last;
    int nstreams;
    apr_uint32_t opened;
    int nworking;
    apr_size_t bulk_used;        /* of PTTH_H2S_BULK_BUDGET: the widened
                                  * windows' bytes above PTTH_H2S_WINDOW */
    char *freebufs[PTTH_H2S_FREEBUFS];
    int nfree;

    int out_blocked;             /* output waits for the socket */
    apr_time_t blocked_since;
    apr_time_t unblocked_at;     /* when output last stopped waiting */
    int in_poll;                 /* the tunnel's thread is in its wait */
    int kicked;                  /* ... and was woken already */
    int eof;                     /* the router closed its side */
    int goaway_sent;
    int peer_goaway;
    int closing;                 /* the session ends: no more output */
    int stuck;                   /* a worker saw the output stuck for a
                                  * whole Timeout: the router stopped
                                  * reading */
    const char *why;             /* set when the session failed */
};

/* The callbacks of every session (ptth_h2s_frames.c, set up at child
 * start). */
extern nghttp2_session_callbacks *h2s_callbacks;

#define LOCK(h2s)   apr_thread_mutex_lock((h2s)->lock)
#define UNLOCK(h2s) apr_thread_mutex_unlock((h2s)->lock)

int h2s_buf_get(ptth_h2s *h2s, ptth_buf *b);
int h2s_buf_grow(ptth_buf *b, apr_size_t cap);
apr_size_t h2s_buf_room(ptth_buf *b, apr_size_t want);
apr_size_t h2s_buf_take(ptth_buf *b, char *to, apr_size_t max);
/* The data source of every response body (nghttp2's read callback). */
ssize_t h2s_data_read(nghttp2_session *ngh, int32_t stream_id,
                      uint8_t *buf, size_t length, uint32_t *data_flags,
                      nghttp2_data_source *source, void *user_data);
void h2s_kick(ptth_h2s *h2s);
void h2s_send(ptth_h2s *h2s);
void h2s_queue_ready(ptth_h2s *h2s, ptth_stream *list);
ptth_stream *h2s_ready_take(ptth_h2s *h2s);
void h2s_stream_abort(ptth_stream *st);
ptth_stream *h2s_stream_create(ptth_h2s *h2s, apr_int32_t id);
void h2s_stream_free(ptth_stream *st);
void h2s_stream_reset(ptth_stream *st, uint32_t code);
apr_status_t h2s_stream_wait(ptth_stream *st, apr_time_t deadline);
void h2s_stream_wake(ptth_stream *st);

#endif /* PTTH_H2S_PRIV_H */
