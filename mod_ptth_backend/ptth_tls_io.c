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

/* The TLS filters of a served secure tunnel, see ptth_tls_io.h.
 *
 *   mod_http2, gate          cleartext HTTP/2
 *   PTTH_TLS_IN/_OUT         SSL_read/SSL_write; the session's BIOs are
 *        |    ^              the two below, which call the next filters
 *   bio_out   bio_in
 *        v    |
 *   core network filters     ciphertext, the TCP socket
 *
 * Input: the input filter decrypts records (SSL_read) into `plain` until
 * it has what the reader asked for or OpenSSL wants more ciphertext; the
 * input BIO takes ciphertext from `raw`, refilled by a read of the next
 * filter in the reader's blocking mode (non-blocking once cleartext was
 * got in this call).  "Nothing yet" goes up as APR_EAGAIN, as from
 * mod_ssl; mod_http2 reads until then before it polls the socket.
 *
 * Output: cleartext is collected into records of up to 16 KiB (RFC 8446
 * section 5.1); SSL_write seals them through the output BIO into
 * `sealed`, which goes to the next filter when the brigade ends, at a
 * FLUSH, or every PTTH_TLS_PASS_AT bytes.  EOC (the connection's end,
 * after mod_http2's GOAWAY) sends close_notify first (RFC 8446 section
 * 6.1), unless the session failed or the connection was aborted.
 *
 * Not ptth_io_recv/ptth_io_send (ptth_io.h), which the handshake and the
 * router's hub use: they run OpenSSL on the socket and answer "would
 * block" for the caller to poll.  Here OpenSSL's BIOs read from and write
 * to httpd's filters below, in the reader's blocking mode, and what the
 * filter below said (APR_TIMEUP, APR_EAGAIN, APR_EOF, an error: in_rc)
 * must reach mod_http2 as it was, which SSL_get_error() cannot tell.
 *
 * Bounds on what the router controls: `raw` holds at most one read of
 * PTTH_TLS_RAW_READ bytes, `plain` at most PTTH_TLS_READ_MAX plus one
 * record (one call's reading, less what the reader took). */

#include <limits.h>

#include <apr_buckets.h>
#include <apr_strings.h>

#include <httpd.h>
#include <http_connection.h>
#include <http_log.h>
#include <http_main.h>
#include <util_filter.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "ptth_backend.h"
#include "ptth_tls.h"
#include "ptth_tls_io.h"

/* The largest cleartext of a record (RFC 8446 section 5.1, RFC 5246
 * section 6.2.1). */
#define PTTH_TLS_RECORD      16384
/* Ciphertext asked of the core input filter at once: more than a record,
 * so that it hands over all it read from the socket. */
#define PTTH_TLS_RAW_READ    (2 * PTTH_TLS_RECORD + 1024)
/* Cleartext decrypted in one call of the input filter at most. */
#define PTTH_TLS_READ_MAX    (8 * PTTH_TLS_RECORD)
/* Sealed bytes handed to the core output filter at once at least. */
#define PTTH_TLS_PASS_AT     (4 * PTTH_TLS_RECORD)
/* Read size for file buckets (a static file served through the tunnel). */
#define PTTH_TLS_FILE_READ   (4 * PTTH_TLS_RECORD)

struct ptth_tls_io {
    conn_rec *c;
    SSL *ssl;
    BIO *rbio, *wbio;
    ap_filter_t *in_f, *out_f;

    /* input */
    apr_bucket_brigade *raw;      /* ciphertext not yet taken by OpenSSL */
    apr_bucket_brigade *plain;    /* cleartext not yet taken by the reader */
    apr_read_type_e block;        /* how bio_in may read now */
    apr_status_t in_rc;           /* what the last read below said */
    apr_status_t in_err;          /* the input ended: say this again */
    int in_eof;                   /* TCP EOF below */
    int peer_closed;              /* close_notify or TCP EOF */

