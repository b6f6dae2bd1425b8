package server_test

// Shared helpers for the black-box suites of the embedded KurrentDB-compatible
// server. Every test talks to a real server.Start(...) instance over gRPC with
// the official EventStore Go client (esdb v4.2.0), exactly like an application.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/crm-es/crm/eventstore/server"
)

const (
	// testTimeout bounds every test's client calls.
	testTimeout = 90 * time.Second
	// waitTimeout is how long we wait for a single subscription message.
	waitTimeout = 10 * time.Second
	// quietPeriod is how long we listen to make sure nothing more arrives.
	quietPeriod = 300 * time.Millisecond
	// closeTimeout bounds server.Close in cleanups.
	closeTimeout = 15 * time.Second
	// tombstoneRevision is EventNumber.DeletedStream (2^63-1).
	tombstoneRevision uint64 = 1<<63 - 1
)

// startServer starts a server on 127.0.0.1:0. An empty cfg.Dir gets a fresh
// t.TempDir(). The returned stop function is idempotent and also runs at
// cleanup.
func startServer(t *testing.T, cfg server.Config) (*server.Server, func()) {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	srv, err := server.Start(cfg, "127.0.0.1:0")
	if err != nil {
		t.Fatalf("server.Start(dir=%q): %v", cfg.Dir, err)
	}
	if srv.Addr() == "" || !strings.HasPrefix(srv.Addr(), "127.0.0.1:") {
		t.Fatalf("server.Addr() = %q, want 127.0.0.1:<port>", srv.Addr())
	}
	if want := "esdb://" + srv.Addr() + "?tls=false"; srv.ConnectionString() != want {
		t.Fatalf("server.ConnectionString() = %q, want %q", srv.ConnectionString(), want)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() { closeWithin(t, srv, closeTimeout) })
	}
	t.Cleanup(stop)
	return srv, stop
}

// closeWithin closes srv and reports an error (instead of hanging the whole
// suite) if Close does not return in time, e.g. because a request handler
// ignores cancellation.
func closeWithin(t *testing.T, srv *server.Server, d time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- srv.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("server.Close: %v", err)
		}
	case <-time.After(d):
		t.Errorf("server.Close did not return within %v (a request handler ignores cancellation)", d)
	}
}

// newClient connects the official client to srv through its connection string.
func newClient(t *testing.T, srv *server.Server) *esdb.Client {
	t.Helper()
	cfg, err := esdb.ParseConnectionString(srv.ConnectionString())
	if err != nil {
		t.Fatalf("esdb.ParseConnectionString(%q): %v", srv.ConnectionString(), err)
	}
	cfg.Logger = esdb.NoopLogging()
	c, err := esdb.NewClient(cfg)
	if err != nil {
		t.Fatalf("esdb.NewClient: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// testContext returns a context bounded by testTimeout and cancelled at cleanup.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// env is a server, a connected client and a context.
type env struct {
	srv    *server.Server
	stop   func()
	client *esdb.Client
	ctx    context.Context
}

func newEnv(t *testing.T, cfg server.Config) *env {
	t.Helper()
	srv, stop := startServer(t, cfg)
	return &env{srv: srv, stop: stop, client: newClient(t, srv), ctx: testContext(t)}
}

// streamName returns a unique stream name with the given prefix.
func streamName(prefix string) string {
	return prefix + "-" + strings.ReplaceAll(uuid.NewString(), "-", "")
}

// jsonEvent builds a JSON event with a fresh id.
func jsonEvent(eventType string, data string) esdb.EventData {
	return esdb.EventData{
		EventID:     uuid.New(),
		EventType:   eventType,
		ContentType: esdb.ContentTypeJson,
		Data:        []byte(data),
	}
}

// numberedEvents builds n JSON events of the given type with data {"i":k}.
func numberedEvents(n int, eventType string) []esdb.EventData {
	evs := make([]esdb.EventData, n)
	for i := range evs {
		evs[i] = jsonEvent(eventType, fmt.Sprintf(`{"i":%d}`, i))
	}
	return evs
}

// withIDs returns a JSON event per id.
func withIDs(eventType string, ids ...uuid.UUID) []esdb.EventData {
	evs := make([]esdb.EventData, len(ids))
	for i, id := range ids {
		evs[i] = esdb.EventData{EventID: id, EventType: eventType, ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)}
	}
	return evs
}

func idsOf(evs []esdb.EventData) []uuid.UUID {
	ids := make([]uuid.UUID, len(evs))
	for i, e := range evs {
		ids[i] = e.EventID
	}
	return ids
}

// mustAppend appends and fails the test on error. It also checks the
// invariants of every successful reply: commit == prepare, position > 0.
func mustAppend(t *testing.T, ctx context.Context, c *esdb.Client, stream string, exp esdb.ExpectedRevision, evs ...esdb.EventData) *esdb.WriteResult {
	t.Helper()
	res, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: exp}, evs...)
	if err != nil {
		t.Fatalf("AppendToStream(%s, %s, %d events): %v", stream, expString(exp), len(evs), err)
	}
	if len(evs) > 0 && (res.CommitPosition == 0 || res.CommitPosition != res.PreparePosition) {
		t.Fatalf("AppendToStream(%s): position commit=%d prepare=%d, want commit == prepare > 0", stream, res.CommitPosition, res.PreparePosition)
	}
	return res
}

