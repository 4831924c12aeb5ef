// seedbackend behaves like a backend of the original Go PTTH proof of
// concept in plain mode, for mod_ptth's interoperability tests: it dials
// the router's tunnel port and serves HTTP/2 (server role, prior
// knowledge, no handshake) on the dialed connection, re-dialing when it
// closes.
//
//	GET /foo        -> "bar"
//	GET /host       -> the Host (:authority) the request arrived with
//	GET /sleep?s=N  -> sleeps N seconds, then "slept"
//	GET /wait?g=G&n=N&t=T -> waits until N requests of group G have
//	                   arrived (at most T seconds, default 30), then
//	                   "ok <arrived>" or "timeout <arrived>": a barrier,
//	                   so that a test sees N requests in flight at once
//	POST /sha       -> "sha256=<hex>\nlength=<n>\n" of the request body
//
// Build (GOPATH mode, Debian's golang.org/x/net):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o seedbackend seedbackend.go
//
// Licensed under the Apache License, Version 2.0.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// barrier counts the requests of each /wait group; done[g] is closed
// when the group is complete.
type barrier struct {
	mu      sync.Mutex
	arrived map[string]int
	done    map[string]chan struct{}
}

func (b *barrier) join(g string, n int) (int, chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done[g] == nil {
		b.done[g] = make(chan struct{})
	}
	b.arrived[g]++
	if b.arrived[g] == n {
		close(b.done[g])
	}
	return b.arrived[g], b.done[g]
}

func (b *barrier) count(g string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.arrived[g]
}

func handler() http.Handler {
	mux := http.NewServeMux()
	bar := &barrier{arrived: map[string]int{}, done: map[string]chan struct{}{}}
	mux.HandleFunc("/wait", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		g := q.Get("g")
		n, _ := strconv.Atoi(q.Get("n"))
		t, err := strconv.Atoi(q.Get("t"))
		if err != nil || t <= 0 || t > 120 {
			t = 30
		}
		_, done := bar.join(g, n)
		select {
		case <-done:
			fmt.Fprintf(w, "ok %d\n", bar.count(g))
		case <-time.After(time.Duration(t) * time.Second):
			fmt.Fprintf(w, "timeout %d\n", bar.count(g))
		}
	})
	mux.HandleFunc("/foo", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "bar")
	})
	mux.HandleFunc("/host", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Host)
	})
	mux.HandleFunc("/sleep", func(w http.ResponseWriter, r *http.Request) {
		s, _ := strconv.ParseFloat(r.URL.Query().Get("s"), 64)
		time.Sleep(time.Duration(s * float64(time.Second)))
		io.WriteString(w, "slept\n")
	})
	mux.HandleFunc("/sha", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "sha256=%s\nlength=%d\n", hex.EncodeToString(h.Sum(nil)), n)
	})
	return mux
}

func serve(addr string, id int, h http.Handler) {
	srv := &http2.Server{}
	for {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		log.Printf("tunnel %d: dialed %s, serving HTTP/2", id, addr)
		srv.ServeConn(conn, &http2.ServeConnOpts{Handler: h})
		conn.Close()
		log.Printf("tunnel %d: closed", id)
		time.Sleep(100 * time.Millisecond)
	}
}

func main() {
	addr := flag.String("connect", "127.0.0.1:8887", "router tunnel address to dial")
	n := flag.Int("n", 1, "number of tunnels")
	flag.Parse()
	log.SetOutput(os.Stdout)
	log.SetFlags(log.Lmicroseconds)
	h := handler()
	for i := 1; i < *n; i++ {
		go serve(*addr, i, h)
	}
	serve(*addr, *n, h)
}
