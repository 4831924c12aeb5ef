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
#include <string.h>
#include <signal.h>
#include <sys/types.h>

#include <apr_atomic.h>

#include "ptth_backend.h"
#include "ptth_seat.h"

apr_status_t ptth_seats_create(ptth_seats **pseats, int count, apr_pool_t *p)
{
    ptth_seats *seats = apr_pcalloc(p, sizeof(*seats));
    apr_status_t rv;

    /* Anonymous shared memory: no file to clean up, inherited at fork, gone
     * with the last process of this generation.  pconf's cleanup unmaps it
     * in the parent on restart; the children keep their mapping. */
    apr_size_t slots = APR_ALIGN_DEFAULT((apr_size_t)count * sizeof(apr_uint32_t));
    apr_size_t size = slots + (apr_size_t)count * sizeof(ptth_seat_info);

    rv = apr_shm_create(&seats->shm, size, NULL, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    seats->slots = apr_shm_baseaddr_get(seats->shm);
    seats->info = (ptth_seat_info *)((char *)apr_shm_baseaddr_get(seats->shm) + slots);
    seats->count = count;
    memset(apr_shm_baseaddr_get(seats->shm), 0, size);
    *pseats = seats;
    return APR_SUCCESS;
}

/* A pid that no longer exists.  EPERM means it exists (another user), and
 * a zombie counts as alive until the parent reaps it (about a second). */
static int pid_is_dead(apr_uint32_t pid)
{
    return kill((pid_t)pid, 0) == -1 && errno == ESRCH;
}

int ptth_seat_claim(ptth_seats *seats, int first, int n, apr_uint32_t pid)
{
    int i;

    for (i = first; i < first + n && i < seats->count; ++i) {
        apr_uint32_t owner = apr_atomic_read32(&seats->slots[i]);

        if (owner == 0) {
            if (apr_atomic_cas32(&seats->slots[i], pid, 0) == 0) {
                return i;
            }
        }
        else if (owner != pid && pid_is_dead(owner)) {
            /* The cas fails if another child stole it first. */
            if (apr_atomic_cas32(&seats->slots[i], pid, owner) == owner) {
                return i;
            }
        }
        /* owner == pid: a sibling thread of this child holds it. */
    }
    return -1;
}

void ptth_seat_release(ptth_seats *seats, int index, apr_uint32_t pid)
{
    if (index >= 0 && index < seats->count) {
        apr_atomic_cas32(&seats->slots[index], 0, pid);
    }
}

/* ---- the seats' records ---------------------------------------------- */

/* Writes of one record come from its owner thread only.  An odd count
 * means a write is under way; a count left odd by an owner that died is
 * made even again by the next one. */
static ptth_seat_info *write_begin(ptth_seats *seats, int index)
{
    ptth_seat_info *si;
    apr_uint32_t s;

    if (!seats || index < 0 || index >= seats->count) {
        return NULL;
    }
    si = &seats->info[index];
    s = apr_atomic_read32(&si->seq);
    apr_atomic_set32(&si->seq, (s | 1u) + ((s & 1u) ? 2u : 0u));
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return si;
}

static void write_end(ptth_seat_info *si)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    apr_atomic_set32(&si->seq, apr_atomic_read32(&si->seq) + 1);
}

static void copy_str(char *dst, apr_size_t n, const char *src)
{
    apr_size_t i = 0;

    for (; src && src[i] && i < n - 1; ++i) {
        dst[i] = src[i];
    }
    dst[i] = '\0';
}

void ptth_seat_note_state(ptth_seats *seats, int index, apr_uint32_t pid,
                          int state, int closed)
{
    ptth_seat_info *si = write_begin(seats, index);

    if (!si) {
        return;
    }
    if (si->pid != pid) {
        /* A new owner: the seat's counts start again. */
        si->pid = pid;
        si->requests = si->requests_before = si->dials = 0;
        si->failures = si->refusal_status = 0;
        si->refused_at = si->next_retry = 0;
        si->reason[0] = si->local[0] = '\0';
    }
    if (closed) {
        si->requests_before += si->requests;
        si->requests = 0;
        si->active = 0;
        si->local[0] = '\0';
    }
    si->state = (apr_uint32_t)state;
    si->since = apr_time_now();
    si->next_retry = 0;
    write_end(si);
}

void ptth_seat_note_connected(ptth_seats *seats, int index, const char *local)
{
    ptth_seat_info *si = write_begin(seats, index);

    if (!si) {
        return;
    }
    si->dials++;
    si->failures = 0;
    copy_str(si->local, sizeof(si->local), local);
    write_end(si);
}

void ptth_seat_note_failure(ptth_seats *seats, int index, int status,
                            const char *why)
{
    ptth_seat_info *si = write_begin(seats, index);

    if (!si) {
        return;
    }
    si->failures++;
    si->refusal_status = status > 0 ? (apr_uint32_t)status : 0;
    si->refused_at = apr_time_now();
    copy_str(si->reason, sizeof(si->reason), why);
    write_end(si);
}

void ptth_seat_note_retry(ptth_seats *seats, int index, apr_time_t when)
{
    ptth_seat_info *si = write_begin(seats, index);

    if (!si) {
        return;
    }
    si->next_retry = when;
    write_end(si);
}

void ptth_seat_note_streams(ptth_seats *seats, int index, apr_uint32_t open,
                            apr_uint32_t opened)
{
    ptth_seat_info *si = write_begin(seats, index);

    if (!si) {
        return;
    }
    si->active = open;
    si->requests = opened;
    write_end(si);
}

void ptth_seat_read(ptth_seats *seats, int index, ptth_seat_info *out,
                    apr_uint32_t *owner)
{
    ptth_seat_info *si;
    int tries;

    memset(out, 0, sizeof(*out));
    *owner = 0;
    if (!seats || index < 0 || index >= seats->count) {
        return;
    }
    si = &seats->info[index];
    /* Bounded: a display may show a record torn by a busy writer. */
    for (tries = 0; tries < 100; ++tries) {
        apr_uint32_t s1 = apr_atomic_read32(&si->seq), s2;
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        memcpy(out, (const void *)si, sizeof(*out));
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        s2 = apr_atomic_read32(&si->seq);
        if (s1 == s2 && !(s1 & 1u)) {
            break;
        }
    }
    out->local[sizeof(out->local) - 1] = '\0';
    out->reason[sizeof(out->reason) - 1] = '\0';
    *owner = apr_atomic_read32(&seats->slots[index]);
}
