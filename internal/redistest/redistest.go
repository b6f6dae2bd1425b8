// Package redistest starts real redis-server processes for tests: each on
// a free loopback port with its own temporary data directory and no
// persistence, stopped (SHUTDOWN NOSAVE, then kill) when the test ends.
// Tests are skipped, with a message saying so, only when the redis-server
// binary is not installed.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is one running redis-server.
type Server struct {
	t      testing.TB
	bin    string
	dir    string
	port   int
	cmd    *exec.Cmd
	done   chan struct{}
	Client *redis.Client // connected to the server; survives Restart
}

// Start runs a redis-server for t and returns it once it answers PING.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed (apt-get install redis-server); skipping a test that needs a real Redis")
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir()}
	s.port = freePort(t)
	s.start()
	s.Client = redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	t.Cleanup(func() {
		_ = s.Client.Close()
		s.stop()
	})
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL is the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// NewClient returns a new client of database db, closed at cleanup.
func (s *Server) NewClient(db int) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), DB: db})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// FlushAll empties every database.
func (s *Server) FlushAll() {
	s.t.Helper()
	if err := s.Client.FlushAll(context.Background()).Err(); err != nil {
		s.t.Fatalf("redistest: FLUSHALL: %v", err)
	}
}

// Restart stops the server (all data is lost: there is no persistence) and
// starts it again on the same port.
func (s *Server) Restart() {
	s.t.Helper()
	s.stop()
	s.start()
}

// Kill stops the server with SIGKILL and does not restart it.
func (s *Server) Kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

func (s *Server) start() {
	s.t.Helper()
	logFile := filepath.Join(s.dir, "redis.log")
	cmd := exec.Command(s.bin,
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--appendonly", "no", "--logfile", logFile,
		"--protected-mode", "no")
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("redistest: start redis-server: %v", err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.done) }()

	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		select {
		case <-s.done:
			b, _ := os.ReadFile(logFile)
			s.t.Fatalf("redistest: redis-server exited at start: %s", b)
		default:
		}
		if time.Now().After(deadline) {
			s.stop()
			s.t.Fatalf("redistest: redis-server on %s did not answer PING within 10s: %v", s.Addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *Server) stop() {
	if s.cmd == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = c.Do(ctx, "SHUTDOWN", "NOSAVE").Err()
	cancel()
	_ = c.Close()
	select {
	case <-s.done:
	case <-time.After(3 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// String describes the server for test logs.
func (s *Server) String() string { return fmt.Sprintf("redis-server %s (dir %s)", s.Addr(), s.dir) }
