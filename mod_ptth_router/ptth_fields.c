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

/* The lists of ptth_fields.h. */

#include <string.h>

#include "ptth_fields.h"

static int in_list(const char *const *list, const char *name, apr_size_t len)
{
    for (; *list; ++list) {
        if (strlen(*list) == len && !memcmp(*list, name, len)) {
            return 1;
        }
    }
    return 0;
}

static const char *const connection_specific[] = {
    "connection", "keep-alive", "proxy-connection", "transfer-encoding",
    "upgrade", "te", NULL
};

static const char *const request_own[] = {
    "host", "trailer", "http2-settings", "content-length", "expect", NULL
};

static const char *const response_own[] = {
    "trailer", "proxy-authenticate", "http2-settings", "alt-svc", NULL
};

static const char *const secret[] = {
    "authorization", "proxy-authorization", "cookie", "set-cookie", NULL
};

int ptth_field_connection_specific(const char *name, apr_size_t len)
{
    return in_list(connection_specific, name, len);
}

int ptth_field_request_skip(const char *lname)
{
    apr_size_t len = strlen(lname);

    return in_list(connection_specific, lname, len)
        || in_list(request_own, lname, len);
}

int ptth_field_response_skip(const char *lname)
{
    apr_size_t len = strlen(lname);

    return in_list(connection_specific, lname, len)
        || in_list(response_own, lname, len);
}

int ptth_field_is_secret(const char *lname)
{
    return in_list(secret, lname, strlen(lname));
}
