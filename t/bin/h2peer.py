#!/usr/bin/python3
# h2peer.py -- a hostile HTTP/2 "backend" for the mod_ptth tests.
#
# It dials a router's plain tunnel port (PTTHListen ... plain=POOL) like
# mod_ptth_backend does, so it becomes a tunnel of that pool: the router is
# the HTTP/2 client, this peer the server (docs/protocol.md section 1).
# Every frame it sends is built here byte by byte, and so is every header
# block (a small HPACK encoder: literal without / with incremental
# indexing, indexed field, dynamic table size update; never Huffman), so a
# scenario controls every octet.  The router's request header blocks are
# decoded with python3-hpack (Debian package), which handles what
# nghttp2's encoder produces (Huffman, dynamic table).
#
# For each request stream the peer runs a scenario, chosen per request by
# the query parameter h2peer=NAME in :path (h2arg=VALUE passes a number or
# code to it), else by --scenario.  `h2peer.py --list` prints them all.
# Connection-level attacks (floods, frames on idle streams, a peer that
# stops reading) are scenarios too: they start when a request that names
# them arrives.
#
# Everything it does is logged as JSON lines (--log, default stdout), one
# object per event with "t" (seconds since start) and "ev":
#   connect, preface, settings_in, request, data_in, rst_in, goaway_in,
#   window_in, ping_in, sent, flood, stop_reading, closed, exit.
# "closed" has "by" ("router" or "self") and, after a flood, "flood_s".
#
# Licensed under the Apache License, Version 2.0.

import argparse
import errno
import json
import os
import select
import socket
import struct
import sys
import time
import urllib.parse

import hpack

# ---------------------------------------------------------------- frames

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, \
    WINDOW_UPDATE, CONTINUATION = range(10)
FLAG_END_STREAM = 0x1
FLAG_ACK = 0x1
FLAG_END_HEADERS = 0x4
FLAG_PADDED = 0x8
FLAG_PRIORITY = 0x20

NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0, 1, 2, 3
REFUSED_STREAM, CANCEL = 7, 8

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_FRAME = 16384          # the router's SETTINGS_MAX_FRAME_SIZE (default)


def frame(ftype, flags, sid, payload=b""):
    """RFC 9113 4.1: length(24) type(8) flags(8) R(1) stream id(31)."""
    n = len(payload)
    return struct.pack(">BHBBI", n >> 16, n & 0xFFFF, ftype, flags,
                       sid & 0x7FFFFFFF) + payload


