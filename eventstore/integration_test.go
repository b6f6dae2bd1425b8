package eventstore_test

// Integration tests: the real embedded server (server.Start on a temp dir),
// reached over real gRPC through the official client, exactly as in
// production.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"

	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/eventstore/server"
)

const waitTimeout = 20 * time.Second

// testLogWriter forwards log lines to t.Log while the test runs and drops
// them afterwards (background goroutines of the client may still log).
type testLogWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	w := &testLogWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	level := slog.LevelWarn
	if os.Getenv("EVENTSTORE_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// startServer starts an embedded server on dir at addr ("127.0.0.1:0" for a
// free port), retrying while a just-closed port is still taken. Closed at
// cleanup (Close is idempotent).
func startServer(t *testing.T, dir, addr string) *server.Server {
	t.Helper()
	return startServerConfig(t, server.Config{Dir: dir}, addr)
}

func startServerConfig(t *testing.T, cfg server.Config, addr string) *server.Server {
	t.Helper()
	cfg.Logger = testLogger(t).With("component", "server")
	dir := cfg.Dir
	deadline := time.Now().Add(10 * time.Second)
	for {
		srv, err := server.Start(cfg, addr)
		if err == nil {
			t.Cleanup(func() { _ = srv.Close() })
			return srv
		}
		if time.Now().After(deadline) {
			t.Fatalf("server.Start(%s, %s): %v", dir, addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func openStore(t *testing.T, url string) *eventstore.Store {
	t.Helper()
	s, err := eventstore.Open(testContext(t), eventstore.Config{URL: url, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Open(%s): %v", url, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Store.Close: %v", err)
		}
	})
	return s
}

func newStream(prefix string) string { return prefix + uuid.NewString() }

func pending(t *testing.T, c *eventstore.Codec, v any, meta eventstore.Metadata) eventstore.Pending {
	t.Helper()
	p, err := c.NewPending(v, meta)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOpenEmbedded(t *testing.T) {
	ctx := testContext(t)
	dataDir := t.TempDir()
	s, err := eventstore.Open(ctx, eventstore.Config{DataDir: dataDir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if s.Client() == nil {
		t.Fatal("Client() = nil")
	}
	stream := newStream("customer-")
	ev := eventstore.Pending{Type: "CustomerRegistered", Data: []byte(`{"name":"Acme"}`), Metadata: eventstore.Metadata{CommandID: "cmd-1", Actor: "u"}}
	res, err := s.Append(ctx, stream, eventstore.NoStream, []eventstore.Pending{ev})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("Ping after Close: %v, want ErrClosed", err)
	}
	if fi, err := os.Stat(filepath.Join(dataDir, "eventstore")); err != nil || !fi.IsDir() {
		t.Fatalf("embedded data not under DataDir/eventstore: %v", err)
	}

	// The data survives a restart of the embedded store.
	s2, err := eventstore.Open(ctx, eventstore.Config{DataDir: dataDir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	events, last, err := s2.LoadStream(ctx, stream)
	if err != nil || last != 0 || len(events) != 1 {
		t.Fatalf("after reopen: %d events, last %d, err %v", len(events), last, err)
	}
	if events[0].Position != res.Position || events[0].EventID != eventstore.EventID("cmd-1", 0) {
		t.Errorf("reopened event %+v, append result %+v", events[0], res)
	}
}

func TestAppendLoadRoundTrip(t *testing.T) {
	ctx := testContext(t)
	srv := startServer(t, t.TempDir(), "127.0.0.1:0")
	s := openStore(t, srv.ConnectionString())
	codec := newTestCodec(t)
	stream := newStream("customer-")
	before := time.Now().Add(-time.Second)

	occurred := time.Date(2024, 3, 1, 16, 30, 0, 250000000, time.FixedZone("CET", 3600))
	meta := eventstore.Metadata{CorrelationID: "corr-1", CausationID: "req-1", Actor: "user-7", CommandID: "cmd-1", OccurredAt: occurred}
	values := []any{
		customerRegistered{CustomerID: "c1", Name: "Acme", Region: "north", Level: 2},
		interactionLogged{CustomerID: "c1", Summary: "kick-off", Channel: "visit"},
	}
	var batch []eventstore.Pending
	for _, v := range values {
		batch = append(batch, pending(t, codec, v, meta))
	}
	res, err := s.Append(ctx, stream, eventstore.NoStream, batch)
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != 1 || res.Position == 0 {
		t.Fatalf("AppendResult = %+v", res)
	}

	events, last, err := s.LoadStream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	if last != 1 || len(events) != 2 {
		t.Fatalf("LoadStream: %d events, last %d", len(events), last)
	}
	prev := eventstore.GenesisHash
	var want []eventstore.Recorded
	for i, p := range batch {
		m := p.Metadata
		m.OccurredAt = occurred.UTC()
		m.PrevHash = prev
		m.Hash = events[i].Metadata.Hash
		prev = m.Hash
		want = append(want, eventstore.Recorded{
			Stream: stream, Revision: uint64(i), EventID: eventstore.EventID("cmd-1", i),
			Type: p.Type, JSON: true, Data: p.Data, Metadata: m,
		})
	}
	opts := cmp.Options{
		cmpopts.IgnoreFields(eventstore.Recorded{}, "Position", "RecordedAt", "RawMetadata"),
		cmpopts.EquateEmpty(),
	}
	if diff := cmp.Diff(want, events, opts); diff != "" {
		t.Errorf("loaded events (-want +got):\n%s", diff)
	}
	if events[1].Position != res.Position || events[0].Position >= events[1].Position {
		t.Errorf("positions %d, %d; append said %d", events[0].Position, events[1].Position, res.Position)
	}
	for _, e := range events {
		if e.RecordedAt.Before(before) || e.RecordedAt.After(time.Now().Add(time.Second)) {
			t.Errorf("RecordedAt %v not the write time", e.RecordedAt)
		}
		if !strings.Contains(string(e.RawMetadata), `"occurredAt":"2024-03-01T15:30:00.25Z"`) {
			t.Errorf("stored metadata %s", e.RawMetadata)
		}
	}
	for i, e := range events {
		got, err := codec.DecodeRecorded(e)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(values[i], got); diff != "" {
			t.Errorf("decoded event %d (-want +got):\n%s", i, diff)
		}
	}

	// Next append looks the previous hash up; the one after gets it from
	// the caller (as a command handler that just loaded the stream would).
	lvl := pending(t, codec, &customerLevelChanged{CustomerID: "c1", OldLevel: 2, NewLevel: 4},
		eventstore.Metadata{CommandID: "cmd-2", Actor: "user-7"})
	if res, err = s.Append(ctx, stream, 1, []eventstore.Pending{lvl}); err != nil || res.Revision != 2 {
		t.Fatalf("append at 1: %+v %v", res, err)
	}
	events, last, err = s.LoadStream(ctx, stream)
	if err != nil || last != 2 {
		t.Fatal(last, err)
	}
	lvl2 := pending(t, codec, &customerLevelChanged{CustomerID: "c1", OldLevel: 4, NewLevel: 5},
		eventstore.Metadata{CommandID: "cmd-3", Actor: "user-8", PrevHash: events[2].Metadata.Hash})
	if res, err = s.Append(ctx, stream, last, []eventstore.Pending{lvl2}); err != nil || res.Revision != 3 {
		t.Fatalf("append at 2: %+v %v", res, err)
	}
	events, _, err = s.LoadStream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	if bad, err := eventstore.VerifyChain(events); bad != -1 || err != nil {
		t.Fatalf("VerifyChain = %d, %v", bad, err)
	}
	if events[2].Metadata.OccurredAt.IsZero() || events[2].Metadata.SchemaVersion != 1 {
		t.Errorf("defaults not applied: %+v", events[2].Metadata)
	}

	// A missing stream loads as empty.
	none, last, err := s.LoadStream(ctx, newStream("customer-"))
	if err != nil || last != -1 || len(none) != 0 {
		t.Fatalf("missing stream: %v %d %v", none, last, err)
	}
}

func TestLoadStreamPages(t *testing.T) {
	ctx := testContext(t)
	srv := startServer(t, t.TempDir(), "127.0.0.1:0")
	s := openStore(t, srv.ConnectionString())
	eventstore.SetPageSize(s, 4)
	stream := newStream("order-")
	expected := int64(-1)
	for i := 0; i < 3; i++ {
		var batch []eventstore.Pending
		for j := 0; j < 5; j++ {
			batch = append(batch, eventstore.Pending{Type: "Step", Data: []byte(fmt.Sprintf(`{"n":%d}`, i*5+j)),
				Metadata: eventstore.Metadata{CommandID: fmt.Sprintf("cmd-%d", i)}})
		}
		res, err := s.Append(ctx, stream, expected, batch)
		if err != nil {
			t.Fatal(err)
		}
		expected = int64(res.Revision)
	}
	for _, size := range []uint64{4, 5, 15, 16} {
		eventstore.SetPageSize(s, size)
		events, last, err := s.LoadStream(ctx, stream)
		if err != nil || last != 14 || len(events) != 15 {
			t.Fatalf("page %d: %d events, last %d, err %v", size, len(events), last, err)
		}
		for i, e := range events {
			if e.Revision != uint64(i) || string(e.Data) != fmt.Sprintf(`{"n":%d}`, i) {
				t.Fatalf("page %d: event %d = rev %d %s", size, i, e.Revision, e.Data)
			}
		}
		if bad, err := eventstore.VerifyChain(events); bad != -1 {
			t.Fatalf("VerifyChain: %d %v", bad, err)
		}
	}
}

func TestAppendConflict(t *testing.T) {
	ctx := testContext(t)
	srv := startServer(t, t.TempDir(), "127.0.0.1:0")
	s := openStore(t, srv.ConnectionString())
	stream := newStream("customer-")
	ev := func(cmd string, prevHash string) []eventstore.Pending {
		return []eventstore.Pending{{Type: "Thing", Data: []byte(`{}`), Metadata: eventstore.Metadata{CommandID: cmd, PrevHash: prevHash}}}
	}
	for i := 0; i < 3; i++ {
		if _, err := s.Append(ctx, stream, int64(i)-1, ev(fmt.Sprintf("setup-%d", i), "")); err != nil {
			t.Fatal(err)
		}
	}
	events, _, err := s.LoadStream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		stream   string
		expected int64
		events   []eventstore.Pending
		current  int64
	}{
		{"new stream expected but exists", stream, -1, ev("c1", ""), 2},
		{"stale revision (server decides)", stream, 0, ev("c2", ""), 2},
		{"stale revision with caller's prevHash", stream, 1, ev("c3", events[1].Metadata.Hash), 2},
		{"revision ahead (found while looking up the prevHash)", stream, 5, ev("c4", ""), 2},
		{"revision ahead with caller's prevHash (server decides)", stream, 5, ev("c5", events[2].Metadata.Hash), 2},
		{"missing stream", newStream("customer-"), 3, ev("c6", ""), -1},
		{"missing stream, caller's prevHash", newStream("customer-"), 0, ev("c7", eventstore.GenesisHash), -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Append(ctx, tt.stream, tt.expected, tt.events)
			var ce *eventstore.ConflictError
			if !errors.Is(err, eventstore.ErrConflict) || !errors.Is(err, eventstore.ErrWrongExpectedVersion) || !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *ConflictError", err)
			}
			if ce.Current != tt.current || ce.Expected != tt.expected || ce.Stream != tt.stream {
				t.Errorf("ConflictError = %+v, want current %d", ce, tt.current)
			}
		})
	}
	if _, last, _ := s.LoadStream(ctx, stream); last != 2 {
		t.Errorf("conflicting appends wrote events: last = %d", last)
	}
}

func TestAppendIdempotentRetry(t *testing.T) {
	ctx := testContext(t)
	srv := startServer(t, t.TempDir(), "127.0.0.1:0")
	s := openStore(t, srv.ConnectionString())
	stream := newStream("service-")
	cmd := func(key string, occurred time.Time, n int) []eventstore.Pending {
		var out []eventstore.Pending
		for i := 0; i < n; i++ {
			out = append(out, eventstore.Pending{Type: "ServiceStep", Data: []byte(fmt.Sprintf(`{"i":%d}`, i)), IdempotencyKey: key,
				Metadata: eventstore.Metadata{CommandID: "cmd-" + key, OccurredAt: occurred}})
		}
		return out
	}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	first, err := s.Append(ctx, stream, eventstore.NoStream, cmd("key-A", t0, 2))
	if err != nil {
		t.Fatal(err)
	}
	// Same key, same expected revision: deduplicated, even with a
	// different business time (a retried command re-reads the clock).
	again, err := s.Append(ctx, stream, eventstore.NoStream, cmd("key-A", t0.Add(time.Hour), 2))
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if again != first {
		t.Fatalf("retry result %+v, first %+v", again, first)
	}
	second, err := s.Append(ctx, stream, 1, cmd("key-B", t0, 1))
	if err != nil {
		t.Fatal(err)
	}
	// Retries after the stream moved on still return the original result.
	for _, tc := range []struct {
		expected int64
		key      string
		n        int
		want     eventstore.AppendResult
	}{
		{eventstore.NoStream, "key-A", 2, first},
		{1, "key-B", 1, second},
	} {
		res, err := s.Append(ctx, stream, tc.expected, cmd(tc.key, t0, tc.n))
		if err != nil {
			t.Fatalf("late retry of %s: %v", tc.key, err)
		}
		if res != tc.want {
			t.Errorf("late retry of %s = %+v, want the original %+v", tc.key, res, tc.want)
		}
	}
	events, last, err := s.LoadStream(ctx, stream)
	if err != nil || last != 2 || len(events) != 3 {
		t.Fatalf("stream has %d events (last %d, err %v), want 3", len(events), last, err)
	}
	if bad, err := eventstore.VerifyChain(events); bad != -1 {
		t.Fatalf("VerifyChain: %d %v", bad, err)
	}
	// A different command with a stale expected revision is a conflict.
	if _, err := s.Append(ctx, stream, eventstore.NoStream, cmd("key-C", t0, 1)); !errors.Is(err, eventstore.ErrConflict) {
		t.Fatalf("other command at a stale revision: %v", err)
	}
}

func TestStreamDeleted(t *testing.T) {
	ctx := testContext(t)
	srv := startServer(t, t.TempDir(), "127.0.0.1:0")
	s := openStore(t, srv.ConnectionString())
	ev := []eventstore.Pending{{Type: "Thing", Data: []byte(`{}`), IdempotencyKey: "k"}}

	hard := newStream("customer-")
	if _, err := s.Append(ctx, hard, eventstore.NoStream, ev); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client().TombstoneStream(ctx, hard, esdb.TombstoneStreamOptions{ExpectedRevision: esdb.Any{}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LoadStream(ctx, hard); !errors.Is(err, eventstore.ErrStreamDeleted) {
		t.Errorf("LoadStream of a tombstoned stream: %v", err)
	}
	for _, exp := range []int64{eventstore.NoStream, 0} {
		if _, err := s.Append(ctx, hard, exp, ev); !errors.Is(err, eventstore.ErrStreamDeleted) {
			t.Errorf("Append(expected %d) to a tombstoned stream: %v", exp, err)
		}
	}

	soft := newStream("customer-")
	if _, err := s.Append(ctx, soft, eventstore.NoStream, ev); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client().DeleteStream(ctx, soft, esdb.DeleteStreamOptions{ExpectedRevision: esdb.Revision(0)}); err != nil {
		t.Fatal(err)
	}
	if events, last, err := s.LoadStream(ctx, soft); err != nil || last != -1 || len(events) != 0 {
		t.Errorf("LoadStream of a soft-deleted stream: %d events, last %d, err %v", len(events), last, err)
	}
}

func TestReadAllAndHead(t *testing.T) {
	ctx := testContext(t)
	srv := startServer(t, t.TempDir(), "127.0.0.1:0")
	s := openStore(t, srv.ConnectionString())
	if head, err := s.Head(ctx); err != nil || !head.IsZero() {
		t.Fatalf("empty store head = %v, %v", head, err)
	}
	var positions []uint64
	for i := 0; i < 7; i++ {
		res, err := s.Append(ctx, fmt.Sprintf("order-%d", i%3), map[bool]int64{true: -1, false: int64(i/3 - 1)}[i < 3],
			[]eventstore.Pending{{Type: "OrderStep", Data: []byte(fmt.Sprintf(`{"i":%d}`, i)), IdempotencyKey: fmt.Sprint(i)}})
		if err != nil {
			t.Fatal(err)
		}
		positions = append(positions, res.Position)
	}
	head, err := s.Head(ctx)
	if err != nil || head != eventstore.CheckpointAt(positions[6]) {
		t.Fatalf("Head = %v, %v; want %d", head, err, positions[6])
	}
	var got []uint64
	after := eventstore.Checkpoint{}
	for {
		page, err := s.ReadAll(ctx, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 3 {
			t.Fatalf("page of %d", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			if !e.IsSystem() {
				got = append(got, e.Position)
			}
		}
		after = page[len(page)-1].Checkpoint()
	}
	if diff := cmp.Diff(positions, got); diff != "" {
		t.Errorf("ReadAll positions (-want +got):\n%s", diff)
	}
	if _, err := s.ReadAll(ctx, after, 0); !errors.Is(err, eventstore.ErrInvalidArgument) {
		t.Errorf("limit 0: %v", err)
	}
}

// recorder is a subscription handler that keeps what it receives.
type recorder struct {
	mu         sync.Mutex
	deliveries []eventstore.Delivery
	changed    chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 1)} }

func (r *recorder) handle(_ context.Context, d eventstore.Delivery) error {
	r.mu.Lock()
	r.deliveries = append(r.deliveries, d)
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
	return nil
}

func (r *recorder) snapshot() []eventstore.Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]eventstore.Delivery(nil), r.deliveries...)
}

func (r *recorder) events() []eventstore.Recorded {
	var out []eventstore.Recorded
	for _, d := range r.snapshot() {
		if d.Kind == eventstore.DeliveryEvent {
			out = append(out, d.Event)
		}
	}
	return out
}

// waitFor waits until cond holds for the recorder's deliveries.
func (r *recorder) waitFor(t *testing.T, what string, cond func([]eventstore.Delivery) bool) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		if cond(r.snapshot()) {
			return
		}
		select {
		case <-r.changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s; got %d deliveries", what, len(r.snapshot()))
		}
	}
}

func countEvents(n int) func([]eventstore.Delivery) bool {
	return func(ds []eventstore.Delivery) bool {
		c := 0
		for _, d := range ds {
			if d.Kind == eventstore.DeliveryEvent {
				c++
			}
		}
		return c >= n
	}
}

// checkDeliveries asserts the invariants every subscription must keep:
// checkpoints never go backwards, event positions strictly increase.
func checkDeliveries(t *testing.T, ds []eventstore.Delivery) {
	t.Helper()
	var last eventstore.Checkpoint
	var lastEvent uint64
	for i, d := range ds {
		if d.Checkpoint.Commit < last.Commit {
			t.Errorf("delivery %d (%v) checkpoint %v before %v", i, d.Kind, d.Checkpoint, last)
		}
		if d.Kind == eventstore.DeliveryCheckpoint && d.Checkpoint.Commit == last.Commit {
			t.Errorf("delivery %d: checkpoint %v does not move forward", i, d.Checkpoint)
		}
		if d.Kind == eventstore.DeliveryEvent {
			if d.Event.Position <= lastEvent {
				t.Errorf("delivery %d: event position %d after %d", i, d.Event.Position, lastEvent)
			}
			if d.Checkpoint != d.Event.Checkpoint() {
				t.Errorf("delivery %d: checkpoint %v for event at %d", i, d.Checkpoint, d.Event.Position)
			}
			lastEvent = d.Event.Position
		}
		last = d.Checkpoint
	}
}

func TestSubscribeAllFilteredWithCheckpoints(t *testing.T) {
	ctx := testContext(t)
	srv := startServer(t, t.TempDir(), "127.0.0.1:0")
	s := openStore(t, srv.ConnectionString())
	appendOne := func(stream string, expected int64, key string) eventstore.AppendResult {
		t.Helper()
		res, err := s.Append(ctx, stream, expected, []eventstore.Pending{{Type: "Thing", Data: []byte(`{}`), IdempotencyKey: key}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// History: 3 matching events among 60 others.
	var wantPositions []uint64
	noise := newStream("noise-")
	for i := 0; i < 60; i++ {
		appendOne(noise, int64(i)-1, fmt.Sprint("noise", i))
		if i%20 == 10 {
			wantPositions = append(wantPositions, appendOne(newStream("sub-a-"), eventstore.NoStream, fmt.Sprint("a", i)).Position)
		}
	}

	rec := newRecorder()
	subCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- s.SubscribeAll(subCtx, eventstore.Checkpoint{}, &eventstore.Filter{StreamPrefixes: []string{"sub-a-"}, MaxSearchWindow: 4}, rec.handle)
	}()
	rec.waitFor(t, "catch-up", func(ds []eventstore.Delivery) bool {
		return len(ds) > 0 && ds[len(ds)-1].Kind == eventstore.DeliveryCaughtUp
	})
	// Live: 2 matching events among 30 others.
	for i := 60; i < 90; i++ {
		appendOne(noise, int64(i)-1, fmt.Sprint("noise", i))
		if i%15 == 0 {
			wantPositions = append(wantPositions, appendOne(newStream("sub-a-"), eventstore.NoStream, fmt.Sprint("a", i)).Position)
		}
	}
	head, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "live events", countEvents(len(wantPositions)))
	rec.waitFor(t, "a checkpoint near the head", func(ds []eventstore.Delivery) bool {
		return ds[len(ds)-1].Checkpoint.Commit+8 >= head.Commit
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("SubscribeAll returned %v, want context.Canceled", err)
	}

	ds := rec.snapshot()
	checkDeliveries(t, ds)
	var got []uint64
	checkpoints := 0
	for _, d := range ds {
		switch d.Kind {
		case eventstore.DeliveryEvent:
			got = append(got, d.Event.Position)
			if !strings.HasPrefix(d.Event.Stream, "sub-a-") {
				t.Errorf("filter let through %s", d.Event.Stream)
			}
		case eventstore.DeliveryCheckpoint:
			checkpoints++
		}
	}
	if diff := cmp.Diff(wantPositions, got); diff != "" {
		t.Errorf("event positions (-want +got):\n%s", diff)
	}
	if checkpoints < 5 {
		t.Errorf("only %d checkpoints for ~95 scanned events with a window of 4", checkpoints)
	}
}

func TestSubscribeAllDefaultFilterAndResumePoint(t *testing.T) {
	ctx := testContext(t)
	srv := startServer(t, t.TempDir(), "127.0.0.1:0")
	s := openStore(t, srv.ConnectionString())
	stream := newStream("customer-")
	var results []eventstore.AppendResult
	for i := 0; i < 4; i++ {
		res, err := s.Append(ctx, stream, int64(i)-1, []eventstore.Pending{{Type: "Thing", Data: []byte(`{}`), IdempotencyKey: fmt.Sprint(i)}})
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, res)
		if i == 1 {
			// A $metadata event in $all, which the default filter excludes.
			var md esdb.StreamMetadata
			md.SetMaxAge(time.Hour)
			if _, err := s.Client().SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, md); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Start after the second event: only the third and fourth arrive.
	rec := newRecorder()
	subCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.SubscribeAll(subCtx, eventstore.CheckpointAt(results[1].Position), nil, rec.handle) }()
	rec.waitFor(t, "caught up", func(ds []eventstore.Delivery) bool {
		for _, d := range ds {
			if d.Kind == eventstore.DeliveryCaughtUp {
				return true
			}
		}
		return false
	})
	time.Sleep(200 * time.Millisecond)
	cancel()
	<-done
	var got []uint64
	for _, e := range rec.events() {
		if strings.HasPrefix(e.Type, "$") {
			t.Errorf("system event %s delivered", e.Type)
		}
		got = append(got, e.Position)
	}
	if diff := cmp.Diff([]uint64{results[2].Position, results[3].Position}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	checkDeliveries(t, rec.snapshot())
}

func TestSubscribeAllHandlerErrorStops(t *testing.T) {
	ctx := testContext(t)
	srv := startServer(t, t.TempDir(), "127.0.0.1:0")
	s := openStore(t, srv.ConnectionString())
	if _, err := s.Append(ctx, newStream("x-"), eventstore.NoStream, []eventstore.Pending{{Type: "Thing", Data: []byte(`{}`), IdempotencyKey: "k"}}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := s.SubscribeAll(ctx, eventstore.Checkpoint{}, nil, func(_ context.Context, d eventstore.Delivery) error {
		if d.Kind == eventstore.DeliveryEvent {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("SubscribeAll = %v, want the handler's error", err)
	}
}

// appendWithRetry appends one event, retrying transient failures with the
// same arguments (the same key makes the retry idempotent).
func appendWithRetry(t *testing.T, s *eventstore.Store, stream string, expected int64, key string) eventstore.AppendResult {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := s.Append(ctx, stream, expected, []eventstore.Pending{{Type: "Thing", Data: []byte(`{"k":"` + key + `"}`), IdempotencyKey: key}})
		cancel()
		if err == nil {
			return res
		}
		if !errors.Is(err, eventstore.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) || time.Now().After(deadline) {
			t.Fatalf("append %s: %v", key, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestSubscribeAllSurvivesServerRestart(t *testing.T) {
	for _, downtime := range []time.Duration{0, 1500 * time.Millisecond} {
		t.Run(fmt.Sprintf("down %v", downtime), func(t *testing.T) {
			dir := t.TempDir()
			srv := startServer(t, dir, "127.0.0.1:0")
			addr := srv.Addr()
			s := openStore(t, srv.ConnectionString())

			rec := newRecorder()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- s.SubscribeAll(ctx, eventstore.Checkpoint{}, nil, rec.handle) }()

			streams := []string{newStream("customer-"), newStream("order-"), newStream("service-")}
			next := map[string]int64{}
			var want []uuid.UUID
			write := func(i int) {
				st := streams[i%len(streams)]
				key := fmt.Sprint("cmd-", i)
				appendWithRetry(t, s, st, next[st]-1, key)
				next[st]++
				want = append(want, eventstore.EventID(key, 0))
			}
			for i := 0; i < 15; i++ {
				write(i)
			}
			rec.waitFor(t, "events before the restart", countEvents(15))

			if err := srv.Close(); err != nil {
				t.Fatalf("server Close: %v", err)
			}
			time.Sleep(downtime)
			srv2 := startServer(t, dir, addr)
			if srv2.Addr() != addr {
				t.Fatalf("restarted on %s, want %s", srv2.Addr(), addr)
			}
			for i := 15; i < 30; i++ {
				write(i)
			}
			rec.waitFor(t, "events after the restart", countEvents(30))
			time.Sleep(300 * time.Millisecond) // nothing more may arrive

			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("SubscribeAll returned %v", err)
			}
			var got []uuid.UUID
			for _, e := range rec.events() {
				got = append(got, e.EventID)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("delivered events differ from the appended ones (gaps or duplicates) (-want +got):\n%s", diff)
			}
			checkDeliveries(t, rec.snapshot())
			if err := s.Ping(context.Background()); err != nil {
				t.Errorf("Ping after restart: %v", err)
			}
		})
	}
}

func TestUnavailableAndRecovery(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, dir, "127.0.0.1:0")
	addr := srv.Addr()
	s := openStore(t, srv.ConnectionString())
	ctx := testContext(t)
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	// Down: every call fails fast with ErrUnavailable (never hangs, never
	// kills the Store for good).
	for i := 0; i < 4; i++ {
		start := time.Now()
		err := s.Ping(ctx)
		if !errors.Is(err, eventstore.ErrUnavailable) {
			t.Fatalf("Ping %d while down: %v, want ErrUnavailable", i, err)
		}
		if d := time.Since(start); d > 8*time.Second {
			t.Errorf("Ping %d took %v", i, d)
		}
		_, err = s.Append(ctx, "customer-x", eventstore.NoStream, []eventstore.Pending{{Type: "T", Data: []byte(`{}`), IdempotencyKey: "k"}})
		if !errors.Is(err, eventstore.ErrUnavailable) {
			t.Fatalf("Append %d while down: %v, want ErrUnavailable", i, err)
		}
	}
	startServer(t, dir, addr)
	deadline := time.Now().Add(waitTimeout)
	for {
		err := s.Ping(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ping never recovered: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestCloseStopsSubscription(t *testing.T) {
	srv := startServer(t, t.TempDir(), "127.0.0.1:0")
	s, err := eventstore.Open(testContext(t), eventstore.Config{URL: srv.ConnectionString(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	done := make(chan error, 1)
	go func() { done <- s.SubscribeAll(context.Background(), eventstore.Checkpoint{}, nil, rec.handle) }()
	rec.waitFor(t, "caught up", func(ds []eventstore.Delivery) bool { return len(ds) > 0 })
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, eventstore.ErrClosed) {
			t.Fatalf("SubscribeAll after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("SubscribeAll still running after Close")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %v", d)
	}
	if _, err := s.Append(context.Background(), "x", -1, []eventstore.Pending{{Type: "T", Data: []byte(`{}`), IdempotencyKey: "k"}}); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("Append after Close: %v", err)
	}
}

func TestAppendTooLarge(t *testing.T) {
	ctx := testContext(t)
	srv := startServerConfig(t, server.Config{Dir: t.TempDir(), MaxAppendSize: 1000}, "127.0.0.1:0")
	s := openStore(t, srv.ConnectionString())
	big := []byte(`{"blob":"` + strings.Repeat("x", 2000) + `"}`)
	_, err := s.Append(ctx, newStream("customer-"), eventstore.NoStream, []eventstore.Pending{{Type: "Big", Data: big, IdempotencyKey: "k"}})
	if !errors.Is(err, eventstore.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}
