#!/usr/bin/python3
# h2router.py -- a hostile "router" for a backend's own HTTP/2 session
# (PTTHStreamPath ptth, mod_ptth_backend/ptth_h2s.c).
#
# It listens where a backend's `PTTHConnect tcp://...` dials, and on each
# connection the backend makes it plays one scenario as the HTTP/2 client
# (plain mode: client preface, SETTINGS, requests; docs/protocol.md
# section 1), then closes and takes the next connection (the backend
# re-dials) for the next scenario.  Frames and header blocks are built
# with the helpers of t/bin/h2peer.py (byte by byte, never Huffman), so a
# scenario controls every octet; the backend's header blocks are decoded
# with python3-hpack.
#
# Output: one JSON object per scenario on stdout (or --out), with what the
# backend did: "status" per stream, "body" lengths or sha256, "rst" codes,
# "goaway" (the last GOAWAY's stream id and error code; "goaways": all of
# them), "closed" (the backend closed
# the connection), "error" when the scenario itself failed.
#
#   h2router.py --port P --scenarios ok,bad-header,... [--timeout S]
#
# Licensed under the Apache License, Version 2.0.

import argparse
import hashlib
import json
import os
import select
import socket
import struct
import sys
import time

import hpack

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h2peer as h  # noqa: E402  (frame and HPACK helpers)

PROTOCOL_ERROR, FLOW_CONTROL_ERROR, CANCEL = 1, 3, 8
SETTINGS_INITIAL_WINDOW_SIZE = 4
SETTINGS_MAX_CONCURRENT_STREAMS = 3


class Closed(Exception):
    pass


class Conn:
    """The client side of one connection the backend dialed."""

    def __init__(self, sock, window=65535):
        self.s = sock
        self.s.setblocking(False)
        self.buf = b""
        self.dec = hpack.Decoder()
        self.dec.max_allowed_table_size = 65536
        self.hblock = {}            # sid -> header block being received
        self.status = {}            # sid -> [statuses in order]
        self.body = {}              # sid -> bytes
        self.ended = set()          # sids with END_STREAM from the backend
        self.rst = {}               # sid -> error code
        self.goaway = None          # (last stream id, error code)
        self.goaways = []           # every GOAWAY, in order
        self.closed = False
        self.window_in = {}         # sid -> WINDOW_UPDATE total from backend
        self.settings = {}          # the backend's SETTINGS
        self.out = b""
        self.read_window = window   # what we grant the backend's responses
        self.grant = True           # send WINDOW_UPDATE for what we read

    def send(self, data):
        self.out += data
        self.flush()

    def flush(self, timeout=5):
        end = time.time() + timeout
        while self.out:
            try:
                n = self.s.send(self.out)
                self.out = self.out[n:]
            except BlockingIOError:
                if time.time() > end:
                    return False
                select.select([], [self.s], [], 0.1)
            except OSError:
                self.closed = True
                return False
        return True

    def _read(self, timeout):
        r, _, _ = select.select([self.s], [], [], timeout)
        if not r:
            return False
        try:
            data = self.s.recv(65536)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if not data:
            self.closed = True
            raise Closed()
        self.buf += data
        return True

    def frames(self):
        while len(self.buf) >= 9:
            n = struct.unpack(">I", b"\0" + self.buf[:3])[0]
            if len(self.buf) < 9 + n:
                return
            ftype, flags = self.buf[3], self.buf[4]
            sid = struct.unpack(">I", self.buf[5:9])[0] & 0x7FFFFFFF
            payload = self.buf[9:9 + n]
            self.buf = self.buf[9 + n:]
            self.on_frame(ftype, flags, sid, payload)

    def on_frame(self, ftype, flags, sid, payload):
        if ftype == h.SETTINGS:
            if not flags & h.FLAG_ACK:
                for i in range(0, len(payload) - 5, 6):
                    k, v = struct.unpack(">HI", payload[i:i + 6])
                    self.settings[k] = v
                self.send(h.f_settings(ack=True))
        elif ftype == h.PING:
            if not flags & h.FLAG_ACK:
                self.send(h.f_ping(payload, ack=True))
        elif ftype in (h.HEADERS, h.CONTINUATION):
            if ftype == h.HEADERS:
                if flags & h.FLAG_PADDED:
                    pad = payload[0]
                    payload = payload[1:len(payload) - pad]
                if flags & h.FLAG_PRIORITY:
                    payload = payload[5:]
                self.hblock[sid] = b""
                if flags & h.FLAG_END_STREAM:
                    self.ended.add(sid)
            self.hblock[sid] = self.hblock.get(sid, b"") + payload
            if flags & h.FLAG_END_HEADERS:
                fields = self.dec.decode(self.hblock.pop(sid))
                st = [v for k, v in fields if k in (":status", b":status")]
                if st:
                    self.status.setdefault(sid, []).append(int(st[0]))
                else:
                    self.status.setdefault(sid, []).append("trailers")
        elif ftype == h.DATA:
            if flags & h.FLAG_PADDED:
                pad = payload[0]
                payload = payload[1:len(payload) - pad]
            self.body[sid] = self.body.get(sid, b"") + payload
            if flags & h.FLAG_END_STREAM:
                self.ended.add(sid)
            if self.grant and len(payload):
                self.send(h.f_window(0, len(payload)) + h.f_window(sid, len(payload)))
        elif ftype == h.RST_STREAM:
            self.rst[sid] = struct.unpack(">I", payload[:4])[0]
        elif ftype == h.GOAWAY:
            self.goaway = struct.unpack(">II", payload[:8])
            self.goaway = (self.goaway[0] & 0x7FFFFFFF, self.goaway[1])
            self.goaways.append(list(self.goaway))
        elif ftype == h.WINDOW_UPDATE:
            self.window_in[sid] = (self.window_in.get(sid, 0)
                                   + (struct.unpack(">I", payload[:4])[0] & 0x7FFFFFFF))

    def run(self, until, timeout):
        """Read and handle frames until until() or the time is up (or the
        backend closes).  Returns until()'s last value."""
        end = time.time() + timeout
        while True:
            self.frames()
            v = until()
            if v or self.closed:
                return v
            left = end - time.time()
            if left <= 0:
                return v
            try:
                self._read(min(left, 0.2))
            except Closed:
                self.frames()
                return until()

    def done(self, sid):
        return sid in self.ended or sid in self.rst or self.goaway is not None