def f_settings(pairs=(), ack=False):
    return frame(SETTINGS, FLAG_ACK if ack else 0, 0,
                 b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def f_ping(data=b"h2peer!!", ack=False):
    return frame(PING, FLAG_ACK if ack else 0, 0, data[:8].ljust(8, b"\0"))


def f_rst(sid, code):
    return frame(RST_STREAM, 0, sid, struct.pack(">I", code))


def f_goaway(last, code, debug=b""):
    return frame(GOAWAY, 0, 0, struct.pack(">II", last & 0x7FFFFFFF, code) + debug)


def f_window(sid, inc):
    return frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", inc & 0x7FFFFFFF))


def f_priority(sid, dep, weight=15, exclusive=False):
    return frame(PRIORITY, 0, sid,
                 struct.pack(">IB", (dep & 0x7FFFFFFF) | (0x80000000 if exclusive else 0),
                             weight))


def f_data(sid, data, end=False):
    out = b""
    while True:
        chunk, data = data[:MAX_FRAME], data[MAX_FRAME:]
        last = not data
        out += frame(DATA, FLAG_END_STREAM if (end and last) else 0, sid, chunk)
        if last:
            return out


def f_headers(sid, block, end_stream=False, end_headers=True, max_frame=MAX_FRAME):
    """A header block as HEADERS plus as many CONTINUATION frames as it
    needs (RFC 9113 6.2, 6.10).  end_headers=False leaves it open."""
    first, rest = block[:max_frame], block[max_frame:]
    fl = FLAG_END_STREAM if end_stream else 0
    if not rest and end_headers:
        fl |= FLAG_END_HEADERS
    out = frame(HEADERS, fl, sid, first)
    while rest:
        chunk, rest = rest[:max_frame], rest[max_frame:]
        out += frame(CONTINUATION, FLAG_END_HEADERS if (not rest and end_headers) else 0,
                     sid, chunk)
    return out

# ----------------------------------------------------------------- HPACK
# RFC 7541 5.1 integers, 5.2 string literals (H=0: never Huffman), 6.x
# representations.


def hp_int(value, prefix_bits, first):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hp_str(s):
    if isinstance(s, str):
        s = s.encode("latin-1")
    return hp_int(len(s), 7, 0x00) + s


def hp_indexed(index):                       # 6.1
    return hp_int(index, 7, 0x80)


def hp_lit_incr(name, value):                # 6.2.1, new name
    return b"\x40" + hp_str(name) + hp_str(value)


def hp_lit_incr_idx(name_index, value):      # 6.2.1, indexed name
    return hp_int(name_index, 6, 0x40) + hp_str(value)


def hp_lit(name, value):                     # 6.2.2, new name
    return b"\x00" + hp_str(name) + hp_str(value)


def hp_lit_idx(name_index, value):           # 6.2.2, indexed name
    return hp_int(name_index, 4, 0x00) + hp_str(value)


def hp_size_update(size):                    # 6.3
    return hp_int(size, 5, 0x20)


def block(fields):
    """[(name, value), ...] as literals without indexing, new names."""
    return b"".join(hp_lit(n, v) for n, v in fields)


def status_block(status, fields=()):
    return block([(":status", str(status))] + list(fields))

# --------------------------------------------------------------- helpers


class Closed(Exception):
    pass


SLEEP = "sleep"            # yield (SLEEP, seconds)
DRAIN = "drain"            # yield (DRAIN,): wait until the output is written
STOP_READ = "stop_read"    # yield (STOP_READ,): never read the socket again
FOREVER = "forever"        # yield (FOREVER,): this stream does nothing more


class Stream:
    def __init__(self, sid, headers, scenario, arg):
        self.sid = sid
        self.headers = headers
        self.scenario = scenario
        self.arg = arg
        self.body_in = 0
        self.ended_in = False
        self.gen = None
        self.wake = 0.0
        self.no_window = False


class Peer:
    def __init__(self, opts):
        self.o = opts
        self.t0 = time.monotonic()
        self.log_fh = open(opts.log, "a", buffering=1) if opts.log else sys.stdout
        self.marker = opts.marker.encode()
        self.sock = None

    # -- logging
    def log(self, ev, **kw):
        kw = dict(t=round(time.monotonic() - self.t0, 3), ev=ev, **kw)
        self.log_fh.write(json.dumps(kw, sort_keys=True) + "\n")
        self.log_fh.flush()

    # -- connection
    def connect(self):
        self.sock = socket.create_connection((self.o.host, self.o.port), timeout=5)
        self.sock.setblocking(False)
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.got_preface = False
        self.reading = True
        self.streams = {}
        self.max_sid = 0
        self.hdr_sid = None           # a request header block in progress
        self.hdr_frag = b""
        self.hdr_flags = 0
        self.decoder = hpack.Decoder()
        self.decoder.max_header_list_size = 1 << 20
        self.flood_start = None
        self.settings_acked = False
        self.log("connect", port=self.o.port)
        settings = [(3, self.o.max_streams)]
        if self.o.initial_window is not None:
            settings.append((4, self.o.initial_window))
        self.send(f_settings(settings))
        if self.o.conn_window:
            self.send(f_window(0, self.o.conn_window))

    def send(self, data):
        self.outbuf += data

    def flush(self):
        while self.outbuf:
            try:
                n = self.sock.send(self.outbuf)
            except BlockingIOError:
                return False
            except OSError as e:
                raise Closed("write: %s" % e.strerror)
            del self.outbuf[:n]
        return True

    # -- reading
    def read_some(self):
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as e:
            raise Closed("read: %s" % e.strerror)
        if not data:
            raise Closed("eof")
        self.inbuf += data
        self.parse()

    def parse(self):
        if not self.got_preface:
            if len(self.inbuf) < len(PREFACE):
                return
            if bytes(self.inbuf[:len(PREFACE)]) != PREFACE:
                self.log("bad_preface", got=bytes(self.inbuf[:24]).hex())
                raise Closed("bad preface")
            del self.inbuf[:len(PREFACE)]
            self.got_preface = True
            self.log("preface")
        while len(self.inbuf) >= 9:
            n = (self.inbuf[0] << 16) | (self.inbuf[1] << 8) | self.inbuf[2]
            if len(self.inbuf) < 9 + n:
                return
            ftype, flags = self.inbuf[3], self.inbuf[4]
            sid = struct.unpack(">I", self.inbuf[5:9])[0] & 0x7FFFFFFF
            payload = bytes(self.inbuf[9:9 + n])
            del self.inbuf[:9 + n]
            self.on_frame(ftype, flags, sid, payload)

    def on_frame(self, ftype, flags, sid, payload):
        if ftype == SETTINGS:
            if not flags & FLAG_ACK:
                self.log("settings_in", n=len(payload) // 6)
                if not self.o.no_settings_ack:
                    self.send(f_settings(ack=True))
            elif not self.settings_acked:
                # The router has our SETTINGS: it takes streams now.
                self.settings_acked = True
                self.log("settings_ack_in")
        elif ftype == PING:
            if not flags & FLAG_ACK:
                self.log("ping_in")
                self.send(f_ping(payload, ack=True))
        elif ftype in (HEADERS, CONTINUATION):
            if ftype == HEADERS:
                p = payload
                if flags & FLAG_PADDED:
                    pad = p[0]
                    p = p[1:len(p) - pad]
                if flags & FLAG_PRIORITY:
                    p = p[5:]
                self.hdr_sid, self.hdr_frag, self.hdr_flags = sid, p, flags
            else:
                self.hdr_frag += payload
            if flags & FLAG_END_HEADERS:
                try:
                    fields = self.decoder.decode(self.hdr_frag, raw=True)
                except hpack.HPACKError as e:
                    self.log("hpack_error", sid=self.hdr_sid, why=str(e))
                    raise Closed("cannot decode the router's header block")
                self.on_headers(self.hdr_sid, self.hdr_flags, fields)
                self.hdr_sid, self.hdr_frag = None, b""
        elif ftype == DATA:
            st = self.streams.get(sid)
            body = payload
            if flags & FLAG_PADDED and payload:
                body = payload[1:len(payload) - payload[0]]
            if st:
                st.body_in += len(body)
                if flags & FLAG_END_STREAM:
                    st.ended_in = True
                    self.log("data_in", sid=sid, total=st.body_in, end=True)
            # Flow control (RFC 9113 6.9): a normal server gives the window
            # back; a stream whose scenario says no_window never does.
            if n := len(payload):
                if st and st.no_window:
                    return
                self.send(f_window(0, n))
                if not flags & FLAG_END_STREAM:
                    self.send(f_window(sid, n))
        elif ftype == RST_STREAM:
            code = struct.unpack(">I", payload[:4])[0] if len(payload) >= 4 else -1
            self.log("rst_in", sid=sid, code=code)
            st = self.streams.get(sid)
            if st and st.gen and not self.o.ignore_rst:
                st.gen = None
        elif ftype == GOAWAY:
            last, code = struct.unpack(">II", payload[:8])
            self.log("goaway_in", last=last & 0x7FFFFFFF, code=code,
                     debug=payload[8:200].decode("latin-1"))
        elif ftype == WINDOW_UPDATE:
            pass

    def on_headers(self, sid, flags, fields):
        h = {}
        for k, v in fields:
            h.setdefault(k.decode("latin-1"), v.decode("latin-1"))
        path = h.get(":path", "")
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        name = q.get("h2peer", [self.o.scenario])[0]
        arg = q.get("h2arg", [None])[0]
        if sid in self.streams:
            self.log("headers_in", sid=sid, end=bool(flags & FLAG_END_STREAM))
            return
        st = Stream(sid, h, name, arg)
        st.ended_in = bool(flags & FLAG_END_STREAM)
        self.streams[sid] = st
        self.max_sid = max(self.max_sid, sid)
        self.log("request", sid=sid, method=h.get(":method"), path=path,
                 authority=h.get(":authority"), scenario=name, arg=arg,
                 end=st.ended_in, id=q.get("id", [None])[0])
        fn = SCENARIOS.get(name)
        if not fn:
            self.log("unknown_scenario", sid=sid, scenario=name)
            fn = SCENARIOS["ok"]
        st.gen = fn(self, st)
        st.wake = 0.0

    # -- running scenarios
    def step_streams(self, now):
        for st in list(self.streams.values()):
            while st.gen and st.wake <= now:
                try:
                    act = next(st.gen)
                except StopIteration:
                    st.gen = None
                    break
                if isinstance(act, (bytes, bytearray)):
                    self.send(act)
                elif act[0] == SLEEP:
                    st.wake = now + act[1]
                elif act[0] == DRAIN:
                    # Back to the main loop (so the peer reads and answers
                    # meanwhile); wait while much is still unwritten.
                    self.flush()
                    st.wake = now + (0.005 if len(self.outbuf) > 256 * 1024 else 0)
                    break
                elif act[0] == STOP_READ:
                    self.reading = False
                    self.log("stop_reading", sid=st.sid)
                elif act[0] == FOREVER:
                    st.gen = None
        # forget finished streams so a long run does not grow
        if len(self.streams) > 4096:
            for sid in [s for s, st in self.streams.items() if not st.gen][:2048]:
                del self.streams[sid]

    def next_wake(self, now):
        w = [st.wake for st in self.streams.values() if st.gen]
        return max(0.0, min(w) - now) if w else 0.5

    def run_connection(self):
        deadline = self.t0 + self.o.max_time
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise Closed("max-time")
            self.step_streams(now)
            want_write = bool(self.outbuf)
            if want_write:
                self.flush()
                want_write = bool(self.outbuf)
            timeout = min(self.next_wake(time.monotonic()), max(0.0, deadline - now), 0.5)
            if want_write and len(self.outbuf) > 1024 * 1024:
                timeout = min(timeout, 0.01)
            r, w, _ = select.select([self.sock] if self.reading else [],
                                    [self.sock] if want_write else [], [], timeout)
            if r:
                self.read_some()
            if w:
                self.flush()
            if not self.reading:
                # A peer that does not read still notices a close: a
                # zero-length peek would block, so look for an error only.
                err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise Closed("socket error %d" % err)
                if self.o.keepalive_ping and now - getattr(self, "_last_ka", 0) > 0.5:
                    self._last_ka = now
                    self.send(f_ping(b"keepaliv", ack=True))

    def main(self):
        dials = 0
        while True:
            dials += 1
            try:
                self.connect()
                self.run_connection()
            except Closed as e:
                why = str(e)
                kw = {}
                if self.flood_start is not None:
                    kw["flood_s"] = round(time.monotonic() - self.flood_start, 3)
                self.log("closed", by="self" if why == "max-time" else "router",
                         why=why, **kw)
                if why == "max-time":
                    break
            except (ConnectionRefusedError, socket.timeout) as e:
                self.log("connect_failed", why=str(e))
                time.sleep(0.2)
            finally:
                if self.sock:
                    self.sock.close()
                    self.sock = None
            if dials > self.o.redial or time.monotonic() - self.t0 >= self.o.max_time:
                break
            time.sleep(self.o.redial_pause)
        self.log("exit")

# -------------------------------------------------------------- scenarios
# Each is a generator: it yields bytes to send, (SLEEP, s), (DRAIN,),
# (STOP_READ,) or (FOREVER,).  `p` is the Peer, `st` the Stream.


SCENARIOS = {}
DESCR = {}


def scenario(name, descr):
    def reg(fn):
        SCENARIOS[name] = fn
        DESCR[name] = descr
        return fn
    return reg


def ok_body(st):
    return ("h2peer %d %s\n" % (st.sid, st.headers.get(":path", ""))).encode()


@scenario("ok", "200 with an exact content-length and a small body")
def sc_ok(p, st):
    body = ok_body(st)
    if st.headers.get(":method") == "HEAD":
        yield f_headers(st.sid, status_block(200, [("content-length", str(len(body)))]),
                        end_stream=True)
        return
    yield f_headers(st.sid, status_block(200, [("content-type", "text/plain"),
                                               ("content-length", str(len(body)))]))
    yield f_data(st.sid, body, end=True)
    p.log("sent", sid=st.sid, what="ok")


@scenario("hang", "accept the stream and never answer")
def sc_hang(p, st):
    yield (FOREVER,)


@scenario("cl0-split", "content-length 0, a pause, then DATA holding a whole "
          "HTTP/1.1 response with Set-Cookie pwn=1 and the marker")
def sc_cl0_split(p, st):
    yield f_headers(st.sid, status_block(200, [("content-length", "0"),
                                               ("content-type", "text/plain")]))
    yield (SLEEP, float(st.arg or 0.3))
    forged = (b"HTTP/1.1 200 OK\r\nSet-Cookie: pwn=1; Path=/\r\n"
              b"Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
              % (len(p.marker), p.marker))
    yield f_data(st.sid, forged, end=True)
    p.log("sent", sid=st.sid, what="cl0-split", extra=len(forged))


@scenario("cl-over", "content-length 10, then 10 bytes plus the marker in one DATA")
def sc_cl_over(p, st):
    yield f_headers(st.sid, status_block(200, [("content-length", "10")]))
    yield f_data(st.sid, b"0123456789" + p.marker, end=True)
    p.log("sent", sid=st.sid, what="cl-over")


@scenario("cl-over-late", "content-length 10, 10 bytes, a pause, then the marker")
def sc_cl_over_late(p, st):
    yield f_headers(st.sid, status_block(200, [("content-length", "10")]))
    yield f_data(st.sid, b"0123456789")
    yield (SLEEP, float(st.arg or 0.3))
    yield f_data(st.sid, p.marker, end=True)
    p.log("sent", sid=st.sid, what="cl-over-late")


@scenario("cl-under", "content-length 100, 5 bytes and END_STREAM")
def sc_cl_under(p, st):
    yield f_headers(st.sid, status_block(200, [("content-length", "100")]))
    yield f_data(st.sid, b"01234", end=True)
    p.log("sent", sid=st.sid, what="cl-under")


def bad_cl(values):
    def sc(p, st):
        yield f_headers(st.sid, status_block(200, [("content-length", v) for v in values]))
        yield f_data(st.sid, b"01234" + p.marker, end=True)
        p.log("sent", sid=st.sid, what="content-length %r" % (values,))
    return sc


for _n, _v in (("cl-list", ["5, 5"]), ("cl-junk", ["5x"]), ("cl-neg", ["-1"]),
               ("cl-plus", ["+5"]), ("cl-two", ["5", "10"]), ("cl-space", [" 5"]),
               ("cl-huge", ["99999999999999999999999"])):
    scenario(_n, "content-length %s, then 5 bytes plus the marker" % _v)(bad_cl(_v))


@scenario("interim-flood", "h2arg (default 10000) 103 responses, then 200")
def sc_interim_flood(p, st):
    n = int(st.arg or 10000)
    blk = f_headers(st.sid, status_block(103, [("link", "</style.css>; rel=preload")]))
    for i in range(n):
        yield blk
        if i % 200 == 199:
            yield (DRAIN,)
    p.log("sent", sid=st.sid, what="interim x%d" % n)
    yield from sc_ok(p, st)


@scenario("trailer-flood", "200, 5 bytes, then h2arg (default 10000) header "
          "blocks without END_STREAM carrying the marker, then END_STREAM")
def sc_trailer_flood(p, st):
    n = int(st.arg or 10000)
    yield f_headers(st.sid, status_block(200))
    yield f_data(st.sid, b"01234")
    blk = f_headers(st.sid, block([("x-trailer", p.marker.decode())]))
    for i in range(n):
        yield blk
        if i % 200 == 199:
            yield (DRAIN,)
    yield f_data(st.sid, b"", end=True)
    p.log("sent", sid=st.sid, what="trailer blocks x%d" % n)


@scenario("trailers-noend", "200, a body, trailers without END_STREAM, then nothing")
def sc_trailers_noend(p, st):
    yield f_headers(st.sid, status_block(200, [("content-type", "text/plain")]))
    yield f_data(st.sid, b"hello\n")
    yield f_headers(st.sid, block([("x-trailer", "1")]))
    p.log("sent", sid=st.sid, what="trailers-noend")
    yield (FOREVER,)


@scenario("cont-flood", "HEADERS without END_HEADERS, then CONTINUATION frames "
          "of header fields forever (or h2arg seconds)")
def sc_cont_flood(p, st):
    yield f_headers(st.sid, status_block(200), end_headers=False)
    field = hp_lit("x-c", "c" * 1000)
    chunk = frame(CONTINUATION, 0, st.sid, field * 16)
    p.flood_start = time.monotonic()
    p.log("flood", kind="continuation", sid=st.sid)
    limit = float(st.arg or 60)
    sent = 0
    while time.monotonic() - p.flood_start < limit:
        for _ in range(16):
            yield chunk
        sent += 16
        yield (DRAIN,)
    p.log("sent", sid=st.sid, what="continuation x%d" % sent)


@scenario("big-headers", "one header block of about h2arg KiB (default 100) "
          "in HEADERS + CONTINUATION")
def sc_big_headers(p, st):
    kib = int(st.arg or 100)
    fields = [("x-big-%d" % i, "b" * 1000) for i in range(kib)]
    yield f_headers(st.sid, status_block(200, fields + [("content-length", "5")]))
    yield f_data(st.sid, b"01234", end=True)
    p.log("sent", sid=st.sid, what="big-headers %d KiB" % kib)


@scenario("headers-budget", "h2arg (default 3) 103 blocks of 30 KiB each, then 200: "
          "each block fits, their sum does not")
def sc_headers_budget(p, st):
    n = int(st.arg or 3)
    fields = [("x-h-%d" % i, "h" * 1000) for i in range(30)]
    for _ in range(n):
        yield f_headers(st.sid, status_block(103, fields))
    yield from sc_ok(p, st)


@scenario("hpack-bomb", "insert a 4 KiB field into the dynamic table, then h2arg "
          "(default 20) 103 blocks each referencing it 4000 times, then 200")
def sc_hpack_bomb(p, st):
    n = int(st.arg or 20)
    name = "x-bomb"
    value = "B" * (4096 - 32 - len(name))      # one entry fills the 4 KiB table
    yield f_headers(st.sid, status_block(103) + hp_lit_incr(name, value))
    ref = hp_indexed(62) * 4000                # 62: newest dynamic entry
    for _ in range(n):
        yield f_headers(st.sid, status_block(103) + ref)
        yield (DRAIN,)
    p.log("sent", sid=st.sid, what="hpack-bomb x%d" % n)
    yield from sc_ok(p, st)


def bad_head(descr, blk_fn, name):
    def sc(p, st):
        yield f_headers(st.sid, blk_fn(p))
        yield f_data(st.sid, b"01234" + p.marker, end=True)
        p.log("sent", sid=st.sid, what=name)
    scenario(name, descr)(sc)


bad_head("two :status fields", lambda p: hp_lit(":status", "200")
         + hp_lit(":status", "204"), "dup-status")
bad_head("an unknown pseudo-header :foo", lambda p: status_block(200, [(":foo", "bar")]),
         "pseudo-unknown")
bad_head("a regular field before :status",
         lambda p: hp_lit("x-first", "1") + hp_lit(":status", "200"), "pseudo-after")
bad_head("connection: x", lambda p: status_block(200, [("connection", "x")]),
         "conn-connection")
bad_head("keep-alive: timeout=5", lambda p: status_block(200, [("keep-alive", "timeout=5")]),
         "conn-keepalive")
bad_head("upgrade: h2c", lambda p: status_block(200, [("upgrade", "h2c")]), "conn-upgrade")
bad_head("te: gzip", lambda p: status_block(200, [("te", "gzip")]), "conn-te")
bad_head("connection naming x-secret, and x-secret carrying the marker",
         lambda p: status_block(200, [("connection", "x-secret"),
                                      ("x-secret", p.marker.decode())]), "conn-named")
bad_head("uppercase field name", lambda p: status_block(200, [("X-Upper", "1")]),
         "upper-name")
bad_head("CR LF inside a field value",
         lambda p: status_block(200, [("x-split", "a\r\nSet-Cookie: pwn=1")]), "crlf-value")


@scenario("transfer-encoding", "transfer-encoding: chunked and a DATA that ends the "
          "chunked body early and carries a forged response with the marker")
def sc_te(p, st):
    yield f_headers(st.sid, status_block(200, [("transfer-encoding", "chunked")]))
    forged = (b"5\r\nhello\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nSet-Cookie: pwn=1\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(p.marker), p.marker))
    yield f_data(st.sid, forged, end=True)
    p.log("sent", sid=st.sid, what="transfer-encoding")


@scenario("status-in-trailers", "200 with content-length 5, 5 bytes, then trailers "
          "holding :status and the marker, END_STREAM")
def sc_status_trailers(p, st):
    yield f_headers(st.sid, status_block(200, [("content-length", "5")]))
    yield f_data(st.sid, b"01234")
    yield f_headers(st.sid, block([(":status", "200"), ("x-t", p.marker.decode())]),
                    end_stream=True)
    p.log("sent", sid=st.sid, what="status-in-trailers")


@scenario("second-final", "200 with content-length 5 and 5 bytes, then a second "
          "final HEADERS 200 with the marker")
def sc_second_final(p, st):
    yield f_headers(st.sid, status_block(200, [("content-length", "5")]))
    yield f_data(st.sid, b"01234")
    yield f_headers(st.sid, status_block(200, [("x-m", p.marker.decode())]))
    yield f_data(st.sid, p.marker, end=True)
    p.log("sent", sid=st.sid, what="second-final")


@scenario("data-first", "DATA with the marker before HEADERS, then a normal answer")
def sc_data_first(p, st):
    yield f_data(st.sid, p.marker)
    yield from sc_ok(p, st)


@scenario("head-data", "200 with content-length and a body (the marker) even "
          "for HEAD, as mod_http2 does for some CGI responses")
def sc_head_data(p, st):
    yield f_headers(st.sid, status_block(200, [("content-type", "text/plain"),
                                               ("content-length", str(len(p.marker)))]))
    yield f_data(st.sid, p.marker, end=True)
    p.log("sent", sid=st.sid, what="head-data")


@scenario("early-response", "answer 200 at once with END_STREAM and never give "
          "the request body any window")
def sc_early_response(p, st):
    st.no_window = True
    body = b"early\n"
    yield f_headers(st.sid, status_block(200, [("content-length", str(len(body)))]))
    yield f_data(st.sid, body, end=True)
    p.log("sent", sid=st.sid, what="early-response")


@scenario("refuse", "RST_STREAM(REFUSED_STREAM) at once (RFC 9113 8.7)")
def sc_refuse(p, st):
    yield f_rst(st.sid, REFUSED_STREAM)
    p.log("sent", sid=st.sid, what="refused")


@scenario("rst", "RST_STREAM(h2arg, default INTERNAL_ERROR) at once")
def sc_rst(p, st):
    yield f_rst(st.sid, int(st.arg or INTERNAL_ERROR))
    p.log("sent", sid=st.sid, what="rst")


@scenario("503", "503 at once, with a small body")
def sc_503(p, st):
    body = b"busy\n"
    yield f_headers(st.sid, status_block(503, [("content-length", str(len(body)))]))
    yield f_data(st.sid, body, end=True)
    p.log("sent", sid=st.sid, what="503")


def flood(kind, make, descr, prelude=None):
    def sc(p, st):
        stop_read = st.arg == "noread"
        if prelude:
            yield prelude(p, st)
        if stop_read:
            yield (STOP_READ,)
        p.flood_start = time.monotonic()
        p.log("flood", kind=kind, sid=st.sid, read=not stop_read)
        i = 0
        while time.monotonic() - p.flood_start < p.o.flood_time:
            for _ in range(256):
                yield make(p, st, i)
                i += 1
            yield (DRAIN,)
        p.log("sent", sid=st.sid, what="%s x%d" % (kind, i))
    scenario(kind, descr + " (h2arg=noread: and stop reading) for --flood-time s")(sc)


flood("settings-flood", lambda p, st, i: f_settings([(3, 100)]), "SETTINGS frames")
flood("ping-flood", lambda p, st, i: f_ping(struct.pack(">Q", i)), "PING frames")
flood("priority-flood", lambda p, st, i: f_priority(1 + 2 * (i % 50000), 0),
      "PRIORITY frames on idle streams")
flood("wu-flood", lambda p, st, i: f_window(st.sid if i % 2 else 0, 1),
      "WINDOW_UPDATE frames of increment 1")
flood("empty-data-flood", lambda p, st, i: frame(DATA, 0, st.sid, b""),
      "200, then empty DATA frames on the stream",
      prelude=lambda p, st: f_headers(st.sid, status_block(200)))
flood("rst-flood", lambda p, st, i: f_rst(st.sid, CANCEL),
      "RST_STREAM(CANCEL) on the stream, again and again once it is closed")
flood("headers-flood", lambda p, st, i: f_headers(st.sid, status_block(200)),
      "the same 200 HEADERS (no END_STREAM) again and again")


def one_shot(name, make, descr):
    def sc(p, st):
        yield make(p, st)
        p.flood_start = time.monotonic()
        p.log("sent", sid=st.sid, what=name)
        yield (FOREVER,)
    scenario(name, descr)(sc)


one_shot("idle-data", lambda p, st: f_data(p.max_sid + 20, b"x"),
         "DATA on a stream id the router never opened")
one_shot("idle-headers", lambda p, st: f_headers(p.max_sid + 20, status_block(200),
                                                 end_stream=True),
         "HEADERS on an odd stream id the router never opened")
one_shot("push-headers", lambda p, st: f_headers(2, status_block(200), end_stream=True),
         "HEADERS on an even stream id (a push nobody promised)")
one_shot("push-promise", lambda p, st: frame(PUSH_PROMISE, FLAG_END_HEADERS, st.sid,
                                             struct.pack(">I", 2) + status_block(200)),
         "PUSH_PROMISE although the router sent ENABLE_PUSH 0")
one_shot("wu-overflow", lambda p, st: f_window(0, 0x7FFFFFFF) + f_window(0, 0x7FFFFFFF),
         "two WINDOW_UPDATE(2^31-1) on the connection: window over 2^31-1")
one_shot("wu-overflow-stream", lambda p, st: f_window(st.sid, 0x7FFFFFFF)
         + f_window(st.sid, 0x7FFFFFFF),
         "two WINDOW_UPDATE(2^31-1) on the stream: window over 2^31-1")
one_shot("wu-zero", lambda p, st: f_window(0, 0), "WINDOW_UPDATE with increment 0")
one_shot("bad-frame-size", lambda p, st: frame(PING, 0, 0, b"123"),
         "a PING of 3 bytes (FRAME_SIZE_ERROR)")


@scenario("goaway-garbage", "GOAWAY with a huge last-stream-id, an unknown code and "
          "1000 bytes of debug data, then a normal answer")
def sc_goaway_garbage(p, st):
    yield f_goaway(0x7FFFFFFF, 0xDEADBEEF, b"x" * 1000)
    p.log("sent", sid=st.sid, what="goaway-garbage")
    yield from sc_ok(p, st)


@scenario("closed-frames", "answer normally, then DATA, HEADERS and WINDOW_UPDATE "
          "on the closed stream")
def sc_closed_frames(p, st):
    yield from sc_ok(p, st)
    yield (SLEEP, 0.2)
    yield f_data(st.sid, p.marker)
    yield f_headers(st.sid, status_block(200, [("x-m", p.marker.decode())]), end_stream=True)
    yield f_window(st.sid, 1000)
    p.log("sent", sid=st.sid, what="closed-frames")


@scenario("stop-reading", "never read the socket again (TCP zero window); the "
          "stream is not answered; with --keepalive-ping the peer keeps sending "
          "PING ACKs so the router sees traffic")
def sc_stop_reading(p, st):
    yield (STOP_READ,)
    p.flood_start = time.monotonic()
    yield (FOREVER,)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, help="the router's plain tunnel port")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--scenario", default="ok", help="for requests without h2peer=")
    ap.add_argument("--marker", default="H2PEER-MARKER-7f3a", help="attacker bytes")
    ap.add_argument("--log", help="JSON lines log (default stdout)")
    ap.add_argument("--max-streams", type=int, default=100,
                    help="SETTINGS_MAX_CONCURRENT_STREAMS")
    ap.add_argument("--initial-window", type=int, help="SETTINGS_INITIAL_WINDOW_SIZE")
    ap.add_argument("--conn-window", type=int, default=0,
                    help="WINDOW_UPDATE on stream 0 right after SETTINGS")
    ap.add_argument("--no-settings-ack", action="store_true")
    ap.add_argument("--ignore-rst", action="store_true",
                    help="go on with a stream's scenario after the router reset it")
    ap.add_argument("--keepalive-ping", action="store_true",
                    help="while not reading, send a PING ACK every 0.5 s")
    ap.add_argument("--flood-time", type=float, default=15,
                    help="how long a flood lasts at most (seconds)")
    ap.add_argument("--max-time", type=float, default=60, help="exit after this")
    ap.add_argument("--redial", type=int, default=0,
                    help="dial again this many times after the router closes")
    ap.add_argument("--redial-pause", type=float, default=0.1)
    ap.add_argument("--list", action="store_true", help="list the scenarios")
    o = ap.parse_args()
    if o.list:
        for k in sorted(SCENARIOS):
            print("%-20s %s" % (k, DESCR[k]))
        return 0
    if not o.port:
        ap.error("--port is required")
    peer = Peer(o)
    try:
        peer.main()
    except Exception as e:      # log it where the test looks, then fail
        peer.log("error", why="%s: %s" % (type(e).__name__, e))
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
