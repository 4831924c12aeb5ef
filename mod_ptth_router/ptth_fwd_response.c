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

/* The response of a forwarded request: the hub's frames (ptth_link.h)
 * into the request's output filters.  Interim responses as
 * ap_send_interim_response() sends them, the final head with mod_proxy's
 * rules (Via, Set-Cookie order, ProxyErrorOverride), the body streamed
 * with a flush when the hub has nothing more right now, trailers into
 * r->trailers_out. */

#include <string.h>

#include <apr_strings.h>

#include <httpd.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>

#include "ptth_router.h"
#include "ptth_fwd.h"
#include "ptth_fwd_fields.h"

/* Response bytes collected before they are passed without a flush. */
#define PTTH_OUT_PENDING_MAX  (64 * 1024)
/* Error body read and dropped under ProxyErrorOverride to keep the link. */
#define PTTH_DRAIN_MAX        (64 * 1024)
/* Interim responses accepted per exchange (mod_proxy_http allows 10; the
 * hub's PTTHMaxInterimResponses bounds what reaches us). */
#define PTTH_MAX_INTERIM      1000

/* Hand what we have to the user.  Failing here means the user is gone. */
static apr_status_t pass(ptth_fwd *fwd, int flush)
{
    apr_status_t rv;

    if (flush) {
        APR_BRIGADE_INSERT_TAIL(fwd->out,
                                apr_bucket_flush_create(fwd->c->bucket_alloc));
    }
    fwd->need_flush = 0;
    if (APR_BRIGADE_EMPTY(fwd->out)) {
        return APR_SUCCESS;
    }
    rv = ap_pass_brigade(fwd->r->output_filters, fwd->out);
    apr_brigade_cleanup(fwd->out);
    fwd->passed = 1;
    fwd->out_pending = 0;
    if (rv != APR_SUCCESS || fwd->c->aborted) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, fwd->r, PTTHLOGNO(01527)
                      PTTH_FWD_MSG(fwd, "user went away during the response"));
        return ptth_fwd_reset(fwd, PTTH_FWD_WHY_CLIENT_GONE, APR_ECONNABORTED,
                              "user gone");
    }
    return APR_SUCCESS;
}

static apr_status_t on_end(ptth_fwd *fwd, const char *why)
{
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, fwd->r,
                  PTTH_FWD_MSG(fwd, "response ended: %s"), why);
    ptth_fwd_response_ended(fwd);
    if (fwd->override) {
        return APR_SUCCESS;     /* ErrorDocument answers instead */
    }
    APR_BRIGADE_INSERT_TAIL(fwd->out, apr_bucket_eos_create(fwd->c->bucket_alloc));
    return pass(fwd, 0);
}

static apr_status_t on_interim(ptth_fwd *fwd, const ptth_link_response *resp)
{
    request_rec *r = fwd->r;
    const char *policy = apr_table_get(r->subprocess_env,
                                       "proxy-interim-response");
    apr_table_t *saved_out = r->headers_out, *hdrs;
    const char *saved_line = r->status_line;
    int saved_status = r->status;

    if (resp->status == HTTP_SWITCHING_PROTOCOLS) {
        return ptth_fwd_proto_error(fwd, "101 on a link stream");
    }
    if (++fwd->interim > PTTH_MAX_INTERIM) {
        return ptth_fwd_proto_error(fwd, "too many interim responses");
    }
    if (resp->status == HTTP_CONTINUE && fwd->awaiting_100) {
        /* The user waits for exactly this before sending the body. */
        fwd->awaiting_100 = 0;
    }
    else if (policy && !strcasecmp(policy, "Suppress")) {
        return APR_SUCCESS;
    }
    else if (policy && !strcasecmp(policy, "RFC")
             && resp->status == HTTP_CONTINUE) {
        r->expecting_100 = 1;   /* as mod_proxy_http */
    }
    if (ptth_fwd_map_fields(fwd, resp->headers, 0, &hdrs) != APR_SUCCESS) {
        return ptth_fwd_proto_error(fwd, "bad interim response field");
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, PTTHLOGNO(01528)
                  PTTH_FWD_MSG(fwd, "interim response %d"), resp->status);
    /* ap_send_interim_response() sends r->headers_out: lend it ours.  It
     * drops a 100 the user did not ask for and anything to HTTP/1.0. */
    r->status = resp->status;
    r->status_line = (resp->status == HTTP_EARLY_HINTS) ? "103 Early Hints"
                                                        : NULL;
    r->headers_out = hdrs;
    ap_send_interim_response(r, 1);
    r->headers_out = saved_out;
    r->status = saved_status;
    r->status_line = saved_line;
    return APR_SUCCESS;
}

