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

#ifndef PTTH_ESC_H
#define PTTH_ESC_H

/* Writing untrusted strings into the status outputs of both modules
 * (common/ptth_esc.c).  A backend's identity, its host names, a router's
 * refusal reason: peers choose those bytes, so each output escapes them
 * for its own syntax, and bytes that are not UTF-8 (RFC 3629) become
 * U+FFFD, so that no output is ever invalid for its parser.  The writers
 * go straight to the response (ap_rwrite, buffered by httpd): no
 * allocation, one pass over the string. */

#include <httpd.h>

/* Text or an attribute value in HTML: & < > " ' escaped, control
 * characters as U+FFFD. */
void ptth_esc_html(request_rec *r, const char *s);

/* The inside of a JSON string (RFC 8259 7): " \ and control characters
 * escaped, and < > & as \u003c ... so that it is safe in HTML too.
 * NULL writes nothing. */
void ptth_esc_json(request_rec *r, const char *s);

/* A JSON string with its quotes, or null for NULL. */
void ptth_json_str(request_rec *r, const char *s);

/* A label value of the Prometheus/OpenMetrics text formats: \ " and
 * newline escaped, other control characters as U+FFFD. */
void ptth_esc_label(request_rec *r, const char *s);

#endif /* PTTH_ESC_H */