def req_block(method="GET", path="/", authority="a.example", extra=()):
    fields = [(":method", method), (":scheme", "http"), (":path", path),
              (":authority", authority)] + list(extra)
    return h.block(fields)


def start(conn, window=None, max_streams_wait=True):
    """Client preface and SETTINGS (RFC 9113 section 3.4); wait for the
    backend's SETTINGS."""
    pairs = []
    if window is not None:
        pairs.append((SETTINGS_INITIAL_WINDOW_SIZE, window))
    conn.send(h.PREFACE + h.f_settings(pairs))
    conn.run(lambda: SETTINGS_MAX_CONCURRENT_STREAMS in conn.settings, 10)


def result(conn, sids):
    out = {"status": {}, "body": {}, "rst": {}, "sha256": {}}
    for sid in sids:
        if sid in conn.status:
            out["status"][str(sid)] = conn.status[sid]
        if sid in conn.body:
            out["body"][str(sid)] = len(conn.body[sid])
            out["sha256"][str(sid)] = hashlib.sha256(conn.body[sid]).hexdigest()
        if sid in conn.rst:
            out["rst"][str(sid)] = conn.rst[sid]
    out["goaway"] = list(conn.goaway) if conn.goaway else None
    out["goaways"] = conn.goaways
    out["closed"] = conn.closed
    out["settings"] = {str(k): v for k, v in conn.settings.items()}
    return out


# ---------------------------------------------------------------- scenarios

def sc_ok(conn, o):
    """A plain GET: 200 and the vhost's body."""
    start(conn)
    conn.send(h.f_headers(1, req_block(), end_stream=True))
    conn.run(lambda: 1 in conn.ended or conn.done(1), o.timeout)
    return result(conn, [1])


