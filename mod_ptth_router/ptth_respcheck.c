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

/* The message rules for responses from a tunnel, see ptth_respcheck.h.
 * nghttp2's own HTTP messaging checks are off on tunnel sessions (they
 * turn mod_http2's DATA on HEAD responses into errors); these replace
 * them, stricter where a lax reading could let a backend frame bytes as
 * something else for the user. */

#include <string.h>

#include "ptth_fields.h"
#include "ptth_respcheck.h"

/* Octets of a content-length value: up to 10^18 fits apr_off_t. */
#define PTTH_CL_MAX_DIGITS 18

void ptth_resp_init(ptth_resp_check *rc, int head_request, int tunnel_request)
{
    memset(rc, 0, sizeof(*rc));
    rc->phase = PTTH_RESP_EXPECT_HEAD;
    rc->content_length = -1;
    rc->head_request = head_request != 0;
    rc->tunnel_request = tunnel_request != 0;
}

const char *ptth_resp_block_begin(ptth_resp_check *rc)
{
    if (rc->phase == PTTH_RESP_COMPLETE) {
        return "HEADERS after the end of the stream";
    }
    rc->in_block = 1;
    rc->block_trailers = (rc->phase == PTTH_RESP_BODY);
    rc->seen_status = 0;
    rc->seen_regular = 0;
    rc->block_cl = 0;
    return NULL;
}

/* RFC 9110 5.6.2 tchar, lowercase only (RFC 9113 8.2.1). */
static int valid_name(const unsigned char *n, apr_size_t len)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    apr_size_t i;

    if (!len) {
        return 0;
    }
    for (i = 0; i < len; ++i) {
        unsigned char c = n[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
              || (c && memchr(extra, c, sizeof(extra) - 1)))) {
            return 0;
        }
    }
    return 1;
}

/* RFC 9113 8.2.1 forbids NUL, CR, LF and white space at either end;
 * RFC 9110 5.5 forbids every other control but HTAB, and DEL.  Nothing
 * that reaches an HTTP/1.1 client may end a line early. */
