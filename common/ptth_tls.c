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

#include <string.h>

#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_lib.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "ptth_tls.h"

const char *ptth_tls_errors(apr_pool_t *p)
{
    const char *all = NULL;
    unsigned long e;
    char buf[256];

    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        all = all ? apr_pstrcat(p, all, "; ", buf, NULL) : apr_pstrdup(p, buf);
    }
    return all ? all : "no OpenSSL error recorded";
}

#define PTTH_TLS13_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:" \
                          "TLS_CHACHA20_POLY1305_SHA256"
#define PTTH_TLS12_CIPHERS "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
                           "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
                           "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

SSL_CTX *ptth_tls_ctx_new(apr_pool_t *p, int server, const char **err)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

    if (!ctx) {
        *err = ptth_tls_errors(p);
        return NULL;
    }
    /* RFC 9113 9.2 asks TLS 1.2 or later for HTTP/2 over TLS. */
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION
                             | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                          | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                          | SSL_MODE_RELEASE_BUFFERS);
    /* AES-128-GCM first: a tunnel's bulk transfers are bound by the
     * cipher, and with AES-NI it runs about a quarter faster than
     * AES-256-GCM, OpenSSL's first choice (docs/protocol.md section 2.1).
     * TLS 1.2: ephemeral key exchange and AEAD only, as RFC 9113 9.2.2
     * requires of HTTP/2; both lists are ones both OpenSSL ends have. */
    if (SSL_CTX_set_ciphersuites(ctx, PTTH_TLS13_SUITES) != 1
        || SSL_CTX_set_cipher_list(ctx, PTTH_TLS12_CIPHERS) != 1) {
        *err = ptth_tls_errors(p);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

const char *ptth_tls_ctx_use_cert(apr_pool_t *p, SSL_CTX *ctx,
                                  const char *cert_file, const char *key_file,
                                  const char *extra_chain)
{
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        return apr_psprintf(p, "cannot load certificate %s: %s", cert_file,
                            ptth_tls_errors(p));
    }
    if (extra_chain) {
        BIO *bio = BIO_new_file(extra_chain, "r");
        X509 *x;
        if (!bio) {
            return apr_psprintf(p, "cannot read chain %s: %s", extra_chain,
                                ptth_tls_errors(p));
        }
        while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
            if (SSL_CTX_add_extra_chain_cert(ctx, x) != 1) {
                X509_free(x);
                BIO_free(bio);
                return apr_psprintf(p, "cannot use chain %s: %s", extra_chain,
                                    ptth_tls_errors(p));
            }
        }
        ERR_clear_error();   /* the end of the file reads as an error */
        BIO_free(bio);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        return apr_psprintf(p, "cannot load key %s: %s", key_file,
                            ptth_tls_errors(p));
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        return apr_psprintf(p, "key %s does not match certificate %s",
                            key_file, cert_file);
    }
    return NULL;
}

const char *ptth_tls_ctx_trust(apr_pool_t *p, SSL_CTX *ctx, const char *ca_file)
{
    if (ca_file) {
        if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
            return apr_psprintf(p, "cannot load CA certificates %s: %s",
                                ca_file, ptth_tls_errors(p));
        }
    }
    else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        return apr_psprintf(p, "cannot load the system's CA certificates: %s",
                            ptth_tls_errors(p));
    }
    return NULL;
}

static void lowercase(char *s)
{
    for (; *s; ++s) {
        *s = (char)apr_tolower(*s);
    }
}

/* A name from a certificate, usable as an identity: no embedded NUL
 * (which would let "a.example\0.evil" pass as "a.example"), at most 255
 * octets, printable ASCII.  Lowercased copy, or NULL. */
static char *cert_name(apr_pool_t *p, const ASN1_STRING *str)
{
    const unsigned char *d = ASN1_STRING_get0_data(str);
    int n = ASN1_STRING_length(str), i;
    char *v;

    if (n <= 0 || n > 255) {
        return NULL;
    }
    for (i = 0; i < n; ++i) {
        if (d[i] <= 0x20 || d[i] >= 0x7f) {
            return NULL;
        }
    }
    v = apr_pstrmemdup(p, (const char *)d, (apr_size_t)n);
    lowercase(v);
    return v;
}

apr_array_header_t *ptth_tls_peer_ids(apr_pool_t *p, SSL *ssl)
{
    apr_array_header_t *ids = apr_array_make(p, 4, sizeof(const char *));
    X509_NAME *subject;
    X509 *cert;
    GENERAL_NAMES *sans;
    char *v;
    int i;

    if (!ssl || SSL_get_verify_result(ssl) != X509_V_OK
        || !(cert = SSL_get1_peer_certificate(ssl))) {
        return ids;
    }
    /* Every CN of the subject, taken whole (a truncated or NUL-cut name
     * must never match a configured one). */
    subject = X509_get_subject_name(cert);
    for (i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); i >= 0;
         i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) {
        X509_NAME_ENTRY *e = X509_NAME_get_entry(subject, i);
        if (e && (v = cert_name(p, X509_NAME_ENTRY_get_data(e))) != NULL) {
            APR_ARRAY_PUSH(ids, const char *) = v;
        }
    }
    sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (i = 0; sans && i < sk_GENERAL_NAME_num(sans); ++i) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
        if (gn->type == GEN_DNS && (v = cert_name(p, gn->d.dNSName)) != NULL) {
            APR_ARRAY_PUSH(ids, const char *) = v;
        }
    }
    GENERAL_NAMES_free(sans);
    X509_free(cert);
    return ids;
}

void ptth_sha256(const void *data, apr_size_t len, unsigned char out[32])
{
    unsigned int n = 32;

    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}
