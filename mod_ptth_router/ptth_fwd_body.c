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

/* The user's body of a forwarded request: streamed as DATA frames with
 * bounded memory and at the user's pace, ended with END_STREAM or
 * TRAILERS; kept (up to PTTH_BODY_REPLAY_MAX) so that a balancer failover
 * or a draining hub can have it sent again; held back under an
 * end-to-end "Expect: 100-continue" until the backend asks for it. */

#include <stdlib.h>
#include <string.h>

#include <httpd.h>
#include <http_log.h>
#include <http_protocol.h>

#include "ptth_router.h"
#include "ptth_fwd.h"

/* DATA frames framed per write to the link. */
#define PTTH_SBUF_SIZE        (4 * (PTTH_LINK_HDR_LEN + PTTH_LINK_MAX_DATA))
#define PTTH_BODY_NOTE        "ptth-req-body"

ptth_fwd_body *ptth_fwd_body_get(request_rec *r)
{
    ptth_fwd_body *body = NULL;

    apr_pool_userdata_get((void **)&body, PTTH_BODY_NOTE, r->pool);
    if (!body) {
        body = apr_pcalloc(r->pool, sizeof(*body));
        body->saved = apr_brigade_create(r->pool, r->connection->bucket_alloc);
        apr_pool_userdata_setn(body, PTTH_BODY_NOTE, NULL, r->pool);
    }
    return body;
}

static void body_keep(ptth_fwd_body *body, const char *data, apr_size_t len)
{
    body->consumed += (apr_off_t)len;
    if (body->lost) {
        return;
    }
    if (body->saved_len + (apr_off_t)len > PTTH_BODY_REPLAY_MAX) {
        body->lost = 1;
        body->saved_len = 0;
        apr_brigade_cleanup(body->saved);
        return;
    }
    APR_BRIGADE_INSERT_TAIL(body->saved,
        apr_bucket_heap_create(data, len, NULL, body->saved->bucket_alloc));
    body->saved_len += (apr_off_t)len;
}

apr_status_t ptth_fwd_write(ptth_fwd *fwd, const struct iovec *vec, int nvec)
{
    apr_size_t total = 0;
    apr_status_t rv;
    int i;

    for (i = 0; i < nvec; ++i) {
        total += vec[i].iov_len;
    }
    rv = ptth_link_conn_write(fwd->lc, vec, nvec, ptth_fwd_pump, fwd);
    if (rv == APR_SUCCESS) {
        fwd->worker->s->transferred += total;
        return APR_SUCCESS;
    }
    /* Part of a frame may be out: no more frames on this link. */
    fwd->link_dirty = 1;
    if (ptth_fwd_failed(fwd) || ptth_fwd_resp_done(fwd)) {
        return rv;      /* ptth_fwd_pump() stopped it and knows why */
    }
    return ptth_fwd_link_failed(fwd, rv, "writing to");
}

/* DATA framing into the link's send buffer: up to four full frames per
 * write; a frame is never split between writes. */
static void sb_close(ptth_fwd *fwd, unsigned char flags)
{
    if (fwd->sb_open) {
        apr_size_t plen = fwd->sb_len - fwd->sb_frame - PTTH_LINK_HDR_LEN;

        ptth_link_hdr_pack((unsigned char *)fwd->lc->sbuf + fwd->sb_frame,
                           PTTH_LF_DATA, flags, (apr_uint32_t)plen);
        fwd->sb_open = 0;
    }
}

static apr_status_t sb_write(ptth_fwd *fwd, const struct iovec *extra)
{
    struct iovec vec[2];
    int n = 0;

    sb_close(fwd, 0);
    if (fwd->sb_len) {
        vec[n].iov_base = fwd->lc->sbuf;
        vec[n].iov_len = fwd->sb_len;
        ++n;
    }
    if (extra) {
        vec[n++] = *extra;
    }
    fwd->sb_len = 0;
    return n ? ptth_fwd_write(fwd, vec, n) : APR_SUCCESS;
}

