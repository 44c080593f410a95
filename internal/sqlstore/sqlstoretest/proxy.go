package sqlstoretest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy is a TCP proxy in front of the test Postgres server that a test
// can silence: while silent, it keeps every connection open (and accepts
// new ones) but passes no byte either way, like a database server that
// hangs. It stops when the test ends.
type Proxy struct {
	// URL is pgURL with its host replaced by the proxy's.
	URL string

	silent atomic.Bool
	mu     sync.Mutex
	wake   chan struct{}
}

// NewProxy starts a Proxy in front of pgURL's host.
func NewProxy(t testing.TB, pgURL string) *Proxy {
	t.Helper()
	u, err := url.Parse(pgURL)
	if err != nil {
		t.Fatal(err)
	}
	target := u.Host
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{wake: make(chan struct{})}
	u.Host = ln.Addr().String()
	p.URL = u.String()
	var conns sync.WaitGroup
	t.Cleanup(func() {
		_ = ln.Close()
		p.Speak()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer conns.Done()
				p.serve(c, target)
			}()
		}
	}()
	return p
}

// Silence makes the proxy pass nothing until Speak.
func (p *Proxy) Silence() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.silent.Load() {
		p.silent.Store(true)
		p.wake = make(chan struct{})
	}
}

// Speak lets bytes through again.
func (p *Proxy) Speak() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.silent.Load() {
		p.silent.Store(false)
		close(p.wake)
	}
}

// waitSpeaking blocks while the proxy is silent.
func (p *Proxy) waitSpeaking() {
	p.mu.Lock()
	wake, silent := p.wake, p.silent.Load()
	p.mu.Unlock()
	if silent {
		<-wake
	}
}

func (p *Proxy) serve(client net.Conn, target string) {
	defer client.Close()
	p.waitSpeaking()
	server, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer server.Close()
	done := make(chan struct{}, 2)
	pump := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				p.waitSpeaking()
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}
	go pump(server, client)
	go pump(client, server)
	<-done
	_ = io.Closer(client).Close()
	_ = server.Close()
	<-done
}
