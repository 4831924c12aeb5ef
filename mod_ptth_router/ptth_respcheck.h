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

#ifndef PTTH_RESPCHECK_H
#define PTTH_RESPCHECK_H

/* The HTTP/2 message rules for a response that a tunnel peer sends
 * (RFC 9113 8.1, 8.2, 8.3.2; RFC 9110 6.4.1, 8.6), as one checker per
 * stream.  A tunnel peer is untrusted: whatever it sends, the user must
 * get a correctly framed response or none, never bytes that a client
 * could read as the next response (docs/protocol.md, "Responses").
 *
 * The checker is fed the events of one stream in order: the fields of
 * each header block, the end of each block, DATA lengths and the end of
 * the stream.  Every call returns NULL when the message is still valid,
 * else a constant string naming the rule that was broken; after the first
 * violation the stream is to be reset and the checker is not fed again.
 * It holds no pointers and allocates nothing, so it can be tested and
 * fuzzed on its own (t/unit, t/fuzz). */

#include <apr.h>

/* Limits charged to one stream (PTTHMaxResponseHeaderSize,
 * PTTHMaxInterimResponses). */
typedef struct ptth_resp_limits {
    apr_size_t max_field_bytes;   /* all blocks: name + value + 32 each */
    int max_interim;              /* 1xx responses */
} ptth_resp_limits;

typedef enum {
    PTTH_RESP_EXPECT_HEAD,        /* waiting for (another) response head */
    PTTH_RESP_BODY,               /* final head seen: DATA or trailers */
    PTTH_RESP_COMPLETE            /* END_STREAM seen */
} ptth_resp_phase;

/* What a finished header block was. */
typedef enum {
    PTTH_RESP_BLOCK_INTERIM,      /* a 1xx head: forward, more to come */
    PTTH_RESP_BLOCK_FINAL,        /* the final head */
    PTTH_RESP_BLOCK_TRAILERS      /* trailers (always end the stream) */
} ptth_resp_block;

typedef struct ptth_resp_check {
    ptth_resp_phase phase;
    int status;                   /* of the current or last head */
    int interim;                  /* 1xx heads so far */
    apr_off_t content_length;     /* of the final head, -1: none */
    apr_off_t received;           /* DATA octets of the final response */
    apr_size_t field_bytes;       /* all blocks so far */
    unsigned int in_block:1;
    unsigned int block_trailers:1;
    unsigned int seen_status:1;   /* in the current block */
    unsigned int seen_regular:1;  /* in the current block */
    unsigned int block_cl:1;      /* content-length in the current block */
    unsigned int no_content:1;    /* HEAD, 204, 304: DATA is dropped */
    unsigned int unframed:1;      /* 2xx to an extended CONNECT: a pipe */
    unsigned int head_request:1;
    unsigned int tunnel_request:1;/* extended CONNECT: a 2xx opens a pipe */
} ptth_resp_check;

/* A fresh checker for a request; head_request: the method is HEAD;
 * tunnel_request: an extended CONNECT (RFC 8441), whose 2xx has no
 * framed content. */
void ptth_resp_init(ptth_resp_check *rc, int head_request, int tunnel_request);

/* A HEADERS frame starts a block (RFC 9113 8.1: a response is zero or
 * more 1xx heads, one final head, DATA, optional trailers). */
const char *ptth_resp_block_begin(ptth_resp_check *rc);

/* One decoded field of the current block.  *forward is set to 1 when the
 * field belongs in what the user gets (regular fields), 0 for the
 * pseudo-fields the checker consumed.  Field names arrive as on the wire
 * (RFC 9113 8.2: lowercase, validated here). */
const char *ptth_resp_field(ptth_resp_check *rc, const ptth_resp_limits *lim,
                            const unsigned char *name, apr_size_t nlen,
                            const unsigned char *value, apr_size_t vlen,
                            int *forward);

/* The block ended (END_HEADERS); end_stream: the frame carried
 * END_STREAM.  On success *kind says what the block was. */
const char *ptth_resp_block_end(ptth_resp_check *rc, const ptth_resp_limits *lim,
                                int end_stream, ptth_resp_block *kind);

/* len octets of DATA arrived.  *drop is set when they must not reach the
 * user: a response without content (HEAD, 204, 304; mod_http2 sends DATA
 * for HEAD in some cases, RFC 9110 9.3.2 says the user gets none). */
const char *ptth_resp_data(ptth_resp_check *rc, apr_size_t len, int *drop);

/* A DATA frame carried END_STREAM. */
const char *ptth_resp_data_end(ptth_resp_check *rc);

#endif /* PTTH_RESPCHECK_H */
