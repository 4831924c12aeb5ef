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

/* A request becoming a stream on a tunnel's HTTP/2 session
 * (ptth_tunnel.h): its fields as nghttp2 takes them (RFC 9113 8.3.1), its
 * body from the exchange's buffer, extended CONNECT for upgrades (RFC
 * 8441), and the recycling of a tunnel after PTTHTunnelMaxRequests
 * streams.  The session's callbacks are in ptth_tunnel_h2.c. */

#include <apr_lib.h>
#include <apr_strings.h>

#include "ptth_tunnel.h"
#include "ptth_exchange.h"
#include "ptth_pool.h"
#include "ptth_fields.h"

/* Request body provider: hands nghttp2 what the child has sent so far
 * and defers the stream when the buffer is empty (resumed by
 * ptth_tunnel_resume_body when more arrives). */
static ssize_t body_read(nghttp2_session *ngh, int32_t stream_id, uint8_t *buf,
                         size_t length, uint32_t *data_flags,
                         nghttp2_data_source *source, void *ud)
{
    ptth_tunnel *t = ud;
    ptth_exchange *ex = nghttp2_session_get_stream_user_data(ngh, stream_id);
    const apr_array_header_t *trailers;
    apr_size_t n;
    int end;

    (void)source;
    if (!ex) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    n = ptth_exchange_take_body(ex, buf, length, &end, &trailers);
    if (end) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        if (trailers && trailers->nelts) {
            int i, k = 0;
            /* nghttp2 copies them: built in the scratch pool. */
            nghttp2_nv *nva = apr_palloc(t->hub->scratch, sizeof(nghttp2_nv)
                                         * trailers->nelts);
            for (i = 0; i < trailers->nelts; ++i) {
                const ptth_nv *tv = &APR_ARRAY_IDX(trailers, i, ptth_nv);
                if (!tv->nlen || tv->name[0] == ':') {
                    continue;
                }
                nva[k].name = (uint8_t *)tv->name;
                nva[k].namelen = tv->nlen;
                nva[k].value = (uint8_t *)tv->value;
                nva[k].valuelen = tv->vlen;
                nva[k].flags = NGHTTP2_NV_FLAG_NONE;
                ++k;
            }
            if (k && nghttp2_submit_trailer(ngh, stream_id, nva, k) == 0) {
                *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            }
            apr_pool_clear(t->hub->scratch);
        }
        return (ssize_t)n;
    }
    if (n == 0) {
        ex->st.deferred = 1;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

/* Connection-specific fields never travel in HTTP/2 (RFC 9113 8.2.2),
 * except "te: trailers"; Host is :authority when there is one.  lname
 * is lowercase. */
static int skip_request_field(const char *lname, const ptth_nv *nv,
                              int have_authority)
{
    if (nv->nlen == 0 || lname[0] == ':') {
        return 1;
    }
    if (nv->nlen == 2 && !memcmp(lname, "te", 2)) {
        return strcasecmp(nv->value, "trailers") != 0;
    }
    if (nv->nlen == 4 && !memcmp(lname, "host", 4)) {
        return have_authority;
    }
    return ptth_field_connection_specific(lname, nv->nlen);
}

static void set_nv(nghttp2_nv *nv, const char *name, apr_size_t nlen,
                   const char *value, apr_size_t vlen)
{
    nv->name = (uint8_t *)name;
    nv->namelen = nlen;
    nv->value = (uint8_t *)value;
    nv->valuelen = vlen;
    nv->flags = NGHTTP2_NV_FLAG_NONE;
}

/* The request's fields for nghttp2_submit_request(), which copies them:
 * built in p (the hub's scratch pool) for each attempt. */
static nghttp2_nv *build_nva(ptth_exchange *ex, int connect, apr_pool_t *p,
                             size_t *nvlen)
{
    const ptth_link_request *rq = &ex->req;
    int have_auth = rq->authority && *rq->authority;
    int i, n = rq->headers ? rq->headers->nelts : 0;
    nghttp2_nv *nva = apr_palloc(p, sizeof(nghttp2_nv) * (n + 5));
    size_t k = 0;

    if (connect) {
        /* RFC 8441 4: the extended CONNECT carries :protocol, :scheme,
         * :path and :authority; the stream is then the protocol's pipe. */
        set_nv(&nva[k++], ":method", 7, "CONNECT", 7);
        set_nv(&nva[k++], ":protocol", 9, rq->protocol, strlen(rq->protocol));
    }
    else {
        set_nv(&nva[k++], ":method", 7, rq->method, strlen(rq->method));
    }
    set_nv(&nva[k++], ":scheme", 7, *rq->scheme ? rq->scheme : "http",
           *rq->scheme ? strlen(rq->scheme) : 4);
    if (have_auth) {
        set_nv(&nva[k++], ":authority", 10, rq->authority, strlen(rq->authority));
    }
    set_nv(&nva[k++], ":path", 5, rq->path, strlen(rq->path));
    for (i = 0; i < n; ++i) {
        ptth_nv *h = &APR_ARRAY_IDX(rq->headers, i, ptth_nv);
        /* RFC 9113 8.2.1: field names are lowercase on the wire. */
        char *lc = apr_pstrmemdup(p, h->name, h->nlen);
        ap_str_tolower(lc);
        if (!skip_request_field(lc, h, have_auth)) {
            set_nv(&nva[k++], lc, h->nlen, h->value, h->vlen);
        }
    }
    *nvlen = k;
    return nva;
}

/* A backend's HTTP/2 session keeps a little memory per stream for its
 * whole life (~65 bytes, docs/architecture.md "Tunnel recycling"), and
 * tunnels live long.
 * After PTTHTunnelMaxRequests streams the tunnel takes no more, finishes
 * the ones in flight, says GOAWAY (RFC 9113 6.8) and closes; the backend
 * re-dials at once.  One tunnel of a pool at a time, so the others keep
 * serving meanwhile (requests wait in the pool's queue if it was the
 * only one). */
static void maybe_recycle(ptth_tunnel *t)
{
    ptth_tunnel *o;
    int max = t->hub->tunnel_max_requests;

    if (max <= 0 || t->state != PTTH_TUN_OPEN || t->streams_opened < (apr_uint32_t)max) {
        return;
    }
    for (o = APR_RING_FIRST(&t->pool->tunnels);
         o != APR_RING_SENTINEL(&t->pool->tunnels, ptth_tunnel, link);
         o = APR_RING_NEXT(o, link)) {
        if (o != t && o->recycling && !o->close_reason) {
            return;     /* after that one */
        }
    }
    t->recycling = 1;
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, t->hub->s, PTTHLOGNO(02010)
                 "tunnel %u (%s, pool %s): recycling after %u streams "
                 "(PTTHTunnelMaxRequests)", t->id, t->peer, t->pool->name,
                 t->streams_opened);
    ptth_tunnel_transit(t, PTTH_TUN_DRAINING, "recycling");
    ptth_tunnel_maybe_goaway(t);
}