static int valid_value(const unsigned char *v, apr_size_t len)
{
    apr_size_t i;

    if (len && (v[0] == ' ' || v[0] == '\t' || v[len - 1] == ' '
                || v[len - 1] == '\t')) {
        return 0;
    }
    for (i = 0; i < len; ++i) {
        if ((v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f) {
            return 0;
        }
    }
    return 1;
}

static int name_is(const unsigned char *n, apr_size_t len, const char *lit)
{
    apr_size_t l = strlen(lit);

    return len == l && !memcmp(n, lit, l);
}

/* RFC 9110 8.6: Content-Length = 1*DIGIT.  A list, a sign, white space
 * or any other character is refused: two readings of one value are how
 * responses get split. */
static int parse_content_length(const unsigned char *v, apr_size_t len,
                                apr_off_t *out)
{
    apr_off_t n = 0;
    apr_size_t i;

    if (!len || len > PTTH_CL_MAX_DIGITS) {
        return 0;
    }
    for (i = 0; i < len; ++i) {
        if (v[i] < '0' || v[i] > '9') {
            return 0;
        }
        n = n * 10 + (v[i] - '0');
    }
    *out = n;
    return 1;
}

const char *ptth_resp_field(ptth_resp_check *rc, const ptth_resp_limits *lim,
                            const unsigned char *name, apr_size_t nlen,
                            const unsigned char *value, apr_size_t vlen,
                            int *forward)
{
    *forward = 0;
    if (!rc->in_block) {
        return "field outside a header block";
    }
    /* RFC 9113 6.5.2 counts a field as name + value + 32. */
    rc->field_bytes += nlen + vlen + 32;
    if (rc->field_bytes > lim->max_field_bytes) {
        return "response header fields over PTTHMaxResponseHeaderSize";
    }
    if (!valid_value(value, vlen)) {
        return "invalid character in a field value";
    }
    if (nlen && name[0] == ':') {
        /* RFC 9113 8.3: pseudo-fields come first, only in a head, and a
         * response has exactly one, :status. */
        if (rc->block_trailers) {
            return "pseudo-header field in trailers";
        }
        if (rc->seen_regular) {
            return "pseudo-header field after a regular field";
        }
        if (!name_is(name, nlen, ":status")) {
            return "unknown pseudo-header field in a response";
        }
        if (rc->seen_status) {
            return "second :status";
        }
        if (vlen != 3 || value[0] < '1' || value[0] > '5'
            || value[1] < '0' || value[1] > '9'
            || value[2] < '0' || value[2] > '9') {
            return "invalid :status";
        }
        rc->seen_status = 1;
        rc->status = (value[0] - '0') * 100 + (value[1] - '0') * 10
                     + (value[2] - '0');
        return NULL;
    }
    if (!valid_name(name, nlen)) {
        return "invalid field name";
    }
    if (!rc->block_trailers && !rc->seen_status) {
        return "regular field before :status";
    }
    rc->seen_regular = 1;
    /* RFC 9113 8.2.2 */
    if (ptth_field_connection_specific((const char *)name, nlen)) {
        return "connection-specific field in an HTTP/2 response";
    }
    if (name_is(name, nlen, "content-length")) {
        apr_off_t cl;

        if (rc->block_trailers) {
            return "content-length in trailers";
        }
        if (rc->status < 200) {
            return "content-length in an interim response";
        }
        if (rc->block_cl) {
            return "more than one content-length";
        }
        if (!parse_content_length(value, vlen, &cl)) {
            return "content-length is not a plain decimal number";
        }
        rc->block_cl = 1;
        rc->content_length = cl;
    }
    *forward = 1;
    return NULL;
}

const char *ptth_resp_block_end(ptth_resp_check *rc, const ptth_resp_limits *lim,
                                int end_stream, ptth_resp_block *kind)
{
    if (!rc->in_block) {
        return "end of a header block that did not begin";
    }
    rc->in_block = 0;
    if (rc->block_trailers) {
        /* RFC 9113 8.1: trailers end the stream. */
        if (!end_stream) {
            return "trailers without END_STREAM";
        }
        *kind = PTTH_RESP_BLOCK_TRAILERS;
        return ptth_resp_data_end(rc);
    }
    if (!rc->seen_status) {
        return "response head without :status";
    }
    if (rc->status < 200) {
        if (rc->status == 101) {
            return "101 in HTTP/2";     /* RFC 9113 8.6 */
        }
        if (end_stream) {
            return "interim response with END_STREAM";
        }
        if (++rc->interim > lim->max_interim) {
            return "more interim responses than PTTHMaxInterimResponses";
        }
        rc->content_length = -1;
        *kind = PTTH_RESP_BLOCK_INTERIM;
        return NULL;
    }
    *kind = PTTH_RESP_BLOCK_FINAL;
    rc->phase = PTTH_RESP_BODY;
    /* RFC 9110 6.4.1: no content after HEAD, 204 or 304; a 2xx to an
     * extended CONNECT makes the stream a byte pipe (RFC 8441 5). */
    rc->unframed = rc->tunnel_request && rc->status < 300;
    rc->no_content = !rc->unframed && (rc->head_request || rc->status == 204
                                       || rc->status == 304);
    if (end_stream) {
        return ptth_resp_data_end(rc);
    }
    return NULL;
}

const char *ptth_resp_data(ptth_resp_check *rc, apr_size_t len, int *drop)
{
    *drop = 1;
    if (rc->phase == PTTH_RESP_EXPECT_HEAD) {
        return "DATA before the final response";
    }
    if (rc->phase == PTTH_RESP_COMPLETE) {
        return "DATA after the end of the stream";
    }
    if (rc->no_content) {
        return NULL;
    }
    *drop = 0;
    if (rc->unframed) {
        return NULL;
    }
    rc->received += (apr_off_t)len;
    if (rc->content_length >= 0 && rc->received > rc->content_length) {
        *drop = 1;
        return "more DATA than content-length";
    }
    return NULL;
}

const char *ptth_resp_data_end(ptth_resp_check *rc)
{
    if (rc->phase != PTTH_RESP_BODY) {
        return rc->phase == PTTH_RESP_EXPECT_HEAD
               ? "END_STREAM before the final response"
               : "END_STREAM twice";
    }
    rc->phase = PTTH_RESP_COMPLETE;
    /* RFC 9113 8.1.1: content-length must equal the DATA received. */
    if (!rc->no_content && !rc->unframed && rc->content_length >= 0
        && rc->received != rc->content_length) {
        return "END_STREAM before content-length was reached";
    }
    return NULL;
}
