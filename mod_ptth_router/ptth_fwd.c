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

/* The forwarded request's state machine and its outcome: what becomes of
 * the link, whether the request may go again, and the HTTP status (see
 * ptth_fwd.h).  Errors stay apr_status_t and a reason inside; the HTTP
 * status is chosen here, once. */

#include <apr_strings.h>

#include <httpd.h>
#include <http_log.h>
#include <http_protocol.h>

#include "ptth_router.h"
#include "ptth_fwd.h"

/* A hub that drains says so (GOAWAY, RESET SHUTDOWN) before it acts on
 * a request: the request goes again on a fresh link, which reaches the
 * next hub, at most this often and within the wait time. */
#define PTTH_MAX_HUB_ATTEMPTS 8

const char *ptth_fwd_state_str(ptth_fwd_state s)
{
    switch (s) {
    case PTTH_FWD_IDLE:               return "IDLE";
    case PTTH_FWD_OPEN:               return "OPEN";
    case PTTH_FWD_HALF_CLOSED_LOCAL:  return "HALF_CLOSED_LOCAL";
    case PTTH_FWD_HALF_CLOSED_REMOTE: return "HALF_CLOSED_REMOTE";
    case PTTH_FWD_CLOSED:             return "CLOSED";
    case PTTH_FWD_PIPE:               return "PIPE";
    case PTTH_FWD_RESET:              return "RESET";
    }
    return "?";
}

void ptth_fwd_transit(ptth_fwd *fwd, ptth_fwd_state ns, const char *why)
{
    if (fwd->state == ns) {
        return;
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, fwd->r, PTTHLOGNO(01520)
                  PTTH_FWD_MSG(fwd, "%s -> %s (%s)"),
                  ptth_fwd_state_str(fwd->state), ptth_fwd_state_str(ns), why);
    fwd->state = ns;
}

void ptth_fwd_request_ended(ptth_fwd *fwd)
{
    if (fwd->state == PTTH_FWD_OPEN) {
        ptth_fwd_transit(fwd, PTTH_FWD_HALF_CLOSED_LOCAL, "request ended");
    }
    else if (fwd->state == PTTH_FWD_HALF_CLOSED_REMOTE) {
        ptth_fwd_transit(fwd, PTTH_FWD_CLOSED, "request ended");
    }
}

void ptth_fwd_response_ended(ptth_fwd *fwd)
{
    if (fwd->state == PTTH_FWD_OPEN) {
        ptth_fwd_transit(fwd, PTTH_FWD_HALF_CLOSED_REMOTE,
                         "answered before the request ended");
    }
    else if (fwd->state == PTTH_FWD_HALF_CLOSED_LOCAL) {
        ptth_fwd_transit(fwd, PTTH_FWD_CLOSED, "response ended");
    }
}

apr_status_t ptth_fwd_reset(ptth_fwd *fwd, ptth_fwd_why why, apr_status_t rv,
                            const char *what)
{
    if (fwd->state != PTTH_FWD_RESET) {
        fwd->why = why;
        fwd->rv = rv;
        ptth_fwd_transit(fwd, PTTH_FWD_RESET, what);
    }
    return rv != APR_SUCCESS ? rv : APR_ECONNABORTED;
}

apr_status_t ptth_fwd_proto_error(ptth_fwd *fwd, const char *what)
{
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, fwd->r, PTTHLOGNO(01525)
                  PTTH_FWD_MSG(fwd, "link protocol error: %s"), what);
    return ptth_fwd_reset(fwd, PTTH_FWD_WHY_PROTOCOL, APR_EINVAL, what);
}

apr_status_t ptth_fwd_link_failed(ptth_fwd *fwd, apr_status_t rv,
                                  const char *what)
{
    if (rv == APR_EINVAL) {
        return ptth_fwd_proto_error(fwd, "oversized frame");
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, fwd->r, PTTHLOGNO(01526)
                  PTTH_FWD_MSG(fwd, "%s the link failed%s"), what,
                  APR_STATUS_IS_TIMEUP(rv) ? " (timeout)"
                  : APR_STATUS_IS_EOF(rv) ? " (hub closed it)" : "");
    return ptth_fwd_reset(fwd, PTTH_FWD_WHY_LINK, rv, what);
}