static apr_status_t sb_open(ptth_fwd *fwd)
{
    apr_status_t rv;

    if (fwd->lc->scap - fwd->sb_len <= PTTH_LINK_HDR_LEN) {
        if ((rv = sb_write(fwd, NULL)) != APR_SUCCESS) {
            return rv;
        }
    }
    fwd->sb_frame = fwd->sb_len;
    fwd->sb_len += PTTH_LINK_HDR_LEN;
    fwd->sb_open = 1;
    return APR_SUCCESS;
}

static apr_status_t sb_add(ptth_fwd *fwd, const char *data, apr_size_t len)
{
    ptth_link_conn *lc = fwd->lc;
    apr_status_t rv;

    while (len) {
        apr_size_t room, n;

        if (!fwd->sb_open && (rv = sb_open(fwd)) != APR_SUCCESS) {
            return rv;
        }
        room = PTTH_LINK_MAX_DATA
               - (fwd->sb_len - fwd->sb_frame - PTTH_LINK_HDR_LEN);
        if (room > lc->scap - fwd->sb_len) {
            room = lc->scap - fwd->sb_len;
        }
        n = len < room ? len : room;
        memcpy(lc->sbuf + fwd->sb_len, data, n);
        fwd->sb_len += n;
        data += n;
        len -= n;
        if (n == room) {
            sb_close(fwd, 0);
        }
    }
    return APR_SUCCESS;
}

/* The body at EOS: END_STREAM on the last DATA, or TRAILERS. */
static apr_status_t end_body(ptth_fwd *fwd)
{
    request_rec *r = fwd->r;
    apr_status_t rv;

    if (!apr_is_empty_table(r->trailers_in)) {
        apr_array_header_t *nvs = ptth_fwd_fields_of(r->pool, r->trailers_in);
        struct iovec tv;
        apr_size_t flen;

        if (nvs->nelts) {
            tv.iov_base = ptth_link_encode_trailers(r->pool, nvs, &flen);
            tv.iov_len = flen;
            if (flen - PTTH_LINK_HDR_LEN <= PTTH_LINK_MAX_HEAD) {
                if (fwd->sb_open
                    && fwd->sb_len - fwd->sb_frame == PTTH_LINK_HDR_LEN) {
                    fwd->sb_len = fwd->sb_frame;      /* no empty DATA */
                    fwd->sb_open = 0;
                }
                ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                              PTTH_FWD_MSG(fwd, "sending %d request trailer(s)"),
                              nvs->nelts);
                rv = sb_write(fwd, &tv);
                if (rv == APR_SUCCESS) {
                    ptth_fwd_request_ended(fwd);
                }
                return rv;
            }
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, PTTHLOGNO(01532)
                          PTTH_FWD_MSG(fwd, "request trailers too large, dropped"));
        }
    }
    if (!fwd->sb_open && (rv = sb_open(fwd)) != APR_SUCCESS) {
        return rv;
    }
    sb_close(fwd, PTTH_LF_END_STREAM);
    rv = sb_write(fwd, NULL);
    if (rv == APR_SUCCESS) {
        ptth_fwd_request_ended(fwd);
    }
    return rv;
}

apr_status_t ptth_fwd_end_empty_body(ptth_fwd *fwd)
{
    unsigned char hdr[PTTH_LINK_HDR_LEN];
    struct iovec iov;
    apr_status_t rv;

    ptth_link_hdr_pack(hdr, PTTH_LF_DATA, PTTH_LF_END_STREAM, 0);
    iov.iov_base = hdr;
    iov.iov_len = sizeof(hdr);
    if ((rv = ptth_fwd_write(fwd, &iov, 1)) == APR_SUCCESS) {
        ptth_fwd_request_ended(fwd);
    }
    return rv;
}

