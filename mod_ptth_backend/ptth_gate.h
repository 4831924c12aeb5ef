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

#ifndef PTTH_GATE_H
#define PTTH_GATE_H

/* The gate: a pair of connection filters on every tunnel, between the
 * socket and mod_http2, that follow the HTTP/2 frames in both directions
 * (RFC 9113 section 4.1).  It does two things.
 *
 * 1. It counts the streams open on the tunnel: opened by a HEADERS frame
 *    of the router that reached mod_http2, closed when mod_http2 sent
 *    END_STREAM (HEADERS or DATA) or either side sent RST_STREAM.  The
 *    drain on a stop (ptth_dialer.c) needs to know when nothing is in
 *    flight any more; request pools are no such signal, since mod_http2
 *    destroys them lazily, and a session that went idle can keep its last
 *    one for as long as it stays idle.
 *
 * 2. Once the child is stopping, it holds back the streams the router
 *    opens from then on.  When a child stops gracefully, mod_http2 sends a
 *    shutdown notice (GOAWAY with the maximum stream id, RFC 9113 section
 *    6.8) and stops accepting streams; a HEADERS frame for a new stream
 *    that crossed the notice on the wire then fails its on_begin_headers
 *    callback with a code that nghttp2 treats as fatal (seen with
 *    mod_http2 2.0.42 and nghttp2 1.52), and the whole session ends with
 *    the streams in flight on it.  On a tunnel, which carries the requests
 *    of many users, that race is likely.  Held streams never reach
 *    mod_http2; its final GOAWAY names the last stream it processed, so
 *    the router knows they were not processed and may retry them elsewhere.
 *    From the first held stream on, every HEADERS/CONTINUATION frame is
 *    held (the header compression state, RFC 7541, must stay in order), as
 *    is every frame of a held stream; trailers of an older stream arriving
 *    after that point are held too, and that stream then ends at
 *    PTTHDrainTimeout.
 *
 * Both filters run in the thread that runs the tunnel connection, which is
 * where mod_http2 reads and writes it. */

#include <httpd.h>
#include <util_filter.h>

#include "ptth_dialed.h"

/** Register the filters (register_hooks). */
void ptth_gate_register(void);

/** Put a gate on the tunnel connection c (after pre_connection). */
void ptth_gate_add(conn_rec *c, ptth_dialed *d);

#endif /* PTTH_GATE_H */