def sc_bad_header(conn, o):
    """Malformed requests (RFC 9113 8.2.1, 8.2.2, 8.3.1): an uppercase
    field name, a connection-specific field, no :path; each is reset, and
    a good request on the same connection after them is answered."""
    start(conn)
    conn.send(h.f_headers(1, req_block(extra=[("X-Upper", "1")]), end_stream=True))
    conn.send(h.f_headers(3, req_block(extra=[("connection", "keep-alive")]),
                          end_stream=True))
    conn.send(h.f_headers(5, h.block([(":method", "GET"), (":scheme", "http"),
                                      (":authority", "a.example")]), end_stream=True))
    conn.send(h.f_headers(7, req_block(), end_stream=True))
    conn.run(lambda: all(conn.done(s) for s in (1, 3, 5, 7)), o.timeout)
    return result(conn, [1, 3, 5, 7])


def sc_connect(conn, o):
    """CONNECT (RFC 9113 8.5) is not served: 501; :protocol (RFC 8441) was
    not announced: reset."""
    start(conn)
    conn.send(h.f_headers(1, h.block([(":method", "CONNECT"),
                                      (":authority", "a.example:443")]), end_stream=False))
    conn.send(h.f_headers(3, req_block("CONNECT", "/ws", extra=[(":protocol", "websocket")]),
                          end_stream=False))
    conn.run(lambda: conn.done(1) and conn.done(3), o.timeout)
    r = result(conn, [1, 3])
    r["enable_connect_protocol"] = conn.settings.get(8)
    return r


def sc_big_head(conn, o):
    """A request head of 100 KiB (more than the 64 KiB announced): 431, and
    the connection serves on."""
    start(conn)
    blk = req_block(extra=[("x-big-%d" % i, "v" * 4000) for i in range(25)])
    conn.send(h.f_headers(1, blk, end_stream=True))
    conn.send(h.f_headers(3, req_block(), end_stream=True))
    conn.run(lambda: conn.done(1) and conn.done(3), o.timeout)
    return result(conn, [1, 3])


def sc_huge_head(conn, o):
    """A request head of 400 KiB in CONTINUATION frames: the stream is
    reset or the session ended, never served; the backend lives on."""
    start(conn)
    blk = req_block(extra=[("x-huge-%d" % i, "v" * 8000) for i in range(50)])
    conn.send(h.f_headers(1, blk, end_stream=True))
    conn.run(lambda: conn.done(1), o.timeout)
    return result(conn, [1])


def sc_over_window(conn, o):
    """DATA beyond the stream's window (RFC 9113 6.9.1): a flow-control
    error, stream or connection."""
    start(conn)
    conn.send(h.f_headers(1, req_block("POST", "/cgi-bin/sleep.cgi?s=3",
                                       extra=[("content-length", "200000")]),
                          end_stream=False))
    conn.send(h.f_data(1, b"x" * 100000))
    conn.run(lambda: conn.done(1), o.timeout)
    return result(conn, [1])


def sc_too_many(conn, o):
    """More concurrent streams than the backend's
    SETTINGS_MAX_CONCURRENT_STREAMS: a connection error."""
    start(conn)
    limit = conn.settings.get(SETTINGS_MAX_CONCURRENT_STREAMS, 100)
    sids = [1 + 2 * i for i in range(limit + 1)]
    for sid in sids:
        conn.send(h.f_headers(sid, req_block(path="/cgi-bin/sleep.cgi?s=2&i=%d" % sid),
                              end_stream=True))
    conn.run(lambda: conn.goaway is not None or conn.closed, o.timeout)
    r = result(conn, sids)
    r["limit"] = limit
    return r


def sc_rapid_reset(conn, o):
    """Streams reset as soon as they are opened, many of them (CVE-2023-
    44487 style), then one real request: the backend stays up and bounded;
    the last request is answered unless the session was ended for it."""
    start(conn)
    n = o.arg or 2000
    sid = 1
    for i in range(n):
        conn.send(h.f_headers(sid, req_block(path="/cgi-bin/sleep.cgi?s=1&i=%d" % i),
                              end_stream=True) + h.f_rst(sid, CANCEL))
        sid += 2
        if i % 100 == 0:
            conn.run(lambda: False, 0.01)
    last = sid
    conn.send(h.f_headers(last, req_block(), end_stream=True))
    conn.run(lambda: conn.done(last), o.timeout)
    r = result(conn, [last])
    r["last"] = last
    r["refused"] = sum(1 for c in conn.rst.values() if c == 7)
    return r


