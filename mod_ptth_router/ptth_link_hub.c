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

/* The hub's end of the links from httpd children (ptth_link_hub.h):
 * reads frames and hands them to the link's exchange (ptth_exchange.c),
 * writes the frames the exchange queues, and answers STATUS requests.
 * A link carries one exchange at a time; what the child sends beyond a
 * full request-body buffer waits in the socket (backpressure). */

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/socket.h>

#include <apr_portable.h>
#include <apr_strings.h>

#include "ptth_link_hub.h"
#include "ptth_exchange.h"

/* Bytes read from a link before frames are processed. */
#define PTTH_LINK_READ_MAX  (PTTH_LINK_HDR_LEN + PTTH_LINK_MAX_HEAD)
/* Bytes taken from a link per read (on the stack). */
#define PTTH_LINK_READ_CHUNK (64 * 1024)

static void link_watch(ptth_link_hub *hl)
{
    apr_int16_t ev = 0;

    if (hl->dead) {
        return;
    }
    if (!hl->read_paused && !hl->raw_in_eof) {
        ev |= APR_POLLIN;
    }
    if (hl->out.len) {
        ev |= APR_POLLOUT;
    }
    if (ptth_hub_watch(hl->hub, &hl->h, ev) != APR_SUCCESS) {
        ptth_link_hub_kill(hl, "cannot be polled");
    }
}

void ptth_link_hub_kill(ptth_link_hub *hl, const char *why)
{
    if (!hl->dead) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, hl->hub->s, PTTHLOGNO(02202)
                     "link %u: closing (%s)", hl->id, why);
        hl->dead = 1;
        ptth_hub_due(hl->hub, &hl->h);
    }
}

static void link_flush(ptth_link_hub *hl)
{
    apr_size_t queued = hl->out.len;

    while (hl->out.len && !hl->dead) {
        apr_size_t n = hl->out.len;
        apr_status_t rv = apr_socket_send(hl->sock, ptth_buf_head(&hl->out), &n);

        ptth_buf_consume(&hl->out, n);
        if (rv != APR_SUCCESS) {
            if (!APR_STATUS_IS_EAGAIN(rv)) {
                ptth_link_hub_kill(hl, "write failed: child went away");
                return;
            }
            break;
        }
    }
    if (hl->ex && hl->out.len < queued) {
        /* What the socket took is the child's: the backend may send as
         * much again while the rest is still being written (a window
         * acknowledged only once all of it is out makes the transfer
         * stop and go). */
        ptth_exchange_link_flushed(hl->ex, hl->out.len);
    }
    if (!hl->out.len) {
        if (!hl->ex) {
            ptth_buf_trim(&hl->out, 0);
        }
        if (hl->raw_out_eof == 1) {
            /* The backend ended its direction of the pipe. */
            apr_socket_shutdown(hl->sock, APR_SHUTDOWN_WRITE);
            hl->raw_out_eof = 2;
        }
        if (hl->close_when_flushed) {
            ptth_link_hub_kill(hl, hl->raw ? "upgraded exchange over"
                                           : "hub stopping");
            return;
        }
    }
    link_watch(hl);
}

/* Queued bytes past which a response burst is written at once.  A batch
 * of tunnel input can carry a whole stream window (256 KiB) for one
 * link; held until the reap, it grew the link's buffer past glibc's mmap
 * threshold (128 KiB, fixed in ptth_hub.c), which cost an mmap, page
 * faults and an munmap for every such response.  Written at 32 KiB the
 * buffer stays at 64 KiB, in the heap, while the child keeps up. */
#define PTTH_LINK_WRITE_THROUGH  (32 * 1024)

void ptth_link_hub_write_through(ptth_link_hub *hl)
{
    if (!hl->dead && hl->out.len >= PTTH_LINK_WRITE_THROUGH) {
        link_flush(hl);
    }
}

/* Frames produced while the hub works through one batch of tunnel input
 * go out together: the write happens at the hub's next reap, before it
 * polls again, instead of one write per frame. */