func expString(exp esdb.ExpectedRevision) string {
	switch e := exp.(type) {
	case nil:
		return "default(any)"
	case esdb.Any:
		return "any"
	case esdb.NoStream:
		return "no_stream"
	case esdb.StreamExists:
		return "stream_exists"
	case esdb.StreamRevision:
		return fmt.Sprintf("revision(%d)", e.Value)
	}
	return fmt.Sprintf("%T", exp)
}

// esdbError finds the *esdb.Error in err's chain. The client wraps many
// errors with fmt.Errorf("...: %w"), which esdb.FromError (a plain type
// assertion) does not see through, so errors.As is used first.
func esdbError(err error) (*esdb.Error, bool) {
	if err == nil {
		return nil, false
	}
	var e *esdb.Error
	if errors.As(err, &e) {
		return e, true
	}
	e, _ = esdb.FromError(err)
	return e, false
}

// requireCode fails unless err carries the esdb error code want.
func requireCode(t *testing.T, err error, want esdb.ErrorCode, what string) *esdb.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: got success, want esdb error code %d", what, want)
	}
	e, found := esdbError(err)
	if !found {
		t.Fatalf("%s: error %v (%T) is not an *esdb.Error; want code %d", what, err, err, want)
	}
	if e.Code() != want {
		t.Fatalf("%s: esdb error code = %d (%v), want %d", what, e.Code(), err, want)
	}
	return e
}

// requireWEV checks an AppendToStream error is a wrong-expected-version
// reply and the client's text (built from the reply's expected/current
// fields) is exactly want.
func requireWEV(t *testing.T, err error, want string, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: got success, want wrong expected version %q", what, want)
	}
	e, ok := esdb.FromError(err)
	if ok {
		t.Fatalf("%s: esdb.FromError(%v) reported no error", what, err)
	}
	if e.Code() != esdb.ErrorCodeWrongExpectedVersion {
		t.Fatalf("%s: code = %d (%v), want ErrorCodeWrongExpectedVersion (7)", what, e.Code(), err)
	}
	if e.Err() == nil || e.Err().Error() != want {
		t.Fatalf("%s: WEV detail = %v, want %q", what, e.Err(), want)
	}
	if !strings.Contains(e.Error(), "[ErrorCodeWrongExpectedVersion]") {
		t.Fatalf("%s: Error() = %q, want it to name ErrorCodeWrongExpectedVersion", what, e.Error())
	}
}

// grpcStatus digs the gRPC status out of an error chain (through esdb.Error).
func grpcStatus(err error) (*status.Status, bool) {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if s, ok := status.FromError(e); ok && s.Code() != codes.OK {
			return s, true
		}
		if ee, ok := e.(*esdb.Error); ok && ee.Err() != nil {
			if s, ok := status.FromError(ee.Err()); ok && s.Code() != codes.OK {
				return s, true
			}
		}
	}
	return nil, false
}

// rec is the comparable projection of a recorded event.
type rec struct {
	Stream string
	Rev    uint64
	ID     uuid.UUID
	Type   string
	Data   string
	Pos    uint64
}

func (r rec) String() string {
	return fmt.Sprintf("%s@%d(%s pos=%d)", r.Stream, r.Rev, r.Type, r.Pos)
}

func toRec(e *esdb.RecordedEvent) rec {
	if e == nil {
		return rec{}
	}
	return rec{Stream: e.StreamID, Rev: e.EventNumber, ID: e.EventID, Type: e.EventType, Data: string(e.Data), Pos: e.Position.Commit}
}

// recsOf projects resolved events onto their original (link or plain) event.
func recsOf(evs []*esdb.ResolvedEvent) []rec {
	out := make([]rec, 0, len(evs))
	for _, e := range evs {
		out = append(out, toRec(e.OriginalEvent()))
	}
	return out
}

func revsOf(rs []rec) []uint64 {
	out := make([]uint64, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.Rev)
	}
	return out
}

func reversed[T any](in []T) []T {
	out := make([]T, len(in))
	for i, v := range in {
		out[len(in)-1-i] = v
	}
	return out
}

