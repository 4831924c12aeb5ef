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

/* The dialer threads of one MPM child: seats, the dial loop, stop and
 * drain.  One dial is in ptth_dial.c; the dialed connection and its state
 * machine in ptth_dialed.h.  The process model, and graceful restart and
 * stop, are described in docs/architecture.md ("How the backend serves a
 * dialed connection").
 *
 * How each MPM stops a child, and what we do about it:
 *
 *  - event, worker: child_stopping(pchild, graceful) comes from the MPM's
 *    signal_threads(); graceful means restart/graceful-stop/idle reaping.
 *    We set the stop mode and wake the threads, and return at once.  Under
 *    event our thread runs the connection between mod_http2's passes and
 *    closes it when idle (after the handover period); mod_http2 itself
 *    sends GOAWAY and finishes the streams it has (it polls
 *    AP_MPMQ_STOPPING).  Under worker mod_http2 holds our thread for the
 *    whole session; it ignores the stop until the session has seen a
 *    stream (PR65731 logic in h2_session_process), and an idle session sits
 *    in a poll bounded by the tunnel's very long KeepAliveTimeout.  So the
 *    drain shuts the read side once no stream is open (after the handover
 *    period; the gate holds new streams back meanwhile, ptth_gate.h):
 *    mod_http2 sees EOF, sends its final GOAWAY and ends the session.
 *    The drain runs in the pchild pre-cleanup, after the MPM's own threads
 *    are gone and before mod_http2's workers are (hook order in
 *    mod_ptth_backend.c); its deadline counts from child_stopping.
 *
 *  - prefork: child_stopping(pchild, 0) comes from clean_child_exit() both
 *    for graceful restarts (and idle reaping) and from the SIGTERM/SIGHUP
 *    handler, and the process exits right after; mod_http2's own
 *    child_stopping(0) would abort every stream.  So we run first and drain
 *    right there, unless we are inside that signal handler (a hard stop:
 *    the parent sends SIGKILL after a few seconds).
 */

#include <signal.h>
#include <pthread.h>
#include <unistd.h>

#include <apr_atomic.h>
#include <apr_strings.h>

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <ap_mpm.h>
#include <ap_listen.h>
#include <mpm_common.h>

#include "ptth_backend.h"
#include "ptth_dialer.h"
#include "ptth_h2s.h"
#include "ptth_seat.h"
#include "ptth_workers.h"

/* How often a thread without a seat looks for a free one. */
#define PTTH_SEAT_RECHECK   apr_time_from_sec(1)

/* The child this process runs; hooks without a context argument find it
 * here.  Set in child_init, cleared in the pchild pre-cleanup. */
static ptth_dialer_child *the_child;

/*******************************************************************************
 * the dial loop
 ******************************************************************************/

/* Whether another thread of this child holds a seat of th's endpoint.
 * Under stop.lock.  mod_http2's workers (H2MaxWorkers) are per child, so
 * tunnels spread over the children serve more streams in parallel: at
 * start, a thread with such a sibling lets the other children claim first
 * and only takes a seat that is still free a second later. */
static int sibling_has_seat(ptth_dialer_thread *th)
{
    int i;

    for (i = 0; i < th->child->nthreads; ++i) {
        ptth_dialer_thread *o = th->child->threads[i];
        if (o != th && o->pc == th->pc && o->seat >= 0 && !o->seat_freed) {
            return 1;
        }
    }
    return 0;
}

