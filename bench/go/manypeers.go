// manypeers is the peer side of bench/scale.pl: one process that opens N
// plain-mode tunnels (the seed protocol of docs/protocol.md: dial, then
// serve HTTP/2 with prior knowledge, no handshake) to a router, each
// served by golang.org/x/net/http2's Server.ServeConn as
// t/go/seedbackend.go does, and optionally the same handler over HTTP/1.1
// on a port, so that the router's mod_proxy_http can be measured against
// the same application.
//
//	GET /slow?s=S  -> sleeps S seconds, then "slow\n"
//	GET /small     -> "ok\n"
//
// Four times a second (when something changed) it prints one line:
//
//	stat up=<tunnels open> dialed=<total> failed=<dial errors>
//	     closed=<tunnels ended> inflight=<requests> max=<most at once>
//	     served=<requests answered>
//
// SIGUSR1 resets max to the current inflight.
//
// Build (GOPATH mode, Debian's golang.org/x/net):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o manypeers manypeers.go
//
// Licensed under the Apache License, Version 2.0.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http2"
)

var (
	up, dialed, failed, closed atomic.Int64
	inflight, maxInflight      atomic.Int64
	served                     atomic.Int64
)

func track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		for {
			m := maxInflight.Load()
			if n <= m || maxInflight.CompareAndSwap(m, n) {
				break
			}
		}
		h.ServeHTTP(w, r)
		inflight.Add(-1)
		served.Add(1)
	})
}

func handler(maxSleep float64) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/small", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		s, err := strconv.ParseFloat(r.URL.Query().Get("s"), 64)
		if err != nil || s < 0 || s > maxSleep {
			http.Error(w, "s must be 0.."+strconv.FormatFloat(maxSleep, 'f', -1, 64),
				http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(time.Duration(s * float64(time.Second))):
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "slow\n")
	})
	return track(mux)
}

// tunnel dials the router and serves HTTP/2 on the connection until it
// ends; with redial it dials again (100 ms, doubling up to 2 s, after a
// failure).
func tunnel(addr string, srv *http2.Server, h http.Handler, redial bool,
	gate chan struct{}, wg *sync.WaitGroup) {
	first := true
	backoff := 100 * time.Millisecond
	for {
		if gate != nil {
			gate <- struct{}{}
		}
		conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if gate != nil {
			<-gate
		}
		if first {
			wg.Done()
			first = false
		}
		if err != nil {
			failed.Add(1)
			if !redial {
				return
			}
			time.Sleep(backoff)
			if backoff < 2*time.Second {
				backoff *= 2
			}
			continue
		}
		backoff = 100 * time.Millisecond
		dialed.Add(1)
		up.Add(1)
		srv.ServeConn(conn, &http2.ServeConnOpts{Handler: h})
		conn.Close()
		up.Add(-1)
		closed.Add(1)
		if !redial {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func stat() string {
	return fmt.Sprintf("stat up=%d dialed=%d failed=%d closed=%d inflight=%d max=%d served=%d",
		up.Load(), dialed.Load(), failed.Load(), closed.Load(), inflight.Load(),
		maxInflight.Load(), served.Load())
}

func main() {
	addr := flag.String("connect", "127.0.0.1:8887", "router tunnel address to dial")
	n := flag.Int("n", 1, "number of tunnels")
	httpAddr := flag.String("http", "", "also serve the handler over HTTP/1.1 here")
	conc := flag.Int("dial-concurrency", 100, "dials in progress at once (0: no limit)")
	streams := flag.Uint("max-streams", 250, "SETTINGS_MAX_CONCURRENT_STREAMS per tunnel")
	redial := flag.Bool("redial", false, "dial again when a tunnel ends")
	maxSleep := flag.Float64("max-sleep", 120, "largest s= accepted by /slow")
	flag.Parse()
	log.SetOutput(os.Stdout)
	log.SetFlags(log.Lmicroseconds)

	h := handler(*maxSleep)
	if *httpAddr != "" {
		ln, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			log.Fatal(err)
		}
		hs := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second,
			IdleTimeout: 300 * time.Second}
		go func() { log.Fatal(hs.Serve(ln)) }()
		log.Printf("serving HTTP/1.1 on %s", ln.Addr())
	}

	srv := &http2.Server{MaxConcurrentStreams: uint32(*streams)}
	var gate chan struct{}
	if *conc > 0 {
		gate = make(chan struct{}, *conc)
	}
	var wg sync.WaitGroup
	wg.Add(*n)
	start := time.Now()
	for i := 0; i < *n; i++ {
		go tunnel(*addr, srv, h, *redial, gate, &wg)
	}
	go func() {
		wg.Wait()
		log.Printf("dialed all %d in %.3f s: %s", *n, time.Since(start).Seconds(), stat())
	}()

	// SIGUSR1 starts a new "max" (most in flight at once) from now on.
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	tick := time.NewTicker(250 * time.Millisecond)
	last := ""
	for {
		select {
		case <-sig:
			log.Printf("stopping: %s", stat())
			os.Exit(0)
		case <-usr1:
			maxInflight.Store(inflight.Load())
			log.Printf("max reset: %s", stat())
		case <-tick.C:
			if s := stat(); s != last {
				log.Print(s)
				last = s
			}
		}
	}
}
