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

#ifndef PTTH_ROUTER_CONFIG_H
#define PTTH_ROUTER_CONFIG_H

#include "ptth_router.h"

void *ptth_router_create_sconf(apr_pool_t *p, server_rec *s);
void *ptth_router_merge_sconf(apr_pool_t *p, void *base, void *add);

const char *ptth_cmd_listen(cmd_parms *cmd, void *dc, const char *args);
const char *ptth_cmd_wait_timeout(cmd_parms *cmd, void *dc, const char *arg);
const char *ptth_cmd_drain_timeout(cmd_parms *cmd, void *dc, const char *arg);
const char *ptth_cmd_ping_interval(cmd_parms *cmd, void *dc, const char *arg);
const char *ptth_cmd_max_waiting(cmd_parms *cmd, void *dc, const char *arg);
const char *ptth_cmd_tunnel_max_requests(cmd_parms *cmd, void *dc, const char *arg);
const char *ptth_cmd_max_tunnels(cmd_parms *cmd, void *dc, const char *arg);
const char *ptth_cmd_hub_socket(cmd_parms *cmd, void *dc, const char *arg);

const char *ptth_cmd_pool_section(cmd_parms *cmd, void *dc, const char *arg);
const char *ptth_cmd_endpoint(cmd_parms *cmd, void *dc, const char *arg);
const char *ptth_cmd_token(cmd_parms *cmd, void *dc, const char *arg);
const char *ptth_cmd_token_file(cmd_parms *cmd, void *dc, const char *arg);
const char *ptth_cmd_client_cert(cmd_parms *cmd, void *dc, const char *arg);
const char *ptth_cmd_allow_hosts(cmd_parms *cmd, void *dc, const char *arg);
const char *ptth_cmd_max_per_backend(cmd_parms *cmd, void *dc, const char *arg);
const char *ptth_cmd_handshake_timeout(cmd_parms *cmd, void *dc, const char *arg);
const char *ptth_cmd_max_handshakes(cmd_parms *cmd, void *dc, const char *arg);
const char *ptth_cmd_max_handshakes_per_addr(cmd_parms *cmd, void *dc,
                                             const char *arg);
const char *ptth_cmd_max_resp_header(cmd_parms *cmd, void *dc, const char *arg);
const char *ptth_cmd_max_interim(cmd_parms *cmd, void *dc, const char *arg);
const char *ptth_cmd_hub_memory(cmd_parms *cmd, void *dc, const char *arg);

/* ptth_pool_config.c: a pool name is 1-64 letters, digits, - _ . */
int ptth_pool_name_valid(const char *name);

int ptth_router_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp, server_rec *s);

/* Effective global values (defaults applied). */
apr_interval_time_t ptth_router_drain_timeout(const ptth_router_sconf *c);
apr_interval_time_t ptth_router_ping_interval(const ptth_router_sconf *c);
int ptth_router_max_waiting(const ptth_router_sconf *c);
int ptth_router_tunnel_max_requests(const ptth_router_sconf *c);
int ptth_router_max_tunnels(const ptth_router_sconf *c);
apr_interval_time_t ptth_router_handshake_timeout(const ptth_router_sconf *c);
int ptth_router_max_handshakes(const ptth_router_sconf *c);
int ptth_router_max_handshakes_per_addr(const ptth_router_sconf *c);
apr_size_t ptth_router_max_resp_header(const ptth_router_sconf *c);
int ptth_router_max_interim(const ptth_router_sconf *c);
apr_size_t ptth_router_hub_memory(const ptth_router_sconf *c);

#endif /* PTTH_ROUTER_CONFIG_H */
