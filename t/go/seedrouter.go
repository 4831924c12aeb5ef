// seedrouter behaves like the router of the original Go PTTH proof of
// concept in plain mode, for mod_ptth's interoperability tests: backends
// dial its tunnel port, and it proxies user HTTP requests from its HTTP
// port to them as HTTP/2 streams, the router being the HTTP/2 client.
//
// Like the original, it writes nothing on an accepted tunnel until the
// first request that it proxies over it: the HTTP/2 connection preface is
// sent late.  Unlike the original it never "re-dials" onto a live
// connection: one http2.ClientConn per tunnel, StrictMaxConcurrentStreams,
// and a tunnel that cannot take new requests (GOAWAY, closed) is dropped.
//
// Build (GOPATH mode, Debian's golang.org/x/net):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o seedrouter seedrouter.go
//
// Licensed under the Apache License, Version 2.0.
package main

import (
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"sync"

	"golang.org/x/net/http2"
)

type tunnel struct {
	conn net.Conn
	once sync.Once
	cc   *http2.ClientConn
	err  error
}

// clientConn starts HTTP/2 on the tunnel the first time it is needed; this
// is when the preface goes out.
func (t *tunnel) clientConn() (*http2.ClientConn, error) {
	t.once.Do(func() {
		tr := &http2.Transport{AllowHTTP: true, StrictMaxConcurrentStreams: true}
		t.cc, t.err = tr.NewClientConn(t.conn)
		if t.err == nil {
			log.Printf("preface sent on %s", t.conn.RemoteAddr())
		}
	})
	return t.cc, t.err
}

type router struct {
	mu      sync.Mutex
	tunnels []*tunnel
}

func (r *router) add(t *tunnel) {
	r.mu.Lock()
	r.tunnels = append(r.tunnels, t)
	n := len(r.tunnels)
	r.mu.Unlock()
	log.Printf("tunnel added: %s (%d tunnels)", t.conn.RemoteAddr(), n)
}

func (r *router) remove(t *tunnel) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, x := range r.tunnels {
		if x == t {
			r.tunnels = append(r.tunnels[:i], r.tunnels[i+1:]...)
			log.Printf("tunnel removed: %s", t.conn.RemoteAddr())
			t.conn.Close()
			return
		}
	}
}

// pick returns the newest tunnel that can take a request.
func (r *router) pick() *tunnel {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.tunnels) - 1; i >= 0; i-- {
		t := r.tunnels[i]
		if t.cc != nil && !t.cc.CanTakeNewRequest() {
			r.tunnels = append(r.tunnels[:i], r.tunnels[i+1:]...)
			log.Printf("tunnel dropped (cannot take requests): %s", t.conn.RemoteAddr())
			continue
		}
		return t
	}
	return nil
}

// RoundTrip sends the request as a stream on a tunnel.
func (r *router) RoundTrip(req *http.Request) (*http.Response, error) {
	t := r.pick()
	if t == nil {
		return nil, errors.New("no tunnel")
	}
	cc, err := t.clientConn()
	if err != nil {
		r.remove(t)
		return nil, err
	}
	log.Printf("proxying %s %s to %s", req.Method, req.URL.Path, t.conn.RemoteAddr())
	resp, err := cc.RoundTrip(req)
	if err != nil && !cc.CanTakeNewRequest() {
		r.remove(t)
	}
	return resp, err
}

func main() {
	tunnelAddr := flag.String("tunnel", "127.0.0.1:8887", "address for tunnels (backends dial it)")
	httpAddr := flag.String("http", "127.0.0.1:8888", "address for user HTTP traffic")
	flag.Parse()
	log.SetOutput(os.Stdout)
	log.SetFlags(log.Lmicroseconds)

	r := &router{}
	ln, err := net.Listen("tcp", *tunnelAddr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening for tunnels on tcp://%s", *tunnelAddr)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				log.Fatal(err)
			}
			r.add(&tunnel{conn: c})
		}
	}()

	proxy := &httputil.ReverseProxy{
		// The user's Host is kept as the :authority; ReverseProxy adds
		// X-Forwarded-For with the user's address.
		Director: func(req *http.Request) {
			req.URL.Scheme = "http"
			req.URL.Host = req.Host
		},
		Transport:     r,
		FlushInterval: -1,
	}
	log.Printf("listening for HTTP on http://%s", *httpAddr)
	log.Fatal(http.ListenAndServe(*httpAddr, proxy))
}
