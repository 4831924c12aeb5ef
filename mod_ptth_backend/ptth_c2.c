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

/* A stream as a request on a secondary connection, see ptth_c2.h. */

#include <stdlib.h>
#include <string.h>

#include <apr_lib.h>
#include <apr_optional.h>
#include <apr_strings.h>

#include <httpd.h>
#include <http_config.h>
#include <http_connection.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <mod_core.h>
#include <util_filter.h>
#include <util_time.h>

#include "ptth_backend.h"
#include "ptth_c2.h"
#include "ptth_h2s.h"

/* Request body read from the stream at once. */
#define PTTH_C2_READ         16384
/* Read size for file buckets (a static file): the stream's buffer. */
#define PTTH_C2_FILE_READ    PTTH_H2S_OUTBUF
/* An interim response written as HTTP/1.1, at most. */
#define PTTH_C2_INTERIM_MAX  8192

static ap_filter_rec_t *c2_in_rec;
static ap_filter_rec_t *c2_out_rec;
static ap_filter_rec_t *c2_response_rec;
static apr_socket_t *dummy_socket;
static APR_OPTIONAL_FN_TYPE(ap_logio_add_bytes_out) *logio_out;

/** One stream's secondary connection, in the worker's task pool. */
typedef struct ptth_c2 {
    ptth_stream *st;
    conn_rec *c;
    request_rec *r;              /* the request made from the stream */
    int chunked;                 /* the body goes to HTTP_IN chunk-encoded */
    apr_bucket_brigade *in;      /* request input not yet taken */
    int in_eos;                  /* the EOS is in `in` (or was taken) */
    int final;                   /* PTTH_C2_RESPONSE gave the final head */
    int ended;                   /* the body's end went to the stream */
    apr_table_t *trailers;       /* r->trailers_out at the end, or NULL */
    char *interim;               /* interim head written as HTTP/1.1 */
    apr_size_t ilen;
    apr_status_t failed;         /* the stream is gone: say this again */
} ptth_c2;

/*******************************************************************************
 * input: the request body
 ******************************************************************************/

static void put_str(ptth_c2 *x, const char *s)
{
    /* heap_create with no free function copies. */
    APR_BRIGADE_INSERT_TAIL(x->in, apr_bucket_heap_create(s, strlen(s), NULL,
                                                          x->c->bucket_alloc));
}

static int put_trailer(void *ctx, const char *name, const char *value)
{
    ptth_c2 *x = ctx;

    put_str(x, apr_pstrcat(x->c->pool, name, ": ", value, "\r\n", NULL));
    return 1;
}

/* Refill `in` from the stream: body bytes (a chunk each when chunked),
 * then the end, with the trailers. */
static apr_status_t in_fill(ptth_c2 *x, apr_read_type_e block)
{
    conn_rec *c = x->c;
    apr_table_t *trailers;
    apr_size_t got;
    apr_status_t rv;
    int eos;
    char *buf = apr_bucket_alloc(PTTH_C2_READ, c->bucket_alloc);

    rv = ptth_stream_read(x->st, buf, PTTH_C2_READ, &got, block, &eos,
                          &trailers);
    if (rv != APR_SUCCESS || !got) {
        apr_bucket_free(buf);
    }
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (got) {
        if (x->chunked) {
            put_str(x, apr_psprintf(c->pool, "%" APR_UINT64_T_HEX_FMT "\r\n",
                                    (apr_uint64_t)got));
        }
        APR_BRIGADE_INSERT_TAIL(x->in, apr_bucket_heap_create(buf, got,
                                            apr_bucket_free, c->bucket_alloc));
        if (x->chunked) {
            put_str(x, "\r\n");
        }
    }
    if (eos) {
        if (x->chunked) {
            /* The last chunk and the trailer section (RFC 9112 section
             * 7.1.2), parsed by HTTP_IN into r->trailers_in. */
            put_str(x, "0\r\n");
            if (trailers) {
                apr_table_do(put_trailer, x, trailers, NULL);
            }
            put_str(x, "\r\n");
        }
        else if (trailers && x->r) {
            x->r->trailers_in = apr_table_overlay(x->r->pool,
                                                  x->r->trailers_in, trailers);
        }
        APR_BRIGADE_INSERT_TAIL(x->in, apr_bucket_eos_create(c->bucket_alloc));
        x->in_eos = 1;
    }
    return APR_SUCCESS;
}

