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

#ifndef PTTH_WS_H
#define PTTH_WS_H

/* WebSocket through a tunnel: RFC 6455 towards the user, RFC 8441 over
 * the tunnel.  A user's "Upgrade: websocket" (or an HTTP/2 extended
 * CONNECT, which mod_http2 hands over as the same) becomes a REQUEST with
 * :protocol websocket; when the backend takes it, the hub makes the link
 * a byte pipe (ptth_link.h) and the user gets its 101, and httpd's own
 * tunnel loop (ap_proxy_tunnel_run) carries the bytes, as mod_proxy_http
 * does after a 101.
 *
 * Close handshake watching (RFC 6455 5.2, 5.5.1, 7.1.1).  Once a
 * WebSocket is upgraded, the router only relays bytes.  A backend
 * application that ends a WebSocket with a Close frame does not end the
 * HTTP/2 stream behind it (mod_http2 keeps it open until its client side
 * ends), so without help the user's TCP connection would close only at
 * the router's timeout.  A proxy that has relayed a Close frame in each
 * direction may close both connections (RFC 6455 1.4, 7.1.1): these
 * filters follow the frame layout in both directions of the origin
 * connection (the link) and, when both Close frames have passed, shut
 * the link's read side, so that httpd's tunnel loop sees the origin end
 * and closes the user's connection at once. */

#include <apr.h>
#include <httpd.h>

#include "ptth_fwd.h"

/* A GET asking for "Upgrade: websocket" that this worker may upgrade
 * (ProxyPass ... upgrade=; WebSocket by default, as for ws:// workers);
 * keeps the user's key in fwd->ws_key. */
int ptth_ws_wanted(ptth_fwd *fwd);

/* The backend took the extended CONNECT (fwd->state PIPE): answer the
 * user 101 and run the tunnel loop with the link as origin.  Returns the
 * handler's result. */
int ptth_ws_pipe(ptth_fwd *fwd);

/* Where one direction's byte stream is in the frame layout. */
typedef struct ptth_ws_dir {
    unsigned char hdr[14];        /* the frame header being collected */
    apr_size_t hdr_len;
    apr_size_t hdr_need;          /* 2 until the length byte is known */
    apr_uint64_t payload_left;
    int in_close;                 /* the current frame is a Close */
    int closed;                   /* a whole Close frame has passed */
} ptth_ws_dir;

/* Follow len octets of one direction; returns 1 once a complete Close
 * frame has passed in it. */
int ptth_ws_follow(ptth_ws_dir *d, const unsigned char *data, apr_size_t len);

/* Register the filters (register_hooks). */
void ptth_ws_register(void);

/* Watch the origin connection oc (over the link socket sock) of an
 * upgraded exchange; early: the backend's first bytes, already passed
 * to the user before oc existed. */
void ptth_ws_watch(conn_rec *oc, apr_socket_t *sock, const char *early,
                   apr_size_t early_len);

#endif /* PTTH_WS_H */
