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

#ifndef PTTH_UTIL_H
#define PTTH_UTIL_H

/* Helpers shared by mod_ptth_router and mod_ptth_backend (common/ptth_util.c).
 * Each function exists once and is linked into both modules. */

#include <apr_pools.h>
#include <apr_time.h>
#include <apr_network_io.h>

/* Parse a duration such as "5", "500ms", "2s", "3mi", "1h" (httpd's
 * ap_timeout_parameter_parse units).  A bare number is in default_unit.
 * Returns NULL on success or an error message naming the directive. */
const char *ptth_parse_duration(apr_pool_t *p, const char *directive,
                                const char *arg, const char *default_unit,
                                apr_interval_time_t *result);

/* Parse a non-negative integer within [min, max]. Returns NULL or an error
 * message naming the directive. */
const char *ptth_parse_int(apr_pool_t *p, const char *directive,
                           const char *arg, long min, long max, long *result);

/* Split "key=value" in place.  Returns 0 and sets key and val, or -1 when the
 * word has no '=' or an empty key. */
int ptth_split_kv(char *word, char **key, char **val);

/* A tunnel endpoint URL as written in PTTHConnect:
 *   tcp://host:port             seed-compatible plain mode (no handshake)
 *   http://host:port/path       PTTH Upgrade handshake over cleartext
 *   https://host:port/path      PTTH Upgrade handshake over TLS  */
typedef enum {
    PTTH_EP_TCP,
    PTTH_EP_HTTP,
    PTTH_EP_HTTPS
} ptth_ep_scheme_t;

typedef struct ptth_endpoint {
    ptth_ep_scheme_t scheme;
    const char *url;      /* as configured, for logs */
    const char *host;     /* without brackets for IPv6 literals */
    apr_port_t port;
    const char *path;     /* "/" when absent */
} ptth_endpoint;

/* Parse an endpoint URL.  Returns NULL or an error message. */
const char *ptth_parse_endpoint(apr_pool_t *p, const char *url, ptth_endpoint *ep);

/* Parse "host:port", "[v6]:port" or "*:port" into host (NULL for "*") and
 * port.  Returns NULL or an error message. */
const char *ptth_parse_hostport(apr_pool_t *p, const char *arg,
                                const char **host, apr_port_t *port);

/* Jittered exponential backoff ("full jitter" on the upper half):
 * each failure doubles the ceiling from min up to max; the delay returned is
 * uniformly drawn from [ceiling/2, ceiling].  reset() after a success. */
typedef struct ptth_backoff {
    apr_interval_time_t min;
    apr_interval_time_t max;
    apr_interval_time_t cur;
    apr_uint32_t seed;
} ptth_backoff;

void ptth_backoff_init(ptth_backoff *b, apr_interval_time_t min,
                       apr_interval_time_t max);
void ptth_backoff_reset(ptth_backoff *b);
apr_interval_time_t ptth_backoff_next(ptth_backoff *b);

/* A token file: one token per line; empty lines and lines starting with
 * '#' are skipped, white space around a token is dropped.  A line longer
 * than PTTH_TOKEN_MAX (a token must fit in an 8 KB handshake head) or a
 * file larger than PTTH_TOKEN_FILE_MAX is an error, never cut.  *tokens
 * gets the tokens (const char *, copies in p); the read buffer is wiped.
 * Returns NULL or an error message that names the file and line but
 * holds nothing of its content. */
#define PTTH_TOKEN_MAX       4096
#define PTTH_TOKEN_FILE_MAX  (1024 * 1024)
const char *ptth_read_token_file(apr_pool_t *p, apr_pool_t *ptemp,
                                 const char *path, apr_array_header_t **tokens);

/* Compare two byte strings in time that depends only on their lengths, for
 * secrets (tokens, their hashes): OpenSSL's CRYPTO_memcmp.  Returns 1 when
 * equal. */
int ptth_ct_equal(const void *a, apr_size_t alen, const void *b, apr_size_t blen);

#endif /* PTTH_UTIL_H */