void ptth_fwd_finish_link(ptth_fwd *fwd)
{
    ptth_link_conn *lc = fwd->lc;
    int in_step, reusable;

    if (!lc) {
        return;
    }
    /* The link is in step with the hub unless a frame was cut, the link
     * broke or the hub broke its protocol. */
    in_step = !fwd->link_dirty
              && !(fwd->state == PTTH_FWD_RESET
                   && (fwd->why == PTTH_FWD_WHY_LINK
                       || fwd->why == PTTH_FWD_WHY_PROTOCOL));
    /* After a RESET the hub may still be dropping (or, with its body
     * buffer full, not reading) body frames: only a body-less exchange
     * leaves the link certainly in step. */
    /* A hub that said SHUTDOWN (or GOAWAY) takes nothing more on it. */
    reusable = in_step
               && (fwd->state == PTTH_FWD_CLOSED
                   || (fwd->state == PTTH_FWD_RESET
                       && fwd->why == PTTH_FWD_WHY_HUB_RESET && !fwd->has_body
                       && fwd->hub_code != PTTH_RST_SHUTDOWN));
    if (in_step && fwd->state != PTTH_FWD_CLOSED
        && !(fwd->state == PTTH_FWD_RESET && fwd->why == PTTH_FWD_WHY_HUB_RESET)) {
        /* Over for us, not for the hub: it cancels the stream and closes
         * the link (a child that resets does not reuse it).  Only if it
         * fits right now: a hub that stopped reading learns the same from
         * the closed link. */
        unsigned char frame[PTTH_LINK_HDR_LEN + 4];
        struct iovec iov;

        ptth_link_encode_reset(frame, PTTH_RST_CANCEL);
        iov.iov_base = frame;
        iov.iov_len = sizeof(frame);
        ptth_link_conn_timeout_set(lc, 0);
        ptth_link_conn_write(lc, &iov, 1, NULL, NULL);
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, fwd->r, PTTHLOGNO(01537)
                      PTTH_FWD_MSG(fwd, "exchange cancelled (%s)"),
                      fwd->state == PTTH_FWD_HALF_CLOSED_REMOTE
                      ? "answered before the request ended"
                      : fwd->why == PTTH_FWD_WHY_CLIENT_GONE ? "user gone"
                      : fwd->why == PTTH_FWD_WHY_CLIENT_BODY
                      ? "user's body failed" : "given up");
    }
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, fwd->r,
                  PTTH_FWD_MSG(fwd, "link %s"), reusable ? "kept" : "closed");
    ptth_link_release(lc, reusable);
    fwd->lc = NULL;
}

int ptth_fwd_may_resend(ptth_fwd *fwd, int attempt)
{
    return fwd->state == PTTH_FWD_RESET && fwd->why == PTTH_FWD_WHY_HUB_RESET
           && fwd->hub_code == PTTH_RST_SHUTDOWN && !fwd->status
           && !fwd->interim && !fwd->passed && !fwd->body->lost
           && attempt + 1 < PTTH_MAX_HUB_ATTEMPTS
           && apr_time_now() < fwd->req.sent + fwd->wait;
}

void ptth_fwd_new_attempt(ptth_fwd *fwd)
{
    ptth_fwd_transit(fwd, PTTH_FWD_IDLE, "the hub did not take it: again");
    fwd->why = PTTH_FWD_WHY_NONE;
    fwd->rv = APR_SUCCESS;
    fwd->hub_code = PTTH_RST_NONE;
    fwd->status = fwd->interim = 0;
    fwd->resp_got = fwd->drained = 0;
    fwd->sb_len = fwd->sb_frame = 0;
    fwd->awaiting_100 = fwd->sb_open = fwd->need_flush = 0;
    fwd->discard = fwd->override = fwd->link_dirty = 0;
    fwd->up_headers = NULL;
    /* HTTP_IN answered the user's 100-continue once the body was read. */
    fwd->expect_100 = fwd->expect_100 && fwd->body->consumed == 0;
    apr_brigade_cleanup(fwd->out);
    fwd->out_pending = 0;
}

static int reset_status(ptth_fwd *fwd)
{
    switch (fwd->hub_code) {
    case PTTH_RST_NO_TUNNEL:
    case PTTH_RST_OVERLOAD:
    case PTTH_RST_UNKNOWN_POOL:
    case PTTH_RST_SHUTDOWN:
        /* The request reached no backend: a balancer may fail over.  A
         * body that cannot be sent again stops that (ptth_proxy.c). */
        return HTTP_SERVICE_UNAVAILABLE;
    case PTTH_RST_UNPROCESSED:
        return fwd->body->lost ? HTTP_BAD_GATEWAY : HTTP_SERVICE_UNAVAILABLE;
    case PTTH_RST_TIMEOUT:
        return HTTP_GATEWAY_TIME_OUT;
    default:
        return HTTP_BAD_GATEWAY;
    }
}

