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

#ifndef PTTH_C2_H
#define PTTH_C2_H

/* A stream of the ptth stream path as a request of httpd (PTTHStreamPath
 * ptth; "The ptth stream path" in docs/architecture.md): in a worker
 * (ptth_workers.h), a secondary connection (c2) is made from the tunnel's
 * conn_rec in the worker's task pool, goes through the pre_connection
 * hooks, and gets the stream's request as a request_rec, which
 * ap_process_request() runs through the usual pipeline (virtual host by
 * Host, access control, handlers, filters, logs).
 *
 * Filters of the c2 (they talk to the stream, ptth_h2s.h):
 *   PTTH_C2_IN        network input: the request body, chunk-encoded for
 *                     HTTP_IN when it has no Content-Length (HTTP/2
 *                     frames it, RFC 9113 section 8.1), with trailers
 *   PTTH_C2_RESPONSE  protocol output, in place of HTTP_HEADER: the
 *                     response head (status and fields), no body for HEAD
 *                     and bodiless statuses, trailers (r->trailers_out)
 *   PTTH_C2_OUT       network output: body bytes, FLUSH, the end; before
 *                     the final head, interim responses written as
 *                     HTTP/1.1 (100 Continue from HTTP_IN, 103 Early
 *                     Hints) become 1xx HEADERS frames
 *
 * The stream's request pool is not needed once the response is framed:
 * the end of the body waits for that (ptth_stream_end()), so the EOR
 * bucket (logging, request pool) is destroyed after it. */

#include <httpd.h>

#include "ptth_workers.h"

/** Child start: the placeholder socket of secondary connections. */
apr_status_t ptth_c2_child_init(apr_pool_t *pchild);

/** Register the filters (register_hooks). */
void ptth_c2_register(void);

/** A worker runs a stream (ptth_task_fn). */
void ptth_c2_run(ptth_task *t, ptth_worker *w);

#endif /* PTTH_C2_H */
