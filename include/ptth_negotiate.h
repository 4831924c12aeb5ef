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

#ifndef PTTH_NEGOTIATE_H
#define PTTH_NEGOTIATE_H

/* Which output a status handler gives (common/ptth_negotiate.c), the
 * same rules for ptth-status and ptth-backend-status:
 *
 *   ?json  ?html  ?metrics  ?openmetrics   say it outright
 *   ?refresh=N     the HTML page, reloaded every N seconds (1..3600)
 *   otherwise Accept decides (RFC 9110 12.5.1, q values): text/html,
 *   application/json, application/openmetrics-text, text/plain (the
 *   Prometheus text format 0.0.4); wildcards prefer nothing, and with no
 *   preference the answer is JSON, as it always was.  ?metrics picks
 *   between the two metrics formats by Accept, 0.0.4 by default. */

#include <httpd.h>

typedef enum {
    PTTH_OUT_JSON,
    PTTH_OUT_HTML,
    PTTH_OUT_OPENMETRICS,
    PTTH_OUT_PROMETHEUS
} ptth_out_fmt;

#define PTTH_REFRESH_MIN 1
#define PTTH_REFRESH_MAX 3600

/* *refresh: seconds for the HTML page's reload, 0: none. */
ptth_out_fmt ptth_out_negotiate(request_rec *r, int *refresh);

#endif /* PTTH_NEGOTIATE_H */
