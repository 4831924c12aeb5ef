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

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <apr_atomic.h>
#include <apr_poll.h>
#include <apr_portable.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>

#include <httpd.h>
#include <http_log.h>

#include "ptth_router.h"
#include "ptth_link.h"
#include "ptth_link_child.h"
#include "ptth_io.h"
#include "ptth_unix.h"

/* Idle links kept per process.  Beyond that a finished link is closed. */
#define PTTH_LINK_IDLE_MAX      64
/* An idle link unused for this long is closed rather than reused. */
#define PTTH_LINK_IDLE_TIMEOUT  apr_time_from_sec(60)
/* Receive buffer: room for a few DATA frames; grows for large heads. */
#define PTTH_LINK_RBUF_SIZE     (4 * (PTTH_LINK_HDR_LEN + PTTH_LINK_MAX_DATA))
/* Pauses between attempts to reach a hub that is not (yet) listening. */
#define PTTH_CONNECT_PAUSE_MIN  apr_time_from_msec(50)
#define PTTH_CONNECT_PAUSE_MAX  apr_time_from_msec(200)

/*******************************************************************************
 * the per-process idle list
 ******************************************************************************/

static struct {
    /* Unmanaged and never destroyed: a request thread that outlives the
     * child pool (ungraceful stop) may still lock the mutex. */
    apr_pool_t *pool;
#if APR_HAS_THREADS
    apr_thread_mutex_t *mutex;
#endif
    server_rec *s;
    ptth_link_conn *idle[PTTH_LINK_IDLE_MAX];  /* LIFO: newest on top */
    int nidle;
    int ready;
    int closed;          /* the child pool is gone: pool nothing any more */
} lp;

static apr_uint32_t next_link_id;

static void lp_lock(void)
{
#if APR_HAS_THREADS
    apr_thread_mutex_lock(lp.mutex);
#endif
}

static void lp_unlock(void)
{
#if APR_HAS_THREADS
    apr_thread_mutex_unlock(lp.mutex);
#endif
}

static void link_destroy(ptth_link_conn *lc)
{
    apr_socket_close(lc->sock);
    free(lc->rbuf);
    free(lc->sbuf);
    apr_pool_destroy(lc->pool);
}

static apr_status_t lp_child_exit(void *data)
{
    ptth_link_conn *gone[PTTH_LINK_IDLE_MAX];
    int i, n;

    (void)data;
    lp_lock();
    lp.closed = 1;
    n = lp.nidle;
    memcpy(gone, lp.idle, (apr_size_t)n * sizeof(gone[0]));
    lp.nidle = 0;
    lp_unlock();
    for (i = 0; i < n; ++i) {
        link_destroy(gone[i]);
    }
    return APR_SUCCESS;
}

void ptth_link_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_status_t rv;

    rv = apr_pool_create_unmanaged_ex(&lp.pool, NULL, NULL);
    if (rv == APR_SUCCESS) {
        apr_pool_tag(lp.pool, "ptth_linkpool");
#if APR_HAS_THREADS
        rv = apr_thread_mutex_create(&lp.mutex, APR_THREAD_MUTEX_DEFAULT,
                                     lp.pool);
#endif
    }
    if (rv != APR_SUCCESS) {
        /* Links then still work, one connection per request. */
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, PTTHLOGNO(01500)
                     "ptth link pool: cannot initialise, links will not "
                     "be kept alive in this process");
        return;
    }
    lp.s = s;
    lp.nidle = 0;
    lp.closed = 0;
    lp.ready = 1;
    apr_pool_cleanup_register(pchild, NULL, lp_child_exit,
                              apr_pool_cleanup_null);
}

