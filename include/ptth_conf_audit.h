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

#ifndef PTTH_CONF_AUDIT_H
#define PTTH_CONF_AUDIT_H

/* Looking for risky configurations, for warnings at configtest
 * (common/ptth_conf_audit.c).  Each module logs what is found with its
 * own message; nothing here refuses a configuration. */

#include <apr_pools.h>
#include <apr_tables.h>

/* 1 when every address host names is a loopback address (127.0.0.0/8,
 * ::1, ::ffff:127.0.0.0/104); 0 for NULL (all addresses), for a name
 * that does not resolve, or for any other address. */
int ptth_host_is_loopback(apr_pool_t *p, const char *host);

/* A "SetHandler <handler>" whose section has no access control. */
typedef struct ptth_open_handler {
    const char *file;
    int line;
    const char *section;     /* "<Location /ptth-status>", or "server" */
} ptth_open_handler;

/* Every SetHandler of handler in the configuration (ap_conftree) whose
 * section, the sections around it and any other <Location> section of
 * the same path have no Require (other than "Require all granted"),
 * Allow, Deny, AuthType or <Require*> block.  Access granted to all by a
 * <Directory> elsewhere does not count as control. */
apr_array_header_t *ptth_find_open_handlers(apr_pool_t *p, const char *handler);

#endif /* PTTH_CONF_AUDIT_H */
