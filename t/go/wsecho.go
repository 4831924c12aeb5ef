// wsecho is the WebSocket application and the WebSocket client of
// t/47-websocket.t.
//
// Server (the application behind a backend httpd's ws:// ProxyPass):
//
//	wsecho -listen 127.0.0.1:PORT
//
// On every WebSocket connection the client speaks first: its first
// message (any) is answered with one text message
// "hello host=<Host> xff=<X-Forwarded-For> protocol=<chosen subprotocol>",
// then everything it sends is echoed -- except under a path ending in
// "/close", where the application closes the WebSocket (close frame,
// then TCP close) right after the greeting.  A Close from the client is
// answered with a Close (RFC 6455 5.5.1) before the TCP close.  (Client first: httpd 2.4's tunnel
// for a request that came over HTTP/2 can hold an application's first
// bytes when they arrive in one read with its 101, until the client
// sends something; see README, "WebSocket".)  The first subprotocol the client
// offers is chosen.  GET /stats (plain HTTP) answers
// "open=<connections now> served=<connections so far>".
//
// Client (speaks HTTP/1.1 + RFC 6455 to the router):
//
//	wsecho -connect 127.0.0.1:PORT -host a.example -path /ws/echo \
//	       [-protocol chat] [-sizes 1,1000,300000] [-clients N] [-idle 2s]
//	       [-expect-close]
//
// Each of N clients connects, says hello, reads the greeting, sends one binary
// message per size (random bytes), and checks that exactly those bytes
// come back; with -idle it then waits that long and echoes once more.
// With -expect-close each client only waits, after the greeting, for the
// application to close the connection.
// It prints the first greeting and "ok clients=N bytes=B seconds=S", or
// "FAIL: ..." and exits 1.
//
// Build (GOPATH mode, Debian's golang.org/x/net):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o wsecho wsecho.go
//
// Licensed under the Apache License, Version 2.0.
package main

import (
	"bytes"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/websocket"
)

var open, served int64

func serve(addr string) {
	ws := websocket.Server{
		Handshake: func(cfg *websocket.Config, req *http.Request) error {
			if len(cfg.Protocol) > 0 {
				cfg.Protocol = cfg.Protocol[:1]
			}
			return nil
		},
		Handler: func(c *websocket.Conn) {
			atomic.AddInt64(&open, 1)
			atomic.AddInt64(&served, 1)
			defer atomic.AddInt64(&open, -1)
			req := c.Request()
			proto := ""
			if p := c.Config().Protocol; len(p) > 0 {
				proto = p[0]
			}
			var first string
			if err := websocket.Message.Receive(c, &first); err != nil {
				return
			}
			hello := fmt.Sprintf("hello host=%s xff=%s protocol=%s", req.Host,
				req.Header.Get("X-Forwarded-For"), proto)
			if err := websocket.Message.Send(c, hello); err != nil {
				return
			}
			if strings.HasSuffix(req.URL.Path, "/close") {
				c.Close() // a close frame (RFC 6455 5.5.1), then the TCP close
				return
			}
			c.PayloadType = websocket.BinaryFrame
			io.Copy(c, c)
			// The client closed (or went away): answer its Close with
			// ours, as RFC 6455 5.5.1 asks, then close the connection.
			c.Close()
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "open=%d served=%d\n", atomic.LoadInt64(&open),
			atomic.LoadInt64(&served))
	})
	mux.Handle("/", ws)
	log.Fatal(http.ListenAndServe(addr, mux))
}

func client(id int, addr, host, path, protocol string, sizes []int,
	idle time.Duration, expectClose bool) (string, int, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return "", 0, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	cfg, err := websocket.NewConfig("ws://"+host+path, "http://"+host)
	if err != nil {
		return "", 0, err
	}
	if protocol != "" {
		cfg.Protocol = []string{protocol}
	}
	ws, err := websocket.NewClient(cfg, conn)
	if err != nil {
		return "", 0, fmt.Errorf("client %d: handshake: %v", id, err)
	}
	var hello string
	if err := websocket.Message.Send(ws, "hello?"); err != nil {
		return "", 0, fmt.Errorf("client %d: first message: %v", id, err)
	}
	if err := websocket.Message.Receive(ws, &hello); err != nil {
		return "", 0, fmt.Errorf("client %d: greeting: %v", id, err)
	}
	if expectClose {
		var more string
		err := websocket.Message.Receive(ws, &more)
		if err == nil {
			return hello, 0, fmt.Errorf("client %d: a message after the greeting, not a close", id)
		}
		if err != io.EOF {
			return hello, 0, fmt.Errorf("client %d: waiting for the close: %v", id, err)
		}
		return hello, 0, nil
	}
	ws.PayloadType = websocket.BinaryFrame
	total := 0
	echo := func(n int) error {
		msg := make([]byte, n)
		rand.Read(msg)
		// Write from another goroutine: a big message must not wait for
		// its own echo to be read.
		werr := make(chan error, 1)
		go func() { _, err := ws.Write(msg); werr <- err }()
		got := make([]byte, 0, n)
		buf := make([]byte, 64*1024)
		for len(got) < n {
			k, err := ws.Read(buf)
			if err != nil {
				return fmt.Errorf("client %d: read after %d of %d bytes: %v",
					id, len(got), n, err)
			}
			got = append(got, buf[:k]...)
		}
		if err := <-werr; err != nil {
			return fmt.Errorf("client %d: write: %v", id, err)
		}
		if !bytes.Equal(got, msg) {
			return fmt.Errorf("client %d: echo of %d bytes differs", id, n)
		}
		total += n
		return nil
	}
	for _, n := range sizes {
		if err := echo(n); err != nil {
			return hello, total, err
		}
	}
	if idle > 0 {
		time.Sleep(idle)
		if err := echo(100); err != nil {
			return hello, total, fmt.Errorf("after %v idle: %v", idle, err)
		}
	}
	ws.Close()
	return hello, total, nil
}

func main() {
	listen := flag.String("listen", "", "serve the echo application here")
	connect := flag.String("connect", "", "router address to connect to")
	host := flag.String("host", "a.example", "Host of the upgrade request")
	path := flag.String("path", "/ws/echo", "path of the upgrade request")
	protocol := flag.String("protocol", "", "subprotocol to offer")
	sizesArg := flag.String("sizes", "1,1000,100000", "message sizes")
	clients := flag.Int("clients", 1, "clients at once")
	idle := flag.Duration("idle", 0, "idle time before a last echo")
	expectClose := flag.Bool("expect-close", false, "wait for the application to close")
	flag.Parse()

	if *listen != "" {
		serve(*listen)
		return
	}
	var sizes []int
	for _, s := range strings.Split(*sizesArg, ",") {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			fmt.Println("FAIL: bad -sizes")
			os.Exit(2)
		}
		sizes = append(sizes, n)
	}
	t0 := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	var hello string
	total := 0
	for i := 0; i < *clients; i++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			h, n, err := client(id, *connect, *host, *path, *protocol, sizes, *idle,
				*expectClose)
			mu.Lock()
			defer mu.Unlock()
			total += n
			if hello == "" {
				hello = h
			}
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}(i)
	}
	wg.Wait()
	fmt.Println(hello)
	if firstErr != nil {
		fmt.Println("FAIL:", firstErr)
		os.Exit(1)
	}
	fmt.Printf("ok clients=%d bytes=%d seconds=%.2f\n", *clients, total,
		time.Since(t0).Seconds())
}
