package projections

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/crm-es/crm/internal/redistest"
)

// cutProxy forwards TCP connections to a Redis server. Armed, it holds the
// first client write that contains marker (lower case), and on the test's
// word sends only the part before the marked command's last transaction
// step (EXEC, or the marked command itself when the write has no EXEC),
// then closes the connection to the server: a projector process dying, or
// its network failing, in the middle of sending a commit. With pass set it
// sends the held write whole instead: a commit delayed after its guard
// reads.
type cutProxy struct {
	ln      net.Listener
	marker  atomic.Pointer[[]byte]
	armed   atomic.Bool
	pass    atomic.Bool   // hold the marked write, then send it whole (no cut)
	hit     chan struct{} // proxy → test: a marked write is held
	cut     chan struct{} // test → proxy: send the part, close the server side
	sent    chan struct{} // proxy → test: done
	release chan struct{} // test → proxy: close the client side too
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, hit: make(chan struct{}), cut: make(chan struct{}), sent: make(chan struct{}), release: make(chan struct{})}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			var holding atomic.Bool // a cut connection's client side stays open until released
			wg.Go(func() {
				_, _ = io.Copy(c, s)
				if !holding.Load() {
					c.Close()
				}
			})
			wg.Go(func() { p.forward(c, s, &holding); s.Close() })
		}
	})
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

var execCmd = []byte("*1\r\n$4\r\nexec\r\n")

func (p *cutProxy) forward(c, s net.Conn, holding *atomic.Bool) {
	buf := make([]byte, 1<<20)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			m := p.marker.Load()
			if m != nil && p.armed.Load() {
				// Command names are case-insensitive (go-redis sends them
				// in lower case); the marker and EXEC are given in lower case.
				lower := bytes.ToLower(chunk)
				if i := bytes.Index(lower, *m); i >= 0 && p.armed.CompareAndSwap(true, false) {
					p.hit <- struct{}{}
					<-p.cut
					if p.pass.Load() {
						// Held only: now sent whole.
						if _, werr := s.Write(chunk); werr != nil {
							return
						}
						p.sent <- struct{}{}
						continue
					}
					end := bytes.Index(lower, execCmd)
					if end < 0 {
						end = bytes.LastIndexByte(chunk[:i], '*') // the start of the marked command
					}
					holding.Store(true)
					_, _ = s.Write(chunk[:end])
					s.Close()
					p.sent <- struct{}{}
					<-p.release
					c.Close()
					return
				}
			}
			if _, werr := s.Write(chunk); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// proxied is a counter projection whose runtime reaches Redis through a
// cutProxy armed on its commits (the SET of its checkpoint), built over
// the events appended to stream "a" first.
type proxied struct {
	e     *env
	px    *cutProxy
	rt    *Runtime
	cpKey string
	gen   string
}

func startProxied(t *testing.T, pass bool, first int) *proxied {
	t.Helper()
	e := newEnv(t)
	px := startCutProxy(t, e.redis.Addr())
	px.pass.Store(pass)
	rdb := redis.NewClient(&redis.Options{Addr: px.addr()})
	t.Cleanup(func() { rdb.Close() })
	rt, _, _ := e.start([]Projection{newCounter()}, rtOpts{rdb: rdb})
	for i := range first {
		e.append("a", ping{N: i})
	}
	waitFor(t, 10*time.Second, "first build", func() bool { return caughtUp(t, rt, "counter", e.last) })
	gen, err := e.redis.Client.Get(context.Background(), AliasKey("counter")).Result()
	if err != nil {
		t.Fatal(err)
	}
	p := &proxied{e: e, px: px, rt: rt, gen: gen, cpKey: genMetaKey("counter", gen, "checkpoint")}
	marker := []byte("set\r\n$" + strconv.Itoa(len(p.cpKey)) + "\r\n" + p.cpKey + "\r\n")
	px.marker.Store(&marker)
	return p
}

// state is the served generation's dump and its checkpoint, read directly.
func (p *proxied) state(t *testing.T) map[string]string {
	t.Helper()
	rdb := p.e.redis.Client
	d := redistest.Dump(t, rdb, GenerationPrefix("counter", p.gen))
	cp, err := rdb.Get(context.Background(), p.cpKey).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
	d["(checkpoint)"] = cp
	return d
}

// held waits until the proxy holds a commit write.
func (p *proxied) held(t *testing.T, what string) {
	t.Helper()
	select {
	case <-p.px.hit:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no commit write setting %s went through the proxy", what, p.cpKey)
	}
}

// TestRuntimeCommitCutMidTransaction: a commit whose sending stops part of
// the way (after its writes are queued, before EXEC) leaves Redis exactly
// as it was: no read-model key and no checkpoint changes. The commit is
// then retried on a new connection and lands whole.
func TestRuntimeCommitCutMidTransaction(t *testing.T) {
	p := startProxied(t, false, 5)
	na, nb := 5, 0
	for round := range 3 {
		p.px.armed.Store(true)
		p.e.append("a", ping{N: 100 + round})
		p.e.append("b", ping{N: 200 + round})
		na, nb = na+1, nb+1
		p.held(t, fmt.Sprintf("round %d", round))
		before := p.state(t)
		p.px.cut <- struct{}{}
		<-p.px.sent
		time.Sleep(100 * time.Millisecond) // Redis reads what it was sent and sees the connection close
		after := p.state(t)
		p.px.release <- struct{}{}
		if diff := cmp.Diff(before, after); diff != "" {
			t.Fatalf("round %d: a commit cut before EXEC changed Redis (-before +after):\n%s", round, diff)
		}
		want := map[string]string{"n:a": "string:" + strconv.Itoa(na), "n:b": "string:" + strconv.Itoa(nb)}
		waitFor(t, 10*time.Second, "the retried commit", func() bool {
			d := p.state(t)
			return d["n:a"] == want["n:a"] && d["n:b"] == want["n:b"]
		})
	}
}

// TestRuntimeCommitFencedWhileInFlight: another process takes the lease
// (the epoch rises) after a commit has read its guards and before its
// transaction reaches Redis. The watched epoch makes EXEC write nothing;
// the projector, fenced, takes the lease back and commits the same events
// under the new epoch.
func TestRuntimeCommitFencedWhileInFlight(t *testing.T) {
	p := startProxied(t, true, 1)
	p.px.armed.Store(true)
	p.e.append("a", ping{N: 1})
	p.held(t, "the commit")
	before := p.state(t)
	if err := p.e.redis.Client.Incr(context.Background(), metaKey("counter", "epoch")).Err(); err != nil { // another holder, meanwhile
		t.Fatal(err)
	}
	p.px.armed.Store(true) // hold the next commit too: nothing may land before the check
	p.px.cut <- struct{}{}
	<-p.px.sent
	p.held(t, "the fenced commit's retry")
	if diff := cmp.Diff(before, p.state(t)); diff != "" {
		t.Fatalf("a commit whose epoch changed in flight wrote (-before +after):\n%s", diff)
	}
	p.px.cut <- struct{}{}
	<-p.px.sent
	waitFor(t, 10*time.Second, "the events committed under the new epoch", func() bool {
		return p.state(t)["n:a"] == "string:2" && caughtUp(t, p.rt, "counter", p.e.last)
	})
}
