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

#ifndef PTTH_HTML_H
#define PTTH_HTML_H

/* The HTML status pages of both modules (common/ptth_html.c): one look,
 * as dense as mod_status and balancer-manager, plain HTML with a little
 * inline CSS and no script.  Numbers are formatted into caller buffers,
 * so a page with thousands of rows allocates nothing per row. */

#include <httpd.h>

#define PTTH_FMT_LEN 32

/* <!DOCTYPE html> ... <body><h1>title</h1>; refresh > 0 adds a meta
 * refresh of that many seconds.  title is escaped. */
void ptth_html_begin(request_rec *r, const char *title, int refresh);
/* The footer (server version, when) and </body></html>. */
void ptth_html_end(request_rec *r);

/* "4d 2h", "3h 12m", "5m 7s", "42s" (a duration in microseconds). */
const char *ptth_fmt_duration(char buf[PTTH_FMT_LEN], apr_interval_time_t us);
/* "812 B", "14.2 kB", "3.1 MB", "1.0 GB" */
const char *ptth_fmt_bytes(char buf[PTTH_FMT_LEN], apr_uint64_t n);
/* "0.42 ms", "12 ms" (a round trip in microseconds) */
const char *ptth_fmt_rtt(char buf[PTTH_FMT_LEN], apr_int64_t us);

#endif /* PTTH_HTML_H */
