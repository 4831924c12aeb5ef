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

#ifndef PTTH_METRICS_H
#define PTTH_METRICS_H

/* The metrics outputs of both modules' status handlers
 * (common/ptth_metrics.c): OpenMetrics 1.0 text, or the Prometheus text
 * format 0.0.4 that older scrapers ask for.  Names follow Prometheus
 * conventions: base units in the name (_seconds, _bytes), counters end in
 * _total.  The two formats differ only in how a family is announced:
 * OpenMetrics names the family without _total/_info and ends with
 * "# EOF"; 0.0.4 names it as its samples and has no info type.
 *
 * A family's samples must follow its announcement without another
 * family in between (OpenMetrics): announce, write every sample, go on. */

#include <httpd.h>

typedef enum {
    PTTH_M_GAUGE,
    PTTH_M_COUNTER,     /* samples are <name>_total */
    PTTH_M_INFO         /* samples are <name>_info, value 1 */
} ptth_metric_type;

typedef struct ptth_metrics {
    request_rec *r;
    int om;                      /* OpenMetrics; else text 0.0.4 */
    const char *name;            /* the family being written */
    ptth_metric_type type;
} ptth_metrics;

#define PTTH_CT_OPENMETRICS "application/openmetrics-text; version=1.0.0; charset=utf-8"
#define PTTH_CT_PROMETHEUS  "text/plain; version=0.0.4; charset=utf-8"

void ptth_metrics_begin(ptth_metrics *m, request_rec *r, int om);
/* Announce a family.  name without _total or _info; unit (OpenMetrics
 * UNIT, NULL: none) must be the name's last component. */
void ptth_metrics_family(ptth_metrics *m, const char *name,
                         ptth_metric_type type, const char *unit,
                         const char *help);
/* A sample of the family: labels as (name, value) pairs, then NULL.
 * Values are escaped (ptth_esc_label); names are ours. */
void ptth_metrics_u64(ptth_metrics *m, apr_uint64_t v, ...);
void ptth_metrics_f64(ptth_metrics *m, double v, ...);
void ptth_metrics_end(ptth_metrics *m);

#endif /* PTTH_METRICS_H */