    /* output */
    apr_bucket_brigade *sealed;   /* ciphertext for the next filter */
    apr_size_t sealed_len;
    char *obuf;                   /* cleartext collected into a record */
    apr_size_t olen;
    apr_status_t out_err;         /* the output failed: say this again */
    int failed;                   /* fatal TLS error: no close_notify */
    int closed;                   /* close_notify sent */
};

static ap_filter_rec_t *tls_in_rec;
static ap_filter_rec_t *tls_out_rec;
static BIO_METHOD *bio_in_method;
static BIO_METHOD *bio_out_method;

/*******************************************************************************
 * BIOs
 ******************************************************************************/

static int bio_create(BIO *bio)
{
    BIO_set_init(bio, 1);
    BIO_set_data(bio, NULL);
    return 1;
}

static int bio_destroy(BIO *bio)
{
    /* The context is in c->pool: nothing to free here. */
    (void)bio;
    return 1;
}

/* OpenSSL asks for ciphertext. */
static int bio_in_read(BIO *bio, char *buf, int len)
{
    ptth_tls_io *io = BIO_get_data(bio);
    apr_size_t got = 0;

    BIO_clear_retry_flags(bio);
    if (!io || !buf || len <= 0) {
        return io ? 0 : -1;
    }
    if (APR_BRIGADE_EMPTY(io->raw)) {
        if (io->in_eof) {
            return 0;
        }
        io->in_rc = ap_get_brigade(io->in_f->next, io->raw, AP_MODE_READBYTES,
                                   io->block, PTTH_TLS_RAW_READ);
        if (io->in_rc == APR_SUCCESS && APR_BRIGADE_EMPTY(io->raw)) {
            io->in_rc = APR_EAGAIN;     /* the core's "nothing yet" */
        }
        if (APR_STATUS_IS_EAGAIN(io->in_rc) || APR_STATUS_IS_EINTR(io->in_rc)
            || APR_STATUS_IS_TIMEUP(io->in_rc)) {
            /* WANT_READ, with the session still usable; in_rc tells the
             * filter which. */
            BIO_set_retry_read(bio);
            return -1;
        }
        if (APR_STATUS_IS_EOF(io->in_rc)) {
            io->in_eof = 1;
            return 0;
        }
        if (io->in_rc != APR_SUCCESS) {
            apr_brigade_cleanup(io->raw);
            return -1;
        }
    }
    while (got < (apr_size_t)len && !APR_BRIGADE_EMPTY(io->raw)) {
        apr_bucket *b = APR_BRIGADE_FIRST(io->raw);
        const char *data;
        apr_size_t n, take;
        apr_status_t rv;

        if (APR_BUCKET_IS_EOS(b)) {
            /* The core's EOF in a blocking read. */
            io->in_eof = 1;
            apr_brigade_cleanup(io->raw);
            break;
        }
        rv = apr_bucket_read(b, &data, &n, APR_NONBLOCK_READ);
        if (rv != APR_SUCCESS) {
            if (got == 0) {
                io->in_rc = rv;
                apr_brigade_cleanup(io->raw);
                return -1;
            }
            break;
        }
        take = n < (apr_size_t)len - got ? n : (apr_size_t)len - got;
        memcpy(buf + got, data, take);
        got += take;
        if (take == n) {
            apr_bucket_delete(b);
        }
        else {
            b->start += take;
            b->length -= take;
        }
    }
    if (got == 0) {
        if (io->in_eof) {
            return 0;
        }
        BIO_set_retry_read(bio);
        return -1;
    }
    return (int)got;
}

static long bio_in_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
    ptth_tls_io *io = BIO_get_data(bio);

    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_EOF:
        return io ? io->in_eof : 1;
    case BIO_CTRL_FLUSH:
        return 1;
    default:
        return 0;
    }
}

/* OpenSSL has sealed a record (or an alert): keep a copy for the next
 * filter, which gets it when the filter call ends. */