/* Pop the newest idle link; close those idle for too long on the way. */
static ptth_link_conn *lp_pop(void)
{
    ptth_link_conn *lc = NULL, *expired[PTTH_LINK_IDLE_MAX];
    apr_time_t now = apr_time_now();
    int i, n = 0;

    if (!lp.ready) {
        return NULL;
    }
    lp_lock();
    /* The oldest links sit at the bottom. */
    while (n < lp.nidle
           && now - lp.idle[n]->idle_since > PTTH_LINK_IDLE_TIMEOUT) {
        expired[n] = lp.idle[n];
        ++n;
    }
    if (n) {
        lp.nidle -= n;
        memmove(lp.idle, lp.idle + n, (apr_size_t)lp.nidle * sizeof(lp.idle[0]));
    }
    if (lp.nidle) {
        lc = lp.idle[--lp.nidle];
    }
    lp_unlock();
    for (i = 0; i < n; ++i) {
        ap_log_error(APLOG_MARK, APLOG_TRACE1, 0, lp.s,
                     "ptth link %u: idle too long, closing", expired[i]->id);
        link_destroy(expired[i]);
    }
    return lc;
}

/*******************************************************************************
 * connection I/O
 ******************************************************************************/

/* Wait for `events`.  Returns APR_TIMEUP or the events that happened. */
static apr_status_t link_wait(ptth_link_conn *lc, apr_int16_t events,
                              apr_interval_time_t timeout,
                              apr_int16_t *rtnevents)
{
    return ptth_wait_socket(lc->sock, events, timeout, rtnevents);
}

/* An idle link must have nothing buffered.  Whether the hub closed it
 * meanwhile (restart, kill) is not asked of the kernel: the REQUEST's
 * write then fails with EPIPE and ptth_fwd_send_head() sends it again on
 * a fresh link, which saves a poll() per request.  A hub that drains
 * keeps its links open and answers GOAWAY, after which the link is not
 * pooled again (ptth_fwd_finish_link). */
static int link_is_reusable(ptth_link_conn *lc)
{
    return !lc->eof && lc->rpos == lc->rlen;
}

static apr_status_t link_open(ptth_link_conn **plc, const char *path)
{
    apr_socket_t *sock;
    apr_pool_t *p;
    ptth_link_conn *lc;
    apr_status_t rv;

    rv = apr_pool_create_unmanaged_ex(&p, NULL, NULL);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    /* Non-blocking: we do our own waiting (link_wait). */
    rv = ptth_unix_connect(&sock, path, p);
    if (rv != APR_SUCCESS) {
        apr_pool_destroy(p);
        return rv;
    }
    apr_pool_tag(p, "ptth_link_conn");
    lc = apr_pcalloc(p, sizeof(*lc));
    lc->pool = p;
    lc->sock = sock;
    lc->id = apr_atomic_inc32(&next_link_id) + 1;
    lc->timeout = apr_time_from_sec(60);
    *plc = lc;
    return APR_SUCCESS;
}

static int connect_retryable(apr_status_t rv)
{
    return APR_STATUS_IS_ENOENT(rv) || APR_STATUS_IS_ECONNREFUSED(rv)
        || APR_STATUS_IS_EAGAIN(rv);
}