void ptth_link_hub_send(ptth_link_hub *hl, const void *data, apr_size_t len)
{
    if (hl->dead) {
        return;
    }
    if (ptth_buf_append(&hl->out, data, len) != APR_SUCCESS) {
        ptth_link_hub_kill(hl, "out of memory");
        return;
    }
    hl->flush_soon = 1;
    ptth_hub_due(hl->hub, &hl->h);
}

/* Tell the child that this hub takes no new exchange on the link
 * (ptth_link.h, GOAWAY): it is draining.  The link stays open so that a
 * REQUEST already on its way is answered (RESET SHUTDOWN), never lost. */
static void link_goaway(ptth_link_hub *hl)
{
    unsigned char hdr[PTTH_LINK_HDR_LEN];

    if (hl->goaway_sent || hl->dead || hl->raw) {
        return;
    }
    hl->goaway_sent = 1;
    ptth_link_hdr_pack(hdr, PTTH_LF_GOAWAY, 0, 0);
    ptth_link_hub_send(hl, hdr, sizeof(hdr));
}

void ptth_link_hub_drain(ptth_link_hub *hl)
{
    if (!hl->ex) {
        link_goaway(hl);
    }
}

void ptth_link_hub_close(ptth_link_hub *hl)
{
    hl->close_when_flushed = 1;
    if (!hl->out.len) {
        ptth_link_hub_kill(hl, hl->raw ? "upgraded exchange over"
                                       : "hub stopping");
    }
}

void ptth_link_hub_resume(ptth_link_hub *hl)
{
    if (hl->read_paused) {
        /* Not from inside nghttp2's callbacks: at the next reap. */
        hl->read_paused = 0;
        hl->kick = 1;
        ptth_hub_due(hl->hub, &hl->h);
    }
}

void ptth_link_hub_release(ptth_link_hub *hl)
{
    hl->ex = NULL;
    /* An idle link holds no buffer (thousands may wait). */
    ptth_buf_trim(&hl->out, 0);
    ptth_buf_trim(&hl->in, 0);
    if (hl->raw) {
        /* A pipe has no frame boundary to start the next exchange at. */
        ptth_link_hub_close(hl);
    }
    else if (hl->hub->state != PTTH_HUB_RUNNING) {
        link_goaway(hl);
    }
    ptth_link_hub_resume(hl);
}

apr_status_t ptth_link_hub_pipe(ptth_link_hub *hl)
{
    if (hl->in.len) {
        return APR_EINVAL;
    }
    hl->raw = 1;
    return APR_SUCCESS;
}

void ptth_link_hub_pipe_end(ptth_link_hub *hl)
{
    hl->raw_out_eof = 1;
    hl->flush_soon = 1;
    ptth_hub_due(hl->hub, &hl->h);
}

/* The status document goes straight into the link's output, after a
 * frame header whose length is filled in once it is known. */
static void on_status(ptth_link_hub *hl)
{
    unsigned char hdr[PTTH_LINK_HDR_LEN];
    apr_size_t at, len;

    if (hl->dead) {
        return;
    }
    at = hl->out.len;
    ptth_link_hdr_pack(hdr, PTTH_LF_STATUS, PTTH_LF_END_STREAM, 0);
    if (ptth_buf_append(&hl->out, hdr, sizeof(hdr)) != APR_SUCCESS
        || ptth_hub_status_write(hl->hub, &hl->out, PTTH_LINK_MAX_STATUS)
           != APR_SUCCESS) {
        ptth_link_hub_kill(hl, "out of memory for the status");
        return;
    }
    len = hl->out.len - at - PTTH_LINK_HDR_LEN;
    ptth_link_hdr_pack((unsigned char *)ptth_buf_head(&hl->out) + at,
                       PTTH_LF_STATUS, PTTH_LF_END_STREAM, (apr_uint32_t)len);
    hl->flush_soon = 1;
    link_flush(hl);
}

