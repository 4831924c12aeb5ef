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

#ifndef PTTH_LINK_HUB_H
#define PTTH_LINK_HUB_H

/* The hub's end of a link from an httpd child (ptth_link.h has the
 * frames; ptth_link_child.c the child's end): ptth_link_hub.c reads
 * frames and hands them to the link's exchange, writes what the exchange
 * queues, and carries at most one exchange at a time.  Once an exchange
 * is upgraded (RFC 8441), the link is a raw byte pipe until it closes.
 * Only httpd's own children may connect (docs/architecture.md, "Who may
 * talk to the hub"). */

#include "ptth_hub.h"

struct ptth_link_hub {
    ptth_handle h;
    APR_RING_ENTRY(ptth_link_hub) link;
    ptth_hub *hub;
    apr_socket_t *sock;
    apr_uint32_t id;
    ptth_buf in;
    ptth_buf out;
    ptth_exchange *ex;               /* the exchange in progress, or NULL */
    pid_t peer_pid;                  /* the httpd child on the other end */
    int goaway_sent;                 /* draining: no new exchange here */
    int dead;                        /* destroy at the next reap */
    int close_when_flushed;
    int read_paused;                 /* request body buffer is full */
    int kick;                        /* re-run frame processing at reap */
    int flush_soon;                  /* frames queued, write at reap */
    int raw;                         /* upgraded: a byte pipe, no frames */
    int raw_in_eof;                  /* raw: the child shut down writing */
    int raw_out_eof;                 /* raw: shut down writing once flushed
                                      * (1), done (2) */
};

/* On the link listener: accept httpd children's connections. */
void ptth_link_hub_accept(ptth_hub *hub, apr_socket_t *lsock);
void ptth_link_hub_on_event(ptth_link_hub *hl, apr_int16_t rtnevents);
/* At the hub's reap: destroy a dead link, or do what it deferred. */
void ptth_link_hub_reap(ptth_link_hub *hl);
/* The hub drains: no new exchange here (GOAWAY once idle). */
void ptth_link_hub_drain(ptth_link_hub *hl);
/* The hub stops: close once what is queued is written. */
void ptth_link_hub_close(ptth_link_hub *hl);
void ptth_link_hub_destroy(ptth_link_hub *hl);

/* For the exchange on it. */
/* Queue bytes for the child; written before the hub polls again. */
void ptth_link_hub_send(ptth_link_hub *hl, const void *data, apr_size_t len);
/* Write what is queued now if it has reached PTTH_LINK_WRITE_THROUGH:
 * a response body arriving in a burst goes out while the burst is read,
 * instead of piling up in the hub until the next poll. */
void ptth_link_hub_write_through(ptth_link_hub *hl);
void ptth_link_hub_kill(ptth_link_hub *hl, const char *why);
/* Read the link again: the exchange's body buffer has room. */
void ptth_link_hub_resume(ptth_link_hub *hl);
/* The exchange is over for the child: the link may carry the next. */
void ptth_link_hub_release(ptth_link_hub *hl);
/* The exchange was upgraded: from now on the link is a pipe.
 * APR_EINVAL if the child already sent bytes (out of step). */
apr_status_t ptth_link_hub_pipe(ptth_link_hub *hl);
/* Upgraded: the backend ended its direction (a half-close, once
 * flushed). */
void ptth_link_hub_pipe_end(ptth_link_hub *hl);

#endif /* PTTH_LINK_HUB_H */
