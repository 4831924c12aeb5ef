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
    rv = apr_shm_create(&seats->shm, (apr_size_t)count * sizeof(apr_uint32_t),
                        NULL, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    seats->slots = apr_shm_baseaddr_get(seats->shm);
    seats->count = count;
    memset((void *)seats->slots, 0, (apr_size_t)count * sizeof(apr_uint32_t));
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
