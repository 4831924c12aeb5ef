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

#include <stdlib.h>
#include <string.h>

#include <apr_pools.h>

#include "ptth_buf.h"

static ptth_budget *buf_budget;

int ptth_budget_take(ptth_budget *b, apr_size_t n)
{
    if (b->limit && (n > b->limit || b->used > b->limit - n)) {
        return 0;
    }
    b->used += n;
    if (b->used > b->peak) {
        b->peak = b->used;
    }
    return 1;
}

void ptth_budget_give(ptth_budget *b, apr_size_t n)
{
    b->used = n < b->used ? b->used - n : 0;
}

void ptth_buf_set_budget(ptth_budget *b)
{
    buf_budget = b;
}

void ptth_buf_init(ptth_buf *b)
{
    memset(b, 0, sizeof(*b));
}

apr_status_t ptth_buf_reserve(ptth_buf *b, apr_size_t n)
{
    apr_size_t ncap;
    char *nd;

    if (b->cap - b->off - b->len >= n) {
        return APR_SUCCESS;
    }
    if (b->off && b->cap - b->len >= n) {
        memmove(b->data, b->data + b->off, b->len);
        b->off = 0;
        return APR_SUCCESS;
    }
    /* Small first: many buffers are live at once (a link per request in
     * flight), most hold one small frame. */
    ncap = b->cap ? b->cap : 1024;
    while (ncap - b->len < n) {
        ncap *= 2;
    }
    if (buf_budget && !ptth_budget_take(buf_budget, ncap)) {
        return APR_ENOMEM;
    }
    nd = malloc(ncap);
    if (!nd) {
        if (buf_budget) {
            ptth_budget_give(buf_budget, ncap);
        }
        return APR_ENOMEM;
    }
    if (buf_budget) {
        ptth_budget_give(buf_budget, b->cap);
    }
    if (b->len) {
        memcpy(nd, b->data + b->off, b->len);
    }
    free(b->data);
    b->data = nd;
    b->off = 0;
    b->cap = ncap;
    return APR_SUCCESS;
}

apr_status_t ptth_buf_append(ptth_buf *b, const void *data, apr_size_t n)
{
    apr_status_t rv = ptth_buf_reserve(b, n);

    if (rv == APR_SUCCESS && n) {
        memcpy(b->data + b->off + b->len, data, n);
        b->len += n;
    }
    return rv;
}

void ptth_buf_consume(ptth_buf *b, apr_size_t n)
{
    if (n >= b->len) {
        b->off = b->len = 0;
        return;
    }
    b->off += n;
    b->len -= n;
}

void ptth_buf_trim(ptth_buf *b, apr_size_t keep)
{
    if (b->len == 0 && b->cap > keep) {
        ptth_buf_free(b);
    }
}

void ptth_buf_free(ptth_buf *b)
{
    if (buf_budget) {
        ptth_budget_give(buf_budget, b->cap);
    }
    free(b->data);
    memset(b, 0, sizeof(*b));
}

static apr_status_t buf_cleanup(void *data)
{
    ptth_buf_free(data);
    return APR_SUCCESS;
}

void ptth_buf_free_on(ptth_buf *b, apr_pool_t *p)
{
    apr_pool_cleanup_register(p, b, buf_cleanup, apr_pool_cleanup_null);
}