static apr_status_t c2_in(ap_filter_t *f, apr_bucket_brigade *bb,
                          ap_input_mode_t mode, apr_read_type_e block,
                          apr_off_t readbytes)
{
    ptth_c2 *x = f->ctx;
    apr_status_t rv = APR_SUCCESS;
    apr_bucket *b;

    if (mode == AP_MODE_INIT) {
        return APR_SUCCESS;
    }
    if (f->c->aborted) {
        return APR_ECONNABORTED;
    }
    if (!x->st->has_body) {
        /* END_STREAM came with the head: no body, nothing to ask. */
        return APR_EOF;
    }
    while (APR_BRIGADE_EMPTY(x->in)) {
        if (x->in_eos) {
            return APR_EOF;
        }
        rv = in_fill(x, block);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    switch (mode) {
    case AP_MODE_EXHAUSTIVE:
        APR_BRIGADE_CONCAT(bb, x->in);
        break;
    case AP_MODE_READBYTES:
    case AP_MODE_SPECULATIVE:
        rv = apr_brigade_partition(x->in, readbytes, &b);
        if (rv == APR_INCOMPLETE) {
            rv = APR_SUCCESS;       /* less than asked: all of it */
        }
        if (rv != APR_SUCCESS) {
            return rv;
        }
        if (mode == AP_MODE_READBYTES) {
            apr_bucket *e;
            while ((e = APR_BRIGADE_FIRST(x->in)) != b) {
                APR_BUCKET_REMOVE(e);
                APR_BRIGADE_INSERT_TAIL(bb, e);
            }
        }
        else {
            apr_bucket *e, *copy;
            for (e = APR_BRIGADE_FIRST(x->in); e != b; e = APR_BUCKET_NEXT(e)) {
                if (apr_bucket_copy(e, &copy) == APR_SUCCESS) {
                    APR_BRIGADE_INSERT_TAIL(bb, copy);
                }
            }
        }
        break;
    case AP_MODE_GETLINE:
        /* HTTP_IN reads chunk sizes and trailers by lines. */
        rv = apr_brigade_split_line(bb, x->in, block, HUGE_STRING_LEN);
        break;
    default:
        rv = APR_ENOTIMPL;
        break;
    }
    return rv;
}

/*******************************************************************************
 * output: the response head (in place of HTTP_HEADER)
 ******************************************************************************/

/* What HTTP_HEADER does to the response's fields before it writes them
 * (modules/http/http_filters.c), for HTTP/2: no Connection, Keep-Alive,
 * Transfer-Encoding (RFC 9113 section 8.2.2; left out when framed). */
static apr_table_t *response_fields(request_rec *r)
{
    const char *ctype, *cl;

    if (!apr_is_empty_table(r->err_headers_out)) {
        r->headers_out = apr_table_overlay(r->pool, r->err_headers_out,
                                           r->headers_out);
        apr_table_clear(r->err_headers_out);
    }
    if (apr_table_get(r->notes, "no-etag")) {
        apr_table_unset(r->headers_out, "ETag");
    }
    if (AP_STATUS_IS_HEADER_ONLY(r->status)) {
        apr_table_unset(r->headers_out, "Transfer-Encoding");
        apr_table_unset(r->headers_out, "Content-Length");
        r->content_type = r->content_encoding = NULL;
        r->content_languages = NULL;
        r->clength = r->chunked = 0;
    }
    ctype = ap_make_content_type(r, r->content_type);
    if (ctype) {
        apr_table_setn(r->headers_out, "Content-Type", ctype);
    }
    if (r->content_encoding) {
        apr_table_setn(r->headers_out, "Content-Encoding", r->content_encoding);
    }
    if (!apr_is_empty_array(r->content_languages)) {
        apr_table_setn(r->headers_out, "Content-Language",
                       apr_array_pstrcat(r->pool, r->content_languages, ','));
    }
    if (r->no_cache && !apr_table_get(r->headers_out, "Expires")) {
        char *date = apr_palloc(r->pool, APR_RFC822_DATE_LEN);
        ap_recent_rfc822_date(date, r->request_time);
        apr_table_addn(r->headers_out, "Expires", date);
    }
    /* A handler that returned for HEAD left the content-length filter a
     * zero length to set: not the length of the GET (as HTTP_HEADER). */
    if (r->header_only && (cl = apr_table_get(r->headers_out, "Content-Length"))
        && !strcmp(cl, "0")) {
        apr_table_unset(r->headers_out, "Content-Length");
    }
    if (r->proxyreq == PROXYREQ_NONE
        || !apr_table_get(r->headers_out, "Date")) {
        char *date = apr_palloc(r->pool, APR_RFC822_DATE_LEN);
        ap_recent_rfc822_date(date, r->request_time);
        apr_table_setn(r->headers_out, "Date", date);
    }
    if (r->proxyreq == PROXYREQ_NONE
        || !apr_table_get(r->headers_out, "Server")) {
        const char *banner = ap_get_server_banner();
        if (banner && *banner) {
            apr_table_setn(r->headers_out, "Server", banner);
        }
    }
    return r->headers_out;
}

static apr_status_t c2_response(ap_filter_t *f, apr_bucket_brigade *bb)
{
    ptth_c2 *x = f->ctx;
    request_rec *r = f->r;
    apr_bucket *b, *next;
    int seen_eos = 0;

    if (!x->final) {
        ap_bucket_error *eb = NULL;
        int start = 0;

        for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
             b = APR_BUCKET_NEXT(b)) {
            if (AP_BUCKET_IS_ERROR(b) && !eb) {
                eb = b->data;
            }
            else if (APR_BUCKET_IS_EOS(b) || !APR_BUCKET_IS_METADATA(b)) {
                start = 1;
                break;
            }
        }
        if (eb) {
            /* As HTTP_HEADER: the error response replaces all this. */
            int status = eb->status;
            apr_brigade_cleanup(bb);
            ap_die(status, r);
            return AP_FILTER_ERROR;
        }
        if (!start) {
            return ap_pass_brigade(f->next, bb);
        }
        if (r->status < 200 || r->status > 999) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PTTHLOGNO(03250)
                          "status %d is no final response; sending 500",
                          r->status);
            r->status = HTTP_INTERNAL_SERVER_ERROR;
        }
        ptth_stream_respond(x->st, r->status, response_fields(r));
        x->final = 1;
        r->sent_bodyct = 1;
    }
    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb); b = next) {
        next = APR_BUCKET_NEXT(b);
        if (APR_BUCKET_IS_EOS(b)) {
            seen_eos = 1;
        }
        else if (!APR_BUCKET_IS_METADATA(b)
                 && (r->header_only || AP_STATUS_IS_HEADER_ONLY(r->status))) {
            /* HEAD, 204, 304: the head only (RFC 9110 sections 9.3.2,
             * 15.3.5, 15.4.5). */
            apr_bucket_delete(b);
        }
    }
    if (seen_eos && r->trailers_out && !apr_is_empty_table(r->trailers_out)) {
        x->trailers = apr_table_copy(r->pool, r->trailers_out);
    }
    return ap_pass_brigade(f->next, bb);
}

