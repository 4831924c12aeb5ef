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

/* The dialed connection, see ptth_dialed.h. */

#include <string.h>

#include <apr_atomic.h>
#include <apr_strings.h>

#include <httpd.h>
#include <http_log.h>

#include "ptth_backend.h"
#include "ptth_dialed.h"

static const char *state_name(ptth_dialed_state st)
{
    switch (st) {
    case PTTH_DIALED_IDLE:          return "IDLE";
    case PTTH_DIALED_CONNECTING:    return "CONNECTING";
    case PTTH_DIALED_WAIT_PREFACE:  return "WAIT_PREFACE";
    case PTTH_DIALED_SERVING:       return "SERVING";
    case PTTH_DIALED_DRAINING:      return "DRAINING";
    case PTTH_DIALED_CLOSED:        return "CLOSED";
    case PTTH_DIALED_BACKOFF:       return "BACKOFF";
    case PTTH_DIALED_DONE:          return "DONE";
    }
    return "?";
}

apr_status_t ptth_dialed_create(ptth_dialed **pd, apr_pool_t *parent,
                                server_rec *s, ptth_dial_stop *stop,
                                const ptth_dial_mpm *mpm, const char *name)
{
    apr_allocator_t *allocator;
    ptth_dialed *d;
    apr_status_t rv;

    d = apr_pcalloc(parent, sizeof(*d));
    d->s = s;
    d->stop = stop;
    d->mpm = mpm;
    d->state = PTTH_DIALED_IDLE;
    d->seat_index = -1;

    /* Own allocator: the thread allocates while the main thread uses
     * the parent's. */
    rv = apr_allocator_create(&allocator);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    rv = apr_pool_create_ex(&d->pool, parent, NULL, allocator);
    if (rv != APR_SUCCESS) {
        apr_allocator_destroy(allocator);
        return rv;
    }
    apr_allocator_owner_set(allocator, d->pool);
    apr_pool_tag(d->pool, "ptth_dialed");
    d->name = apr_pstrdup(d->pool, name);

    rv = apr_pollset_create(&d->pollset, 1, d->pool, APR_POLLSET_WAKEABLE);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    *pd = d;
    return APR_SUCCESS;
}

/* The seat's record index while this child still owns the seat: a seat
 * freed at a stop (make-before-break) may already be another child's, and
 * its record is then that child's to write. */
static int record(ptth_dialed *d)
{
    if (d->seat_index < 0
        || apr_atomic_read32(&d->seats->slots[d->seat_index]) != d->pid) {
        return -1;
    }
    return d->seat_index;
}

void ptth_dialed_seat(ptth_dialed *d, ptth_seats *seats, int index,
                      int seat_no, const char *router, apr_uint32_t pid)
{
    d->seats = seats;
    d->seat_index = index;
    d->seat_no = seat_no;
    d->router = router;
    d->pid = pid;
    if (index >= 0) {
        /* The record starts with the state the connection is in. */
        ptth_seat_note_state(seats, index, pid, (int)d->state, 0);
    }
}

void ptth_dialed_note_connected(ptth_dialed *d, const char *local)
{
    ptth_seat_note_connected(d->seats, record(d), local);
}

void ptth_dialed_note_failure(ptth_dialed *d, int status, const char *why)
{
    ptth_seat_note_failure(d->seats, record(d), status, why);
}

void ptth_dialed_note_retry(ptth_dialed *d, apr_time_t when)
{
    ptth_seat_note_retry(d->seats, record(d), when);
}

void ptth_dialed_transit(ptth_dialed *d, ptth_dialed_state st, const char *why)
{
    if (d->state != st) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, d->s, PTTHLOGNO(03010)
                     "tunnel %s: %s -> %s (%s)", d->name,
                     state_name(d->state), state_name(st), why);
        d->state = st;
        ptth_seat_note_state(d->seats, record(d), d->pid, (int)st,
                             st == PTTH_DIALED_CLOSED);
    }
}

ptth_stop_mode ptth_dialed_stopping(ptth_dialed *d)
{
    return (ptth_stop_mode)apr_atomic_read32(&d->stop->mode);
}

void ptth_dialed_deadlines(ptth_dialed *d, apr_time_t *drain,
                           apr_time_t *handover)
{
    apr_thread_mutex_lock(d->stop->lock);
    *drain = d->stop->deadline;
    *handover = d->stop->handover;
    apr_thread_mutex_unlock(d->stop->lock);
}

