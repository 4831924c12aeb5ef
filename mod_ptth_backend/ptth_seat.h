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
#include <apr_time.h>

/* What each seat's tunnel is doing, for the status handler of any child
 * (ptth_backend_status.c), in the same segment.  The seat's owner thread
 * writes it; a reader copies it under a sequence count (odd while being
 * written) and tries again when a write overlapped. */
#define PTTH_SEAT_ADDR_LEN    64
#define PTTH_SEAT_REASON_LEN  160

typedef struct ptth_seat_info {
    volatile apr_uint32_t seq;
    apr_uint32_t state;            /* the owner's ptth_dialed_state (ptth_dialed.h) */
    apr_uint32_t active;           /* streams open now */
    apr_uint32_t failures;         /* failed dials in a row */
    apr_uint32_t refusal_status;   /* last refusal: the router's HTTP status,
                                    * 0: no answer (connect, TLS) */
    apr_uint32_t pid;              /* the owner when written */
    apr_uint64_t requests;         /* opened on the current connection */
    apr_uint64_t requests_before;  /* on earlier connections of the seat */
    apr_uint64_t dials;            /* connections made */
    apr_time_t since;              /* entered the state */
    apr_time_t next_retry;         /* BACKOFF: next dial; 0: none */
    apr_time_t refused_at;         /* last refusal; 0: none */
    char local[PTTH_SEAT_ADDR_LEN];     /* the connection's local address */
    char reason[PTTH_SEAT_REASON_LEN];  /* last refusal, why */
} ptth_seat_info;

typedef struct ptth_seats {
    apr_shm_t *shm;
    volatile apr_uint32_t *slots;
    ptth_seat_info *info;          /* count of them */
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

/* Its owner records what the seat's tunnel does (index: the seat). */
void ptth_seat_note_state(ptth_seats *seats, int index, apr_uint32_t pid,
                          int state, int closed);
void ptth_seat_note_connected(ptth_seats *seats, int index, const char *local);
void ptth_seat_note_failure(ptth_seats *seats, int index, int status,
                            const char *why);
void ptth_seat_note_retry(ptth_seats *seats, int index, apr_time_t when);
void ptth_seat_note_streams(ptth_seats *seats, int index, apr_uint32_t open,
                            apr_uint32_t opened);
/* A consistent copy of a seat's record, and its owner's pid (0: free). */
void ptth_seat_read(ptth_seats *seats, int index, ptth_seat_info *out,
                    apr_uint32_t *owner);

#endif /* PTTH_SEAT_H */