int ptth_fwd_result(ptth_fwd *fwd)
{
    request_rec *r = fwd->r;
    const char *msg;
    int status, timed_out;

    ptth_fwd_finish_link(fwd);
    if (fwd->state != PTTH_FWD_RESET || fwd->why == PTTH_FWD_WHY_GIVEN_UP) {
        /* Complete (or answered early), or an overridden error cut
         * short: both fine. */
        return fwd->override ? fwd->status : OK;
    }
    switch (fwd->why) {
    case PTTH_FWD_WHY_CLIENT_GONE:
        return DONE;
    case PTTH_FWD_WHY_CLIENT_BODY:
        return fwd->passed ? DONE
                           : ap_map_http_request_error(fwd->rv, HTTP_BAD_REQUEST);
    default:
        break;
    }
    timed_out = (fwd->why == PTTH_FWD_WHY_HUB_RESET
                 && fwd->hub_code == PTTH_RST_TIMEOUT)
                || (fwd->why == PTTH_FWD_WHY_LINK && APR_STATUS_IS_TIMEUP(fwd->rv));
    if (timed_out) {
        apr_table_setn(r->notes, "proxy_timedout", "1");
    }
    if (fwd->passed) {
        /* Too late for a status: the user sees a broken response. */
        apr_bucket_brigade *bb = apr_brigade_create(r->pool, fwd->c->bucket_alloc);

        ap_log_rerror(APLOG_MARK, APLOG_ERR,
                      fwd->why == PTTH_FWD_WHY_LINK ? fwd->rv : APR_SUCCESS, r,
                      PTTHLOGNO(01538) "ptth pool %s: response broken after it "
                      "started (%s)", fwd->pool_name,
                      fwd->why == PTTH_FWD_WHY_HUB_RESET
                      ? ptth_link_reset_str(fwd->hub_code)
                      : fwd->why == PTTH_FWD_WHY_PROTOCOL ? "link protocol error"
                      : "link failed");
        ap_proxy_backend_broke(r, bb);
        ap_pass_brigade(r->output_filters, bb);
        return DONE;
    }
    if (fwd->override) {
        return fwd->status;     /* ErrorDocument does not need the body */
    }
    /* Backend headers must not reach the error response, and ap_die()
     * must not take the backend's status for an earlier error. */
    r->status = fwd->original_status;
    r->status_line = fwd->original_status_line;
    if (fwd->why == PTTH_FWD_WHY_HUB_RESET) {
        status = reset_status(fwd);
        msg = apr_psprintf(r->pool, "ptth pool %s: %s", fwd->pool_name,
                           ptth_link_reset_str(fwd->hub_code));
    }
    else if (timed_out) {
        status = HTTP_GATEWAY_TIME_OUT;
        msg = apr_psprintf(r->pool, "ptth pool %s: no answer from the tunnel "
                           "hub in time", fwd->pool_name);
    }
    else {
        status = HTTP_BAD_GATEWAY;
        msg = apr_psprintf(r->pool, "ptth pool %s: %s", fwd->pool_name,
                           fwd->why == PTTH_FWD_WHY_PROTOCOL
                           ? "link protocol error" : "link to the tunnel hub failed");
    }
    return ap_proxyerror(r, status, msg);
}

void ptth_fwd_note_route(ptth_fwd *fwd, const ptth_link_response *resp)
{
    apr_table_t *env = fwd->r->subprocess_env;

    if (!resp->tunnel_id) {
        return;
    }
    apr_table_setn(env, PTTH_ENV_TUNNEL,
                   apr_psprintf(fwd->r->pool, "%u", resp->tunnel_id));
    apr_table_setn(env, PTTH_ENV_ATTEMPTS,
                   apr_psprintf(fwd->r->pool, "%u", resp->attempts));
    if (resp->backend && *resp->backend) {
        /* It points into the link's buffer, which the next frame reuses. */
        apr_table_set(env, PTTH_ENV_BACKEND, resp->backend);
    }
}
