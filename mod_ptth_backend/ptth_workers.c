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

/* The stream workers of a child, see ptth_workers.h. */

#include <apr_thread_mutex.h>

#include <httpd.h>
#include <http_log.h>
#include <mpm_common.h>

#include "ptth_backend.h"
#include "ptth_workers.h"

struct ptth_workers {
    server_rec *s;
    apr_pool_t *pool;               /* own allocator (with a mutex): the
                                     * threads and their pools, under lock */
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *more;        /* a task was queued, or shutdown */
    ptth_task *head, *tail;         /* the queue */
    int queued;
    int max;
    int nthreads;
    int idle;                       /* threads waiting on `more` */
    int shutdown;
    ptth_worker **all;              /* nthreads of max */
};

static void *APR_THREAD_FUNC worker_main(apr_thread_t *thread, void *data)
{
    ptth_worker *w = data;
    ptth_workers *ws = w->ws;

    (void)thread;
    apr_thread_mutex_lock(ws->lock);
    while (!ws->shutdown) {
        ptth_task *t = ws->head;

        if (!t) {
            ws->idle++;
            apr_thread_cond_wait(ws->more, ws->lock);
            ws->idle--;
            continue;
        }
        ws->head = t->next;
        if (ws->head) {
            ws->head->prev = NULL;
        }
        else {
            ws->tail = NULL;
        }
        t->next = t->prev = NULL;
        t->queued = 0;
        t->cond = w->cond;
        ws->queued--;
        apr_thread_mutex_unlock(ws->lock);

        t->run(t, w);
        /* Everything the task allocated goes back to the worker's
         * allocator, kept for the next one. */
        apr_pool_clear(w->task_pool);

        apr_thread_mutex_lock(ws->lock);
    }
    apr_thread_mutex_unlock(ws->lock);
    /* Return rather than apr_thread_exit() (see ptth_dialer.c). */
    return NULL;
}

/* Under ws->lock. */
static void worker_start(ptth_workers *ws)
{
    apr_allocator_t *allocator;
    apr_threadattr_t *attr;
    ptth_worker *w;
    apr_status_t rv;

    w = apr_pcalloc(ws->pool, sizeof(*w));
    w->ws = ws;
    w->id = ws->nthreads;
    if ((rv = apr_allocator_create(&allocator)) != APR_SUCCESS) {
        goto fail;
    }
    apr_allocator_max_free_set(allocator, ap_max_mem_free);
    rv = apr_pool_create_ex(&w->pool, ws->pool, NULL, allocator);
    if (rv != APR_SUCCESS) {
        apr_allocator_destroy(allocator);
        goto fail;
    }
    apr_allocator_owner_set(allocator, w->pool);
    apr_pool_tag(w->pool, "ptth_worker");
    apr_pool_create(&w->task_pool, w->pool);
    apr_pool_tag(w->task_pool, "ptth_worker_task");
    w->bucket_alloc = apr_bucket_alloc_create(w->pool);
    if ((rv = apr_thread_cond_create(&w->cond, w->pool)) != APR_SUCCESS) {
        goto fail;
    }
    apr_threadattr_create(&attr, ws->pool);
    if (ap_thread_stacksize) {
        apr_threadattr_stacksize_set(attr, ap_thread_stacksize);
    }
    rv = ap_thread_create(&w->thread, attr, worker_main, w, ws->pool);
    if (rv != APR_SUCCESS) {
        goto fail;
    }
    ws->all[ws->nthreads++] = w;
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, ws->s, PTTHLOGNO(03260)
                 "stream worker %d of at most %d started", w->id, ws->max);
    return;

fail:
    if (w->pool) {
        apr_pool_destroy(w->pool);
    }
    ap_log_error(APLOG_MARK, APLOG_ERR, rv, ws->s, PTTHLOGNO(03261)
                 "cannot start a stream worker (%d running); queued streams "
                 "wait for the others", ws->nthreads);
}