apr_status_t ptth_link_acquire(ptth_link_conn **plc, const char *path,
                                   apr_interval_time_t wait, int fresh,
                                   request_rec *r)
{
    ptth_link_conn *lc;
    apr_interval_time_t pause = PTTH_CONNECT_PAUSE_MIN;
    apr_time_t deadline;
    apr_status_t rv;
    int attempts = 0;

    *plc = NULL;
    while (!fresh && (lc = lp_pop()) != NULL) {
        if (link_is_reusable(lc)) {
            lc->reused = 1;
            *plc = lc;
            ap_log_rerror(APLOG_MARK, APLOG_TRACE2, 0, r,
                          "ptth link %u: reused (%u exchanges)",
                          lc->id, lc->exchanges);
            return APR_SUCCESS;
        }
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, PTTHLOGNO(01501)
                      "ptth link %u: closed by the hub while idle, discarding",
                      lc->id);
        link_destroy(lc);
    }

    deadline = apr_time_now() + wait;
    for (;;) {
        apr_time_t now;

        rv = link_open(&lc, path);
        ++attempts;
        if (rv == APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, PTTHLOGNO(01502)
                          "ptth link %u: connected to %s%s", lc->id, path,
                          attempts > 1 ? " (after retries)" : "");
            *plc = lc;
            return APR_SUCCESS;
        }
        now = apr_time_now();
        if (!connect_retryable(rv) || now >= deadline) {
            break;
        }
        if (attempts == 1) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, PTTHLOGNO(01503)
                          "ptth: hub at %s not reachable, retrying for up "
                          "to %" APR_TIME_T_FMT " ms", path,
                          apr_time_as_msec(deadline - now));
        }
        apr_sleep(pause < deadline - now ? pause : deadline - now);
        pause = pause * 2 > PTTH_CONNECT_PAUSE_MAX ? PTTH_CONNECT_PAUSE_MAX
                                                   : pause * 2;
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, PTTHLOGNO(01504)
                  "ptth: cannot connect to the tunnel hub at %s "
                  "(%d attempts)", path, attempts);
    return rv;
}

void ptth_link_release(ptth_link_conn *lc, int reusable)
{
    if (!lc) {
        return;
    }
    if (reusable && lp.ready && !lc->eof && lc->rpos == lc->rlen) {
        /* Large heads grew the buffer: do not keep that while idle. */
        if (lc->rcap > PTTH_LINK_RBUF_SIZE) {
            free(lc->rbuf);
            lc->rbuf = NULL;
            lc->rcap = 0;
        }
        lc->rpos = lc->rlen = 0;
        lc->reused = 0;
        lc->exchanges++;
        lc->idle_since = apr_time_now();
        lp_lock();
        if (!lp.closed && lp.nidle < PTTH_LINK_IDLE_MAX) {
            lp.idle[lp.nidle++] = lc;
            lc = NULL;
        }
        lp_unlock();
    }
    if (lc) {
        link_destroy(lc);
    }
}

void ptth_link_conn_timeout_set(ptth_link_conn *lc, apr_interval_time_t t)
{
    lc->timeout = t;
}

apr_status_t ptth_link_conn_write(ptth_link_conn *lc, const struct iovec *vec,
                                  int nvec, ptth_link_readable_fn *on_readable,
                                  void *ctx)
{
    struct iovec iov[16];
    int i = 0;
    apr_status_t rv;

    if (nvec > (int)(sizeof(iov) / sizeof(iov[0]))) {
        return APR_EINVAL;
    }
    memcpy(iov, vec, (apr_size_t)nvec * sizeof(iov[0]));
    while (i < nvec) {
        apr_size_t n = 0;
        apr_int16_t want, ev;

        if (iov[i].iov_len == 0) {
            ++i;
            continue;
        }
        rv = apr_socket_sendv(lc->sock, iov + i, nvec - i, &n);
        while (n && i < nvec) {
            if (n >= iov[i].iov_len) {
                n -= iov[i].iov_len;
                iov[i].iov_len = 0;
                ++i;
            }
            else {
                iov[i].iov_base = (char *)iov[i].iov_base + n;
                iov[i].iov_len -= n;
                n = 0;
            }
        }
        if (rv == APR_SUCCESS) {
            continue;
        }
        if (!APR_STATUS_IS_EAGAIN(rv)) {
            return rv;
        }
        want = APR_POLLOUT;
        if (on_readable && !lc->eof) {
            want |= APR_POLLIN;
        }
        rv = link_wait(lc, want, lc->timeout, &ev);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        if ((ev & (APR_POLLIN | APR_POLLHUP | APR_POLLERR)) && on_readable
            && !lc->eof) {
            rv = on_readable(ctx);
            if (rv != APR_SUCCESS) {
                return rv;
            }
        }
    }
    lc->wrote = 1;
    return APR_SUCCESS;
}

