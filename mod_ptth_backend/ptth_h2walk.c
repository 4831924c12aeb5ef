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

/* The HTTP/2 frame walker, see ptth_h2walk.h. */

#include <string.h>

#include "ptth_h2walk.h"

void ptth_h2_walk_init(ptth_h2_walk *w, int expect_preface,
                       ptth_h2_frame_fn *on_frame, void *ctx)
{
    memset(w, 0, sizeof(*w));
    w->preface_left = expect_preface ? PTTH_H2_PREFACE_LEN : 0;
    w->on_frame = on_frame;
    w->ctx = ctx;
}

static void parse_hdr(const unsigned char *h, ptth_h2_frame *fh)
{
    fh->length = ((apr_size_t)h[0] << 16) | ((apr_size_t)h[1] << 8) | h[2];
    fh->type = h[3];
    fh->flags = h[4];
    fh->sid = ((apr_uint32_t)(h[5] & 0x7f) << 24) | ((apr_uint32_t)h[6] << 16)
              | ((apr_uint32_t)h[7] << 8) | h[8];
}

/* Remove n octets at *off from bucket *pb; afterwards *pb is what follows
 * them (possibly the brigade's sentinel, then *have is 0). */
static apr_status_t remove_range(apr_bucket **pb, const char **data,
                                 apr_size_t *len, apr_size_t *off,
                                 apr_size_t n, int *have)
{
    apr_bucket *b = *pb, *rest;
    int more = (*off + n < *len);

    if (*off > 0) {
        apr_bucket_split(b, *off);
        b = APR_BUCKET_NEXT(b);
    }
    if (more) {
        apr_bucket_split(b, n);
    }
    rest = APR_BUCKET_NEXT(b);
    apr_bucket_delete(b);
    *pb = rest;
    *off = 0;
    *have = 0;
    if (more) {
        *have = 1;
        return apr_bucket_read(rest, data, len, APR_BLOCK_READ);
    }
    return APR_SUCCESS;
}

/* Frame headers wait in w->hdr until all 9 octets are known, then go
 * back into the brigade as a bucket of their own unless the frame is
 * held; a held frame's payload is removed where it is. */
apr_status_t ptth_h2_walk_rewrite(ptth_h2_walk *w, apr_bucket_brigade *bb)
{
    apr_bucket *b = APR_BRIGADE_FIRST(bb);
    const char *data = NULL;
    apr_size_t len = 0, off = 0, n;
    int have = 0;
    apr_status_t rv;

    while (b != APR_BRIGADE_SENTINEL(bb) && !w->not_h2) {
        if (!have) {
            if (APR_BUCKET_IS_METADATA(b)) {
                b = APR_BUCKET_NEXT(b);
                continue;
            }
            if ((rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ))
                != APR_SUCCESS) {
                return rv;
            }
            off = 0;
            have = 1;
        }
        if (off >= len) {
            b = APR_BUCKET_NEXT(b);
            have = 0;
        }
        else if (w->preface_left) {
            apr_size_t seen = PTTH_H2_PREFACE_LEN - w->preface_left;

            n = w->preface_left < len - off ? w->preface_left : len - off;
            if (memcmp(data + off, &PTTH_H2_PREFACE[seen], n)) {
                w->not_h2 = 1;  /* HTTP/1.1 on the tunnel: nothing to do */
            }
            w->preface_left -= n;
            off += n;
        }
        else if (w->payload_left) {
            n = w->payload_left < len - off ? w->payload_left : len - off;
            w->payload_left -= n;
            if (!w->holding) {
                off += n;
            }
            else if ((rv = remove_range(&b, &data, &len, &off, n, &have))
                     != APR_SUCCESS) {
                return rv;
            }
        }
        else {
            ptth_h2_frame fh;

            n = PTTH_H2_FRAME_HDR_LEN - w->hdr_len;
            n = n < len - off ? n : len - off;
            memcpy(w->hdr + w->hdr_len, data + off, n);
            w->hdr_len += n;
            if ((rv = remove_range(&b, &data, &len, &off, n, &have))
                != APR_SUCCESS) {
                return rv;
            }
            if (w->hdr_len == PTTH_H2_FRAME_HDR_LEN) {
                w->hdr_len = 0;
                parse_hdr(w->hdr, &fh);
                w->payload_left = fh.length;
                w->holding = w->on_frame(w->ctx, &fh);
                if (!w->holding) {
                    apr_bucket *h = apr_bucket_heap_create(
                        (const char *)w->hdr, PTTH_H2_FRAME_HDR_LEN, NULL,
                        bb->bucket_alloc);
                    if (b == APR_BRIGADE_SENTINEL(bb)) {
                        APR_BRIGADE_INSERT_TAIL(bb, h);
                    }
                    else {
                        APR_BUCKET_INSERT_BEFORE(b, h);
                    }
                }
            }
        }
    }
    return APR_SUCCESS;
}

apr_status_t ptth_h2_walk_scan(ptth_h2_walk *w, apr_bucket_brigade *bb)
{
    apr_bucket *b;
    apr_status_t rv;

    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
         b = APR_BUCKET_NEXT(b)) {
        const char *data;
        apr_size_t len, off = 0;

        if (APR_BUCKET_IS_METADATA(b)) {
            continue;
        }
        if (w->payload_left && b->length != (apr_size_t)-1
            && b->length <= w->payload_left) {
            w->payload_left -= b->length;
            continue;
        }
        if ((rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ))
            != APR_SUCCESS) {
            return rv;
        }
        while (off < len) {
            if (w->payload_left) {
                apr_size_t n = w->payload_left < len - off
                               ? w->payload_left : len - off;
                w->payload_left -= n;
                off += n;
            }
            else {
                apr_size_t n = PTTH_H2_FRAME_HDR_LEN - w->hdr_len;
                ptth_h2_frame fh;

                n = n < len - off ? n : len - off;
                memcpy(w->hdr + w->hdr_len, data + off, n);
                w->hdr_len += n;
                off += n;
                if (w->hdr_len == PTTH_H2_FRAME_HDR_LEN) {
                    w->hdr_len = 0;
                    parse_hdr(w->hdr, &fh);
                    w->payload_left = fh.length;
                    w->on_frame(w->ctx, &fh);
                }
            }
        }
    }
    return APR_SUCCESS;
}