apr_status_t ptth_tunnel_submit(ptth_tunnel *t, ptth_exchange *ex)
{
    nghttp2_data_provider prd;
    nghttp2_nv *nva;
    size_t nvlen;
    int32_t id;
    int with_body;

    if (ex->req.protocol) {
        /* Per tunnel: only a backend that sent
         * SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 takes an extended CONNECT
         * (RFC 8441 3); to any other the request goes as what it was, a
         * GET whose Upgrade the server may ignore (RFC 9110 7.8). */
        int connect = nghttp2_session_get_remote_settings(
                          t->ngh, NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) == 1
                      && !strcmp(ex->req.method, "GET");
        ex->st.connect = connect;
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, t->hub->s, PTTHLOGNO(02009)
                     "tunnel %u (%s): %s upgrade to %s: %s", t->id, t->peer,
                     ex->req.path, ex->req.protocol, connect
                     ? "extended CONNECT (RFC 8441)"
                     : "the backend does not offer extended CONNECT, sent as GET");
    }
    else {
        ex->st.connect = 0;
    }
    nva = build_nva(ex, ex->st.connect, t->hub->scratch, &nvlen);
    prd.source.ptr = ex;
    prd.read_callback = body_read;
    ex->st.deferred = 0;
    ex->st.headers_sent = 0;
    ex->st.violated = 0;
    ptth_exchange_block_free(ex);
    ptth_resp_init(&ex->st.rc, ex->head, ex->req.protocol != NULL);
    /* An upgrade sent as a plain GET has no body: END_STREAM now, or a
     * backend that reads the body first would wait for it forever.  The
     * child still ends its (empty) body on the link once it has the
     * response. */
    with_body = ex->has_body && !(ex->req.protocol && !ex->st.connect);
    id = nghttp2_submit_request(t->ngh, NULL, nva, nvlen,
                                with_body ? &prd : NULL, ex);
    apr_pool_clear(t->hub->scratch);
    if (id < 0) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, t->hub->s, PTTHLOGNO(02007)
                     "tunnel %u (%s): cannot open a stream: %s", t->id,
                     t->peer, nghttp2_strerror(id));
        /* Stream ids run out after 2^30 requests (RFC 9113 5.1.1): the
         * backend re-dials once this tunnel drains. */
        ptth_tunnel_transit(t, PTTH_TUN_DRAINING, "no stream ids left");
        ptth_tunnel_maybe_goaway(t);
        ptth_tunnel_want_flush(t);
        return APR_EGENERAL;
    }
    ex->st.id = id;
    ex->st.tunnel = t;
    ptth_exchange_opened(ex);
    APR_RING_INSERT_TAIL(&t->streams, ex, ptth_exchange, link);
    t->active++;
    ptth_tunnel_want_flush(t);
    t->streams_opened++;
    maybe_recycle(t);
    return APR_SUCCESS;
}

void ptth_tunnel_resume_body(ptth_exchange *ex)
{
    ptth_tunnel *t = ex->st.tunnel;

    if (t && ex->st.deferred) {
        ex->st.deferred = 0;
        nghttp2_session_resume_data(t->ngh, ex->st.id);
        ptth_tunnel_want_flush(t);
    }
}

