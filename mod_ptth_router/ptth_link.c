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

#include <string.h>

#include <apr_strings.h>

#include "ptth_link.h"

/* ---- frame header -------------------------------------------------- */

void ptth_link_hdr_pack(unsigned char out[PTTH_LINK_HDR_LEN],
                        unsigned char type, unsigned char flags,
                        apr_uint32_t length)
{
    out[0] = type;
    out[1] = flags;
    out[2] = 0;
    out[3] = 0;
    out[4] = (unsigned char)(length >> 24);
    out[5] = (unsigned char)(length >> 16);
    out[6] = (unsigned char)(length >> 8);
    out[7] = (unsigned char)length;
}

void ptth_link_hdr_unpack(const unsigned char in[PTTH_LINK_HDR_LEN],
                          ptth_link_fhdr *h)
{
    h->type = in[0];
    h->flags = in[1];
    h->length = ((apr_uint32_t)in[4] << 24) | ((apr_uint32_t)in[5] << 16)
              | ((apr_uint32_t)in[6] << 8) | (apr_uint32_t)in[7];
}

/* ---- writer: sizes first, then one allocation ---------------------- */

typedef struct {
    unsigned char *buf;
    apr_size_t pos;
} wbuf;

static apr_size_t str_size(apr_size_t len)
{
    return 4 + len + 1;
}

static apr_size_t nvs_size(const apr_array_header_t *hs)
{
    apr_size_t n = 4;
    int i;

    for (i = 0; hs && i < hs->nelts; ++i) {
        const ptth_nv *nv = &APR_ARRAY_IDX(hs, i, ptth_nv);
        n += str_size(nv->nlen) + str_size(nv->vlen);
    }
    return n;
}

static void put_u32(wbuf *w, apr_uint32_t v)
{
    w->buf[w->pos++] = (unsigned char)(v >> 24);
    w->buf[w->pos++] = (unsigned char)(v >> 16);
    w->buf[w->pos++] = (unsigned char)(v >> 8);
    w->buf[w->pos++] = (unsigned char)v;
}

static void put_str(wbuf *w, const char *s, apr_size_t len)
{
    put_u32(w, (apr_uint32_t)len);
    if (len) {
        memcpy(w->buf + w->pos, s, len);
    }
    w->pos += len;
    w->buf[w->pos++] = '\0';
}

static void put_cstr(wbuf *w, const char *s)
{
    put_str(w, s ? s : "", s ? strlen(s) : 0);
}

static void put_nvs(wbuf *w, const apr_array_header_t *hs)
{
    int i;

    put_u32(w, hs ? (apr_uint32_t)hs->nelts : 0);
    for (i = 0; hs && i < hs->nelts; ++i) {
        const ptth_nv *nv = &APR_ARRAY_IDX(hs, i, ptth_nv);
        put_str(w, nv->name, nv->nlen);
        put_str(w, nv->value, nv->vlen);
    }
}

static char *frame_alloc(apr_pool_t *p, wbuf *w, unsigned char type,
                         unsigned char flags, apr_size_t payload)
{
    w->buf = apr_palloc(p, PTTH_LINK_HDR_LEN + payload);
    ptth_link_hdr_pack(w->buf, type, flags, (apr_uint32_t)payload);
    w->pos = PTTH_LINK_HDR_LEN;
    return (char *)w->buf;
}

#define CSTR_SIZE(s) str_size((s) ? strlen(s) : 0)

