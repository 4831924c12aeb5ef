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

#ifndef PTTH_WORKERS_H
#define PTTH_WORKERS_H

/* The stream workers of one MPM child (PTTHStreamPath ptth): threads that
 * run the requests of the streams every tunnel of the child receives, one
 * at a time each, through httpd's request pipeline (ptth_c2.c).  See "The
 * ptth stream path" in docs/architecture.md.
 *
 * One FIFO queue per child.  A thread that finishes a task takes the next
 * queued one without sleeping; only an idle thread waits (one condition
 * variable signal per task queued while threads are idle).  Threads are
 * started on demand, up to the maximum, by the thread that queues (a
 * tunnel's thread, whose signals are all blocked, so theirs are too), and
 * stay until the child stops.
 *
 * Each worker owns a pool on its own allocator for its whole life, and a
 * task pool under it that is cleared (never destroyed) after every task:
 * per-request memory is recycled through the worker's allocator, without
 * the allocator creation and destruction (mmap/munmap) a pool per stream
 * on its own allocator would cost. */

#include <apr_buckets.h>
#include <apr_thread_cond.h>
#include <apr_thread_proc.h>

#include <httpd.h>

typedef struct ptth_workers ptth_workers;
typedef struct ptth_worker ptth_worker;
typedef struct ptth_task ptth_task;

/** What a worker runs. */
typedef void ptth_task_fn(ptth_task *t, ptth_worker *w);

/**
 * A queued piece of work, embedded in its owner (a stream).  The queue
 * links are the workers' (under their lock).
 */
struct ptth_task {
    ptth_task *next, *prev;
    ptth_task_fn *run;
    int queued;
    apr_thread_cond_t *cond;         /* while it runs: its worker's */
};

/** A worker thread and what it lends to the task it runs. */
struct ptth_worker {
    ptth_workers *ws;
    int id;                          /* 0 .. max-1, for connection ids */
    apr_thread_t *thread;
    apr_pool_t *pool;                /* own allocator, the worker's life */
    apr_pool_t *task_pool;           /* cleared after every task */
    apr_bucket_alloc_t *bucket_alloc;
    apr_thread_cond_t *cond;         /* the running task's waits */
};

/**
 * Create the workers of a child (no thread yet).  max is the most threads
 * that run at once.  They are joined when pchild goes, after the dialer's
 * pre-cleanup (every tunnel is gone by then).
 */
apr_status_t ptth_workers_create(ptth_workers **pws, apr_pool_t *pchild,
                                 server_rec *s, int max);

/** Queue tasks: a chain linked by their `next` (NULL-terminated), in one
 * go; wakes as many idle workers, starts more as needed. */
void ptth_workers_push(ptth_workers *ws, ptth_task *chain);

/** Take a task out of the queue if no worker took it yet.  Returns 1 when
 * it was removed (it will not run), 0 when a worker has it. */
int ptth_workers_cancel(ptth_workers *ws, ptth_task *t);

#endif /* PTTH_WORKERS_H */