static int copy_field(void *data, const char *key, const char *val)
{
    apr_table_addn(data, key, val);
    return 1;
}

static apr_status_t on_final(ptth_fwd *fwd, const ptth_link_response *resp,
                             int end_stream)
{
    request_rec *r = fwd->r;
    apr_table_t *hdrs, *cookies;
    const char *ct, *cl;
    int status = resp->status;

    if (ptth_fwd_map_fields(fwd, resp->headers, 0, &hdrs) != APR_SUCCESS) {
        return ptth_fwd_proto_error(fwd, "bad response field");
    }
    fwd->status = status;
    apr_table_setn(r->notes, "proxy-status", apr_itoa(r->pool, status));
    /* The hub enforces the backend's framing (ptth_respcheck.c); the
     * count here makes sure, whatever the link says, that the user never
     * gets octets beyond the length it was promised. */
    fwd->resp_cl = -1;
    if ((cl = apr_table_get(hdrs, "Content-Length"))
        && (apr_strtoff(&fwd->resp_cl, cl, NULL, 10) != APR_SUCCESS
            || fwd->resp_cl < 0)) {
        return ptth_fwd_proto_error(fwd, "bad Content-Length");
    }

    /* Cookies set before (e.g. mod_rewrite CO=) survive, as with
     * mod_proxy_http: earlier ones first. */
    cookies = apr_table_make(r->pool, 2);
    apr_table_do(copy_field, cookies, r->headers_out, "Set-Cookie", NULL);
    if (!apr_is_empty_table(cookies)) {
        apr_table_do(copy_field, cookies, hdrs, "Set-Cookie", NULL);
        apr_table_unset(hdrs, "Set-Cookie");
        hdrs = apr_table_overlay(r->pool, hdrs, cookies);
    }
    r->headers_out = hdrs;
    r->status = status;
    r->status_line = NULL;      /* httpd derives it */
    if ((ct = apr_table_get(r->headers_out, "Content-Type"))) {
        ap_set_content_type(r, apr_pstrdup(r->pool, ct));
    }
    if (fwd->conf->viaopt != via_off && fwd->conf->viaopt != via_block) {
        /* The received protocol is the backend's: HTTP/2. */
        apr_table_addn(r->headers_out, "Via", ptth_fwd_via(fwd, "2"));
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, PTTHLOGNO(01529)
                  PTTH_FWD_MSG(fwd, "response %d%s"), status,
                  end_stream ? " without body" : "");

    if (ap_proxy_should_override(fwd->dconf, status)) {
        /* As mod_proxy_http: our ErrorDocument answers, with the
         * backend's challenge; the backend's body is dropped. */
        if (status == HTTP_UNAUTHORIZED) {
            const char *wa = apr_table_get(r->headers_out, "WWW-Authenticate");
            if (wa) {
                apr_table_set(r->err_headers_out, "WWW-Authenticate", wa);
            }
        }
        /* Else ErrorDocument takes it for a recursive error. */
        r->status = HTTP_OK;
        fwd->override = 1;
        fwd->discard = 1;
        apr_table_setn(r->notes, "proxy-error-override", "1");
    }
    else {
        /* An ErrorDocument that is itself proxied keeps the error. */
        if (ap_proxy_should_override(fwd->dconf, fwd->original_status)) {
            r->status = fwd->original_status;
            r->status_line = fwd->original_status_line;
        }
        if (r->header_only || AP_STATUS_IS_HEADER_ONLY(status)) {
            fwd->discard = 1;
        }
        r->sent_bodyct = 1;
        fwd->need_flush = 1;     /* the head goes out even if data is slow */
    }
    return end_stream ? on_end(fwd, "no body") : APR_SUCCESS;
}