char *ptth_link_encode_request(apr_pool_t *p, const ptth_link_request *req,
                               int end_stream, apr_size_t *len)
{
    wbuf w;
    apr_size_t n = 20 + CSTR_SIZE(req->pool_name) + CSTR_SIZE(req->method)
                 + CSTR_SIZE(req->scheme) + CSTR_SIZE(req->authority)
                 + CSTR_SIZE(req->path) + CSTR_SIZE(req->protocol)
                 + nvs_size(req->headers);
    char *f = frame_alloc(p, &w, PTTH_LF_REQUEST,
                          end_stream ? PTTH_LF_END_STREAM : 0, n);

    put_u32(&w, req->generation);
    put_u32(&w, (apr_uint32_t)((apr_uint64_t)req->sent >> 32));
    put_u32(&w, (apr_uint32_t)req->sent);
    put_u32(&w, req->wait_ms);
    put_u32(&w, req->timeout_ms);
    put_cstr(&w, req->pool_name);
    put_cstr(&w, req->method);
    put_cstr(&w, req->scheme);
    put_cstr(&w, req->authority);
    put_cstr(&w, req->path);
    put_cstr(&w, req->protocol);
    put_nvs(&w, req->headers);
    *len = w.pos;
    return f;
}

char *ptth_link_encode_response(apr_pool_t *p, const ptth_link_response *resp,
                                int end_stream, apr_size_t *len)
{
    wbuf w;
    apr_size_t n = 12 + CSTR_SIZE(resp->backend) + nvs_size(resp->headers);
    char *f = frame_alloc(p, &w, PTTH_LF_RESPONSE,
                          (end_stream ? PTTH_LF_END_STREAM : 0)
                          | (resp->upgraded ? PTTH_LF_UPGRADED : 0), n);

    put_u32(&w, (apr_uint32_t)resp->status);
    put_u32(&w, resp->tunnel_id);
    put_u32(&w, resp->attempts);
    put_cstr(&w, resp->backend);
    put_nvs(&w, resp->headers);
    *len = w.pos;
    return f;
}

char *ptth_link_encode_trailers(apr_pool_t *p, const apr_array_header_t *headers,
                                apr_size_t *len)
{
    wbuf w;
    char *f = frame_alloc(p, &w, PTTH_LF_TRAILERS, PTTH_LF_END_STREAM,
                          nvs_size(headers));

    put_nvs(&w, headers);
    *len = w.pos;
    return f;
}

void ptth_link_encode_reset(unsigned char out[PTTH_LINK_HDR_LEN + 4],
                            ptth_link_reset_t code)
{
    wbuf w;

    w.buf = out;
    ptth_link_hdr_pack(out, PTTH_LF_RESET, PTTH_LF_END_STREAM, 4);
    w.pos = PTTH_LINK_HDR_LEN;
    put_u32(&w, (apr_uint32_t)code);
}

/* ---- reader: every access is bounds-checked ------------------------ */

typedef struct {
    const unsigned char *buf;
    apr_size_t len;
    apr_size_t pos;
    int bad;
} rbuf;

static apr_uint32_t get_u32(rbuf *r)
{
    apr_uint32_t v;

    if (r->bad || r->len - r->pos < 4) {
        r->bad = 1;
        return 0;
    }
    v = ((apr_uint32_t)r->buf[r->pos] << 24)
      | ((apr_uint32_t)r->buf[r->pos + 1] << 16)
      | ((apr_uint32_t)r->buf[r->pos + 2] << 8)
      | (apr_uint32_t)r->buf[r->pos + 3];
    r->pos += 4;
    return v;
}

static const char *get_str(rbuf *r, apr_size_t *len)
{
    apr_uint32_t n = get_u32(r);
    const char *s;

    /* n + 1 must fit: the NUL terminator is part of the encoding; and no
     * NUL before it, which the writer (strlen) never puts there. */
    if (r->bad || (apr_size_t)n >= r->len - r->pos
        || r->buf[r->pos + n] != '\0'
        || memchr(r->buf + r->pos, '\0', n) != NULL) {
        r->bad = 1;
        return NULL;
    }
    s = (const char *)r->buf + r->pos;
    r->pos += (apr_size_t)n + 1;
    if (len) {
        *len = n;
    }
    return s;
}