static void *APR_THREAD_FUNC dialer_thread_main(apr_thread_t *thd, void *data)
{
    ptth_dialer_thread *th = data;
    ptth_dialed *d = th->d;
    ptth_dialer_child *child = th->child;
    ptth_backend_sconf *conf = child->conf;
    int nseats = ptth_connect_tunnels(conf, th->pc);
    apr_interval_time_t delay = 0;

    while (!ptth_dialed_stopping(d)) {
        if (th->seat < 0) {
            int spread = 0;

            /* Under the lock: a stop frees the seats of this child. */
            apr_thread_mutex_lock(child->stop.lock);
            if (!ptth_dialed_stopping(d)) {
                if (!th->spread_done && sibling_has_seat(th)) {
                    spread = 1;
                }
                else {
                    int seat = ptth_seat_claim(conf->seats, th->pc->seat_base,
                                               nseats, child->pid);
                    if (seat >= 0) {
                        th->seat = seat - th->pc->seat_base;
                    }
                }
                th->spread_done = 1;
            }
            apr_thread_mutex_unlock(child->stop.lock);
            if (th->seat < 0) {
                ptth_dialed_transit(d, PTTH_DIALED_IDLE, spread
                                    ? "letting other children take seats first"
                                    : "all seats taken");
                ptth_dialed_wait(d, NULL, 0, PTTH_SEAT_RECHECK);
                continue;
            }
            d->name = apr_psprintf(d->pool, "%s#%d", th->pc->ep.url, th->seat);
            ptth_dialed_seat(d, conf->seats, th->pc->seat_base + th->seat,
                             th->seat, th->pc->ep.url, child->pid);
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, child->s, PTTHLOGNO(03015)
                         "tunnel %s: seat %d of %d claimed by pid %u",
                         d->name, th->seat, nseats, (unsigned)child->pid);
            ptth_backoff_reset(&th->backoff);
            delay = 0;
        }
        if (delay > 0) {
            ptth_dialed_transit(d, PTTH_DIALED_BACKOFF, "waiting to re-dial");
            ptth_dialed_note_retry(d, apr_time_now() + delay);
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, child->s, PTTHLOGNO(03016)
                         "tunnel %s: next dial in %" APR_TIME_T_FMT "ms",
                         d->name, apr_time_as_msec(delay));
            if (ptth_dialed_wait(d, NULL, 0, delay) == APR_EINTR) {
                continue;
            }
        }
        delay = ptth_dial_once(th);
    }

    ptth_dialed_transit(d, PTTH_DIALED_DONE, "child stopping");

    apr_thread_mutex_lock(child->stop.lock);
    if (th->seat >= 0 && !th->seat_freed) {
        ptth_seat_release(conf->seats, th->pc->seat_base + th->seat,
                          child->pid);
        th->seat_freed = 1;
    }
    th->done = 1;
    apr_thread_cond_broadcast(child->stop.cond);
    apr_thread_mutex_unlock(child->stop.lock);

    /* Return rather than apr_thread_exit(): pthread_exit() unwinds without
     * running the compiler's stack cleanup, which sanitizers report as a
     * bad stack access at thread exit.  The thread's pool is a subpool of
     * d->pool and goes with it. */
    (void)thd;
    return NULL;
}

/*******************************************************************************
 * stop and drain
 ******************************************************************************/

/* Enter (or escalate to) a stop mode and wake every thread. */
static void dialer_stop(ptth_dialer_child *child, ptth_stop_mode mode)
{
    ptth_dial_stop *stop = &child->stop;
    apr_time_t now = apr_time_now();
    int i;

    apr_thread_mutex_lock(stop->lock);
    if ((apr_uint32_t)mode <= apr_atomic_read32(&stop->mode)) {
        apr_thread_mutex_unlock(stop->lock);
        return;
    }
    if (mode == PTTH_STOP_NOW) {
        stop->deadline = stop->handover = now;
    }
    else {
        apr_interval_time_t h = PTTH_HANDOVER < child->conf->drain_timeout
                                ? PTTH_HANDOVER : child->conf->drain_timeout;
        stop->deadline = now + child->conf->drain_timeout;
        stop->handover = now + h;
    }
    apr_atomic_set32(&stop->mode, mode);
    for (i = 0; i < child->nthreads; ++i) {
        ptth_dialer_thread *th = child->threads[i];

        /* This child dials no more: let another one take the seat now
         * (make-before-break; the drain below may take a while). */
        if (th->seat >= 0 && !th->seat_freed) {
            ptth_seat_release(child->conf->seats, th->pc->seat_base + th->seat,
                              child->pid);
            th->seat_freed = 1;
        }
        if (mode == PTTH_STOP_NOW && th->d->sock && !th->d->shut_rdwr) {
            ptth_dialed_shutdown(th->d, APR_SHUTDOWN_READWRITE, "stopping now");
        }
    }
    apr_thread_cond_broadcast(stop->cond);
    apr_thread_mutex_unlock(stop->lock);

    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, child->s, PTTHLOGNO(03018)
                 "child %u stopping %s", (unsigned)child->pid,
                 mode == PTTH_STOP_NOW ? "now"
                 : "gracefully (requests in flight may finish)");
    for (i = 0; i < child->nthreads; ++i) {
        ptth_dialed_wakeup(child->threads[i]->d);
    }
}

/* Wait until every thread has finished, or the drain deadline: then the
 * remaining connections are shut down and waited for. */
