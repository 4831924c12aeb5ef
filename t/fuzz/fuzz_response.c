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

/* libFuzzer target for the response rules (mod_ptth_router/
 * ptth_respcheck.c), run by t/fuzz/run-fuzz.sh.
 *
 * FUZZ-SOURCES: mod_ptth_router/ptth_respcheck.c mod_ptth_router/ptth_fields.c
 *
 * The input is a script of what a hostile backend sends on one stream:
 *   byte 0        bit 0: HEAD request, bit 1: extended CONNECT
 *   then records  'H' begin a header block
 *                 'F' n1 n2 name value  one field (lengths n1, n2 octets)
 *                 'E' / 'e'  end the block with / without END_STREAM
 *                 'D' n  n octets of DATA;  'S' END_STREAM on DATA
 * It stops at the first violation, as the hub resets the stream there.
 * Promises: what the checker lets through to the user is one well-formed
 * response: no field with a control character, no pseudo-field, DATA
 * octets never beyond the content-length, and a complete stream carries
 * exactly that many; nothing at all for HEAD/204/304. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptth_respcheck.h"

#define PROMISE(c) do { if (!(c)) { \
    fprintf(stderr, "broken promise at %s:%d: %s\n", __FILE__, __LINE__, #c); \
    abort(); } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ptth_resp_limits lim = { 4096, 3 };
    ptth_resp_check rc;
    size_t i = 1;
    long long forwarded = 0;
    int finals = 0, complete = 0, no_content = 0;
    long long cl = -1;

    if (size < 1) {
        return 0;
    }
    ptth_resp_init(&rc, data[0] & 1, data[0] & 2);
    while (i < size) {
        const char *why = NULL;
        uint8_t op = data[i++];

        if (op == 'H') {
            why = ptth_resp_block_begin(&rc);
        }
        else if (op == 'F') {
            size_t nl, vl, k;
            int fwd;
            if (size - i < 2) {
                break;
            }
            nl = data[i] % 32;
            vl = data[i + 1];
            i += 2;
            if (size - i < nl + vl) {
                break;
            }
            why = ptth_resp_field(&rc, &lim, data + i, nl, data + i + nl, vl, &fwd);
            if (!why && fwd) {
                PROMISE(nl > 0 && data[i] != ':');
                for (k = 0; k < nl + vl; ++k) {
                    PROMISE(data[i + k] >= 0x20 || data[i + k] == '\t');
                    PROMISE(data[i + k] != 0x7f);
                }
                for (k = 0; k < nl; ++k) {
                    PROMISE(!(data[i + k] >= 'A' && data[i + k] <= 'Z'));
                }
            }
            i += nl + vl;
        }
        else if (op == 'E' || op == 'e') {
            ptth_resp_block kind;
            why = ptth_resp_block_end(&rc, &lim, op == 'E', &kind);
            if (!why && kind == PTTH_RESP_BLOCK_FINAL) {
                finals++;
                PROMISE(rc.status >= 200 && rc.status <= 599);
                cl = rc.content_length;
                no_content = rc.no_content;
            }
            if (!why && kind == PTTH_RESP_BLOCK_INTERIM) {
                PROMISE(rc.status >= 100 && rc.status < 200 && rc.status != 101);
                PROMISE(rc.interim <= lim.max_interim);
            }
            if (!why && (op == 'E' || kind == PTTH_RESP_BLOCK_TRAILERS)) {
                PROMISE(op == 'E');
                complete = 1;
            }
        }
        else if (op == 'D') {
            int drop;
            size_t n;
            if (size - i < 1) {
                break;
            }
            n = (size_t)data[i++] * 37;
            why = ptth_resp_data(&rc, n, &drop);
            if (!why && !drop) {
                PROMISE(finals == 1 && !no_content);
                forwarded += (long long)n;
                if (cl >= 0 && !rc.unframed) {
                    PROMISE(forwarded <= cl);
                }
            }
        }
        else if (op == 'S') {
            why = ptth_resp_data_end(&rc);
            if (!why) {
                complete = 1;
            }
        }
        else {
            continue;
        }
        if (why) {
            PROMISE(*why);
            break;
        }
        PROMISE(finals <= 1);
        if (complete) {
            PROMISE(finals == 1);
            if (cl >= 0 && !no_content && !rc.unframed) {
                PROMISE(forwarded == cl);
            }
            if (no_content) {
                PROMISE(forwarded == 0);
            }
            break;
        }
    }
    return 0;
}