/* One wait on the thread's pollset, as APR_SUCCESS (the socket is ready),
 * APR_EINTR (woken), APR_TIMEUP or an error.  The pollset is
 * APR_POLLSET_WAKEABLE: apr_pollset_wakeup() from child_stopping makes it
 * return with nothing ready (our signals are blocked, so nothing else
 * does). */
static apr_status_t dialed_poll(ptth_dialed *d, apr_interval_time_t timeout)
{
    const apr_pollfd_t *out;
    apr_int32_t n = 0;
    apr_status_t rv = apr_pollset_poll(d->pollset, timeout, &n, &out);

    if (rv == APR_SUCCESS) {
        return n > 0 ? APR_SUCCESS : APR_EINTR;
    }
    if (APR_STATUS_IS_TIMEUP(rv)) {
        return APR_TIMEUP;
    }
    if (APR_STATUS_IS_EINTR(rv)) {
        return APR_EINTR;
    }
    return rv;
}

apr_status_t ptth_dialed_wait(ptth_dialed *d, apr_socket_t *sock,
                              apr_int16_t reqevents,
                              apr_interval_time_t timeout)
{
    apr_pollfd_t pfd;
    apr_status_t rv;

    if (ptth_dialed_stopping(d) == PTTH_STOP_NOW) {
        return APR_EINTR;
    }
    memset(&pfd, 0, sizeof(pfd));
    if (sock) {
        pfd.p = d->pool;
        pfd.desc_type = APR_POLL_SOCKET;
        pfd.reqevents = reqevents;
        pfd.desc.s = sock;
        rv = apr_pollset_add(d->pollset, &pfd);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    rv = dialed_poll(d, timeout);
    if (sock) {
        apr_pollset_remove(d->pollset, &pfd);
    }
    return rv;
}

apr_status_t ptth_dialed_watch(ptth_dialed *d, apr_socket_t *sock,
                               apr_int16_t reqevents)
{
    apr_status_t rv = APR_SUCCESS;

    if (d->watched.desc.s == sock && d->watched.reqevents == reqevents) {
        return APR_SUCCESS;
    }
    if (d->watched.desc.s) {
        apr_pollset_remove(d->pollset, &d->watched);
        d->watched.desc.s = NULL;
    }
    if (sock) {
        memset(&d->watched, 0, sizeof(d->watched));
        d->watched.p = d->pool;
        d->watched.desc_type = APR_POLL_SOCKET;
        d->watched.reqevents = reqevents;
        d->watched.desc.s = sock;
        rv = apr_pollset_add(d->pollset, &d->watched);
        if (rv != APR_SUCCESS) {
            d->watched.desc.s = NULL;
        }
    }
    return rv;
}

apr_status_t ptth_dialed_wait_watched(ptth_dialed *d,
                                      apr_interval_time_t timeout)
{
    if (ptth_dialed_stopping(d) == PTTH_STOP_NOW) {
        return APR_EINTR;
    }
    return dialed_poll(d, timeout);
}

void ptth_dialed_wakeup(ptth_dialed *d)
{
    if (d->pollset) {
        apr_pollset_wakeup(d->pollset);
    }
}

void ptth_dialed_set_socket(ptth_dialed *d, apr_socket_t *sock)
{
    apr_thread_mutex_lock(d->stop->lock);
    d->sock = sock;
    d->shut_rd = d->shut_rdwr = 0;
    apr_thread_mutex_unlock(d->stop->lock);
}

void ptth_dialed_shutdown(ptth_dialed *d, apr_shutdown_how_e how,
                          const char *why)
{
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, d->s, PTTHLOGNO(03017)
                 "tunnel %s: shutting down %s: %s", d->name,
                 how == APR_SHUTDOWN_READ ? "the read side" : "both sides",
                 why);
    apr_socket_shutdown(d->sock, how);
    if (how == APR_SHUTDOWN_READ) {
        d->shut_rd = 1;
    }
    else {
        d->shut_rd = d->shut_rdwr = 1;
    }
}

void ptth_dialed_streams(ptth_dialed *d, apr_uint32_t open,
                         apr_uint32_t opened)
{
    apr_atomic_set32(&d->requests, opened);
    ptth_seat_note_streams(d->seats, record(d), open, opened);
    if (apr_atomic_xchg32(&d->inflight, open) != 0 && open == 0
        && ptth_dialed_stopping(d)) {
        /* A drain may be waiting for this. */
        apr_thread_mutex_lock(d->stop->lock);
        apr_thread_cond_broadcast(d->stop->cond);
        apr_thread_mutex_unlock(d->stop->lock);
    }
}