def sc_trailers(conn, o):
    """A request body without content-length, then trailers (RFC 9113
    8.1): the CGI reads every byte (the SHA-256 it answers)."""
    start(conn)
    body = bytes(range(256)) * 1000
    conn.send(h.f_headers(1, req_block("POST", "/cgi-bin/sha.cgi"), end_stream=False))
    sent = 0

    def granted():
        return (conn.window_in.get(1, 0), conn.window_in.get(0, 0))

    while sent < len(body):
        # Within the backend's windows (initial 65535, RFC 9113 6.9.2):
        # they open as the CGI reads.
        s_win, c_win = granted()
        avail = min(65535 + s_win, 65535 + c_win) - sent
        if avail <= 0:
            before = granted()
            conn.run(lambda: granted() != before or conn.done(1), o.timeout)
            if conn.done(1) or granted() == before:
                break
            continue
        chunk = body[sent:sent + min(16384, avail)]
        conn.send(h.f_data(1, chunk))
        sent += len(chunk)
    conn.send(h.f_headers(1, h.block([("x-trailer", "done")]), end_stream=True))
    conn.run(lambda: 1 in conn.ended or conn.done(1), o.timeout)
    r = result(conn, [1])
    r["sent_sha256"] = hashlib.sha256(body).hexdigest()
    r["sent"] = sent
    r["body_text"] = conn.body.get(1, b"").decode("latin-1")[:200]
    return r


def sc_no_window(conn, o):
    """A router that gives a response no window (SETTINGS_INITIAL_WINDOW_
    SIZE 0) and never opens it: the backend ends the stream within its
    Timeout and the connection serves on."""
    conn.grant = False
    start(conn, window=0)
    t0 = time.time()
    conn.send(h.f_headers(1, req_block(path="/big/nowin.bin"), end_stream=True))
    conn.run(lambda: conn.done(1), o.timeout)
    r = result(conn, [1])
    r["took"] = time.time() - t0
    return r


def sc_garbage(conn, o):
    """No HTTP/2 preface: the backend ends the connection."""
    conn.send(b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n" + b"\0" * 64)
    conn.run(lambda: conn.closed or conn.goaway is not None, o.timeout)
    return result(conn, [])


SCENARIOS = {
    "ok": sc_ok,
    "bad-header": sc_bad_header,
    "connect": sc_connect,
    "big-head": sc_big_head,
    "huge-head": sc_huge_head,
    "over-window": sc_over_window,
    "too-many": sc_too_many,
    "rapid-reset": sc_rapid_reset,
    "trailers": sc_trailers,
    "no-window": sc_no_window,
    "garbage": sc_garbage,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--scenarios", required=True)
    ap.add_argument("--timeout", type=float, default=10)
    ap.add_argument("--accept-timeout", type=float, default=30)
    ap.add_argument("--arg", type=int, default=0)
    ap.add_argument("--out", default="-")
    o = ap.parse_args()
    out = sys.stdout if o.out == "-" else open(o.out, "a", buffering=1)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", o.port))
    ls.listen(16)
    ls.settimeout(o.accept_timeout)
    for name in o.scenarios.split(","):
        rec = {"scenario": name}
        try:
            s, _ = ls.accept()
        except socket.timeout:
            rec["error"] = "no connection from the backend"
            out.write(json.dumps(rec) + "\n")
            return 1
        t0 = time.time()
        conn = Conn(s)
        try:
            rec.update(SCENARIOS[name](conn, o))
        except Exception as e:      # the scenario failed: say so, go on
            rec["error"] = "%s: %s" % (type(e).__name__, e)
        rec["secs"] = round(time.time() - t0, 3)
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()
        out.write(json.dumps(rec) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
