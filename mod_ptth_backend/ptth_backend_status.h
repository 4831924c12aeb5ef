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

#ifndef PTTH_BACKEND_STATUS_H
#define PTTH_BACKEND_STATUS_H

/* What the backend shows about its tunnels (docs/mod_ptth_backend.md,
 * "Status and logging"):
 *
 *   ptth_backend_status.c      the "ptth-backend-status" handler: a
 *                              snapshot of every seat's record
 *                              (ptth_seat.h), the per-request log
 *                              variables, configtest warnings
 *   ptth_backend_status_out.c  the snapshot as HTML, JSON or metrics
 */

#include <httpd.h>

#include "ptth_seat.h"

typedef struct ptth_bst_seat {
    int no;                        /* within its PTTHConnect */
    apr_uint32_t owner;            /* pid of the child holding it, 0: free */
    ptth_seat_info info;
} ptth_bst_seat;

typedef struct ptth_bst_router {
    const char *url;               /* as configured */
    const char *mode;              /* tcp (plain), http, https */
    int tunnels;                   /* seats: tunnels the server keeps */
    int serving;
    ptth_bst_seat *seats;
} ptth_bst_router;

typedef struct ptth_bst {
    apr_time_t now;
    apr_uint32_t pid;              /* the child answering */
    int generation;
    int nrouters;
    ptth_bst_router *routers;
} ptth_bst;

/* Lowercase name of a seat's state ("free" when nobody holds it). */
const char *ptth_bst_state(const ptth_bst_seat *seat);

void ptth_bst_html(request_rec *r, const ptth_bst *st, int refresh);
void ptth_bst_json(request_rec *r, const ptth_bst *st);
void ptth_bst_metrics(request_rec *r, const ptth_bst *st, int om);

/* Hooks (mod_ptth_backend.c registers them). */
void ptth_backend_status_register(apr_pool_t *p);

#endif /* PTTH_BACKEND_STATUS_H */