// readStream reads a stream to the end (io.EOF). A read error (e.g. stream
// not found) is returned with the events received before it.
func readStream(ctx context.Context, c *esdb.Client, stream string, opts esdb.ReadStreamOptions, count uint64) ([]*esdb.ResolvedEvent, error) {
	rs, err := c.ReadStream(ctx, stream, opts, count)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	return drain(rs)
}

func readAll(ctx context.Context, c *esdb.Client, opts esdb.ReadAllOptions, count uint64) ([]*esdb.ResolvedEvent, error) {
	rs, err := c.ReadAll(ctx, opts, count)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	return drain(rs)
}

func drain(rs *esdb.ReadStream) ([]*esdb.ResolvedEvent, error) {
	var out []*esdb.ResolvedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
}

func mustReadStream(t *testing.T, ctx context.Context, c *esdb.Client, stream string, opts esdb.ReadStreamOptions, count uint64) []rec {
	t.Helper()
	evs, err := readStream(ctx, c, stream, opts, count)
	if err != nil {
		t.Fatalf("ReadStream(%s, %+v, %d): %v", stream, opts, count, err)
	}
	return recsOf(evs)
}

// mustReadAll reads $all and checks the $all invariants on the way:
// commit == prepare > 0, ReadEvent.position set to the original's commit.
func mustReadAll(t *testing.T, ctx context.Context, c *esdb.Client, opts esdb.ReadAllOptions, count uint64) []rec {
	t.Helper()
	evs, err := readAll(ctx, c, opts, count)
	if err != nil {
		t.Fatalf("ReadAll(%+v, %d): %v", opts, count, err)
	}
	for _, e := range evs {
		o := e.OriginalEvent()
		if o.Position.Commit == 0 || o.Position.Commit != o.Position.Prepare {
			t.Fatalf("ReadAll: %v has position %+v, want commit == prepare > 0", toRec(o), o.Position)
		}
		if e.Commit == nil || *e.Commit != o.Position.Commit {
			t.Fatalf("ReadAll: %v: ReadEvent.commit_position = %v, want %d", toRec(o), e.Commit, o.Position.Commit)
		}
	}
	return recsOf(evs)
}

// fullAll reads the whole of $all forwards.
func fullAll(t *testing.T, ctx context.Context, c *esdb.Client) []rec {
	t.Helper()
	return mustReadAll(t, ctx, c, esdb.ReadAllOptions{From: esdb.Start{}}, 1<<40)
}

// requireIncreasing fails unless positions strictly increase.
func requireIncreasing(t *testing.T, rs []rec, what string) {
	t.Helper()
	for i := 1; i < len(rs); i++ {
		if rs[i].Pos <= rs[i-1].Pos {
			t.Fatalf("%s: position not strictly increasing at %d: %v then %v", what, i, rs[i-1], rs[i])
		}
	}
}

