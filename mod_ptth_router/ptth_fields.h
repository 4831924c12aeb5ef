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

#ifndef PTTH_FIELDS_H
#define PTTH_FIELDS_H

/* Which header fields never cross the router, in one place: the hub
 * (requests on the wire, responses' rules) and the children (what goes
 * to the hub, what goes to the user) use these lists.  Names are compared
 * as given, lowercase (HTTP/2 names are, RFC 9113 8.2.1; callers
 * lowercase HTTP/1.1 ones first).  No httpd or APR dependency beyond
 * apr.h, so that the response rules that use them can be fuzzed alone. */

#include <apr.h>

/* RFC 9113 8.2.2 (and RFC 9110 7.6.1): connection-specific fields, never
 * in an HTTP/2 message.  TE is listed: in a request it may only say
 * "trailers", which callers allow themselves. */
int ptth_field_connection_specific(const char *name, apr_size_t len);

/* Not forwarded from the user's request to the backend: the connection-
 * specific fields, and those the exchange sets itself (Host becomes
 * :authority; content-length, expect and te are written from what the
 * request says; trailer and http2-settings are about the user's hop). */
int ptth_field_request_skip(const char *lname);

/* Not forwarded from the backend's response to the user: the connection-
 * specific fields, and what the backend says about its own hop
 * (proxy-authenticate, alt-svc, http2-settings, trailer), as
 * mod_proxy_http and mod_proxy_http2 do. */
int ptth_field_response_skip(const char *lname);

/* Values never logged, also not at trace levels. */
int ptth_field_is_secret(const char *lname);

#endif /* PTTH_FIELDS_H */
