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

#ifndef PTTH_SEAT_H
#define PTTH_SEAT_H

/* Seats: the number of tunnels per endpoint is a property of the whole
 * server (PTTHTunnels), not of the MPM's child count.  Each endpoint owns a
 * run of seats in anonymous shared memory created by the parent in
 * post_config and inherited by every child of that generation.  A seat is
 * one apr_uint32_t holding the pid of the child whose dialer thread owns it,
 * or 0.  A thread claims a free seat with a compare-and-swap, keeps it while
 * it dials and serves, and frees it when it exits; a seat whose owner died
 * without freeing it (crash, SIGKILL) is taken over.
 *
 * A graceful restart creates a new generation with a new segment, so the
 * new children dial while the old ones still drain (make-before-break). */

#include <apr_pools.h>
#include <apr_shm.h>

typedef struct ptth_seats {
    apr_shm_t *shm;
    volatile apr_uint32_t *slots;
    int count;
} ptth_seats;

/**
 * Create `count` free seats in anonymous shared memory (parent, pconf).
 */
apr_status_t ptth_seats_create(ptth_seats **pseats, int count, apr_pool_t *p);

/**
 * Claim one seat out of [first, first + n) for process `pid`.
 * @return the seat index, or -1 when all are taken by live processes
 */
int ptth_seat_claim(ptth_seats *seats, int first, int n, apr_uint32_t pid);

/**
 * Free a seat owned by `pid` (no effect if someone else owns it).
 */
void ptth_seat_release(ptth_seats *seats, int index, apr_uint32_t pid);

#endif /* PTTH_SEAT_H */