/* An upgraded link: what the child wrote is the stream's DATA.  Returns
 * how much of it went on. */
static apr_size_t link_raw_bytes(ptth_link_hub *hl, const char *data,
                                 apr_size_t len)
{
    apr_size_t n;

    if (!hl->ex) {
        return len;
    }
    n = ptth_exchange_pipe_in(hl->ex, data, len, hl->raw_in_eof);
    if (n < len) {
        hl->read_paused = 1;
    }
    return n;
}

/* One complete frame. */
static void link_frame(ptth_link_hub *hl, const ptth_link_fhdr *fh,
                       const char *payload)
{
    ptth_link_reset_t code;
    apr_status_t rv;

    switch (fh->type) {
    case PTTH_LF_REQUEST:
        if (hl->ex) {
            ptth_link_hub_kill(hl, "REQUEST while an exchange is in progress");
        }
        else if (ptth_exchange_create(hl, payload, fh->length,
                                      (fh->flags & PTTH_LF_END_STREAM) != 0,
                                      &hl->ex) != APR_SUCCESS) {
            ptth_link_hub_kill(hl, "malformed REQUEST frame");
        }
        break;
    case PTTH_LF_DATA:
    case PTTH_LF_TRAILERS:
        if (!hl->ex || hl->ex->req_ended) {
            ptth_link_hub_kill(hl, "DATA outside a request body");
            break;
        }
        rv = fh->type == PTTH_LF_TRAILERS
             ? ptth_exchange_request_trailers(hl->ex, payload, fh->length)
             : ptth_exchange_request_body(hl->ex, payload, fh->length,
                                          (fh->flags & PTTH_LF_END_STREAM) != 0);
        if (rv == APR_EINVAL) {
            ptth_link_hub_kill(hl, "malformed TRAILERS frame");
        }
        else if (rv == APR_EAGAIN && hl->ex) {
            hl->read_paused = 1;
        }
        break;
    case PTTH_LF_RESET:
        if (ptth_link_decode_reset(payload, fh->length, &code) != APR_SUCCESS) {
            ptth_link_hub_kill(hl, "malformed RESET frame");
            break;
        }
        if (hl->ex) {
            ptth_exchange_cancel(hl->ex, "cancelled by the child");
        }
        /* A child that resets does not reuse the link. */
        ptth_link_hub_kill(hl, "reset by the child");
        break;
    case PTTH_LF_STATUS:
        if (hl->ex) {
            ptth_link_hub_kill(hl, "STATUS during an exchange");
            break;
        }
        on_status(hl);
        break;
    }
}

/* Handle the complete frames in data; stops while the body buffer is
 * full.  Returns how many bytes were handled. */
static apr_size_t link_frames(ptth_link_hub *hl, const char *data,
                              apr_size_t len)
{
    apr_size_t done = 0;

    if (hl->raw) {
        return hl->dead || hl->read_paused ? 0 : link_raw_bytes(hl, data, len);
    }
    while (!hl->dead && !hl->read_paused && len - done >= PTTH_LINK_HDR_LEN) {
        ptth_link_fhdr fh;
        apr_size_t max;

        ptth_link_hdr_unpack((const unsigned char *)data + done, &fh);
        switch (fh.type) {
        case PTTH_LF_REQUEST:
        case PTTH_LF_TRAILERS: max = PTTH_LINK_MAX_HEAD; break;
        case PTTH_LF_DATA:     max = PTTH_LINK_MAX_DATA; break;
        case PTTH_LF_RESET:    max = 4; break;
        case PTTH_LF_STATUS:   max = 0; break;
        default:
            ptth_link_hub_kill(hl, "unknown frame type");
            return done;
        }
        if (fh.length > max) {
            ptth_link_hub_kill(hl, "frame too large");
            return done;
        }
        if (len - done < PTTH_LINK_HDR_LEN + fh.length) {
            break;
        }
        link_frame(hl, &fh, data + done + PTTH_LINK_HDR_LEN);
        done += PTTH_LINK_HDR_LEN + fh.length;
    }
    return done;
}