static apr_status_t workers_cleanup(void *data)
{
    ptth_workers *ws = data;
    apr_status_t st;
    int i;

    apr_thread_mutex_lock(ws->lock);
    ws->shutdown = 1;
    apr_thread_cond_broadcast(ws->more);
    apr_thread_mutex_unlock(ws->lock);
    for (i = 0; i < ws->nthreads; ++i) {
        apr_thread_join(&st, ws->all[i]->thread);
    }
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, ws->s, PTTHLOGNO(03202)
                 "%d stream worker(s) joined", ws->nthreads);
    ws->nthreads = 0;
    return APR_SUCCESS;
}

apr_status_t ptth_workers_create(ptth_workers **pws, apr_pool_t *pchild,
                                 server_rec *s, int max)
{
    apr_allocator_t *allocator;
    apr_thread_mutex_t *amutex;
    ptth_workers *ws;
    apr_status_t rv;

    ws = apr_pcalloc(pchild, sizeof(*ws));
    ws->s = s;
    ws->max = max > 0 ? max : 1;
    ws->all = apr_pcalloc(pchild, sizeof(ptth_worker *) * (apr_size_t)ws->max);
    if ((rv = apr_allocator_create(&allocator)) != APR_SUCCESS) {
        return rv;
    }
    rv = apr_pool_create_ex(&ws->pool, pchild, NULL, allocator);
    if (rv != APR_SUCCESS) {
        apr_allocator_destroy(allocator);
        return rv;
    }
    apr_allocator_owner_set(allocator, ws->pool);
    apr_pool_tag(ws->pool, "ptth_workers");
    /* The workers' own pools are subpools, created from tunnel threads
     * (under ws->lock) and destroyed with this one. */
    if ((rv = apr_thread_mutex_create(&amutex, APR_THREAD_MUTEX_DEFAULT,
                                      ws->pool)) != APR_SUCCESS) {
        return rv;
    }
    apr_allocator_mutex_set(allocator, amutex);
    if ((rv = apr_thread_mutex_create(&ws->lock, APR_THREAD_MUTEX_DEFAULT,
                                      ws->pool)) != APR_SUCCESS
        || (rv = apr_thread_cond_create(&ws->more, ws->pool)) != APR_SUCCESS) {
        return rv;
    }
    /* ws->pool goes with pchild's subpools, after pchild's pre-cleanups
     * (the dialer's drain and join: no tunnel queues anything any more);
     * its own pre-cleanup joins the threads before their pools go. */
    apr_pool_pre_cleanup_register(ws->pool, ws, workers_cleanup);
    *pws = ws;
    return APR_SUCCESS;
}

void ptth_workers_push(ptth_workers *ws, ptth_task *chain)
{
    int n = 0;

    apr_thread_mutex_lock(ws->lock);
    while (chain) {
        ptth_task *t = chain;

        chain = chain->next;
        t->next = NULL;
        t->prev = ws->tail;
        if (ws->tail) {
            ws->tail->next = t;
        }
        else {
            ws->head = t;
        }
        ws->tail = t;
        t->queued = 1;
        ws->queued++;
        ++n;
    }
    /* One signal per task, as far as threads are idle (signalled ones
     * count as idle until they run); for more queued than idle, more
     * threads. */
    while (n-- > 0 && ws->idle > 0) {
        apr_thread_cond_signal(ws->more);
    }
    for (n = ws->queued - ws->idle;
         n > 0 && ws->nthreads < ws->max && !ws->shutdown; --n) {
        int before = ws->nthreads;

        worker_start(ws);
        if (ws->nthreads == before) {
            break;          /* said why; the others take the queue */
        }
    }
    apr_thread_mutex_unlock(ws->lock);
}

int ptth_workers_cancel(ptth_workers *ws, ptth_task *t)
{
    int removed = 0;

    apr_thread_mutex_lock(ws->lock);
    if (t->queued) {
        if (t->prev) {
            t->prev->next = t->next;
        }
        else {
            ws->head = t->next;
        }
        if (t->next) {
            t->next->prev = t->prev;
        }
        else {
            ws->tail = t->prev;
        }
        t->next = t->prev = NULL;
        t->queued = 0;
        ws->queued--;
        removed = 1;
    }
    apr_thread_mutex_unlock(ws->lock);
    return removed;
}
