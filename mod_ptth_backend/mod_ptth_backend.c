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

/* mod_ptth_backend: the module record, its hooks and directives.  See
 * ptth_backend.h for how the work is split over the other files. */

#define PTTH_BACKEND_MODULE_FILE

#include <httpd.h>
#include <http_config.h>
#include <http_connection.h>
#include <http_protocol.h>
#include <mpm_common.h>

#include "ptth_backend.h"
#include "ptth_backend_config.h"
#include "ptth_backend_status.h"
#include "ptth_c2.h"
#include "ptth_dialer.h"
#include "ptth_gate.h"
#include "ptth_serve.h"
#include "ptth_tls_io.h"

static void ptth_backend_register_hooks(apr_pool_t *p)
{
    static const char *const mod_http2[] = { "mod_http2.c", NULL };

    ap_hook_check_config(ptth_backend_check_config, NULL, NULL,
                         APR_HOOK_MIDDLE);
    ap_hook_post_config(ptth_backend_post_config, NULL, NULL, APR_HOOK_MIDDLE);

    /* Child start: after mod_http2 so that its workers exist, and so that
     * our pchild pre-cleanup (drain, join) is registered after mod_http2's
     * and therefore runs before it (pre-cleanups run in reverse order): the
     * tunnels end while the h2 workers still finish their streams. */
    ap_hook_child_init(ptth_dialer_child_init, mod_http2, NULL, APR_HOOK_LAST);

    /* Child stop: before mod_http2, which aborts its streams when told the
     * stop is not graceful; prefork always says so, and we drain first. */
    ap_hook_child_stopping(ptth_dialer_child_stopping, NULL, mod_http2,
                           APR_HOOK_FIRST);

    /* Per-stream connections (c2) of a tunnel, and request accounting. */
    ap_hook_pre_connection(ptth_serve_pre_connection, NULL, NULL,
                           APR_HOOK_MIDDLE);
    ap_hook_post_read_request(ptth_serve_post_read_request, NULL, mod_http2,
                              APR_HOOK_REALLY_FIRST);

    ptth_gate_register();
    ptth_c2_register();
    ptth_tls_io_register(p);
    ptth_backend_status_register(p);
}

AP_DECLARE_MODULE(ptth_backend) = {
    STANDARD20_MODULE_STUFF,
    NULL,                       /* create per-directory config */
    NULL,                       /* merge per-directory config */
    ptth_backend_create_sconf,  /* create per-server config */
    NULL,                       /* merge per-server config: global only */
    ptth_backend_cmds,          /* directives */
    ptth_backend_register_hooks,
#if defined(AP_MODULE_FLAG_NONE)
    AP_MODULE_FLAG_NONE
#endif
};
