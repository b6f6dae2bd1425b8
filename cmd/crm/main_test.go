package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

// The subprocess tests build the real binary once per test run (with -race
// when the tests run with -race) and drive it like an operator would.

var (
	binDir   string
	binOnce  sync.Once
	binPath  string
	binError error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "crm-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// crmBinary builds ./cmd/crm once and returns the path of the binary.
func crmBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the crm binary")
	}
	binOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			binError = err
			return
		}
		binPath = filepath.Join(binDir, "crm")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command(goTool, append(args, ".")...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			binError = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binError != nil {
		t.Fatal(binError)
	}
	return binPath
}

// cleanEnv is the test process' environment without the variables crm reads.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "CRM_") || k == "EVENTSTORE_URL" || k == "REDIS_URL" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// proc is a running crm subprocess.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
	err  error // valid after done is closed
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(crmBinary(t), args...)
	cmd.Env = env
	p := &proc{t: t, cmd: cmd, log: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout = p.log
	cmd.Stderr = p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("crm %s output:\n%s", strings.Join(args, " "), p.log.String())
		}
	})
	return p
}

// stop sends SIGTERM and requires a clean exit (code 0) within 10 s.
func (p *proc) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("SIGTERM: %v", err)
	}
	// The contract: exit within the shutdown timeout (a store that went away
	// may hold the client's close for up to its own close timeout, 10 s).
	limit := defaultShutdownTimeout + 5*time.Second
	select {
	case <-p.done:
	case <-time.After(limit):
		p.t.Fatalf("no exit within %s of SIGTERM", limit)
	}
	if p.err != nil {
		p.t.Fatalf("exit after SIGTERM: %v, want exit code 0", p.err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitStatus polls url until it answers want, the process exits, or 60 s pass.
func (p *proc) waitStatus(url string, want int) []byte {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	last := "no answer"
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			p.t.Fatalf("crm exited (%v) while waiting for %s", p.err, url)
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == want {
				return body
			}
			last = fmt.Sprintf("%s: %s", resp.Status, body)
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("%s never answered %d; last: %s", url, want, last)
	return nil
}

// waitLog waits for a JSON log line with the given msg and returns it.
func (p *proc) waitLog(msg string) map[string]any {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(p.log.String()))
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
				return m
			}
		}
		select {
		case <-p.done:
			p.t.Fatalf("crm exited (%v) before logging %q", p.err, msg)
		case <-time.After(50 * time.Millisecond):
		}
	}
	p.t.Fatalf("no log line %q within 60 s", msg)
	return nil
}

func TestServeSubprocess(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	// Twice on the same data directory: the second start must reopen cleanly.
	for round := 1; round <= 2; round++ {
		addr := freeAddr(t)
		p := start(t, cleanEnv("CRM_LOG_LEVEL=debug"), "serve", "--data", data, "--http", addr)
		p.waitStatus("http://"+addr+"/healthz", http.StatusOK)
		body := p.waitStatus("http://"+addr+"/readyz", http.StatusOK)
		var ready struct {
			Status string        `json:"status"`
			Checks []checkResult `json:"checks"`
		}
		if err := json.Unmarshal(body, &ready); err != nil || ready.Status != "ready" {
			t.Fatalf("round %d: /readyz body %s (%v)", round, body, err)
		}

		hc := exec.Command(crmBinary(t), "healthcheck")
		hc.Env = cleanEnv("CRM_HTTP_ADDR=" + addr)
		if out, err := hc.CombinedOutput(); err != nil {
			t.Errorf("round %d: crm healthcheck: %v\n%s", round, err, out)
		}

		p.stop()
		if !strings.Contains(p.log.String(), `"msg":"stopped"`) {
			t.Errorf("round %d: no clean-stop log line:\n%s", round, p.log)
		}
		if _, err := os.Stat(filepath.Join(data, "eventstore")); err != nil {
			t.Errorf("round %d: embedded store directory: %v", round, err)
		}
	}
}