// filterRecs keeps the records for which keep returns true.
func filterRecs(rs []rec, keep func(rec) bool) []rec {
	var out []rec
	for _, r := range rs {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

func inStreams(streams ...string) func(rec) bool {
	return func(r rec) bool {
		for _, s := range streams {
			if r.Stream == s {
				return true
			}
		}
		return false
	}
}

// ---- subscriptions -------------------------------------------------------

// subMsg is a comparable projection of a SubscriptionEvent.
type subMsg struct {
	Kind   string // "event", "caughtup", "checkpoint", "fellbehind", "dropped"
	Ev     rec    // Kind == "event": the original event (the link record for resolved links)
	Target *rec   // Kind == "event": the resolved target when a link was resolved
	Pos    uint64 // Kind == "checkpoint"
	Err    error  // Kind == "dropped"
}

func (m subMsg) String() string {
	switch m.Kind {
	case "event":
		return "event " + m.Ev.String()
	case "checkpoint":
		return fmt.Sprintf("checkpoint %d", m.Pos)
	case "dropped":
		return fmt.Sprintf("dropped: %v", m.Err)
	}
	return m.Kind
}

// subPump moves a subscription's messages into a channel so tests can wait
// with timeouts.
type subPump struct {
	sub  *esdb.Subscription
	ch   chan subMsg
	done chan struct{}
}

func pump(t *testing.T, sub *esdb.Subscription) *subPump {
	t.Helper()
	p := &subPump{sub: sub, ch: make(chan subMsg, 1<<16), done: make(chan struct{})}
	go func() {
		defer close(p.ch)
		for {
			ev := sub.Recv()
			m := toSubMsg(ev)
			select {
			case p.ch <- m:
			case <-p.done:
				return
			}
			if m.Kind == "dropped" {
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = sub.Close()
		close(p.done)
	})
	return p
}

func toSubMsg(ev *esdb.SubscriptionEvent) subMsg {
	switch {
	case ev.EventAppeared != nil:
		m := subMsg{Kind: "event", Ev: toRec(ev.EventAppeared.OriginalEvent())}
		if ev.EventAppeared.Link != nil && ev.EventAppeared.Event != nil {
			r := toRec(ev.EventAppeared.Event)
			m.Target = &r
		}
		return m
	case ev.CaughtUp != nil:
		return subMsg{Kind: "caughtup"}
	case ev.CheckPointReached != nil:
		p := *ev.CheckPointReached
		m := subMsg{Kind: "checkpoint", Pos: p.Commit}
		if p.Commit != p.Prepare {
			m.Err = fmt.Errorf("checkpoint commit %d != prepare %d", p.Commit, p.Prepare)
		}
		return m
	case ev.FellBehind != nil:
		return subMsg{Kind: "fellbehind"}
	case ev.SubscriptionDropped != nil:
		return subMsg{Kind: "dropped", Err: ev.SubscriptionDropped.Error}
	}
	return subMsg{Kind: "unknown"}
}

// next returns the next message or fails after timeout.
func (p *subPump) next(t *testing.T, timeout time.Duration) subMsg {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case m, ok := <-p.ch:
		if !ok {
			t.Fatalf("subscription pump closed")
		}
		if m.Kind == "checkpoint" && m.Err != nil {
			t.Fatalf("%v", m.Err)
		}
		return m
	case <-timer.C:
		t.Fatalf("no subscription message within %v", timeout)
	}
	return subMsg{}
}

// until collects messages until stop returns true for the collected slice.
// A dropped subscription fails the test.
func (p *subPump) until(t *testing.T, what string, stop func([]subMsg) bool) []subMsg {
	t.Helper()
	var got []subMsg
	deadline := time.Now().Add(waitTimeout)
	for !stop(got) {
		remaining := time.Until(deadline)
		if remaining <= 0 {
			t.Fatalf("%s: timed out; got so far %v", what, got)
		}
		timer := time.NewTimer(remaining)
		select {
		case m, ok := <-p.ch:
			timer.Stop()
			if !ok {
				t.Fatalf("%s: subscription pump closed; got so far %v", what, got)
			}
			if m.Kind == "dropped" {
				t.Fatalf("%s: subscription dropped: %v; got so far %v", what, m.Err, got)
			}
			if m.Kind == "checkpoint" && m.Err != nil {
				t.Fatalf("%s: %v", what, m.Err)
			}
			got = append(got, m)
			deadline = time.Now().Add(waitTimeout)
		case <-timer.C:
			t.Fatalf("%s: timed out after %v; got so far %v", what, waitTimeout, got)
		}
	}
	return got
}

// untilCaughtUp collects messages up to and including the first CaughtUp.
func (p *subPump) untilCaughtUp(t *testing.T, what string) []subMsg {
	t.Helper()
	return p.until(t, what, func(got []subMsg) bool {
		return len(got) > 0 && got[len(got)-1].Kind == "caughtup"
	})
}

// untilEvents collects messages until n events have been received.
func (p *subPump) untilEvents(t *testing.T, what string, n int) []subMsg {
	t.Helper()
	return p.until(t, what, func(got []subMsg) bool { return len(eventsOf(got)) >= n })
}

// quiet returns whatever arrives within d (nothing, normally).
func (p *subPump) quiet(d time.Duration) []subMsg {
	var got []subMsg
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-p.ch:
			if !ok {
				return got
			}
			got = append(got, m)
		case <-timer.C:
			return got
		}
	}
}

func eventsOf(ms []subMsg) []rec {
	var out []rec
	for _, m := range ms {
		if m.Kind == "event" {
			out = append(out, m.Ev)
		}
	}
	return out
}

func kindsOf(ms []subMsg) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Kind
	}
	return out
}

// subscribeStream subscribes and pumps.
func subscribeStream(t *testing.T, ctx context.Context, c *esdb.Client, stream string, opts esdb.SubscribeToStreamOptions) *subPump {
	t.Helper()
	sub, err := c.SubscribeToStream(ctx, stream, opts)
	if err != nil {
		t.Fatalf("SubscribeToStream(%s, %+v): %v", stream, opts, err)
	}
	return pump(t, sub)
}

func subscribeAll(t *testing.T, ctx context.Context, c *esdb.Client, opts esdb.SubscribeToAllOptions) *subPump {
	t.Helper()
	sub, err := c.SubscribeToAll(ctx, opts)
	if err != nil {
		t.Fatalf("SubscribeToAll(%+v): %v", opts, err)
	}
	return pump(t, sub)
}

// diffRecs returns a cmp diff of two record slices (empty == equal).
func diffRecs(want, got []rec) string {
	return cmp.Diff(want, got, cmpopts.EquateEmpty())
}

// jsonOf marshals v or panics (test data only).
func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
