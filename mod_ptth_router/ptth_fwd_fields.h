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

#ifndef PTTH_FWD_FIELDS_H
#define PTTH_FWD_FIELDS_H

/* Response fields of a forwarded request (ptth_fwd_fields.c). */

#include "ptth_fwd.h"

/* A lowercase copy. */
char *ptth_fwd_lower(apr_pool_t *p, const char *s);

/* The fields of a response head (or, with trailers, its trailers) into a
 * new table: hop-by-hop fields dropped, names cased, ProxyPassReverse*
 * applied to a head.  APR_EINVAL for a field with an embedded NUL. */
apr_status_t ptth_fwd_map_fields(ptth_fwd *fwd, const apr_array_header_t *nvs,
                                 int trailers, apr_table_t **pt);

#endif /* PTTH_FWD_FIELDS_H */