static apr_array_header_t *get_nvs(apr_pool_t *p, rbuf *r)
{
    apr_uint32_t n = get_u32(r), i;
    apr_array_header_t *hs;

    /* Each entry takes at least 10 bytes: reject counts the payload
     * cannot hold before allocating for them. */
    if (r->bad || n > (r->len - r->pos) / 10) {
        r->bad = 1;
        return NULL;
    }
    hs = apr_array_make(p, n ? (int)n : 1, sizeof(ptth_nv));
    for (i = 0; i < n && !r->bad; ++i) {
        ptth_nv *nv = apr_array_push(hs);
        nv->name = get_str(r, &nv->nlen);
        nv->value = get_str(r, &nv->vlen);
    }
    return r->bad ? NULL : hs;
}

static void rinit(rbuf *r, const char *payload, apr_size_t len)
{
    r->buf = (const unsigned char *)payload;
    r->len = len;
    r->pos = 0;
    r->bad = 0;
}

apr_status_t ptth_link_decode_request(apr_pool_t *p, const char *payload,
                                      apr_size_t len, ptth_link_request *req)
{
    rbuf r;
    apr_uint64_t hi, lo;

    rinit(&r, payload, len);
    req->generation = get_u32(&r);
    hi = get_u32(&r);
    lo = get_u32(&r);
    req->sent = (apr_time_t)((hi << 32) | lo);
    req->wait_ms = get_u32(&r);
    req->timeout_ms = get_u32(&r);
    req->pool_name = get_str(&r, NULL);
    req->method = get_str(&r, NULL);
    req->scheme = get_str(&r, NULL);
    req->authority = get_str(&r, NULL);
    req->path = get_str(&r, NULL);
    req->protocol = get_str(&r, NULL);
    req->headers = get_nvs(p, &r);
    if (r.bad || r.pos != len || !*req->pool_name || !*req->method || !*req->path) {
        return APR_EINVAL;
    }
    if (!*req->protocol) {
        req->protocol = NULL;
    }
    return APR_SUCCESS;
}

apr_status_t ptth_link_decode_response(apr_pool_t *p, const char *payload,
                                       apr_size_t len, ptth_link_response *resp)
{
    rbuf r;

    rinit(&r, payload, len);
    resp->status = (int)get_u32(&r);
    resp->tunnel_id = get_u32(&r);
    resp->attempts = get_u32(&r);
    resp->backend = get_str(&r, NULL);
    resp->headers = get_nvs(p, &r);
    if (r.bad || r.pos != len || resp->status < 100 || resp->status > 999) {
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

apr_status_t ptth_link_decode_trailers(apr_pool_t *p, const char *payload,
                                       apr_size_t len, apr_array_header_t **headers)
{
    rbuf r;

    rinit(&r, payload, len);
    *headers = get_nvs(p, &r);
    return (r.bad || r.pos != len) ? APR_EINVAL : APR_SUCCESS;
}

apr_status_t ptth_link_decode_reset(const char *payload, apr_size_t len,
                                    ptth_link_reset_t *code)
{
    rbuf r;

    rinit(&r, payload, len);
    *code = (ptth_link_reset_t)get_u32(&r);
    return (r.bad || r.pos != len) ? APR_EINVAL : APR_SUCCESS;
}

const char *ptth_link_reset_str(ptth_link_reset_t code)
{
    switch (code) {
    case PTTH_RST_NONE:         return "none";
    case PTTH_RST_NO_TUNNEL:    return "no tunnel";
    case PTTH_RST_UNPROCESSED:  return "not processed by the backend";
    case PTTH_RST_BROKEN:       return "stream broken";
    case PTTH_RST_PROTOCOL:     return "protocol error";
    case PTTH_RST_OVERLOAD:     return "hub queue full";
    case PTTH_RST_UNKNOWN_POOL: return "unknown pool";
    case PTTH_RST_TIMEOUT:      return "backend timeout";
    case PTTH_RST_CANCEL:       return "cancelled";
    case PTTH_RST_SHUTDOWN:     return "hub shutting down";
    }
    return "unknown";
}
