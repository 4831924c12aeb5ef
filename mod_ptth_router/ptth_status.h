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

#ifndef PTTH_STATUS_H
#define PTTH_STATUS_H

/* The router's status outputs, all rendered in a child from one decoded
 * status document (ptth_status_doc.h):
 *
 *   ptth_status.c          the "ptth-status" handler: fetch, choose, render
 *   ptth_status_json.c     JSON (the document's numbers, as they are)
 *   ptth_status_html.c     the page for people
 *   ptth_status_metrics.c  OpenMetrics / Prometheus text
 *   ptth_status_hook.c     a section of mod_status's server-status
 *
 * Each writes with ap_r* (buffered by httpd) in one pass over the
 * document: the cost grows with the number of tunnels, never faster. */

#include <httpd.h>

#include "ptth_status_doc.h"

/* Ask the hub for its document over a link.  APR_ENOENT: no hub in this
 * configuration (no PTTHListen). */
apr_status_t ptth_status_fetch(request_rec *r, ptth_sdoc **pdoc);

void ptth_status_json(request_rec *r, const ptth_sdoc *doc);
/* refresh: seconds for the page to reload itself, 0: never. */
void ptth_status_html(request_rec *r, const ptth_sdoc *doc, int refresh);
/* om: OpenMetrics 1.0; else the Prometheus text format 0.0.4. */
void ptth_status_metrics(request_rec *r, const ptth_sdoc *doc, int om);

/* The section in server-status (mod_status's optional status_hook). */
void ptth_status_hook_register(void);

/* Totals over a document's pools. */
typedef struct ptth_sdoc_totals {
    apr_uint64_t tunnels, open, active, waiting, requests, retries, served;
} ptth_sdoc_totals;
void ptth_sdoc_sum(const ptth_sdoc *doc, ptth_sdoc_totals *tot);

#endif /* PTTH_STATUS_H */