/* What waits in hl->in (after a pause, or a frame read in pieces). */
static void link_process(ptth_link_hub *hl)
{
    ptth_buf_consume(&hl->in, link_frames(hl, ptth_buf_head(&hl->in),
                                          hl->in.len));
}

/* Reads go to the stack and frames are handled where they lie (the
 * exchange copies what it keeps); only a frame read in part, or what a
 * paused link cannot take now, waits in hl->in.  An idle link or one
 * that waits for its response holds no input buffer. */
static void link_read(ptth_link_hub *hl)
{
    char buf[PTTH_LINK_READ_CHUNK];
    int rounds;

    for (rounds = 0; rounds < 8 && !hl->dead && !hl->read_paused; ++rounds) {
        apr_size_t len, want, have = 0, done;
        apr_status_t rv;

        if (hl->in.len > sizeof(buf) / 2) {
            /* A large head arriving in pieces: gather it on the heap. */
            if (hl->in.len >= PTTH_LINK_READ_MAX) {
                break;
            }
            if (ptth_buf_reserve(&hl->in, sizeof(buf)) != APR_SUCCESS) {
                ptth_link_hub_kill(hl, "out of memory");
                return;
            }
            want = len = hl->in.cap - hl->in.off - hl->in.len;
            rv = apr_socket_recv(hl->sock, ptth_buf_head(&hl->in) + hl->in.len,
                                 &len);
            hl->in.len += len;
            if (APR_STATUS_IS_EOF(rv) && hl->raw) {
                hl->raw_in_eof = 1;
            }
            link_process(hl);
        }
        else {
            if (hl->in.len) {
                have = hl->in.len;
                memcpy(buf, ptth_buf_head(&hl->in), have);
                ptth_buf_consume(&hl->in, have);
            }
            want = len = sizeof(buf) - have;
            rv = apr_socket_recv(hl->sock, buf + have, &len);
            if (APR_STATUS_IS_EOF(rv) && hl->raw) {
                /* The child's half-close of the pipe (END_STREAM). */
                hl->raw_in_eof = 1;
            }
            done = link_frames(hl, buf, have + len);
            if (done < have + len && !hl->dead
                && ptth_buf_append(&hl->in, buf + done, have + len - done)
                   != APR_SUCCESS) {
                ptth_link_hub_kill(hl, "out of memory");
                return;
            }
        }
        if (APR_STATUS_IS_EOF(rv)) {
            if (hl->raw && hl->ex) {
                break;
            }
            ptth_link_hub_kill(hl, hl->raw ? "upgraded exchange over"
                                   : hl->ex ? "child closed during an exchange"
                                   : "child closed");
            return;
        }
        if (rv != APR_SUCCESS) {
            if (!APR_STATUS_IS_EAGAIN(rv)) {
                ptth_link_hub_kill(hl, "read error");
            }
            break;
        }
        if (len < want) {
            /* A short read took all there was: asking again would only
             * say EAGAIN (a system call per request). */
            break;
        }
    }
    link_watch(hl);
}

void ptth_link_hub_on_event(ptth_link_hub *hl, apr_int16_t rtnevents)
{
    if (hl->dead) {
        return;
    }
    if ((rtnevents & (APR_POLLHUP | APR_POLLERR)) && hl->read_paused) {
        /* Not reading, but the child closed: nobody is left to answer. */
        ptth_link_hub_kill(hl, "child went away");
        return;
    }
    if (hl->kick) {
        hl->kick = 0;
        link_process(hl);
    }
    if (rtnevents & APR_POLLOUT) {
        link_flush(hl);
    }
    if (!hl->dead && (rtnevents & (APR_POLLIN | APR_POLLHUP | APR_POLLERR))) {
        link_read(hl);
    }
    else {
        link_watch(hl);
    }
}