func TestEventStoreServeSubprocess(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Round 1 appends, round 2 (after a restart) reads the event back.
	var appended esdb.EventData
	for round := 1; round <= 2; round++ {
		listen := freeAddr(t)
		p := start(t, cleanEnv(), "eventstore", "serve", "--data", data, "--listen", listen)
		line := p.waitLog("event store listening")
		cs, _ := line["connection_string"].(string)
		if want := "esdb://" + listen + "?tls=false"; cs != want {
			t.Fatalf("logged connection string %q, want %q", cs, want)
		}
		client := newESDBClient(t, cs)

		const stream = "test-eventstore-serve"
		if round == 1 {
			appended = esdb.EventData{
				ContentType: esdb.ContentTypeJson,
				EventType:   "Pinged",
				Data:        []byte(`{"n":1}`),
				Metadata:    []byte(`{"actor":"test"}`),
			}
			res, err := client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, appended)
			if err != nil {
				t.Fatalf("append: %v", err)
			}
			if res.NextExpectedVersion != 0 {
				t.Errorf("next expected version %d, want 0", res.NextExpectedVersion)
			}
		}
		events := readAll(ctx, t, client, stream)
		if len(events) != 1 {
			t.Fatalf("round %d: read %d events, want 1", round, len(events))
		}
		ev := events[0].Event
		if ev.EventType != appended.EventType || string(ev.Data) != string(appended.Data) ||
			string(ev.UserMetadata) != string(appended.Metadata) || ev.EventNumber != 0 || ev.StreamID != stream {
			t.Errorf("round %d: read back %s #%d %q %s %s", round, ev.StreamID, ev.EventNumber, ev.EventType, ev.Data, ev.UserMetadata)
		}
		if err := client.Close(); err != nil {
			t.Logf("client close: %v", err)
		}
		p.stop()
	}
}

// TestServeWithExternalEventStore runs crm serve against a standalone
// "crm eventstore serve" through EVENTSTORE_URL, and checks that /readyz
// turns into a 503 problem when that store goes away.
func TestServeWithExternalEventStore(t *testing.T) {
	t.Parallel()
	listen := freeAddr(t)
	es := start(t, cleanEnv(), "eventstore", "serve", "--data", t.TempDir(), "--listen", listen)
	es.waitLog("event store listening")

	addr := freeAddr(t)
	api := start(t, cleanEnv("EVENTSTORE_URL=esdb://"+listen+"?tls=false", "CRM_LOG_LEVEL=debug"),
		"serve", "--data", t.TempDir(), "--http", addr)
	api.waitStatus("http://"+addr+"/readyz", http.StatusOK)
	if line := api.waitLog("opening event store"); line["mode"] != "external" {
		t.Errorf("store mode logged as %v, want external", line["mode"])
	}

	es.stop()
	body := api.waitStatus("http://"+addr+"/readyz", http.StatusServiceUnavailable)
	var p problem
	if err := json.Unmarshal(body, &p); err != nil || p.Status != http.StatusServiceUnavailable || len(p.Checks) == 0 || p.Checks[0].Name != "eventstore" || p.Checks[0].Status != "failed" {
		t.Errorf("503 body %s (%v)", body, err)
	}
	api.stop()
}

// TestServeRejectsBadEventStoreURL checks the real process: a bad
// EVENTSTORE_URL is named on stderr and the exit code is 2.
func TestServeRejectsBadEventStoreURL(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(crmBinary(t), "serve", "--data", t.TempDir(), "--http", "127.0.0.1:0")
	cmd.Env = cleanEnv("EVENTSTORE_URL=https://admin:s3cret@kurrentdb:2113")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitUsage {
		t.Fatalf("exit: %v, want exit code %d\n%s", err, exitUsage, out)
	}
	if !bytes.Contains(out, []byte("EVENTSTORE_URL is not a valid KurrentDB connection string")) || bytes.Contains(out, []byte("s3cret")) {
		t.Errorf("output:\n%s", out)
	}
}

func newESDBClient(t *testing.T, connectionString string) *esdb.Client {
	t.Helper()
	conf, err := esdb.ParseConnectionString(connectionString)
	if err != nil {
		t.Fatal(err)
	}
	conf.Logger = esdb.NoopLogging()
	client, err := esdb.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

func readAll(ctx context.Context, t *testing.T, client *esdb.Client, stream string) []*esdb.ResolvedEvent {
	t.Helper()
	rs, err := client.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Forwards, From: esdb.Start{}}, 100)
	if err != nil {
		t.Fatalf("read %s: %v", stream, err)
	}
	defer rs.Close()
	var events []*esdb.ResolvedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return events
		}
		if err != nil {
			t.Fatalf("read %s: %v", stream, err)
		}
		events = append(events, ev)
	}
}
