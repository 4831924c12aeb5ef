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

#ifndef PTTH_BUF_H
#define PTTH_BUF_H

/* A growable byte queue on the heap: append at the end, consume from the
 * front.  Used for socket I/O buffers whose size follows the traffic;
 * pools cannot give memory back, these buffers can. */

#include <apr.h>
#include <apr_errno.h>

/* A memory budget: bytes in use against a limit (0: no limit).  The hub
 * charges its buffers and every tunnel's HTTP/2 session to one budget,
 * PTTHHubMemoryLimit, and each tunnel's session also to its own. */
typedef struct ptth_budget {
    apr_size_t used;
    apr_size_t peak;
    apr_size_t limit;
} ptth_budget;

/* Charge n bytes: 1 when they fit, 0 (nothing charged) when not. */
int ptth_budget_take(ptth_budget *b, apr_size_t n);
void ptth_budget_give(ptth_budget *b, apr_size_t n);

/* The budget every ptth_buf of this process is charged to (NULL: none). */
void ptth_buf_set_budget(ptth_budget *b);

typedef struct ptth_buf {
    char *data;
    apr_size_t off;     /* first valid byte */
    apr_size_t len;     /* valid bytes */
    apr_size_t cap;
} ptth_buf;

#define ptth_buf_head(b)  ((b)->data + (b)->off)

void ptth_buf_init(ptth_buf *b);
/* Make room for n more bytes; returns APR_ENOMEM on allocation failure. */
apr_status_t ptth_buf_reserve(ptth_buf *b, apr_size_t n);
apr_status_t ptth_buf_append(ptth_buf *b, const void *data, apr_size_t n);
void ptth_buf_consume(ptth_buf *b, apr_size_t n);
/* An empty buffer larger than keep is given back: called where its
 * owner goes idle, so that a burst does not keep its peak forever while
 * a busy owner does not allocate anew for every write. */
void ptth_buf_trim(ptth_buf *b, apr_size_t keep);
void ptth_buf_free(ptth_buf *b);
/* Register ptth_buf_free as a cleanup of p. */
void ptth_buf_free_on(ptth_buf *b, apr_pool_t *p);

#endif /* PTTH_BUF_H */
