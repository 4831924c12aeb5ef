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

#ifndef PTTH_LINK_H
#define PTTH_LINK_H

/* The "link": how an httpd child talks to the tunnel hub.
 *
 * A link is a Unix-domain stream connection from a child to the hub.  It
 * carries one request/response exchange at a time and is kept alive and
 * pooled in the child between exchanges.  Everything is framed:
 *
 *   +--------+--------+-----------------+--------------------------------+
 *   | type:8 | flags:8| reserved:16 (0) | length:32 (network byte order) |
 *   +--------+--------+-----------------+--------------------------------+
 *   | payload (length bytes)                                            |
 *
 * Exchange (child -> hub, then hub -> child):
 *   REQUEST [END_STREAM]         request head; END_STREAM when no body
 *   DATA* [last: END_STREAM]     request body, in order
 *   TRAILERS                     optional request trailers (ends the body)
 *   RESET(code)                  child gave up (client went away)
 *
 *   RESPONSE (status 1xx)*       interim responses
 *   RESPONSE [END_STREAM]        final response head
 *
 * A RESPONSE says which tunnel carried the stream, the backend identity
 * of that tunnel and how many streams the hub opened for the exchange
 * (2 or more: retried on another tunnel, RFC 9113 8.7), for the child's
 * logs (PTTH_TUNNEL, PTTH_BACKEND, PTTH_ATTEMPTS).  Children and hub of
 * one generation are built together: the frame has no version.
 *   DATA* [last: END_STREAM]     response body
 *   TRAILERS                     optional response trailers (end the body)
 *   RESET(code)                  hub gave up: see ptth_link_reset_t
 *
 * Upgrade (RFC 8441 WebSocket over HTTP/2): a REQUEST whose protocol is
 * set ("websocket") never has END_STREAM and is followed by nothing from
 * the child until a RESPONSE arrives.  A final RESPONSE with the flag
 * UPGRADED means the backend accepted the extended CONNECT: from the
 * octet after that frame on, the link is a raw byte pipe in both
 * directions (no frames); each side ends its direction by shutting down
 * writing (half-close), and a failure closes the link.  A link that was a
 * pipe is never reused.  Any other final RESPONSE is an ordinary
 * exchange: the child ends its (empty) body with DATA END_STREAM.
 *
 * Outside an exchange a child may send STATUS (empty payload); the hub
 * answers with one STATUS frame holding the status document of its pools
 * and tunnels (ptth_status_doc.h; ptth_status.c serves it as
 * "ptth-status" and in mod_status).
 *
 * GOAWAY (hub -> child, empty payload) says that the hub takes no new
 * exchange on this link: it is draining (graceful restart).  A child that
 * reads it instead of a response knows that its REQUEST was not acted on
 * and sends it again on a fresh link, which reaches the next hub.  A
 * draining hub also answers any REQUEST with RESET(SHUTDOWN), and never
 * dispatches one, so both mean "not processed" (docs/architecture.md).
 *
 * The exchange is over when both directions have ended (END_STREAM or
 * TRAILERS) or either side sent RESET.  After a RESET from the hub, the
 * hub discards the rest of the request body that the child still sends,
 * so the child may finish writing before it reads.
 *
 * Strings are u32 length + bytes + a NUL that the length does not count,
 * so a decoder can hand out pointers into the payload. */

#include <apr_pools.h>
#include <apr_tables.h>

#define PTTH_LINK_HDR_LEN        8
#define PTTH_LINK_MAX_DATA       (16 * 1024)     /* DATA payload per frame */
#define PTTH_LINK_MAX_HEAD       (256 * 1024)    /* REQUEST/RESPONSE payload */
#define PTTH_LINK_MAX_STATUS     (16 * 1024 * 1024) /* STATUS (hub -> child):
                                                  * ~200 octets a tunnel */

typedef enum {
    PTTH_LF_REQUEST  = 1,
    PTTH_LF_DATA     = 2,
    PTTH_LF_RESPONSE = 3,
    PTTH_LF_TRAILERS = 4,
    PTTH_LF_RESET    = 5,
    PTTH_LF_STATUS   = 6,  /* outside an exchange: child asks (empty),
                            * hub answers with a status document */
    PTTH_LF_GOAWAY   = 7   /* hub -> child: no new exchange on this link */
} ptth_link_ftype_t;

#define PTTH_LF_END_STREAM 0x01
#define PTTH_LF_UPGRADED   0x02   /* RESPONSE: the link is a byte pipe now */

