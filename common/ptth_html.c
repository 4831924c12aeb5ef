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

/* The status pages' frame and number formats (include/ptth_html.h). */

#include <apr_strings.h>
#include <apr_time.h>

#include <httpd.h>
#include <http_core.h>
#include <http_protocol.h>

#include "ptth_esc.h"
#include "ptth_html.h"

/* mod_status's density: small sans-serif, ruled tables, right-aligned
 * numbers; state colours for tunnels; .err for errors. */
static const char css[] =
    "body{font-family:sans-serif;font-size:13px;margin:8px 12px;color:#000;"
    "background:#fff}\n"
    "h1{font-size:1.5em;margin:.2em 0 .5em}\n"
    "h2{font-size:1.15em;margin:1.2em 0 .3em}\n"
    "dl{margin:0}dt{margin:1px 0}\n"
    "table{border-collapse:collapse;margin:.3em 0}\n"
    "th,td{border:1px solid #aaa;padding:1px 6px;text-align:left;"
    "vertical-align:top;white-space:nowrap}\n"
    "th{background:#e4e4e4;font-weight:bold}\n"
    "tr:nth-child(even) td{background:#f6f6f6}\n"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
    "td.w{white-space:normal;max-width:28em;overflow-wrap:anywhere}\n"
    "td.s-open,td.s-connected,span.s-open{color:#070}"
    "td.s-preface,td.s-dialing,td.s-handshake{color:#05a}"
    "td.s-draining,td.s-waiting,span.s-draining{color:#a60}"
    "td.s-closed,td.s-refused{color:#b00}\n"
    ".err{color:#b00}.muted{color:#777}\n"
    "address{margin-top:1.5em;color:#555;font-style:normal;font-size:.9em}\n";

void ptth_html_begin(request_rec *r, const char *title, int refresh)
{
    ap_set_content_type(r, "text/html; charset=utf-8");
    ap_rputs("<!DOCTYPE html>\n<html lang=\"en\"><head>"
             "<meta charset=\"utf-8\">\n", r);
    if (refresh > 0) {
        ap_rprintf(r, "<meta http-equiv=\"refresh\" content=\"%d\">\n", refresh);
    }
    ap_rputs("<title>", r);
    ptth_esc_html(r, title);
    ap_rvputs(r, "</title>\n<style>\n", css, "</style>\n</head><body>\n<h1>",
              NULL);
    ptth_esc_html(r, title);
    ap_rputs("</h1>\n", r);
}

void ptth_html_end(request_rec *r)
{
    char date[APR_RFC822_DATE_LEN];

    apr_rfc822_date(date, apr_time_now());
    ap_rputs("<address>", r);
    ptth_esc_html(r, ap_get_server_banner());
    ap_rvputs(r, " &middot; ", date, "</address>\n</body></html>\n", NULL);
}

const char *ptth_fmt_duration(char buf[PTTH_FMT_LEN], apr_interval_time_t us)
{
    apr_int64_t s = us > 0 ? (apr_int64_t)apr_time_sec(us) : 0;

    if (s >= 86400) {
        apr_snprintf(buf, PTTH_FMT_LEN, "%" APR_INT64_T_FMT "d %" APR_INT64_T_FMT
                     "h", s / 86400, (s % 86400) / 3600);
    }
    else if (s >= 3600) {
        apr_snprintf(buf, PTTH_FMT_LEN, "%" APR_INT64_T_FMT "h %" APR_INT64_T_FMT
                     "m", s / 3600, (s % 3600) / 60);
    }
    else if (s >= 60) {
        apr_snprintf(buf, PTTH_FMT_LEN, "%" APR_INT64_T_FMT "m %" APR_INT64_T_FMT
                     "s", s / 60, s % 60);
    }
    else {
        apr_snprintf(buf, PTTH_FMT_LEN, "%" APR_INT64_T_FMT "s", s);
    }
    return buf;
}

const char *ptth_fmt_bytes(char buf[PTTH_FMT_LEN], apr_uint64_t n)
{
    if (n < 1024) {
        apr_snprintf(buf, PTTH_FMT_LEN, "%" APR_UINT64_T_FMT " B", n);
    }
    else if (n < 1024 * 1024) {
        apr_snprintf(buf, PTTH_FMT_LEN, "%.1f kB", (double)n / 1024);
    }
    else if (n < (apr_uint64_t)1024 * 1024 * 1024) {
        apr_snprintf(buf, PTTH_FMT_LEN, "%.1f MB", (double)n / (1024 * 1024));
    }
    else {
        apr_snprintf(buf, PTTH_FMT_LEN, "%.1f GB",
                     (double)n / (1024.0 * 1024 * 1024));
    }
    return buf;
}

const char *ptth_fmt_rtt(char buf[PTTH_FMT_LEN], apr_int64_t us)
{
    if (us < 0) {
        apr_cpystrn(buf, "-", PTTH_FMT_LEN);
    }
    else if (us < 10000) {
        apr_snprintf(buf, PTTH_FMT_LEN, "%.2f ms", (double)us / 1000);
    }
    else {
        apr_snprintf(buf, PTTH_FMT_LEN, "%" APR_INT64_T_FMT " ms", us / 1000);
    }
    return buf;
}