static int bio_out_write(BIO *bio, const char *data, int len)
{
    ptth_tls_io *io = BIO_get_data(bio);
    apr_bucket *b;

    BIO_clear_retry_flags(bio);
    if (!io || io->out_err != APR_SUCCESS || len < 0) {
        return -1;
    }
    b = apr_bucket_heap_create(data, (apr_size_t)len, NULL, io->c->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(io->sealed, b);
    io->sealed_len += (apr_size_t)len;
    return len;
}

static long bio_out_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
    (void)bio;
    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        /* What is sealed goes down when the filter call ends. */
        return 1;
    default:
        return 0;
    }
}

static apr_status_t free_bio_methods(void *data)
{
    (void)data;
    BIO_meth_free(bio_in_method);
    BIO_meth_free(bio_out_method);
    bio_in_method = bio_out_method = NULL;
    return APR_SUCCESS;
}

/*******************************************************************************
 * output
 ******************************************************************************/

/* Hand what is sealed to the next filter (with a FLUSH: write it now). */
static apr_status_t pass_sealed(ptth_tls_io *io, int flush)
{
    apr_status_t rv;

    if (flush) {
        APR_BRIGADE_INSERT_TAIL(io->sealed,
                                apr_bucket_flush_create(io->c->bucket_alloc));
    }
    if (APR_BRIGADE_EMPTY(io->sealed)) {
        return APR_SUCCESS;
    }
    rv = ap_pass_brigade(io->out_f->next, io->sealed);
    apr_brigade_cleanup(io->sealed);
    io->sealed_len = 0;
    if (rv == APR_SUCCESS && io->c->aborted) {
        rv = APR_ECONNABORTED;
    }
    if (rv != APR_SUCCESS && io->out_err == APR_SUCCESS) {
        io->out_err = rv;
    }
    return rv;
}

static apr_status_t tls_failure(ptth_tls_io *io, int ret, const char *what)
{
    int e = SSL_get_error(io->ssl, ret);

    io->failed = 1;
    ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, io->c, PTTHLOGNO(03110)
                  "tunnel TLS: %s failed (SSL error %d): %s", what, e,
                  ptth_tls_errors(io->c->pool));
    return APR_EGENERAL;
}

/* Seal len bytes (at most a record each SSL_write). */
static apr_status_t seal(ptth_tls_io *io, const char *data, apr_size_t len)
{
    while (len > 0) {
        int chunk = (int)(len < PTTH_TLS_RECORD ? len : PTTH_TLS_RECORD);
        int n;

        ERR_clear_error();
        n = SSL_write(io->ssl, data, chunk);
        if (n <= 0) {
            /* The output BIO never asks to retry, renegotiation is off:
             * any failure is final. */
            if (io->out_err != APR_SUCCESS) {
                io->failed = 1;
                return io->out_err;
            }
            return io->out_err = tls_failure(io, n, "SSL_write");
        }
        data += n;
        len -= (apr_size_t)n;
        if (io->sealed_len >= PTTH_TLS_PASS_AT) {
            apr_status_t rv = pass_sealed(io, 0);
            if (rv != APR_SUCCESS) {
                return rv;
            }
        }
    }
    return APR_SUCCESS;
}

/* Seal the cleartext collected so far. */
static apr_status_t seal_collected(ptth_tls_io *io)
{
    apr_size_t n = io->olen;

    io->olen = 0;
    return n ? seal(io, io->obuf, n) : APR_SUCCESS;
}

