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

#ifndef PTTH_ADMISSION_H
#define PTTH_ADMISSION_H

/* Secure admission (ptth_admission.c): a connection on a listener
 * without plain=, from accept through TLS and the PTTH handshake to its
 * 101, when it becomes a tunnel, or its refusal (docs/protocol.md).  The
 * pending connection is private to that file; the hub sees its handle. */

#include "ptth_hub.h"

/* Set up the hub's list of pending connections (at its start). */
void ptth_pending_init(ptth_hub *hub);
/* A connection accepted on l, in its own pool p (taken over). */
void ptth_pending_accept(ptth_hub *hub, ptth_hub_listener *l, apr_pool_t *p,
                         apr_socket_t *sock);
/* Events on a pending connection's handle. */
void ptth_pending_on_event(ptth_handle *h, apr_int16_t rtnevents);
/* Timers: PTTHHandshakeTimeout. */
void ptth_pending_tick(ptth_hub *hub, apr_time_t now);
/* Free the pending connections that are over. */
void ptth_pending_reap(ptth_hub *hub);
/* The hub stops: close them all. */
void ptth_pending_close_all(ptth_hub *hub);

#endif /* PTTH_ADMISSION_H */