static void dialer_drain(ptth_dialer_child *child)
{
    ptth_dial_stop *stop = &child->stop;
    int i, alive;

    apr_thread_mutex_lock(stop->lock);
    for (;;) {
        apr_time_t now = apr_time_now(), wake = stop->deadline;
        apr_interval_time_t timeout;

        alive = 0;
        for (i = 0; i < child->nthreads; ++i) {
            ptth_dialer_thread *th = child->threads[i];
            ptth_dialed *d = th->d;

            if (th->done) {
                continue;
            }
            ++alive;
            if (!d->sock || d->shut_rdwr) {
                continue;
            }
            if (now >= stop->deadline) {
                ptth_dialed_shutdown(d, APR_SHUTDOWN_READWRITE,
                                     "PTTHDrainTimeout reached");
            }
            else if (!child->mpm.async && !d->shut_rd
                     && apr_atomic_read32(&d->inflight) == 0) {
                /* Sync MPMs: mod_http2 holds the thread, and an idle
                 * session sits in its keepalive wait without looking at
                 * the stop.  With no stream open (new ones are held back
                 * by the gate), EOF makes it send its final GOAWAY and
                 * end. */
                if (now >= stop->handover) {
                    ptth_dialed_shutdown(d, APR_SHUTDOWN_READ,
                                         "no stream in flight");
                }
                else if (stop->handover < wake) {
                    wake = stop->handover;
                }
            }
        }
        if (!alive) {
            break;
        }
        /* Past the deadline the sockets are shut; the threads finish as
         * soon as mod_http2 has cleaned up, which signals the cond. */
        timeout = (wake > now) ? wake - now : apr_time_from_sec(1);
        apr_thread_cond_timedwait(stop->cond, stop->lock, timeout);
    }
    apr_thread_mutex_unlock(stop->lock);
}

/* pchild pre-cleanup: runs before mod_http2's (see register_hooks). */
static apr_status_t dialer_child_cleanup(void *data)
{
    ptth_dialer_child *child = data;
    apr_status_t st;
    int i;

    if (apr_atomic_read32(&child->stop.mode) == PTTH_RUNNING) {
        /* No child_stopping (e.g. exit after a startup error). */
        dialer_stop(child, PTTH_STOP_NOW);
    }
    dialer_drain(child);
    for (i = 0; i < child->nthreads; ++i) {
        if (child->threads[i]->d->thread) {
            apr_thread_join(&st, child->threads[i]->d->thread);
        }
    }
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, child->s, PTTHLOGNO(03019)
                 "child %u: all %d dialer thread(s) joined",
                 (unsigned)child->pid, child->nthreads);
    the_child = NULL;
    return APR_SUCCESS;
}

/* prefork runs child_stopping from its SIGTERM/SIGHUP handler (just_die)
 * for a hard stop or restart, and from the normal code path otherwise.
 * The handler runs with its signal blocked (apr_signal() sets no
 * SA_NODEFER), which tells the two apart. */
static int in_hard_stop_signal(void)
{
    sigset_t cur;

    if (pthread_sigmask(SIG_BLOCK, NULL, &cur) != 0) {
        return 0;
    }
    return sigismember(&cur, SIGTERM) == 1 || sigismember(&cur, SIGHUP) == 1;
}

void ptth_dialer_child_stopping(apr_pool_t *pchild, int graceful)
{
    ptth_dialer_child *child = the_child;

    (void)pchild;
    if (!child) {
        return;
    }
    if (child->mpm.prefork) {
        graceful = !in_hard_stop_signal();
    }
    dialer_stop(child, graceful ? PTTH_STOP_GRACEFUL : PTTH_STOP_NOW);
    if (child->mpm.prefork && graceful) {
        /* The process exits right after the child_stopping hooks.  (A hard
         * stop does not wait here: mod_http2's child_stopping aborts the
         * streams next, and the pchild pre-cleanup joins.) */
        dialer_drain(child);
    }
}

/*******************************************************************************
 * child start
 ******************************************************************************/

static apr_status_t dialer_thread_create(ptth_dialer_thread **pth,
                                         ptth_dialer_child *child,
                                         const ptth_connect *pc, int no)
{
    ptth_dialer_thread *th;
    apr_status_t rv;

    th = apr_pcalloc(child->pool, sizeof(*th));
    th->child = child;
    th->pc = pc;
    th->no = no;
    th->seat = -1;
    rv = ptth_dialed_create(&th->d, child->pool, child->s, &child->stop,
                            &child->mpm, apr_psprintf(child->pool,
                            "%s(thread %d)", pc->ep.url, no));
    if (rv != APR_SUCCESS) {
        return rv;
    }
    ptth_backoff_init(&th->backoff, child->conf->reconnect_min,
                      child->conf->reconnect_max);
    *pth = th;
    return APR_SUCCESS;
}

static void mpm_traits(ptth_dial_mpm *mpm)
{
    if (ap_mpm_query(AP_MPMQ_IS_ASYNC, &mpm->async) != APR_SUCCESS) {
        mpm->async = 0;
    }
    mpm->name = ap_show_mpm();
    mpm->prefork = !strcmp(mpm->name, "prefork");
    if (!strcmp(mpm->name, "event")) {
        mpm->event_module = ap_find_linked_module("event.c");
    }
}

