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

#ifndef PTTH_LINK_CHILD_H
#define PTTH_LINK_CHILD_H

/* The child's side of the links to the hub (ptth_link.h): one connection
 * object per Unix-domain socket, and a per-process pool of idle ones.
 *
 * A ptth_link_conn belongs to exactly one request thread between
 * ptth_link_acquire() and ptth_link_release(); the pool itself is
 * thread-safe.  Each connection lives in its own unmanaged APR pool, so it
 * can move between request threads and outlive any request.  The socket is
 * non-blocking; every wait below polls with the connection's timeout.
 *
 * Links belong to one process and so to one generation: a child of the
 * next generation connects to that generation's hub.  Idle links are
 * closed when the child's pool goes away. */

#include <apr_pools.h>
#include <apr_network_io.h>
#include <apr_time.h>

#include <httpd.h>

#include "ptth_link.h"

typedef struct ptth_link_conn ptth_link_conn;

struct ptth_link_conn {
    apr_pool_t *pool;             /* unmanaged, owns the socket */
    apr_socket_t *sock;
    apr_uint32_t id;              /* per process, for logs */
    unsigned int reused:1;        /* came from the idle list */
    unsigned int eof:1;           /* the hub closed its side */
    unsigned int wrote:1;         /* wrote since the last receive: the
                                   * next blocking read waits first */
    apr_interval_time_t timeout;  /* for each wait on the socket */
    apr_time_t idle_since;
    apr_uint32_t exchanges;       /* completed on this link */

    char *rbuf;                   /* received, not yet consumed bytes */
    apr_size_t rcap, rpos, rlen;

    char *sbuf;                   /* DATA framing buffer, see proxy */
    apr_size_t scap;
};

/* Called by ptth_link_conn_write() when the link becomes readable while
 * a write waits for room.  It must consume what it can without blocking on
 * the link; any status other than APR_SUCCESS aborts the write with it. */
typedef apr_status_t ptth_link_readable_fn(void *ctx);

/* Set up the per-process idle pool (child_init). */
void ptth_link_child_init(apr_pool_t *pchild, server_rec *s);

/* Take an idle link that is still alive or connect a new one to the hub's
 * socket at `path`.  `fresh` skips the idle list.  While the hub is not
 * reachable (ENOENT, ECONNREFUSED: e.g. the parent is restarting it, or
 * its backlog is full) connecting is retried with short pauses for up to
 * `wait`.  Returns the last connect error when that runs out. */
apr_status_t ptth_link_acquire(ptth_link_conn **plc, const char *path,
                                   apr_interval_time_t wait, int fresh,
                                   request_rec *r);

/* Give a link back.  Only a link whose last exchange ended cleanly in both
 * directions may be `reusable`; anything else is closed. */
void ptth_link_release(ptth_link_conn *lc, int reusable);

void ptth_link_conn_timeout_set(ptth_link_conn *lc, apr_interval_time_t t);

/* Write all of vec.  While the socket is full and `on_readable` is given,
 * it is called whenever the hub has sent something, so a response can be
 * processed while a request body is still going out (the hub stops
 * reading a link whose exchange has nowhere to put the body). */
apr_status_t ptth_link_conn_write(ptth_link_conn *lc, const struct iovec *vec,
                                  int nvec, ptth_link_readable_fn *on_readable,
                                  void *ctx);

/* Read the next frame.  The payload points into the connection's buffer
 * and is valid until the next read.  Frames longer than
 * PTTH_LINK_MAX_HEAD (PTTH_LINK_MAX_STATUS for STATUS) are APR_EINVAL.  With block == 0 the call returns
 * APR_EAGAIN unless one non-blocking receive completes a frame; with
 * block != 0 it waits up to the connection's timeout (APR_TIMEUP).  A
 * closed link is APR_EOF. */
apr_status_t ptth_link_conn_read_frame(ptth_link_conn *lc, ptth_link_fhdr *fh,
                                       const char **payload, int block);

/* 1 when bytes (or EOF) from the hub are buffered or arrive within
 * `wait` (0: just look). */
int ptth_link_conn_has_input(ptth_link_conn *lc, apr_interval_time_t wait);

#endif /* PTTH_LINK_CHILD_H */