apr_status_t ptth_fwd_send_body(ptth_fwd *fwd)
{
    request_rec *r = fwd->r;
    ptth_fwd_body *body = fwd->body;
    ptth_link_conn *lc = fwd->lc;
    apr_bucket *b;
    apr_status_t rv;

    if (!lc->sbuf) {
        lc->sbuf = malloc(PTTH_SBUF_SIZE);
        if (!lc->sbuf) {
            return ptth_fwd_link_failed(fwd, APR_ENOMEM, "buffering for");
        }
        lc->scap = PTTH_SBUF_SIZE;
    }
    fwd->sb_len = 0;
    fwd->sb_open = 0;

    /* An earlier attempt's body (failover, resend) goes first. */
    for (b = APR_BRIGADE_FIRST(body->saved);
         b != APR_BRIGADE_SENTINEL(body->saved); b = APR_BUCKET_NEXT(b)) {
        const char *data;
        apr_size_t len;

        if (apr_bucket_read(b, &data, &len, APR_BLOCK_READ) == APR_SUCCESS
            && (rv = sb_add(fwd, data, len)) != APR_SUCCESS) {
            return rv;
        }
    }

    while (!body->eos) {
        rv = ap_get_brigade(r->input_filters, fwd->in, AP_MODE_READBYTES,
                            APR_BLOCK_READ, PTTH_BODY_READ);
        for (b = APR_BRIGADE_FIRST(fwd->in);
             rv == APR_SUCCESS && b != APR_BRIGADE_SENTINEL(fwd->in);
             b = APR_BUCKET_NEXT(b)) {
            const char *data;
            apr_size_t len;

            if (APR_BUCKET_IS_EOS(b)) {
                body->eos = 1;
                break;
            }
            if (APR_BUCKET_IS_METADATA(b)) {
                continue;
            }
            rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ);
            if (rv == APR_SUCCESS && len) {
                body_keep(body, data, len);
                if (sb_add(fwd, data, len) != APR_SUCCESS) {
                    apr_brigade_cleanup(fwd->in);
                    return APR_EGENERAL;    /* the link failure is noted */
                }
            }
        }
        apr_brigade_cleanup(fwd->in);
        if (rv != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, PTTHLOGNO(01533)
                          PTTH_FWD_MSG(fwd, "reading the request body failed "
                                       "after %" APR_OFF_T_FMT " bytes"),
                          body->consumed);
            return ptth_fwd_reset(fwd, PTTH_FWD_WHY_CLIENT_BODY, rv,
                                  "user's body failed");
        }
        if (body->eos) {
            break;
        }
        /* Forward what came now: the user may be slow. */
        if ((rv = sb_write(fwd, NULL)) != APR_SUCCESS) {
            return rv;
        }
        /* An early answer or a RESET ends the body. */
        if (ptth_link_conn_has_input(lc, 0)
            && (rv = ptth_fwd_pump(fwd)) != APR_SUCCESS) {
            return rv;
        }
    }
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                  PTTH_FWD_MSG(fwd, "request body complete: %" APR_OFF_T_FMT
                               " bytes"), body->consumed);
    return end_body(fwd);
}

apr_status_t ptth_fwd_await_continue(ptth_fwd *fwd)
{
    proxy_worker *w = fwd->worker;
    apr_status_t rv = APR_SUCCESS;

    fwd->awaiting_100 = 1;
    if (w->s->ping_timeout_set) {
        ptth_link_conn_timeout_set(fwd->lc, fwd->wait + w->s->ping_timeout);
    }
    while (fwd->awaiting_100 && !fwd->status && !ptth_fwd_failed(fwd)) {
        ptth_link_fhdr fh;
        const char *payload;

        rv = ptth_link_conn_read_frame(fwd->lc, &fh, &payload, 1);
        if (APR_STATUS_IS_TIMEUP(rv) && w->s->ping_timeout_set) {
            /* RFC 9110 10.1.1: do not wait forever for the 100.  Reading
             * the body makes HTTP_IN send the user its own 100. */
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, fwd->r, PTTHLOGNO(01534)
                          PTTH_FWD_MSG(fwd, "no 100-continue within ping=, "
                                       "sending the body anyway"));
            rv = APR_SUCCESS;
            break;
        }
        if (rv != APR_SUCCESS) {
            rv = ptth_fwd_link_failed(fwd, rv, "reading from");
            break;
        }
        if ((rv = ptth_fwd_on_frame(fwd, &fh, payload)) != APR_SUCCESS) {
            break;
        }
    }
    fwd->awaiting_100 = 0;
    ptth_link_conn_timeout_set(fwd->lc, fwd->link_timeout);
    return rv;
}