void ptth_dialer_child_init(apr_pool_t *pchild, server_rec *s)
{
    ptth_backend_sconf *conf = ptth_backend_sconf_get(s);
    ptth_dialer_child *child;
    apr_threadattr_t *attr;
    sigset_t all, old;
    int i, k, n, hard_daemons = 0, hard_threads = 0;
    apr_status_t rv;

    if (!conf->seats) {
        return;
    }

    child = apr_pcalloc(pchild, sizeof(*child));
    child->s = s;
    child->conf = conf;
    child->pool = pchild;
    child->pid = (apr_uint32_t)getpid();
    if ((rv = apr_thread_mutex_create(&child->stop.lock,
                                      APR_THREAD_MUTEX_DEFAULT,
                                      pchild)) != APR_SUCCESS
        || (rv = apr_thread_cond_create(&child->stop.cond,
                                        pchild)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, PTTHLOGNO(03020)
                     "cannot create the dialer's lock; no tunnels from "
                     "this child");
        return;
    }
    mpm_traits(&child->mpm);

    child->default_vaddr = conf->vaddr;
    if (!child->default_vaddr && ap_listeners) {
        child->default_vaddr = ap_listeners->bind_addr;
    }

    ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &hard_daemons);
    ap_mpm_query(AP_MPMQ_HARD_LIMIT_THREADS, &hard_threads);
    child->id_base = (long)(hard_daemons > 0 ? hard_daemons : 1)
                     * (hard_threads > 0 ? hard_threads : 1) + 1;
    if (child->id_base < 1000000) {
        child->id_base = 1000000;
    }

    if (conf->stream_path_eff == PTTH_STREAM_PATH_PTTH) {
        /* The ptth stream path: one set of workers for every tunnel of the
         * child, as many as mod_http2 would start by default (half again
         * the MPM's threads), at least 25 (prefork: 1 thread). */
        int threads = 0, max;

        ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads);
        max = threads * 3 / 2;
        if (max < PTTH_MIN_STREAM_WORKERS) {
            max = PTTH_MIN_STREAM_WORKERS;
        }
        if (max > PTTH_MAX_STREAM_WORKERS) {
            max = PTTH_MAX_STREAM_WORKERS;
        }
        if ((rv = ptth_h2s_child_init(pchild)) != APR_SUCCESS
            || (rv = ptth_workers_create(&child->workers, pchild, s,
                                         max)) != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, PTTHLOGNO(03024)
                         "cannot set up the stream workers; no tunnels from "
                         "this child");
            return;
        }
    }

    child->threads = apr_pcalloc(pchild, sizeof(ptth_dialer_thread *)
                                 * (apr_size_t)conf->total_seats);
    for (i = 0; i < conf->connects->nelts; ++i) {
        const ptth_connect *pc = &APR_ARRAY_IDX(conf->connects, i,
                                                ptth_connect);

        n = ptth_connect_tunnels(conf, pc);
        for (k = 0; k < n; ++k) {
            ptth_dialer_thread *th;

            rv = dialer_thread_create(&th, child, pc, k);
            if (rv != APR_SUCCESS) {
                ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, PTTHLOGNO(03021)
                             "cannot set up a dialer for %s", pc->ep.url);
                continue;
            }
            th->d->workers = child->workers;
            child->threads[child->nthreads++] = th;
        }
    }

    apr_threadattr_create(&attr, pchild);
    if (ap_thread_stacksize) {
        apr_threadattr_stacksize_set(attr, ap_thread_stacksize);
    }

    /* Block every signal in our threads: SIGTERM, SIGUSR1, SIGHUP must
     * reach the MPM's threads, which act on them.  The new thread inherits
     * the mask in effect when it is created. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (i = 0; i < child->nthreads; ++i) {
        ptth_dialer_thread *th = child->threads[i];

        rv = ap_thread_create(&th->d->thread, attr, dialer_thread_main, th,
                              th->d->pool);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, PTTHLOGNO(03022)
                         "cannot start a dialer thread for %s",
                         th->pc->ep.url);
            th->d->thread = NULL;
            th->done = 1;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    apr_pool_pre_cleanup_register(pchild, child, dialer_child_cleanup);
    the_child = child;

    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, PTTHLOGNO(03023)
                 "child %u: %d dialer thread(s) under %s%s, virtual address "
                 "%pI, streams served by %s", (unsigned)child->pid,
                 child->nthreads, child->mpm.name,
                 child->mpm.async ? " (async)" : "", child->default_vaddr,
                 child->workers ? "mod_ptth_backend" : "mod_http2");
}