static apr_status_t on_response(ptth_fwd *fwd, const ptth_link_fhdr *fh,
                                const char *payload)
{
    ptth_link_response resp;

    if (fwd->status) {
        return ptth_fwd_proto_error(fwd, "second final response");
    }
    if (ptth_link_decode_response(fwd->r->pool, payload, fh->length, &resp)
        != APR_SUCCESS || resp.status > 599) {
        return ptth_fwd_proto_error(fwd, "malformed RESPONSE");
    }
    fwd->worker->s->read += fh->length;
    if (resp.status >= 200) {
        ptth_fwd_note_route(fwd, &resp);
    }
    if (fh->flags & PTTH_LF_UPGRADED) {
        if (!fwd->upgrade || resp.status < 200 || resp.status > 299
            || (fh->flags & PTTH_LF_END_STREAM)) {
            return ptth_fwd_proto_error(fwd, "unexpected upgrade");
        }
        /* The fields point into the link's buffer: ptth_ws_pipe() maps
         * them before anything else is read. */
        fwd->status = resp.status;
        fwd->up_headers = resp.headers;
        ptth_fwd_transit(fwd, PTTH_FWD_PIPE, "backend accepted the upgrade");
        return APR_SUCCESS;
    }
    if (resp.status < 200) {
        if (fh->flags & PTTH_LF_END_STREAM) {
            return ptth_fwd_proto_error(fwd, "interim response ends the stream");
        }
        return on_interim(fwd, &resp);
    }
    return on_final(fwd, &resp, fh->flags & PTTH_LF_END_STREAM);
}

static apr_status_t on_data(ptth_fwd *fwd, const ptth_link_fhdr *fh,
                            const char *payload)
{
    if (!fwd->status) {
        return ptth_fwd_proto_error(fwd, "DATA before the response head");
    }
    if (fh->length > PTTH_LINK_MAX_DATA) {
        return ptth_fwd_proto_error(fwd, "oversized DATA");
    }
    fwd->worker->s->read += fh->length;
    fwd->resp_got += fh->length;
    if (fwd->resp_cl >= 0 && !fwd->discard && fwd->resp_got > fwd->resp_cl) {
        return ptth_fwd_proto_error(fwd, "more DATA than Content-Length");
    }
    if (fwd->override) {
        fwd->drained += fh->length;
    }
    else if (!fwd->discard && fh->length) {
        APR_BRIGADE_INSERT_TAIL(fwd->out, apr_bucket_heap_create(payload,
                                fh->length, NULL, fwd->c->bucket_alloc));
        fwd->out_pending += fh->length;
        fwd->need_flush = 1;
    }
    if (fh->flags & PTTH_LF_END_STREAM) {
        return on_end(fwd, "END_STREAM");
    }
    if (fwd->worker->s->flush_packets == flush_on && fwd->need_flush) {
        return pass(fwd, 1);
    }
    if (fwd->out_pending >= PTTH_OUT_PENDING_MAX) {
        return pass(fwd, 0);
    }
    return APR_SUCCESS;
}

static apr_status_t on_trailers(ptth_fwd *fwd, const ptth_link_fhdr *fh,
                                const char *payload)
{
    apr_array_header_t *nvs;
    apr_table_t *t;

    if (!fwd->status) {
        return ptth_fwd_proto_error(fwd, "TRAILERS before the response head");
    }
    if (ptth_link_decode_trailers(fwd->r->pool, payload, fh->length, &nvs)
            != APR_SUCCESS
        || ptth_fwd_map_fields(fwd, nvs, 1, &t) != APR_SUCCESS) {
        return ptth_fwd_proto_error(fwd, "malformed TRAILERS");
    }
    fwd->worker->s->read += fh->length;
    if (!fwd->discard) {
        apr_table_do(copy_field, fwd->r->trailers_out, t, NULL);
    }
    return on_end(fwd, "trailers");
}