/*******************************************************************************
 * output: onto the stream
 ******************************************************************************/

/* An interim response written as HTTP/1.1 (ap_send_interim_response():
 * "HTTP/1.1 100 Continue", fields, an empty line) becomes a 1xx HEADERS
 * frame (RFC 9113 section 8.1).  Anything else written there before the
 * final head ends the stream. */
static apr_status_t interim_feed(ptth_c2 *x, const char *data, apr_size_t len)
{
    while (len > 0) {
        apr_size_t take = PTTH_C2_INTERIM_MAX - x->ilen;
        char *end, *line, *last;
        apr_table_t *fields;
        int status;
        apr_status_t rv;

        if (!x->interim) {
            x->interim = apr_palloc(x->c->pool, PTTH_C2_INTERIM_MAX + 1);
        }
        if (take > len) {
            take = len;
        }
        if (!take) {
            return APR_EGENERAL;
        }
        memcpy(x->interim + x->ilen, data, take);
        x->ilen += take;
        x->interim[x->ilen] = '\0';
        end = strstr(x->interim, "\r\n\r\n");
        if (!end) {
            data += take;
            len -= take;
            continue;
        }
        /* Bytes after the head belong to what follows. */
        take -= (apr_size_t)(x->ilen - (apr_size_t)(end + 4 - x->interim));
        data += take;
        len -= take;
        *end = '\0';

        line = apr_strtok(x->interim, "\r\n", &last);
        if (!line || strncmp(line, "HTTP/1.", 7) || strlen(line) < 12
            || !apr_isdigit(line[9]) || !apr_isdigit(line[10])
            || !apr_isdigit(line[11])) {
            return APR_EGENERAL;
        }
        status = atoi(line + 9);
        if (status < 100 || status > 199) {
            return APR_EGENERAL;
        }
        fields = apr_table_make(x->c->pool, 4);
        while ((line = apr_strtok(NULL, "\r\n", &last)) != NULL) {
            char *colon = strchr(line, ':');
            if (colon && colon != line) {
                *colon++ = '\0';
                while (*colon == ' ' || *colon == '\t') {
                    ++colon;
                }
                apr_table_add(fields, line, colon);
            }
        }
        x->ilen = 0;
        if (status == HTTP_SWITCHING_PROTOCOLS) {
            /* No protocol switch on a stream (RFC 9113 section 8.6). */
            return APR_EGENERAL;
        }
        rv = ptth_stream_interim(x->st, status, fields, x->c->pool);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

static apr_status_t c2_out(ap_filter_t *f, apr_bucket_brigade *bb)
{
    ptth_c2 *x = f->ctx;
    conn_rec *c = f->c;
    apr_bucket_brigade *eor = NULL;
    apr_status_t rv = x->failed;
    apr_bucket *b;

    if (!bb) {
        return APR_SUCCESS;
    }
    while (rv == APR_SUCCESS && (b = APR_BRIGADE_FIRST(bb))
                                != APR_BRIGADE_SENTINEL(bb)) {
        if (AP_BUCKET_IS_EOR(b)) {
            /* Destroying it logs the request and frees its pool: only
             * once this call is done with everything else. */
            APR_BUCKET_REMOVE(b);
            if (!eor) {
                eor = apr_brigade_create(c->pool, c->bucket_alloc);
            }
            APR_BRIGADE_INSERT_TAIL(eor, b);
            continue;
        }
        if (APR_BUCKET_IS_EOS(b)) {
            if (!x->ended) {
                x->ended = 1;
                rv = ptth_stream_end(x->st, NULL, 0, x->trailers);
            }
        }
        else if (APR_BUCKET_IS_FLUSH(b)) {
            if (!x->ended && ptth_stream_responded(x->st)) {
                rv = ptth_stream_flush(x->st);
            }
        }
        else if (!APR_BUCKET_IS_METADATA(b)) {
            const char *data;
            apr_size_t len;

            if (APR_BUCKET_IS_FILE(b)) {
                /* Copied into the stream anyway: read(2) into the heap
                 * rather than mmap(2)/munmap(2) per bucket (an munmap in
                 * a threaded process stops every CPU it ran on). */
                apr_bucket_file_enable_mmap(b, 0);
                if (b->length > PTTH_C2_FILE_READ) {
                    /* A stream buffer's worth per read, not 8 KiB (and
                     * an lseek) per read. */
                    apr_bucket_file_set_buf_size(b, PTTH_C2_FILE_READ);
                }
            }
            rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ);
            if (rv == APR_SUCCESS && len) {
                if (x->ended) {
                    /* Nothing goes after the end. */
                }
                else if (!ptth_stream_responded(x->st)) {
                    rv = interim_feed(x, data, len);
                    if (rv != APR_SUCCESS) {
                        ap_log_cerror(APLOG_MARK, APLOG_ERR, rv, c,
                                      PTTHLOGNO(03251) "output before the "
                                      "response head is no interim response; "
                                      "resetting the stream");
                    }
                }
                else if (APR_BUCKET_NEXT(b) != APR_BRIGADE_SENTINEL(bb)
                         && APR_BUCKET_IS_EOS(APR_BUCKET_NEXT(b))) {
                    /* The last bytes and the end together. */
                    x->ended = 1;
                    rv = ptth_stream_end(x->st, data, len, x->trailers);
                    if (rv == APR_SUCCESS && logio_out) {
                        logio_out(c, (apr_off_t)len);
                    }
                }
                else {
                    rv = ptth_stream_write(x->st, data, len);
                    if (rv == APR_SUCCESS && logio_out) {
                        logio_out(c, (apr_off_t)len);
                    }
                }
            }
        }
        apr_bucket_delete(b);
    }
    if (rv != APR_SUCCESS) {
        x->failed = rv;
        c->aborted = 1;
        apr_brigade_cleanup(bb);
    }
    if (eor) {
        apr_brigade_destroy(eor);
    }
    return rv;
}

/*******************************************************************************
 * the secondary connection and its request
 ******************************************************************************/

/* c2 holds a copy of the tunnel's conn_rec (ptth_stream_start): the same
 * addresses, virtual host set, log id, and c2->master the tunnel's
 * (secondary connections are known by it: the event MPM gives them their
 * own state, the core no network filters).  It gets its own pool,
 * configs, notes, filters and bucket allocator (the worker's, kept across
 * its tasks). */
static void c2_setup(conn_rec *c2, ptth_stream *st, ptth_worker *w)
{
    apr_pool_t *p = w->task_pool;

    c2->pool = p;
    c2->conn_config = ap_create_conn_config(p);
    c2->notes = apr_table_make(p, 5);
    c2->input_filters = NULL;
    c2->output_filters = NULL;
    c2->sbh = NULL;
    c2->bucket_alloc = w->bucket_alloc;
    c2->data_in_input_filters = 0;
    c2->data_in_output_filters = 0;
    /* Never read from a socket (the event MPM would try). */
    c2->clogging_input_filters = 1;
    c2->aborted = 0;
    c2->log = NULL;
    c2->current_thread = w->thread;
    /* Unique while it runs: the tunnel's id is unique in the server and
     * the worker's (below PTTH_MAX_STREAM_WORKERS) within the child. */
    c2->id = (st->conn_id << 10) | (long)w->id;
    /* One request, then the connection is thrown away: nothing to keep
     * clean after an error (and no lingering body read). */
    c2->keepalive = AP_CONN_CLOSE;
    c2->keepalives = 1;
    /* Modules may ask for the socket and set its options: never the
     * tunnel's. */
    ap_set_module_config(c2->conn_config, &core_module, dummy_socket);
}

/* The request head as a request_rec, as ap_read_request() would make it
 * from HTTP/1.1 (the request line and fields parsed and checked by httpd's
 * own functions).  NULL when the request was answered already (an error:
 * ap_die() has sent it). */
static request_rec *c2_request(ptth_c2 *x)
{
    ptth_stream *st = x->st;
    conn_rec *c = x->c;
    request_rec *r = ap_create_request(c);
    int status = HTTP_OK;
    apr_bucket_brigade *bb;

    x->r = r;
    /* Our response head in place of HTTP/1.1's (the chunking filter goes
     * with it: HTTP/2 frames bodies itself). */
    ap_remove_output_filter_byhandle(r->output_filters, "HTTP_HEADER");
    ap_add_output_filter_handle(c2_response_rec, x, r, c);

    r->headers_in = apr_table_copy(r->pool, st->headers);
    if (st->has_body && !apr_table_get(r->headers_in, "Content-Length")) {
        /* HTTP_IN needs a length or chunks to find the body's end; HTTP/2
         * has END_STREAM (RFC 9113 section 8.1). */
        apr_table_mergen(r->headers_in, "Transfer-Encoding", "chunked");
        x->chunked = 1;
    }
    ap_run_pre_read_request(r, c);
    r->request_time = st->request_time;
    r->the_request = apr_psprintf(r->pool, "%s %s HTTP/2.0",
                                  st->method ? st->method : "GET",
                                  st->path ? st->path : "/");
    if (st->reject) {
        status = st->reject;
        goto die;
    }
    r->hostname = NULL;
    if (!ap_parse_request_line(r) || !ap_check_request_header(r)) {
        r->per_dir_config = r->server->lookup_defaults;
        status = r->status;
        r->status = HTTP_OK;
        goto die;
    }
    r->per_dir_config = r->server->lookup_defaults;
    ap_add_input_filter_handle(ap_http_input_filter_handle, NULL, r, c);
    if ((status = ap_post_read_request(r)) != OK) {
        goto die;
    }
    return r;

die:
    if (!r->method) {
        ap_parse_request_line(r);
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, PTTHLOGNO(03252)
                  "stream %d: request refused with %d", (int)st->id, status);
    ap_die(status, r);
    /* The request's end, as ap_process_request() would mark it. */
    bb = apr_brigade_create(c->pool, c->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(bb, ap_bucket_eor_create(c->bucket_alloc, r));
    ap_pass_brigade(c->output_filters, bb);
    apr_brigade_cleanup(bb);
    return NULL;
}

void ptth_c2_run(ptth_task *t, ptth_worker *w)
{
    ptth_stream *st = (ptth_stream *)t;
    conn_rec *c2;
    ptth_c2 *x;
    request_rec *r;
    int rc;

    c2 = apr_palloc(w->task_pool, sizeof(*c2));
    if (!ptth_stream_start(st, c2)) {
        ptth_stream_done(st);
        return;
    }
    c2_setup(c2, st, w);
    x = apr_pcalloc(c2->pool, sizeof(*x));
    x->st = st;
    x->c = c2;
    x->in = apr_brigade_create(c2->pool, c2->bucket_alloc);

    rc = ap_run_pre_connection(c2, dummy_socket);
    if (rc != OK && rc != DONE) {
        c2->aborted = 1;
    }
    ap_add_input_filter_handle(c2_in_rec, x, NULL, c2);
    ap_add_output_filter_handle(c2_out_rec, x, NULL, c2);
    if (!c2->aborted) {
        r = c2_request(x);
        if (r) {
            ap_process_request(r);
        }
    }
    ptth_stream_done(st);
}

void ptth_c2_register(void)
{
    c2_in_rec = ap_register_input_filter("PTTH_C2_IN", c2_in, NULL,
                                         AP_FTYPE_NETWORK);
    c2_out_rec = ap_register_output_filter("PTTH_C2_OUT", c2_out, NULL,
                                           AP_FTYPE_NETWORK);
    c2_response_rec = ap_register_output_filter("PTTH_C2_RESPONSE",
                                                c2_response, NULL,
                                                AP_FTYPE_PROTOCOL);
}

apr_status_t ptth_c2_child_init(apr_pool_t *pchild)
{
    logio_out = APR_RETRIEVE_OPTIONAL_FN(ap_logio_add_bytes_out);
    return apr_socket_create(&dummy_socket, APR_INET, SOCK_STREAM,
                             APR_PROTO_TCP, pchild);
}