/* RESET codes.  Hub -> child codes map to HTTP statuses at the boundary
 * (the proxy handler); they are never HTTP statuses themselves. */
typedef enum {
    PTTH_RST_NONE          = 0,
    PTTH_RST_NO_TUNNEL     = 1, /* no tunnel in the pool within wait time; never sent */
    PTTH_RST_UNPROCESSED   = 2, /* tunnel refused/lost it before processing (RFC 9113 8.7) */
    PTTH_RST_BROKEN        = 3, /* stream reset or tunnel lost after the backend had it */
    PTTH_RST_PROTOCOL      = 4, /* malformed link frame or backend response */
    PTTH_RST_OVERLOAD      = 5, /* hub queue for the pool is full; never sent */
    PTTH_RST_UNKNOWN_POOL  = 6, /* no such pool in the hub's configuration */
    PTTH_RST_TIMEOUT       = 7, /* the backend did not answer within the time */
    PTTH_RST_CANCEL        = 8, /* child -> hub: the client went away */
    PTTH_RST_SHUTDOWN      = 9  /* hub is stopping; never sent to a backend */
} ptth_link_reset_t;

typedef struct ptth_nv {
    const char *name;
    apr_size_t nlen;
    const char *value;
    apr_size_t vlen;
} ptth_nv;

typedef struct ptth_link_request {
    apr_uint32_t generation;     /* the child's configuration generation */
    apr_time_t sent;             /* when the child sent it (apr_time_now):
                                  * the wait counts from there, also across
                                  * a hub restart */
    apr_uint32_t wait_ms;        /* how long to wait for a tunnel */
    apr_uint32_t timeout_ms;     /* idle timeout for the backend (0: none) */
    const char *pool_name;
    const char *method;
    const char *scheme;
    const char *authority;
    const char *path;
    const char *protocol;        /* RFC 8441 :protocol, or NULL */
    apr_array_header_t *headers; /* of ptth_nv, names lowercase */
} ptth_link_request;

typedef struct ptth_link_response {
    int status;
    int upgraded;                /* encode: set PTTH_LF_UPGRADED */
    apr_uint32_t tunnel_id;      /* the tunnel that carried the stream */
    apr_uint32_t attempts;       /* streams opened for the exchange */
    const char *backend;         /* that tunnel's backend identity */
    apr_array_header_t *headers; /* of ptth_nv */
} ptth_link_response;

typedef struct ptth_link_fhdr {
    unsigned char type;
    unsigned char flags;
    apr_uint32_t length;
} ptth_link_fhdr;

void ptth_link_hdr_pack(unsigned char out[PTTH_LINK_HDR_LEN],
                        unsigned char type, unsigned char flags,
                        apr_uint32_t length);
void ptth_link_hdr_unpack(const unsigned char in[PTTH_LINK_HDR_LEN],
                          ptth_link_fhdr *h);

/* Encoders return a whole frame (header + payload) allocated from p. */
char *ptth_link_encode_request(apr_pool_t *p, const ptth_link_request *req,
                               int end_stream, apr_size_t *len);
char *ptth_link_encode_response(apr_pool_t *p, const ptth_link_response *resp,
                                int end_stream, apr_size_t *len);
char *ptth_link_encode_trailers(apr_pool_t *p, const apr_array_header_t *headers,
                                apr_size_t *len);
void ptth_link_encode_reset(unsigned char out[PTTH_LINK_HDR_LEN + 4],
                            ptth_link_reset_t code);

/* Decoders take the payload (without the 8-byte header).  Returned strings
 * point into the payload, which must outlive the result.  They return
 * APR_SUCCESS or APR_EINVAL for a malformed payload. */
apr_status_t ptth_link_decode_request(apr_pool_t *p, const char *payload,
                                      apr_size_t len, ptth_link_request *req);
apr_status_t ptth_link_decode_response(apr_pool_t *p, const char *payload,
                                       apr_size_t len, ptth_link_response *resp);
apr_status_t ptth_link_decode_trailers(apr_pool_t *p, const char *payload,
                                       apr_size_t len, apr_array_header_t **headers);
apr_status_t ptth_link_decode_reset(const char *payload, apr_size_t len,
                                    ptth_link_reset_t *code);

const char *ptth_link_reset_str(ptth_link_reset_t code);

#endif /* PTTH_LINK_H */
