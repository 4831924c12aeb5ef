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

#ifndef PTTH_H2WALK_H
#define PTTH_H2WALK_H

/* Walking the HTTP/2 frame layout (RFC 9113 3.4, 4.1) of a byte stream
 * that arrives in brigades of any cut: the preface, then 9-octet frame
 * headers and payloads skipped by length.  The gate (ptth_gate.h) uses it
 * on both directions of a tunnel; it is apart from the gate so that it
 * can be fuzzed without httpd (t/fuzz/fuzz_h2walk.c).
 *
 * Input direction (rewrite): a decision callback sees every frame header
 * and may hold the frame back; a held frame's header and payload leave
 * the brigade, everything else stays in order.  Output direction (scan):
 * the callback only watches; payloads are skipped by length without
 * being read (they may be file buckets meant for sendfile). */

#include <apr_buckets.h>

#define PTTH_H2_PREFACE          "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define PTTH_H2_PREFACE_LEN      24
#define PTTH_H2_FRAME_HDR_LEN    9
#define PTTH_H2_DATA             0x0
#define PTTH_H2_HEADERS          0x1
#define PTTH_H2_RST_STREAM       0x3
#define PTTH_H2_CONTINUATION     0x9
#define PTTH_H2_FLAG_END_STREAM  0x1

typedef struct ptth_h2_frame {
    apr_size_t length;
    unsigned type;
    unsigned flags;
    apr_uint32_t sid;
} ptth_h2_frame;

/* Returns 1 to hold the frame back (rewrite), 0 to pass it. */
typedef int ptth_h2_frame_fn(void *ctx, const ptth_h2_frame *fh);

typedef struct ptth_h2_walk {
    apr_size_t preface_left;      /* preface octets still to come */
    unsigned char hdr[PTTH_H2_FRAME_HDR_LEN];
    apr_size_t hdr_len;           /* frame header octets collected */
    apr_size_t payload_left;      /* of the current frame */
    int holding;                  /* rewrite: the current frame is held */
    int not_h2;                   /* the preface did not match */
    ptth_h2_frame_fn *on_frame;
    void *ctx;
} ptth_h2_walk;

/* expect_preface: the stream starts with the client preface (the
 * router's direction). */
void ptth_h2_walk_init(ptth_h2_walk *w, int expect_preface,
                       ptth_h2_frame_fn *on_frame, void *ctx);

/* Rewrite bb in place: held frames leave it; a frame header that is not
 * complete yet is kept in w until the next call (so bb may come out
 * empty).  A stream that turns out not to start with the preface is
 * left alone from then on (w->not_h2). */
apr_status_t ptth_h2_walk_rewrite(ptth_h2_walk *w, apr_bucket_brigade *bb);

/* Watch bb without changing it. */
apr_status_t ptth_h2_walk_scan(ptth_h2_walk *w, apr_bucket_brigade *bb);

/* How many header octets wait in w (the gate asks for fewer from below
 * so that a read never grows past what the caller asked). */
#define ptth_h2_walk_pending(w) ((w)->hdr_len)

#endif /* PTTH_H2WALK_H */