apr_status_t ptth_fwd_on_frame(ptth_fwd *fwd, const ptth_link_fhdr *fh,
                               const char *payload)
{
    ptth_link_reset_t code;

    if (ptth_fwd_resp_done(fwd) || ptth_fwd_failed(fwd)) {
        return ptth_fwd_proto_error(fwd, "frame after the end of the exchange");
    }
    switch (fh->type) {
    case PTTH_LF_RESPONSE:
        return on_response(fwd, fh, payload);
    case PTTH_LF_DATA:
        return on_data(fwd, fh, payload);
    case PTTH_LF_TRAILERS:
        return on_trailers(fwd, fh, payload);
    case PTTH_LF_GOAWAY:
        /* The hub drains and did not take this request (ptth_link.h). */
        if (fwd->status || fwd->interim) {
            return ptth_fwd_proto_error(fwd, "GOAWAY during a response");
        }
        fwd->hub_code = PTTH_RST_SHUTDOWN;
        return ptth_fwd_reset(fwd, PTTH_FWD_WHY_HUB_RESET, APR_ECONNABORTED,
                              "the hub drains (GOAWAY)");
    case PTTH_LF_RESET:
        if (ptth_link_decode_reset(payload, fh->length, &code) != APR_SUCCESS) {
            return ptth_fwd_proto_error(fwd, "malformed RESET");
        }
        fwd->hub_code = code;
        return ptth_fwd_reset(fwd, PTTH_FWD_WHY_HUB_RESET, APR_ECONNABORTED,
                              ptth_link_reset_str(code));
    default:
        return ptth_fwd_proto_error(fwd, "unexpected frame type");
    }
}

apr_status_t ptth_fwd_pump(void *ctx)
{
    ptth_fwd *fwd = ctx;

    for (;;) {
        ptth_link_fhdr fh;
        const char *payload;
        apr_status_t rv;

        rv = ptth_link_conn_read_frame(fwd->lc, &fh, &payload, 0);
        if (APR_STATUS_IS_EAGAIN(rv)) {
            break;
        }
        if (rv != APR_SUCCESS) {
            return ptth_fwd_link_failed(fwd, rv, "reading from");
        }
        if ((rv = ptth_fwd_on_frame(fwd, &fh, payload)) != APR_SUCCESS) {
            return rv;
        }
        if (ptth_fwd_resp_done(fwd)) {
            return APR_ECONNABORTED;    /* stops the body writer */
        }
        if (fwd->override && fwd->drained > PTTH_DRAIN_MAX) {
            return ptth_fwd_reset(fwd, PTTH_FWD_WHY_GIVEN_UP, APR_ECONNABORTED,
                                  "overridden error body too large");
        }
    }
    /* The body write may wait a while: what came goes to the user now. */
    if (fwd->need_flush && !fwd->discard) {
        return pass(fwd, 1);
    }
    return APR_SUCCESS;
}

apr_status_t ptth_fwd_read_response(ptth_fwd *fwd)
{
    apr_interval_time_t flush_wait = 0;
    apr_status_t rv;

    if (fwd->worker->s->flush_packets == flush_auto) {
        flush_wait = fwd->worker->s->flush_wait;
    }
    while (!ptth_fwd_resp_done(fwd) && !ptth_fwd_failed(fwd)) {
        ptth_link_fhdr fh;
        const char *payload;

        if (fwd->override && fwd->drained > PTTH_DRAIN_MAX) {
            return ptth_fwd_reset(fwd, PTTH_FWD_WHY_GIVEN_UP, APR_ECONNABORTED,
                                  "overridden error body too large");
        }
        /* Flush only when the hub has nothing more right now: streaming
         * without a write per frame. */
        if (fwd->need_flush && !fwd->discard
            && !ptth_link_conn_has_input(fwd->lc, flush_wait)) {
            if ((rv = pass(fwd, 1)) != APR_SUCCESS) {
                return rv;
            }
        }
        rv = ptth_link_conn_read_frame(fwd->lc, &fh, &payload, 1);
        if (rv != APR_SUCCESS) {
            return ptth_fwd_link_failed(fwd, rv, "reading from");
        }
        if ((rv = ptth_fwd_on_frame(fwd, &fh, payload)) != APR_SUCCESS) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

apr_status_t ptth_fwd_read_head(ptth_fwd *fwd)
{
    while (!fwd->status && !ptth_fwd_failed(fwd)) {
        ptth_link_fhdr fh;
        const char *payload;
        apr_status_t rv;

        rv = ptth_link_conn_read_frame(fwd->lc, &fh, &payload, 1);
        if (rv != APR_SUCCESS) {
            return ptth_fwd_link_failed(fwd, rv, "reading from");
        }
        if ((rv = ptth_fwd_on_frame(fwd, &fh, payload)) != APR_SUCCESS) {
            return rv;
        }
    }
    return APR_SUCCESS;
}
