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

/* Escapers for the status outputs (include/ptth_esc.h). */

#include <string.h>

#include <apr_strings.h>

#include <httpd.h>
#include <http_protocol.h>

#include "ptth_esc.h"

/* Output collected in a small buffer and written in runs. */
typedef struct {
    request_rec *r;
    apr_size_t n;
    char buf[512];
} esc_out;

static void out_flush(esc_out *o)
{
    if (o->n) {
        ap_rwrite(o->buf, (int)o->n, o->r);
        o->n = 0;
    }
}

static void out_mem(esc_out *o, const char *s, apr_size_t n)
{
    if (o->n + n > sizeof(o->buf)) {
        out_flush(o);
    }
    memcpy(o->buf + o->n, s, n);
    o->n += n;
}

#define out_lit(o, s) out_mem((o), (s), sizeof(s) - 1)

/* The length of the UTF-8 sequence at s (RFC 3629 4), or 0 when the
 * bytes there are not one.  s is NUL-terminated: a NUL is never a
 * continuation byte, so no read goes past it. */
static apr_size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];

#define CONT(x) ((x) >= 0x80 && (x) <= 0xBF)
    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        return CONT(s[1]) ? 2 : 0;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned char lo = (c == 0xE0) ? 0xA0 : 0x80;
        unsigned char hi = (c == 0xED) ? 0x9F : 0xBF;
        return (s[1] >= lo && s[1] <= hi && CONT(s[2])) ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned char lo = (c == 0xF0) ? 0x90 : 0x80;
        unsigned char hi = (c == 0xF4) ? 0x8F : 0xBF;
        return (s[1] >= lo && s[1] <= hi && CONT(s[2]) && CONT(s[3])) ? 4 : 0;
    }
#undef CONT
    return 0;
}

#define REPLACEMENT_UTF8 "\xEF\xBF\xBD"     /* U+FFFD */

/* One pass: plain runs copied, every other character handed to esc,
 * which returns what to write for it (NULL: the character as is); tmp
 * is room it may use for that. */
typedef const char *esc_fn(unsigned char c, char tmp[8]);

static void escape(request_rec *r, const char *s, esc_fn *esc,
                   const char *invalid)
{
    const unsigned char *p = (const unsigned char *)s;
    char tmp[8];
    esc_out o;

    if (!s) {
        return;
    }
    o.r = r;
    o.n = 0;
    while (*p) {
        apr_size_t n = utf8_len(p);
        const char *e;

        if (n == 0) {
            out_mem(&o, invalid, strlen(invalid));
            p++;
            continue;
        }
        if (n == 1 && (e = esc(*p, tmp)) != NULL) {
            out_mem(&o, e, strlen(e));
        }
        else {
            out_mem(&o, (const char *)p, n);
        }
        p += n;
    }
    out_flush(&o);
}

static const char *html_char(unsigned char c, char tmp[8])
{
    (void)tmp;
    switch (c) {
    case '&':  return "&amp;";
    case '<':  return "&lt;";
    case '>':  return "&gt;";
    case '"':  return "&quot;";
    case '\'': return "&#39;";
    }
    return (c < 0x20 || c == 0x7F) ? "&#xFFFD;" : NULL;
}

void ptth_esc_html(request_rec *r, const char *s)
{
    escape(r, s, html_char, "&#xFFFD;");
}

static const char *json_char(unsigned char c, char tmp[8])
{
    static const char hex[] = "0123456789abcdef";

    switch (c) {
    case '"':  return "\\\"";
    case '\\': return "\\\\";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    case '<':  return "\\u003c";
    case '>':  return "\\u003e";
    case '&':  return "\\u0026";
    case 0x7F: return "\\u007f";
    }
    if (c >= 0x20) {
        return NULL;
    }
    memcpy(tmp, "\\u00", 4);
    tmp[4] = hex[c >> 4];
    tmp[5] = hex[c & 15];
    tmp[6] = '\0';
    return tmp;
}

void ptth_esc_json(request_rec *r, const char *s)
{
    escape(r, s, json_char, "\\ufffd");
}

void ptth_json_str(request_rec *r, const char *s)
{
    if (!s) {
        ap_rputs("null", r);
        return;
    }
    ap_rputc('"', r);
    ptth_esc_json(r, s);
    ap_rputc('"', r);
}

static const char *label_char(unsigned char c, char tmp[8])
{
    (void)tmp;
    switch (c) {
    case '\\': return "\\\\";
    case '"':  return "\\\"";
    case '\n': return "\\n";
    }
    return (c < 0x20 || c == 0x7F) ? REPLACEMENT_UTF8 : NULL;
}

void ptth_esc_label(request_rec *r, const char *s)
{
    escape(r, s, label_char, REPLACEMENT_UTF8);
}