/* Make room for a frame of `need` bytes at rpos. */
static apr_status_t rbuf_reserve(ptth_link_conn *lc, apr_size_t need)
{
    if (lc->rpos == lc->rlen) {
        lc->rpos = lc->rlen = 0;
    }
    if (lc->rcap - lc->rpos >= need && lc->rlen < lc->rcap) {
        return APR_SUCCESS;
    }
    if (lc->rpos) {
        memmove(lc->rbuf, lc->rbuf + lc->rpos, lc->rlen - lc->rpos);
        lc->rlen -= lc->rpos;
        lc->rpos = 0;
    }
    if (lc->rcap < need || lc->rcap == 0) {
        apr_size_t cap = need > PTTH_LINK_RBUF_SIZE ? need : PTTH_LINK_RBUF_SIZE;
        char *nbuf = realloc(lc->rbuf, cap);

        if (!nbuf) {
            return APR_ENOMEM;
        }
        lc->rbuf = nbuf;
        lc->rcap = cap;
    }
    return APR_SUCCESS;
}

/* One non-blocking receive. */
static apr_status_t link_recv(ptth_link_conn *lc, apr_size_t need)
{
    apr_size_t n;
    apr_status_t rv;

    rv = rbuf_reserve(lc, need);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    n = lc->rcap - lc->rlen;
    rv = apr_socket_recv(lc->sock, lc->rbuf + lc->rlen, &n);
    lc->wrote = 0;
    lc->rlen += n;
    if (APR_STATUS_IS_EOF(rv)) {
        lc->eof = 1;
    }
    else if (rv == APR_SUCCESS && n == 0) {
        rv = APR_EAGAIN;
    }
    return rv;
}

apr_status_t ptth_link_conn_read_frame(ptth_link_conn *lc, ptth_link_fhdr *fh,
                                       const char **payload, int block)
{
    int received = 0;
    apr_status_t rv;

    for (;;) {
        apr_size_t avail = lc->rlen - lc->rpos, need = PTTH_LINK_HDR_LEN;
        apr_int16_t ev;

        if (avail >= PTTH_LINK_HDR_LEN) {
            ptth_link_hdr_unpack((const unsigned char *)lc->rbuf + lc->rpos, fh);
            if (fh->length > (fh->type == PTTH_LF_STATUS ? PTTH_LINK_MAX_STATUS
                                                         : PTTH_LINK_MAX_HEAD)) {
                return APR_EINVAL;
            }
            need += fh->length;
            if (avail >= need) {
                *payload = lc->rbuf + lc->rpos + PTTH_LINK_HDR_LEN;
                lc->rpos += need;
                return APR_SUCCESS;
            }
        }
        if (lc->eof) {
            return APR_EOF;
        }
        if (!block && received) {
            return APR_EAGAIN;
        }
        if (block && lc->wrote) {
            /* Just after our frames went out the hub's answer is rarely
             * there yet: wait before reading (poll, recv) rather than
             * after a receive that would block (recv, poll, recv). */
            rv = link_wait(lc, APR_POLLIN, lc->timeout, &ev);
            lc->wrote = 0;
            if (rv != APR_SUCCESS) {
                return rv;
            }
        }
        rv = link_recv(lc, need);
        received = 1;
        if (rv == APR_SUCCESS || APR_STATUS_IS_EOF(rv)) {
            continue;
        }
        if (!APR_STATUS_IS_EAGAIN(rv)) {
            return rv;
        }
        if (!block) {
            return APR_EAGAIN;
        }
        rv = link_wait(lc, APR_POLLIN, lc->timeout, &ev);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
}

int ptth_link_conn_has_input(ptth_link_conn *lc, apr_interval_time_t wait)
{
    apr_int16_t ev;

    if (lc->eof || lc->rpos != lc->rlen) {
        return 1;
    }
    return link_wait(lc, APR_POLLIN, wait, &ev) == APR_SUCCESS;
}