void ptth_link_hub_reap(ptth_link_hub *hl)
{
    if (hl->dead) {
        ptth_link_hub_destroy(hl);
        return;
    }
    if (hl->kick) {
        ptth_link_hub_on_event(hl, 0);
    }
    if (hl->flush_soon && !hl->dead) {
        hl->flush_soon = 0;
        link_flush(hl);
    }
}

/* The parent of pid, from /proc; -1 if it cannot be read. */
static pid_t parent_of(pid_t pid)
{
    char path[64], buf[512];
    const char *rp;
    FILE *f;
    size_t n;
    long ppid;

    apr_snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    if (!(f = fopen(path, "r"))) {
        return -1;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* "pid (comm) state ppid ...": comm may hold anything, even ")". */
    if (!(rp = strrchr(buf, ')')) || sscanf(rp + 1, " %*c %ld", &ppid) != 1) {
        return -1;
    }
    return (pid_t)ppid;
}

/* Only httpd's own children may use the hub: a link carries requests
 * into any pool past the router's access control, and the socket file
 * is reachable by whatever runs as User (CGI, mod_php ...).  The kernel
 * names the peer (SO_PEERCRED); it must run as us and be a child of the
 * httpd parent, as children are and CGI processes are not. */
static int peer_is_child(ptth_hub *hub, int fd, pid_t *pid)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    *pid = 0;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        return 0;
    }
    *pid = cred.pid;
    return cred.uid == geteuid() && cred.pid > 0
           && parent_of(cred.pid) == hub->parent;
}

/* A link is a small heap object and its socket an apr_socket_t taken
 * from the hub's spares: no pool of its own, whose first page would cost
 * more than the link (one link per request in flight). */
static void on_link_accept(ptth_hub *hub, int fd)
{
    ptth_link_hub *hl;
    apr_socket_t *sock = NULL;
    pid_t pid;

    if (!peer_is_child(hub, fd, &pid)) {
        if (hub->links_refused++ % 100 == 0) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, hub->s, PTTHLOGNO(02207)
                         "hub: refusing a link from pid %ld, which is not "
                         "an httpd child (%" APR_UINT64_T_FMT " so far)",
                         (long)pid, hub->links_refused);
        }
        close(fd);
        return;
    }
    if (!(hl = calloc(1, sizeof(*hl)))) {
        close(fd);
        return;
    }
    if (hub->spare_socks->nelts) {
        sock = *(apr_socket_t **)apr_array_pop(hub->spare_socks);
    }
    /* A spare keeps its APR option bits (non-blocking among them), which
     * the descriptor from accept4() matches. */
    apr_os_sock_put(&sock, &fd, hub->p);
    hl->hub = hub;
    hl->sock = sock;
    hl->peer_pid = pid;
    hl->id = ++hub->next_link_id;
    ptth_buf_init(&hl->in);
    ptth_buf_init(&hl->out);
    ptth_handle_init(&hl->h, PTTH_H_LINK, sock, hub->p);
    APR_RING_INSERT_TAIL(&hub->links, hl, ptth_link_hub, link);
    hub->n_links++;
    link_watch(hl);
    if (hub->state != PTTH_HUB_RUNNING) {
        link_goaway(hl);
    }
}

void ptth_link_hub_accept(ptth_hub *hub, apr_socket_t *lsock)
{
    ptth_hub_accept_fd(hub, lsock, on_link_accept);
}

void ptth_link_hub_destroy(ptth_link_hub *hl)
{
    ptth_exchange *ex = hl->ex;

    if (ex) {
        /* The child is gone: nobody wants this response any more. */
        hl->ex = NULL;
        ptth_exchange_link_gone(ex);
    }
    ptth_hub_unwatch(hl->hub, &hl->h);
    APR_RING_REMOVE(hl, link);
    hl->hub->n_links--;
    apr_socket_close(hl->sock);
    APR_ARRAY_PUSH(hl->hub->spare_socks, apr_socket_t *) = hl->sock;
    ptth_buf_free(&hl->in);
    ptth_buf_free(&hl->out);
    free(hl);
}