static apr_status_t collect(ptth_tls_io *io, const char *data, apr_size_t len)
{
    apr_status_t rv;

    while (len > 0) {
        apr_size_t take;

        if (io->olen == 0 && len >= PTTH_TLS_RECORD) {
            /* Whole records straight from the bucket. */
            apr_size_t whole = len - len % PTTH_TLS_RECORD;
            if ((rv = seal(io, data, whole)) != APR_SUCCESS) {
                return rv;
            }
            data += whole;
            len -= whole;
            continue;
        }
        take = PTTH_TLS_RECORD - io->olen;
        if (take > len) {
            take = len;
        }
        memcpy(io->obuf + io->olen, data, take);
        io->olen += take;
        data += take;
        len -= take;
        if (io->olen == PTTH_TLS_RECORD
            && (rv = seal_collected(io)) != APR_SUCCESS) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

static void send_close_notify(ptth_tls_io *io)
{
    if (io->closed || io->failed || io->c->aborted
        || io->out_err != APR_SUCCESS) {
        return;
    }
    io->closed = 1;
    ERR_clear_error();
    /* One call: sends ours; the router's is not waited for. */
    if (SSL_shutdown(io->ssl) < 0) {
        ERR_clear_error();
    }
    ap_log_cerror(APLOG_MARK, APLOG_TRACE1, 0, io->c,
                  "tunnel TLS: close_notify sent");
}

static apr_status_t tls_out_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    ptth_tls_io *io = f->ctx;
    apr_read_type_e rblock = APR_NONBLOCK_READ;
    apr_status_t rv = APR_SUCCESS;

    if (f->c->aborted || io->out_err != APR_SUCCESS || io->failed) {
        apr_brigade_cleanup(bb);
        return io->out_err != APR_SUCCESS ? io->out_err : APR_ECONNABORTED;
    }
    while (!APR_BRIGADE_EMPTY(bb)) {
        apr_bucket *b = APR_BRIGADE_FIRST(bb);
        const char *data;
        apr_size_t len;

        if (APR_BUCKET_IS_METADATA(b)) {
            int eoc = AP_BUCKET_IS_EOC(b), flush = APR_BUCKET_IS_FLUSH(b);

            if ((rv = seal_collected(io)) != APR_SUCCESS) {
                break;
            }
            if (eoc) {
                send_close_notify(io);
                APR_BRIGADE_INSERT_TAIL(io->sealed,
                                        apr_bucket_flush_create(f->c->bucket_alloc));
            }
            APR_BUCKET_REMOVE(b);
            APR_BRIGADE_INSERT_TAIL(io->sealed, b);
            if ((eoc || flush) && (rv = pass_sealed(io, 0)) != APR_SUCCESS) {
                break;
            }
            continue;
        }
        if (io->closed) {
            /* Nothing after close_notify, and never in the clear. */
            apr_bucket_delete(b);
            continue;
        }
        if (APR_BUCKET_IS_FILE(b) && b->length > PTTH_TLS_FILE_READ) {
            /* Files go through us in reads, not sendfile: fewer, larger
             * ones (the default is 8 KiB). */
            apr_bucket_file_set_buf_size(b, PTTH_TLS_FILE_READ);
        }
        rv = apr_bucket_read(b, &data, &len, rblock);
        if (APR_STATUS_IS_EAGAIN(rv)) {
            /* A morphing bucket without data yet: send what we have,
             * then wait for it. */
            if ((rv = seal_collected(io)) != APR_SUCCESS
                || (rv = pass_sealed(io, 1)) != APR_SUCCESS) {
                break;
            }
            rblock = APR_BLOCK_READ;
            continue;
        }
        rblock = APR_NONBLOCK_READ;
        if (rv != APR_SUCCESS && !APR_STATUS_IS_EOF(rv)) {
            break;
        }
        rv = collect(io, data, len);
        apr_bucket_delete(b);
        if (rv != APR_SUCCESS) {
            break;
        }
    }
    if (rv == APR_SUCCESS && (rv = seal_collected(io)) == APR_SUCCESS) {
        rv = pass_sealed(io, 0);
    }
    if (rv != APR_SUCCESS) {
        apr_brigade_cleanup(bb);
        io->olen = 0;
    }
    return rv;
}

/*******************************************************************************
 * input
 ******************************************************************************/

/* Decrypt into io->plain: up to `want` bytes, reading below in mode
 * `block` until the first record is in.  APR_SUCCESS when something was
 * added, else APR_EAGAIN, APR_TIMEUP, APR_EOF or an error. */
static apr_status_t fill(ptth_tls_io *io, apr_read_type_e block, apr_size_t want)
{
    apr_bucket_alloc_t *ba = io->c->bucket_alloc;
    apr_size_t got = 0;
    apr_status_t rv = APR_SUCCESS;
    char *buf = NULL;

    if (io->in_err != APR_SUCCESS) {
        return io->in_err;
    }
    if (want > PTTH_TLS_READ_MAX) {
        want = PTTH_TLS_READ_MAX;
    }
    io->block = block;
    while (got < want) {
        apr_bucket *b;
        int n;

        if (!buf) {
            buf = apr_bucket_alloc(PTTH_TLS_RECORD, ba);
        }
        io->in_rc = APR_SUCCESS;
        ERR_clear_error();
        n = SSL_read(io->ssl, buf, PTTH_TLS_RECORD);
        if (n > 0) {
            if (n < PTTH_TLS_RECORD / 4) {
                /* A small record: a copy of it, keep the buffer. */
                b = apr_bucket_heap_create(buf, (apr_size_t)n, NULL, ba);
            }
            else {
                b = apr_bucket_heap_create(buf, (apr_size_t)n, apr_bucket_free, ba);
                buf = NULL;
            }
            APR_BRIGADE_INSERT_TAIL(io->plain, b);
            got += (apr_size_t)n;
            io->block = APR_NONBLOCK_READ;  /* never wait once we have some */
            continue;
        }
        switch (SSL_get_error(io->ssl, n)) {
        case SSL_ERROR_WANT_READ:
            rv = (io->in_rc == APR_SUCCESS) ? APR_EAGAIN : io->in_rc;
            break;
        case SSL_ERROR_ZERO_RETURN:
            /* close_notify, or TCP EOF (see ptth_tls_io_add): the router
             * ended the session, or the drain shut the read side down.
             * Writing stays possible, for mod_http2's final GOAWAY. */
            io->peer_closed = 1;
            rv = io->in_err = APR_EOF;
            break;
        default:
            if (io->in_eof) {
                /* Only without SSL_OP_IGNORE_UNEXPECTED_EOF: the session
                 * is in error now. */
                io->peer_closed = 1;
                io->failed = 1;
                ERR_clear_error();
                rv = io->in_err = APR_EOF;
            }
            else if (io->in_rc != APR_SUCCESS && !APR_STATUS_IS_EAGAIN(io->in_rc)) {
                io->failed = 1;
                rv = io->in_err = io->in_rc;
            }
            else {
                rv = io->in_err = tls_failure(io, n, "SSL_read");
            }
            break;
        }
        break;
    }
    if (buf) {
        apr_bucket_free(buf);
    }
    io->block = APR_NONBLOCK_READ;
    if (!APR_BRIGADE_EMPTY(io->sealed)) {
        /* Reading made OpenSSL answer something (an alert, a KeyUpdate,
         * RFC 8446 section 4.6.3): send it now. */
        pass_sealed(io, 1);
    }
    return got ? APR_SUCCESS : rv;
}

/* Move up to n bytes of `from` to the end of `to`. */
static void move_bytes(apr_bucket_brigade *from, apr_bucket_brigade *to,
                       apr_off_t n)
{
    apr_bucket *end;

    if (apr_brigade_partition(from, n, &end) != APR_SUCCESS) {
        end = APR_BRIGADE_SENTINEL(from);
    }
    while (APR_BRIGADE_FIRST(from) != end) {
        apr_bucket *b = APR_BRIGADE_FIRST(from);
        APR_BUCKET_REMOVE(b);
        APR_BRIGADE_INSERT_TAIL(to, b);
    }
}

/* Copy up to n bytes of `from` to the end of `to`. */
static apr_status_t copy_bytes(apr_bucket_brigade *from,
                               apr_bucket_brigade *to, apr_off_t n)
{
    apr_bucket *b;

    for (b = APR_BRIGADE_FIRST(from);
         b != APR_BRIGADE_SENTINEL(from) && n > 0; b = APR_BUCKET_NEXT(b)) {
        apr_bucket *cp;
        apr_status_t rv = apr_bucket_copy(b, &cp);

        if (rv != APR_SUCCESS) {
            return rv;
        }
        APR_BRIGADE_INSERT_TAIL(to, cp);
        if ((apr_off_t)cp->length > n) {
            apr_bucket_split(cp, (apr_size_t)n);
            apr_bucket_delete(APR_BUCKET_NEXT(cp));
        }
        n -= (apr_off_t)cp->length;
    }
    return APR_SUCCESS;
}

static apr_status_t tls_in_filter(ap_filter_t *f, apr_bucket_brigade *bb,
                                  ap_input_mode_t mode, apr_read_type_e block,
                                  apr_off_t readbytes)
{
    ptth_tls_io *io = f->ctx;
    apr_off_t have = 0;
    apr_size_t want;
    apr_status_t rv;

    if (f->c->aborted) {
        return APR_ECONNABORTED;
    }
    switch (mode) {
    case AP_MODE_INIT:
        return APR_SUCCESS;
    case AP_MODE_READBYTES:
    case AP_MODE_SPECULATIVE:
        want = readbytes > 0 ? (apr_size_t)readbytes : HUGE_STRING_LEN;
        break;
    case AP_MODE_GETLINE:
        want = HUGE_STRING_LEN;
        break;
    default:
        return APR_ENOTIMPL;
    }

    apr_brigade_length(io->plain, 0, &have);
    if (have == 0) {
        rv = fill(io, block, want);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    else if ((apr_size_t)have < want && mode != AP_MODE_GETLINE) {
        /* Top up without waiting; an error shows at the next call. */
        fill(io, APR_NONBLOCK_READ, want - (apr_size_t)have);
    }

    switch (mode) {
    case AP_MODE_GETLINE:
        /* Up to and with the next LF; a line that does not end here comes
         * in parts (ap_rgetline reads on). */
        return apr_brigade_split_line(bb, io->plain, APR_NONBLOCK_READ,
                                      HUGE_STRING_LEN);
    case AP_MODE_SPECULATIVE:
        return copy_bytes(io->plain, bb, (apr_off_t)want);
    default:
        move_bytes(io->plain, bb, (apr_off_t)want);
        return APR_SUCCESS;
    }
}

/*******************************************************************************
 * setup
 ******************************************************************************/

static apr_status_t io_cleanup(void *data)
{
    ptth_tls_io *io = data;

    /* The SSL object (and with it the BIOs) outlives c->pool's contents:
     * the BIOs must not reach this context any more. */
    BIO_set_data(io->rbio, NULL);
    BIO_set_data(io->wbio, NULL);
    return APR_SUCCESS;
}

/* A BIO type for our methods.  OpenSSL hands out type indexes from a
 * process-wide counter and never takes one back, while register_hooks runs
 * again in every generation (httpd reloads the module at a restart): the
 * index is taken once per process and kept in the process pool
 * (ap_pglobal), which outlives the module's statics. */
static int bio_type(const char *key)
{
    void *data = NULL;
    int *type;

    apr_pool_userdata_get(&data, key, ap_pglobal);
    if (data) {
        return *(int *)data;
    }
    type = apr_palloc(ap_pglobal, sizeof(*type));
    *type = BIO_get_new_index() | BIO_TYPE_SOURCE_SINK;
    apr_pool_userdata_set(type, key, apr_pool_cleanup_null, ap_pglobal);
    return *type;
}

void ptth_tls_io_register(apr_pool_t *p)
{
    tls_in_rec = ap_register_input_filter("PTTH_TUNNEL_TLS_IN", tls_in_filter,
                                          NULL, AP_FTYPE_CONNECTION + 5);
    tls_out_rec = ap_register_output_filter("PTTH_TUNNEL_TLS_OUT",
                                            tls_out_filter, NULL,
                                            AP_FTYPE_CONNECTION + 5);

    bio_in_method = BIO_meth_new(bio_type("ptth_tls_io_bio_in"),
                                 "ptth tunnel input");
    bio_out_method = BIO_meth_new(bio_type("ptth_tls_io_bio_out"),
                                  "ptth tunnel output");
    if (bio_in_method) {
        BIO_meth_set_read(bio_in_method, bio_in_read);
        BIO_meth_set_ctrl(bio_in_method, bio_in_ctrl);
        BIO_meth_set_create(bio_in_method, bio_create);
        BIO_meth_set_destroy(bio_in_method, bio_destroy);
    }
    if (bio_out_method) {
        BIO_meth_set_write(bio_out_method, bio_out_write);
        BIO_meth_set_ctrl(bio_out_method, bio_out_ctrl);
        BIO_meth_set_create(bio_out_method, bio_create);
        BIO_meth_set_destroy(bio_out_method, bio_destroy);
    }
    apr_pool_cleanup_register(p, NULL, free_bio_methods, apr_pool_cleanup_null);
}

ptth_tls_io *ptth_tls_io_add(conn_rec *c, ptth_tls_conn *tls)
{
    ptth_tls_io *io;
    BIO *rbio, *wbio;

    if (!bio_in_method || !bio_out_method) {
        return NULL;
    }
    rbio = BIO_new(bio_in_method);
    wbio = BIO_new(bio_out_method);
    if (!rbio || !wbio) {
        BIO_free(rbio);
        BIO_free(wbio);
        return NULL;
    }
    io = apr_pcalloc(c->pool, sizeof(*io));
    io->c = c;
    io->ssl = tls->ssl;
    io->rbio = rbio;
    io->wbio = wbio;
    io->block = APR_NONBLOCK_READ;
    io->raw = apr_brigade_create(c->pool, c->bucket_alloc);
    io->plain = apr_brigade_create(c->pool, c->bucket_alloc);
    io->sealed = apr_brigade_create(c->pool, c->bucket_alloc);
    io->obuf = apr_palloc(c->pool, PTTH_TLS_RECORD);
    BIO_set_data(rbio, io);
    BIO_set_data(wbio, io);
    apr_pool_cleanup_register(c->pool, io, io_cleanup, apr_pool_cleanup_null);

    /* From here OpenSSL reads and writes through the filters; the socket
     * BIO of the handshake goes (it does not close the socket).  A record
     * OpenSSL had begun to read continues from the new BIO. */
    SSL_set_bio(io->ssl, rbio, wbio);
    /* The session is busy or idle for long stretches: keep its buffers
     * rather than allocating them for every record. */
    SSL_clear_mode(io->ssl, SSL_MODE_RELEASE_BUFFERS);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    /* TCP EOF without close_notify reads as the end (not as a fatal
     * error): HTTP/2 frames delimit the data, so a truncation shows as an
     * incomplete frame or stream (RFC 9113 section 8.1), and the session
     * stays writable when the drain shuts the read side down to end it
     * (ptth_dialer.c) and mod_http2 answers with its final GOAWAY. */
    SSL_set_options(io->ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif

    if (tls->early_len > 0) {
        APR_BRIGADE_INSERT_TAIL(io->plain,
            apr_bucket_heap_create(tls->early, tls->early_len, NULL,
                                   c->bucket_alloc));
        tls->early_len = 0;
    }
    io->in_f = ap_add_input_filter_handle(tls_in_rec, io, NULL, c);
    io->out_f = ap_add_output_filter_handle(tls_out_rec, io, NULL, c);
    ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, c, PTTHLOGNO(03111)
                  "tunnel TLS: %s session (%s) moved into the connection filters",
                  SSL_get_version(io->ssl), SSL_get_cipher_name(io->ssl));
    return io;
}

int ptth_tls_io_input_pending(ptth_tls_io *io)
{
    /* `raw` is only non-empty when the reader stopped before OpenSSL took
     * it all; reading it empties it, so this cannot spin. */
    return !APR_BRIGADE_EMPTY(io->plain) || !APR_BRIGADE_EMPTY(io->raw)
           || SSL_pending(io->ssl) > 0;
}

int ptth_tls_io_peer_closed(ptth_tls_io *io)
{
    return io->peer_closed;
}
