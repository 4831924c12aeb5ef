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

/* Warnings for risky router configurations (docs/mod_ptth_router.md,
 * "Security warnings").  Not errors: the configuration runs as written.
 *
 *  - a plain= listener, or a secure listener without cert= (the PTTH
 *    handshake and its token in cleartext), on an address that is not
 *    loopback;
 *  - "SetHandler ptth-status" in a section without access control
 *    (ptth_conf_audit.h says how that is found).
 *
 * Said once per configuration read: at check_config when httpd reads it
 * the first time (apachectl configtest, or the start, on the terminal),
 * at post_config on every restart (into the error log). */

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_main.h>
#include <http_core.h>

#include "ptth_router.h"
#include "ptth_conf_audit.h"

static void audit(server_rec *s, apr_pool_t *ptemp)
{
    ptth_router_sconf *conf = ptth_router_sconf_get(s);
    apr_array_header_t *open;
    int i;

    for (i = 0; i < conf->listeners->nelts; ++i) {
        const ptth_router_listener *l =
            &APR_ARRAY_IDX(conf->listeners, i, ptth_router_listener);

        if (l->cert_file || ptth_host_is_loopback(ptemp, l->host)) {
            continue;
        }
        if (l->plain_pool) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, PTTHLOGNO(01010)
                         "PTTHListen %s plain=%s: plain mode on an address that "
                         "is not loopback: any host that reaches it can serve "
                         "pool %s, unauthenticated and unencrypted; use it on "
                         "a trusted network only, or a secure listener "
                         "(cert=, <PTTHPool>)", l->addr, l->plain_pool,
                         l->plain_pool);
        }
        else {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, PTTHLOGNO(01011)
                         "PTTHListen %s: the PTTH handshake in cleartext (no "
                         "cert=) on an address that is not loopback: backends' "
                         "tokens and all traffic cross the network unencrypted; "
                         "add cert= and key=", l->addr);
        }
    }
    open = ptth_find_open_handlers(ptemp, "ptth-status");
    for (i = 0; i < open->nelts; ++i) {
        const ptth_open_handler *oh = &APR_ARRAY_IDX(open, i, ptth_open_handler);
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, PTTHLOGNO(01012)
                     "SetHandler ptth-status (%s:%d, in %s) has no access "
                     "control: no Require, Allow or Deny applies there, so "
                     "anyone who reaches this server can read every "
                     "backend's identity, hosts and address; add e.g. "
                     "\"Require ip 127.0.0.1\"", oh->file, oh->line,
                     oh->section);
    }
}

int ptth_router_audit_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                                   apr_pool_t *ptemp, server_rec *s)
{
    (void)pconf; (void)plog;
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        audit(s, ptemp);
    }
    return OK;
}

int ptth_router_audit_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                                  apr_pool_t *ptemp, server_rec *s)
{
    (void)pconf; (void)plog;
    if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG) {
        audit(s, ptemp);
    }
    return OK;
}
