package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/eventstore/server"
	"github.com/crm-es/crm/internal/redistest"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// The test events and projections. Ping is counted per stream; Pong only
// by the sparse projection (a server-side type filter).

type ping struct {
	N      int  `json:"n"`
	Poison bool `json:"poison,omitempty"`
	Flaky  bool `json:"flaky,omitempty"`
}

func (ping) EventType() string { return "TestPing" }

type pong struct {
	N int `json:"n"`
}

func (pong) EventType() string { return "TestPong" }

func testCodec() *eventstore.Codec {
	c := eventstore.NewCodec()
	c.Register("TestPing", 1, func() any { return ping{} })
	c.Register("TestPong", 1, func() any { return pong{} })
	return c
}

// counter counts the handled events of each stream with absolute values:
// "n:<stream>" and a sorted set "streams" scored by the count. A poison
// event fails permanently after writing (the write must be rolled back);
// a flaky one fails transiently while failing is set.
type counter struct {
	name     string
	version  int
	types    []string
	failing  atomic.Bool
	attempts atomic.Int64
	slow     atomic.Bool // 1 ms per event
	immune   bool        // poison events are not poison to it
}

func (c *counter) Name() string { return c.name }
func (c *counter) Version() int { return c.version }
func (c *counter) Handles(eventType string) bool {
	return slices.Contains(c.types, eventType) || slices.Contains(c.types, "*")
}

func (c *counter) Handle(ctx context.Context, tx Tx, e Event) error {
	if c.slow.Load() {
		time.Sleep(time.Millisecond)
	}
	key := "n:" + e.Stream
	s, _, err := tx.Get(ctx, key)
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(s)
	n++
	tx.Set(key, strconv.Itoa(n))
	tx.ZAdd("streams", float64(n), e.Stream)
	tx.SAdd("types:"+e.Stream, e.Type)
	if p, ok := e.Data.(ping); ok {
		if p.Poison && !c.immune {
			return fmt.Errorf("%w: poison event %d", ErrPermanent, p.N)
		}
		if p.Flaky {
			c.attempts.Add(1)
			if c.failing.Load() {
				return errors.New("flaky dependency unavailable")
			}
		}
	}
	return nil
}

func newCounter() *counter {
	return &counter{name: "counter", version: 1, types: []string{"TestPing"}}
}

func newSparse() *counter {
	return &counter{name: "sparse", version: 1, types: []string{"TestPong"}}
}

// ---------------------------------------------------------------------------
// Harness

type env struct {
	t     testing.TB
	redis *redistest.Server
	store *eventstore.Store
	codec *eventstore.Codec
	revs  map[string]int64
	last  uint64 // position of the last appended event
}

func newEnv(t testing.TB) *env {
	t.Helper()
	r := redistest.Start(t)
	st, err := eventstore.Open(context.Background(), eventstore.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return &env{t: t, redis: r, store: st, codec: testCodec(), revs: map[string]int64{}}
}

func appendEvent(ctx context.Context, st eventstore.Appender, revs map[string]int64, stream string, ev any) (uint64, error) {
	var typ string
	switch ev.(type) {
	case ping:
		typ = "TestPing"
	case pong:
		typ = "TestPong"
	default:
		typ = "TestOther"
	}
	data, _ := json.Marshal(ev)
	exp, ok := revs[stream]
	if !ok {
		exp = eventstore.NoStream
	}
	res, err := st.Append(ctx, stream, exp, []eventstore.Pending{{Type: typ, Data: data, ID: uuid.New()}})
	if err != nil {
		return 0, err
	}
	revs[stream] = int64(res.Revision)
	return res.Position, nil
}

func (e *env) append(stream string, ev any) uint64 {
	e.t.Helper()
	pos, err := appendEvent(context.Background(), e.store, e.revs, stream, ev)
	if err != nil {
		e.t.Error(err)
	}
	e.last = pos
	return pos
}

type rtOpts struct {
	rdb      *redis.Client
	leaseTTL time.Duration
	batch    int
	grace    time.Duration // RetireGrace (default 200 ms)
}

func (e *env) start(projs []Projection, o rtOpts) (*Runtime, context.CancelFunc, chan struct{}) {
	e.t.Helper()
	if o.rdb == nil {
		o.rdb = e.redis.Client
	}
	if o.leaseTTL == 0 {
		o.leaseTTL = time.Second
	}
	if o.grace == 0 {
		o.grace = 200 * time.Millisecond
	}
	rt, err := NewRuntime(RuntimeConfig{
		Store: e.store, Redis: o.rdb, Codec: e.codec, Projections: projs,
		Logger:   testLogger(e.t),
		LeaseTTL: o.leaseTTL, BatchSize: o.batch, PollInterval: 100 * time.Millisecond,
		RetryMin: 10 * time.Millisecond, RetryMax: 200 * time.Millisecond, RetireGrace: o.grace,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = rt.Run(ctx) }()
	e.t.Cleanup(func() { cancel(); <-done })
	return rt, cancel, done
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func statusOf(t *testing.T, rt *Runtime, name string) Status {
	t.Helper()
	sts, err := rt.Status(context.Background())
	for _, s := range sts {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no status for %s (err %v)", name, err)
	return Status{}
}

// caughtUp: the served generation reached pos and nothing is building.
func caughtUp(t *testing.T, rt *Runtime, name string, pos uint64) bool {
	s := statusOf(t, rt, name)
	return s.Active != "" && s.Building == "" && s.Head >= pos && s.LagEvents == 0
}

// dump is a canonical dump of a projection's served generation, keys
// relative to the generation prefix.
func dump(t *testing.T, rdb *redis.Client, name string) map[string]string {
	t.Helper()
	ctx := context.Background()
	prefix, ok, err := ActivePrefix(ctx, rdb, name)
	if err != nil || !ok {
		t.Fatalf("no active generation of %s: %v", name, err)
	}
	return redistest.Dump(t, rdb, prefix)
}

func keysWithPrefix(t *testing.T, rdb *redis.Client, prefix string) int {
	t.Helper()
	keys, err := rdb.Keys(context.Background(), prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return len(keys)
}

// ---------------------------------------------------------------------------
// Tests

// TestRuntimeAtomicCommit: at every instant the stored checkpoint and the
// read model agree: the counts are exactly the events at or before it.
func TestRuntimeAtomicCommit(t *testing.T) {
	e := newEnv(t)
	rdb := e.redis.Client
	rt, _, _ := e.start([]Projection{newCounter(), newSparse()}, rtOpts{batch: 7})
	ctx := context.Background()

	type appended struct {
		pos    uint64
		stream string
	}
	var (
		mu  sync.Mutex
		log []appended
	)
	stop := make(chan struct{})
	appDone := make(chan struct{})
	go func() {
		defer close(appDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			stream := fmt.Sprintf("s-%d", i%5)
			var pos uint64
			if i%4 == 3 {
				pos = e.append(stream, pong{N: i})
				stream = "" // not counted
			} else {
				pos = e.append(stream, ping{N: i})
			}
			if pos == 0 {
				return
			}
			mu.Lock()
			log = append(log, appended{pos, stream})
			mu.Unlock()
		}
	}()
	// Read checkpoint and counts in one MULTI and check they agree.
	checks := 0
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		prefix, ok, err := ActivePrefix(ctx, rdb, "counter")
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		gen := strings.TrimSuffix(strings.TrimPrefix(prefix, "crm:counter:"), ":")
		var cpCmd *redis.StringCmd
		var nCmds []*redis.StringCmd
		_, err = rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			cpCmd = p.Get(ctx, genMetaKey("counter", gen, "checkpoint"))
			for i := range 5 {
				nCmds = append(nCmds, p.Get(ctx, prefix+fmt.Sprintf("n:s-%d", i)))
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatal(err)
		}
		cp, perr := parseCheckpoint(cpCmd.Val())
		if perr != nil {
			continue
		}
		want := map[string]int{}
		mu.Lock()
		if len(log) == 0 || log[len(log)-1].pos < cp.Commit {
			// The appender has not logged everything up to cp yet.
			mu.Unlock()
			continue
		}
		for _, a := range log {
			if a.pos <= cp.Commit {
				want[a.stream]++
			}
		}
		mu.Unlock()
		for i, c := range nCmds {
			got, _ := strconv.Atoi(c.Val())
			if s := fmt.Sprintf("s-%d", i); got != want[s] {
				t.Fatalf("checkpoint %d: count of %s is %d, want %d (writes and checkpoint not atomic)", cp.Commit, s, got, want[s])
			}
		}
		checks++
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	<-appDone
	waitFor(t, 10*time.Second, "catch-up", func() bool { return caughtUp(t, rt, "counter", e.last) && caughtUp(t, rt, "sparse", e.last) })
	if checks < 20 {
		t.Fatalf("only %d consistent snapshots taken", checks)
	}
	st := statusOf(t, rt, "counter")
	if st.State != StateLive || st.LagEvents != 0 || st.Parked != 0 || st.Head < e.last {
		t.Fatalf("status after catch-up: %+v", st)
	}
	// The sparse projection subscribed with a type filter: only pongs.
	d := dump(t, rdb, "sparse")
	for k, v := range d {
		if strings.HasPrefix(k, "types:") && v != "set:TestPong" {
			t.Fatalf("sparse projection saw %s = %s", k, v)
		}
	}
	t.Logf("%d consistent snapshots while appending %d events", checks, len(log))
	_ = rt
}

// stoppedTrack returns a track of the served generation of a stopped
// runtime, positioned at its stored checkpoint, with the given epoch.
func stoppedTrack(t *testing.T, rt *Runtime, name string, epochDelta int64) *track {
	t.Helper()
	ctx := context.Background()
	rdb := rt.cfg.Redis
	gen := rdb.Get(ctx, AliasKey(name)).Val()
	epoch, err := rdb.Get(ctx, metaKey(name, "epoch")).Int64()
	if err != nil {
		t.Fatal(err)
	}
	cp, err := parseCheckpoint(rdb.Get(ctx, genMetaKey(name, gen, "checkpoint")).Val())
	if err != nil {
		t.Fatal(err)
	}
	w := rt.workers[0]
	tr := w.newTrack(gen, false, epoch+epochDelta)
	tr.committed, tr.pending, tr.expect = cp, cp, true
	tr.newBatch()
	return tr
}

// TestRuntimeCheckpointNeverBackwardsAndFenced: the commit refuses
// a checkpoint at or before the stored one and a stale epoch, writing
// nothing.
func TestRuntimeCheckpointNeverBackwardsAndFenced(t *testing.T) {
	e := newEnv(t)
	for i := range 20 {
		e.append("s-"+strconv.Itoa(i%3), ping{N: i})
	}
	rt, cancel, done := e.start([]Projection{newCounter()}, rtOpts{})
	waitFor(t, 10*time.Second, "catch-up", func() bool { return caughtUp(t, rt, "counter", e.last) })
	cancel()
	<-done
	before := dump(t, e.redis.Client, "counter")
	ctx := context.Background()

	// Backwards: same epoch, an older checkpoint.
	tr := stoppedTrack(t, rt, "counter", 0)
	stored := tr.committed
	tr.pending = eventstore.CheckpointAt(stored.Commit - 1)
	tr.committed = eventstore.CheckpointAt(stored.Commit - 2)
	tr.batch.Set("n:s-0", "999")
	if err := tr.flush(ctx); !errors.Is(err, errBackwards) {
		t.Fatalf("backwards commit: err = %v, want errBackwards", err)
	}
	// Equal checkpoint with writes: refused too (a replayed batch).
	tr = stoppedTrack(t, rt, "counter", 0)
	tr.committed = eventstore.CheckpointAt(stored.Commit - 1)
	tr.batch.Set("n:s-0", "999")
	if err := tr.flush(ctx); !errors.Is(err, errBackwards) {
		t.Fatalf("equal-checkpoint commit: err = %v, want errBackwards", err)
	}
	// Stale epoch, forward checkpoint: fenced.
	tr = stoppedTrack(t, rt, "counter", -1)
	tr.pending = eventstore.CheckpointAt(stored.Commit + 1000)
	tr.batch.Set("n:s-0", "999")
	if err := tr.flush(ctx); !errors.Is(err, errFenced) {
		t.Fatalf("stale-epoch commit: err = %v, want errFenced", err)
	}
	if diff := cmp.Diff(before, dump(t, e.redis.Client, "counter")); diff != "" {
		t.Fatalf("a refused commit wrote (-before +after):\n%s", diff)
	}
	tr = stoppedTrack(t, rt, "counter", 0)
	if tr.committed != stored {
		t.Fatalf("checkpoint moved: %v, was %v", tr.committed, stored)
	}
	// The current epoch, forward: accepted.
	tr.pending = eventstore.CheckpointAt(stored.Commit + 1000)
	tr.batch.Set("probe", "1")
	if err := tr.flush(ctx); err != nil {
		t.Fatalf("valid commit: %v", err)
	}
}

// TestRuntimeTransientRetry: a transiently failing handler is retried
// without moving the checkpoint past the event, then goes on.
func TestRuntimeTransientRetry(t *testing.T) {
	e := newEnv(t)
	c := newCounter()
	c.failing.Store(true)
	rt, _, _ := e.start([]Projection{c}, rtOpts{})
	e.append("a", ping{N: 1})
	flaky := e.append("a", ping{N: 2, Flaky: true})
	e.append("b", ping{N: 3})
	waitFor(t, 10*time.Second, "retries", func() bool { return c.attempts.Load() >= 4 })
	st := statusOf(t, rt, "counter")
	if st.Checkpoint >= flaky {
		t.Fatalf("checkpoint %d moved past the failing event at %d", st.Checkpoint, flaky)
	}
	if st.State != StateFailed || !strings.Contains(st.LastError, "flaky") {
		t.Fatalf("status while failing: %+v", st)
	}
	c.failing.Store(false)
	waitFor(t, 10*time.Second, "catch-up", func() bool { return caughtUp(t, rt, "counter", e.last) })
	d := dump(t, e.redis.Client, "counter")
	if d["n:a"] != "string:2" || d["n:b"] != "string:1" {
		t.Fatalf("counts after retry: %v", d)
	}
	if st := statusOf(t, rt, "counter"); st.State != StateLive || st.Parked != 0 {
		t.Fatalf("status after recovery: %+v", st)
	}
}

// TestRuntimePoisonParked: a permanently failing event is parked (its
// writes rolled back) and visible, while other streams and projections flow.
func TestRuntimePoisonParked(t *testing.T) {
	e := newEnv(t)
	// other handles the same events, and the poison event is not poison to
	// it: it must apply all of them while counter parks one.
	other := &counter{name: "other", version: 1, types: []string{"TestPing"}, immune: true}
	rt, _, _ := e.start([]Projection{newCounter(), other}, rtOpts{})
	e.append("a", ping{N: 1})
	poison := e.append("a", ping{N: 2, Poison: true})
	e.append("b", ping{N: 3})
	e.append("a", ping{N: 4})
	waitFor(t, 10*time.Second, "catch-up", func() bool { return caughtUp(t, rt, "counter", e.last) })
	d := dump(t, e.redis.Client, "counter")
	if d["n:a"] != "string:2" || d["n:b"] != "string:1" {
		t.Fatalf("counts with a parked event: %v", d)
	}
	st := statusOf(t, rt, "counter")
	if st.Parked != 1 {
		t.Fatalf("status: %+v, want 1 parked", st)
	}
	parked, err := rt.Parked(context.Background(), "counter", 10)
	if err != nil || len(parked) != 1 || parked[0].Position != poison || parked[0].Stream != "a" || !strings.Contains(parked[0].Error, "poison") {
		t.Fatalf("parked = %+v, %v", parked, err)
	}
	var metrics strings.Builder
	sts, _ := rt.Status(context.Background())
	if err := WriteMetrics(&metrics, sts); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`crm_projection_parked_events{projection="counter"} 1`, `crm_projection_state{projection="counter",state="live"} 1`} {
		if !strings.Contains(metrics.String(), want) {
			t.Fatalf("metrics lack %q:\n%s", want, metrics.String())
		}
	}
	// The other projection kept flowing, the poison event included.
	waitFor(t, 10*time.Second, "other catch-up", func() bool { return caughtUp(t, rt, "other", e.last) })
	if d := dump(t, e.redis.Client, "other"); d["n:a"] != "string:3" || d["n:b"] != "string:1" {
		t.Fatalf("other projection's counts: %v, want n:a 3 and n:b 1", d)
	}
	if st := statusOf(t, rt, "other"); st.Parked != 0 || st.State != StateLive {
		t.Fatalf("other projection's status: %+v, want live with nothing parked", st)
	}
}

// TestRuntimeSparseCheckpointMoves: a projection that handles none of the
// events appended stores checkpoints past them anyway (the filtered
// subscription's checkpoint messages), so a restart or a read-your-writes
// wait does not scan them again.
func TestRuntimeSparseCheckpointMoves(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.append("p", pong{N: 0})
	rt, _, _ := e.start([]Projection{newSparse()}, rtOpts{})
	waitFor(t, 10*time.Second, "sparse live", func() bool { return caughtUp(t, rt, "sparse", e.last) })
	gen := e.redis.Client.Get(ctx, AliasKey("sparse")).Val()
	cpKey := genMetaKey("sparse", gen, "checkpoint")
	first := e.redis.Client.Get(ctx, cpKey).Val()
	for i := range 2000 {
		e.append("s-"+strconv.Itoa(i%10), ping{N: i}) // not handled by sparse
	}
	half := formatCheckpoint(eventstore.CheckpointAt(e.last / 2))
	waitFor(t, 10*time.Second, "the sparse checkpoint past the unhandled events", func() bool {
		cp := e.redis.Client.Get(ctx, cpKey).Val()
		return cp > half
	})
	if got := e.redis.Client.Get(ctx, cpKey).Val(); got <= first {
		t.Fatalf("sparse checkpoint %s did not move from %s", got, first)
	}
}

// TestRuntimeRebuildWhileServing: a rebuild (same version, then a new
// version) builds beside the served generation, the alias switches, the
// old keys go away, and readers never miss.
func TestRuntimeRebuildWhileServing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rdb := e.redis.Client
	for i := range 300 {
		e.append("s-"+strconv.Itoa(i%7), ping{N: i})
	}
	const grace = 1500 * time.Millisecond
	c1 := newCounter()
	rt, cancel, done := e.start([]Projection{c1}, rtOpts{batch: 10, grace: grace})
	waitFor(t, 10*time.Second, "first build", func() bool { return caughtUp(t, rt, "counter", e.last) })
	want := dump(t, rdb, "counter")

	// Readers: the alias always resolves and the value is always there.
	stopReaders := make(chan struct{})
	var readErr atomic.Value
	var readers sync.WaitGroup
	readers.Add(1)
	go func() {
		defer readers.Done()
		for {
			select {
			case <-stopReaders:
				return
			default:
			}
			prefix, ok, err := ActivePrefix(ctx, rdb, "counter")
			if err != nil || !ok {
				readErr.Store(fmt.Sprintf("alias: %v %v", ok, err))
				return
			}
			if _, err := rdb.Get(ctx, prefix+"n:s-0").Result(); err != nil {
				readErr.Store(fmt.Sprintf("read %s: %v", prefix, err))
				return
			}
		}
	}()

	// A same-version rebuild, slowed down (1 ms per event) so that events
	// appended meanwhile reach the served generation while it builds.
	c1.slow.Store(true)
	if err := rt.Rebuild(ctx, "counter"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the rebuild to start", func() bool { return statusOf(t, rt, "counter").Building != "" })
	e.append("s-0", ping{N: 500})
	waitFor(t, 10*time.Second, "the served generation fed while the rebuild runs", func() bool {
		return rdb.Get(ctx, "crm:counter:v1:n:s-0").Val() == strconv.Itoa(300/7+1+1)
	})
	if s := statusOf(t, rt, "counter"); s.Building == "" || s.Active != "v1" {
		t.Fatalf("the rebuild ended before the served generation was checked: %+v", s)
	}
	want = dump(t, rdb, "counter") // the served generation, with the new event
	c1.slow.Store(false)
	waitFor(t, 10*time.Second, "rebuild", func() bool {
		s := statusOf(t, rt, "counter")
		return s.Active == "v1-r1" && s.Building == "" && s.Checkpoint >= e.last
	})
	switched := time.Now()
	// A query that resolved v1 just before the switch still finds its keys
	// for the grace period; then they go.
	if n := keysWithPrefix(t, rdb, "crm:counter:v1:"); n == 0 {
		t.Fatal("the retired generation was deleted at once, without its grace period")
	}
	waitFor(t, 10*time.Second, "old keys deleted", func() bool { return keysWithPrefix(t, rdb, "crm:counter:v1:") == 0 })
	if d := time.Since(switched); d < grace/2 {
		t.Fatalf("the retired generation was deleted %s after the switch; grace is %s", d, grace)
	}
	if diff := cmp.Diff(want, dump(t, rdb, "counter")); diff != "" {
		t.Fatalf("rebuilt generation differs (-old +new):\n%s", diff)
	}

	// A new version: the old process stops, the new one builds v2 while v1-r1 serves.
	cancel()
	<-done
	c2 := newCounter()
	c2.version = 2
	rt2, cancel2, done2 := e.start([]Projection{c2}, rtOpts{batch: 10})
	e.append("s-0", ping{N: 1000})
	want["n:s-0"] = "string:" + strconv.Itoa(300/7+1+2)
	waitFor(t, 10*time.Second, "v2", func() bool {
		s := statusOf(t, rt2, "counter")
		return s.Active == "v2" && s.Building == "" && s.Checkpoint >= e.last
	})
	waitFor(t, 10*time.Second, "v1 keys deleted", func() bool { return keysWithPrefix(t, rdb, "crm:counter:v1-r1:") == 0 })
	close(stopReaders)
	readers.Wait()
	if msg := readErr.Load(); msg != nil {
		t.Fatalf("a reader failed during the rebuilds: %v", msg)
	}
	got := dump(t, rdb, "counter")
	if got["n:s-0"] != want["n:s-0"] {
		t.Fatalf("v2 n:s-0 = %s, want %s", got["n:s-0"], want["n:s-0"])
	}
	if n := keysWithPrefix(t, rdb, "crm:counter:meta:gen:v1"); n != 0 {
		t.Fatalf("%d meta keys of retired generations left", n)
	}

	// An old binary (version 1) started again stands down: v2 stays.
	cancel2()
	<-done2
	old, _, _ := e.start([]Projection{newCounter()}, rtOpts{batch: 10})
	waitFor(t, 5*time.Second, "the old binary to stand down", func() bool {
		s := statusOf(t, old, "counter")
		return s.State == StateStandby && strings.Contains(s.LastError, "newer")
	})
	if s := statusOf(t, old, "counter"); s.Active != "v2" || s.Building != "" {
		t.Fatalf("the old binary touched the projection: %+v", s)
	}
}

// TestRuntimeRedisDataLost: after FLUSHALL, and after a Redis restart, the
// read model is rebuilt automatically and Ready reports it meanwhile.
func TestRuntimeRedisDataLost(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i := range 200 {
		e.append("s-"+strconv.Itoa(i%5), ping{N: i})
	}
	c := newCounter()
	rt, _, _ := e.start([]Projection{c}, rtOpts{batch: 5})
	waitFor(t, 10*time.Second, "first build", func() bool { return caughtUp(t, rt, "counter", e.last) })
	c.slow.Store(true) // rebuilds take 200 ms: time to watch readiness
	if err := rt.Ready(ctx); err != nil {
		t.Fatalf("not ready after the build: %v", err)
	}
	want := dump(t, e.redis.Client, "counter")
	// Watch readiness closely: it must report the rebuild.
	var building atomic.Int64
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() {
		for watchCtx.Err() == nil {
			if err := rt.Ready(watchCtx); err != nil && strings.Contains(err.Error(), "still building") {
				building.Add(1)
			}
			time.Sleep(time.Millisecond)
		}
	}()

	for _, lose := range []struct {
		name string
		do   func()
	}{{"flushall", e.redis.FlushAll}, {"restart", e.redis.Restart}} {
		seen := building.Load()
		lose.do()
		e.append("s-0", ping{N: 1})
		want["n:s-0"] = "string:" + strconv.Itoa(must(strconv.Atoi(strings.TrimPrefix(want["n:s-0"], "string:")))+1)
		waitFor(t, 15*time.Second, lose.name+" rebuild", func() bool { return rt.Ready(ctx) == nil && caughtUp(t, rt, "counter", e.last) })
		if building.Load() == seen {
			t.Fatalf("%s: readiness never reported the rebuild", lose.name)
		}
		want["streams"] = streamsZset(want)
		if diff := cmp.Diff(want, dump(t, e.redis.Client, "counter")); diff != "" {
			t.Fatalf("%s: rebuilt read model differs:\n%s", lose.name, diff)
		}
	}
}

// TestRuntimeCorruptBuildAbandoned: a build whose committed batch Redis
// partly refused (another writer changed the type of one of its keys) is
// not switched in: it is abandoned and built afresh under a new name.
func TestRuntimeCorruptBuildAbandoned(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rdb := e.redis.Client
	// Enough events for the build to commit part of the way (catch-up
	// commits come every catchUpCommitEvents handled events).
	for i := range catchUpCommitEvents + 1000 {
		e.append("s-"+strconv.Itoa(i%4), ping{N: i})
	}
	c := newCounter()
	rt, _, _ := e.start([]Projection{c}, rtOpts{batch: 10})
	waitFor(t, 10*time.Second, "first build", func() bool { return caughtUp(t, rt, "counter", e.last) })
	want := dump(t, rdb, "counter")

	c.slow.Store(true) // 1 ms per event: time to corrupt the build
	if err := rt.Rebuild(ctx, "counter"); err != nil {
		t.Fatal(err)
	}
	var building string
	waitFor(t, 10*time.Second, "the build to commit its first batch", func() bool {
		building = statusOf(t, rt, "counter").Building
		return building != "" && rdb.Exists(ctx, GenerationPrefix("counter", building)+"types:s-0").Val() == 1
	})
	// An outside writer turns a set the build knows into a string: its
	// next SADD there fails inside EXEC.
	if err := rdb.Set(ctx, GenerationPrefix("counter", building)+"types:s-0", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	c.slow.Store(false)
	waitFor(t, 20*time.Second, "a fresh build switched in", func() bool {
		s := statusOf(t, rt, "counter")
		return s.Active != "v1" && s.Active != building && s.Building == "" && s.Checkpoint >= e.last
	})
	if diff := cmp.Diff(want, dump(t, rdb, "counter")); diff != "" {
		t.Fatalf("the fresh build differs from the first (-first +fresh):\n%s", diff)
	}
	waitFor(t, 10*time.Second, "the corrupt build deleted", func() bool {
		return keysWithPrefix(t, rdb, GenerationPrefix("counter", building)) == 0
	})
}

// TestRuntimeStatusLag: the status counts, per projection, the events
// after its checkpoint that it handles and the age of the oldest, from one
// scan of $all for all of them.
func TestRuntimeStatusLag(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rt, cancel, done := e.start([]Projection{newCounter(), newSparse()}, rtOpts{})
	e.append("a", ping{N: 0})
	e.append("b", pong{N: 0})
	waitFor(t, 10*time.Second, "both live", func() bool {
		return caughtUp(t, rt, "counter", e.last) && caughtUp(t, rt, "sparse", e.last)
	})
	cancel()
	<-done
	first := time.Now()
	for i := range 5 {
		e.append("a", ping{N: i})
	}
	for i := range 3 {
		e.append("b", pong{N: i})
	}
	time.Sleep(50 * time.Millisecond)
	sts, err := rt.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, s := range sts {
		got[s.Name] = s.LagEvents
		if maxAge := time.Since(first).Seconds(); s.LagSeconds < 0.05 || s.LagSeconds > maxAge+0.01 {
			t.Errorf("%s: lag %.3f s, want between 0.05 s and the age of its oldest unhandled event (%.3f s)", s.Name, s.LagSeconds, maxAge)
		}
		if s.LagEventsCapped {
			t.Errorf("%s: lag capped at %d events", s.Name, s.LagEvents)
		}
	}
	if diff := cmp.Diff(map[string]int64{"counter": 5, "sparse": 3}, got); diff != "" {
		t.Fatalf("lag in events (-want +got):\n%s", diff)
	}
	var metrics strings.Builder
	if err := WriteMetrics(&metrics, sts); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`crm_projection_lag_events{projection="counter"} 5`, `crm_projection_lag_events{projection="sparse"} 3`, `crm_projection_lag_seconds{projection="counter"} 0.`} {
		if !strings.Contains(metrics.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, metrics.String())
		}
	}
}

// TestStoredStatusIgnoresAnEarlierHoldersState: the state a fenced
// ex-holder published (it may still write it) is not reported as the
// current holder's; the holder's own is.
func TestStoredStatusIgnoresAnEarlierHoldersState(t *testing.T) {
	r := redistest.Start(t)
	ctx := context.Background()
	set := func(k, v string) {
		t.Helper()
		if err := r.Client.Set(ctx, k, v, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	set(metaKey("p", "lease"), "new-holder")
	for _, tc := range []struct {
		published      string
		state, lastErr string
	}{
		{`{"state":"failed","holder":"old-holder","error":"boom"}`, StateCatchingUp, ""},
		{`{"state":"failed","holder":"new-holder","error":"boom"}`, StateFailed, "boom"},
		{`{"state":"live","holder":"new-holder"}`, StateLive, ""},
		{`not json`, StateCatchingUp, ""},
	} {
		set(metaKey("p", "state"), tc.published)
		st, err := StoredStatus(ctx, r.Client, "p")
		if err != nil {
			t.Fatal(err)
		}
		if st.State != tc.state || st.LastError != tc.lastErr || st.Holder != "new-holder" {
			t.Errorf("published %s: state %q error %q holder %q, want %q %q new-holder", tc.published, st.State, st.LastError, st.Holder, tc.state, tc.lastErr)
		}
	}
}

// TestRuntimeGenerationNamesNeverReused: every build of a version gets a
// name of its own, even once an older generation of that name is deleted;
// a process that lost its lease in the middle of deleting a retired
// generation can then never delete a newer one.
func TestRuntimeGenerationNamesNeverReused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i := range 20 {
		e.append("s-"+strconv.Itoa(i%3), ping{N: i})
	}
	rt, _, _ := e.start([]Projection{newCounter()}, rtOpts{})
	waitFor(t, 10*time.Second, "first build", func() bool { return caughtUp(t, rt, "counter", e.last) })
	var names []string
	names = append(names, statusOf(t, rt, "counter").Active)
	for range 3 {
		if err := rt.Rebuild(ctx, "counter"); err != nil {
			t.Fatal(err)
		}
		prev := names[len(names)-1]
		waitFor(t, 10*time.Second, "rebuild", func() bool {
			s := statusOf(t, rt, "counter")
			return s.Active != prev && s.Building == "" && s.Checkpoint >= e.last
		})
		waitFor(t, 10*time.Second, prev+" deleted", func() bool { return keysWithPrefix(t, e.redis.Client, GenerationPrefix("counter", prev)) == 0 })
		names = append(names, statusOf(t, rt, "counter").Active)
	}
	if diff := cmp.Diff([]string{"v1", "v1-r1", "v1-r2", "v1-r3"}, names); diff != "" {
		t.Fatalf("generation names (-want +got):\n%s", diff)
	}
}

// TestRuntimeRedisRolledBack: Redis loses the last writes the projector
// committed while the lease survives (an append-only file that lost its
// last second, a failover to a replica that was behind); transactions are
// kept whole, so the read model and the checkpoint go back together. The
// projector must not commit past the lost events: its next commit finds a
// checkpoint other than the one it committed and resumes from it, so the
// lost events are applied again.
func TestRuntimeRedisRolledBack(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rdb := e.redis.Client
	rt, _, _ := e.start([]Projection{newCounter()}, rtOpts{})
	for i := range 10 {
		e.append("a", ping{N: i})
	}
	waitFor(t, 10*time.Second, "catch-up", func() bool { return caughtUp(t, rt, "counter", e.last) })
	gen := rdb.Get(ctx, AliasKey("counter")).Val()
	cpKey := genMetaKey("counter", gen, "checkpoint")
	before := dump(t, rdb, "counter")
	cp := rdb.Get(ctx, cpKey).Val()
	for i := range 5 {
		e.append("b", ping{N: i})
	}
	waitFor(t, 10*time.Second, "catch-up of b", func() bool { return caughtUp(t, rt, "counter", e.last) })
	if got := dump(t, rdb, "counter")["n:b"]; got != "string:5" {
		t.Fatalf("n:b = %q before the rollback, want string:5", got)
	}

	// The rollback: every write since the first catch-up is gone.
	p := GenerationPrefix("counter", gen)
	if err := rdb.Del(ctx, p+"n:b", p+"types:b").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ZRem(ctx, p+"streams", "b").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, cpKey, cp, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, dump(t, rdb, "counter")); diff != "" {
		t.Fatalf("the simulated rollback is not the earlier state:\n%s", diff)
	}

	e.append("a", ping{N: 99})
	want := map[string]string{"n:a": "string:11", "n:b": "string:5"}
	waitFor(t, 10*time.Second, "the lost events applied again", func() bool {
		d := dump(t, rdb, "counter")
		return d["n:a"] == want["n:a"] && d["n:b"] == want["n:b"] && caughtUp(t, rt, "counter", e.last)
	})
	got := dump(t, rdb, "counter")
	if diff := cmp.Diff([]string{"a", "b"}, sortedMembers(t, rdb, p+"streams")); diff != "" {
		t.Errorf("streams (-want +got):\n%s", diff)
	}
	if got["types:b"] == "" {
		t.Errorf("types:b missing after the replay: %v", got)
	}
}

func sortedMembers(t *testing.T, rdb *redis.Client, key string) []string {
	t.Helper()
	m, err := rdb.ZRange(context.Background(), key, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

// streamsZset is the counter's "streams" sorted set as the dump shows it,
// derived from the counts n:<stream> of d (score = count; Redis orders by
// score, then member).
func streamsZset(d map[string]string) string {
	type z struct {
		m string
		n int
	}
	var zs []z
	for k, v := range d {
		if m, ok := strings.CutPrefix(k, "n:"); ok {
			zs = append(zs, z{m, must(strconv.Atoi(strings.TrimPrefix(v, "string:")))})
		}
	}
	slices.SortFunc(zs, func(a, b z) int {
		if a.n != b.n {
			return a.n - b.n
		}
		return strings.Compare(a.m, b.m)
	})
	out := "zset:"
	for _, x := range zs {
		out += fmt.Sprintf("%s=%d;", x.m, x.n)
	}
	return out
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestRuntimeLeaseTakeover: of two runtimes one holds the lease; when it
// dies without releasing it (its Redis connection gone), the other takes
// over within 10 s, with the default lease settings.
func TestRuntimeLeaseTakeover(t *testing.T) {
	e := newEnv(t)
	for i := range 50 {
		e.append("s-"+strconv.Itoa(i%3), ping{N: i})
	}
	clientA := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	rtA, cancelA, doneA := e.start([]Projection{newCounter()}, rtOpts{rdb: clientA, leaseTTL: 5 * time.Second})
	waitFor(t, 10*time.Second, "A builds", func() bool { return caughtUp(t, rtA, "counter", e.last) })
	rtB, _, _ := e.start([]Projection{newCounter()}, rtOpts{leaseTTL: 5 * time.Second})
	time.Sleep(300 * time.Millisecond)
	if s := statusOf(t, rtB, "counter"); s.LeaseHeld || s.Holder != rtA.cfg.Owner {
		t.Fatalf("B: %+v, want A holding the lease", s)
	}
	// A dies: no release (its connection is closed first).
	_ = clientA.Close()
	died := time.Now()
	cancelA()
	<-doneA
	e.append("s-0", ping{N: 100})
	waitFor(t, 10*time.Second, "B takes over", func() bool {
		s := statusOf(t, rtB, "counter")
		return s.LeaseHeld && s.Checkpoint >= e.last
	})
	took := time.Since(died)
	t.Logf("takeover after %s", took.Round(time.Millisecond))
	if d := dump(t, e.redis.Client, "counter"); d["n:s-0"] != "string:18" {
		t.Fatalf("after takeover n:s-0 = %s, want 18", d["n:s-0"])
	}
}

// ---------------------------------------------------------------------------
// Crash equivalence: a projector child process SIGKILLed at random points.

const childEnv = "CRM_PROJECTIONS_TEST_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
	os.Exit(m.Run())
}

// runChild runs a projector on "ESDB-URL REDIS-ADDR" until killed.
func runChild(spec string) int {
	esURL, redisAddr, _ := strings.Cut(spec, " ")
	ctx := context.Background()
	st, err := eventstore.Open(ctx, eventstore.Config{URL: esURL})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	rt, err := NewRuntime(RuntimeConfig{Store: st, Redis: rdb, Codec: testCodec(),
		Projections: []Projection{newCounter(), newSparse()},
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		LeaseTTL:    300 * time.Millisecond, PollInterval: 30 * time.Millisecond,
		BatchSize: 1 + rand.N(20), BatchWait: time.Duration(1+rand.N(20)) * time.Millisecond,
		RetryMin: 5 * time.Millisecond, RetryMax: 100 * time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_ = rt.Run(ctx)
	return 0
}

func TestRuntimeCrashEquivalence(t *testing.T) {
	if testing.Short() {
		t.Skip("crash rounds skipped in -short mode")
	}
	r := redistest.Start(t)
	srv, err := server.Start(server.Config{Dir: t.TempDir()}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	st, err := eventstore.Open(context.Background(), eventstore.Config{URL: srv.ConnectionString()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })

	// Events keep arriving throughout.
	var last atomic.Uint64
	stop := make(chan struct{})
	appDone := make(chan struct{})
	go func() {
		defer close(appDone)
		revs := map[string]int64{}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			stream := "s-" + strconv.Itoa(rand.N(20))
			var ev any = ping{N: i}
			switch {
			case i%10 == 9:
				ev = pong{N: i}
			case i%97 == 0:
				ev = ping{N: i, Poison: true}
			}
			pos, err := appendEvent(context.Background(), st, revs, stream, ev)
			if err != nil {
				t.Errorf("append: %v", err)
				return
			}
			last.Store(pos)
			time.Sleep(time.Millisecond)
		}
	}()

	const rounds = 20
	spec := srv.ConnectionString() + " " + r.Addr()
	kills, moved := 0, 0
	checkpoint := func() string {
		gen := r.Client.Get(context.Background(), AliasKey("counter")).Val()
		return r.Client.Get(context.Background(), genMetaKey("counter", gen, "checkpoint")).Val()
	}
	for round := range rounds {
		before := checkpoint()
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), childEnv+"="+spec)
		if testing.Verbose() {
			cmd.Stderr = os.Stderr
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(150+rand.N(500)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("round %d: the projector child was gone before its kill: %v", round, err)
		}
		var exit *exec.ExitError
		if err := cmd.Wait(); !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: the projector child ended with %v, not by its SIGKILL", round, err)
		}
		kills++
		if checkpoint() != before {
			moved++
		}
	}
	// The children must have been working when they were killed: here 14-16
	// of 20 rounds commit something (a child killed while it waits for its
	// predecessor's lease to expire does not); a quarter leaves room for a
	// slow machine.
	if moved < rounds/4 {
		t.Fatalf("the checkpoint moved in only %d of %d rounds: the children were not projecting when killed", moved, rounds)
	}
	t.Logf("%d kills; the checkpoint moved in %d rounds", kills, moved)
	close(stop)
	<-appDone
	head := last.Load()
	progress := map[string]string{}
	for _, name := range []string{"counter", "sparse"} {
		gen := r.Client.Get(context.Background(), AliasKey(name)).Val()
		progress[name] = gen + "@" + r.Client.Get(context.Background(), genMetaKey(name, gen, "checkpoint")).Val()
	}
	if progress["counter"] == "@" {
		t.Fatalf("the killed projectors never served a generation")
	}
	t.Logf("after the kills (head %d): %v", head, progress)

	// Restart and catch up in-process, then rebuild cleanly into DB 1.
	run := func(rdb *redis.Client) *Runtime {
		rt, err := NewRuntime(RuntimeConfig{Store: st, Redis: rdb, Codec: testCodec(),
			Projections: []Projection{newCounter(), newSparse()}, Logger: testLogger(t),
			LeaseTTL: 300 * time.Millisecond, PollInterval: 30 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = rt.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		waitFor(t, 30*time.Second, "catch-up", func() bool {
			return caughtUp(t, rt, "counter", head) && caughtUp(t, rt, "sparse", head)
		})
		return rt
	}
	recovered := run(r.Client)
	clean := r.NewClient(1)
	run(clean)
	for _, name := range []string{"counter", "sparse"} {
		got, want := dump(t, r.Client, name), dump(t, clean, name)
		if len(want) == 0 {
			t.Fatalf("%s: empty clean rebuild", name)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("%s: after %d kills the read model differs from a clean rebuild (-clean +recovered):\n%s", name, kills, diff)
		}
		parked := func(rdb *redis.Client) []string {
			gen := rdb.Get(context.Background(), AliasKey(name)).Val()
			return rdb.LRange(context.Background(), genMetaKey(name, gen, "parked"), 0, -1).Val()
		}
		if diff := cmp.Diff(parked(clean), parked(r.Client)); diff != "" {
			t.Fatalf("%s: dead-letter lists differ (-clean +recovered):\n%s", name, diff)
		}
	}
	stc := statusOf(t, recovered, "counter")
	if stc.Parked == 0 {
		t.Fatalf("no poison events parked: %+v", stc)
	}
	t.Logf("%d kills, %d keys equal, head %d, %d parked", kills, len(dump(t, clean, "counter")), head, stc.Parked)
}

// TestRuntimeFencedMidRun: when the epoch moves under a running holder (as
// when another process took the lease over), its next commit is refused;
// it steps down, takes the lease again with a new epoch and goes on
// without losing or doubling events.
func TestRuntimeFencedMidRun(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rt, _, _ := e.start([]Projection{newCounter()}, rtOpts{})
	for i := range 10 {
		e.append("a", ping{N: i})
	}
	waitFor(t, 10*time.Second, "catch-up", func() bool { return caughtUp(t, rt, "counter", e.last) })
	before := rt.workers[0].snapshot().epoch
	if err := e.redis.Client.IncrBy(ctx, metaKey("counter", "epoch"), 1).Err(); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		e.append("a", ping{N: 10 + i})
	}
	waitFor(t, 10*time.Second, "catch-up after the fence", func() bool {
		return caughtUp(t, rt, "counter", e.last) && rt.workers[0].snapshot().epoch > before+1
	})
	if d := dump(t, e.redis.Client, "counter"); d["n:a"] != "string:20" {
		t.Fatalf("n:a = %s, want 20", d["n:a"])
	}
}

// wrongType writes a set member to a key it has just set as a string: a
// handler bug that Redis would reject in the middle of the commit.
type wrongType struct{ bad atomic.Bool }

func (*wrongType) Name() string          { return "wrongtype" }
func (*wrongType) Version() int          { return 1 }
func (*wrongType) Handles(t string) bool { return t == "TestPing" }
func (w *wrongType) Handle(ctx context.Context, tx Tx, e Event) error {
	tx.Set("last", e.Stream)
	tx.SAdd("streams", e.Stream)
	if w.bad.Load() {
		tx.SAdd("last", "oops")
	}
	return nil
}

// TestRuntimeWrongTypeWritesNothing: a batch with a write Redis would
// reject fails as a whole before writing anything (the state says why),
// and goes through once the handler is fixed.
func TestRuntimeWrongTypeWritesNothing(t *testing.T) {
	e := newEnv(t)
	p := &wrongType{}
	rt, _, _ := e.start([]Projection{p}, rtOpts{})
	e.append("a", ping{N: 1})
	waitFor(t, 10*time.Second, "catch-up", func() bool { return caughtUp(t, rt, "wrongtype", e.last) })
	before := dump(t, e.redis.Client, "wrongtype")
	p.bad.Store(true)
	e.append("b", ping{N: 2})
	waitFor(t, 10*time.Second, "failed state", func() bool {
		s := statusOf(t, rt, "wrongtype")
		return s.State == StateFailed && strings.Contains(s.LastError, "CRMWRONGTYPE")
	})
	if diff := cmp.Diff(before, dump(t, e.redis.Client, "wrongtype")); diff != "" {
		t.Fatalf("a refused batch wrote:\n%s", diff)
	}
	p.bad.Store(false)
	waitFor(t, 10*time.Second, "recovery", func() bool { return caughtUp(t, rt, "wrongtype", e.last) })
	if d := dump(t, e.redis.Client, "wrongtype"); d["last"] != "string:b" || d["streams"] != "set:a;b" {
		t.Fatalf("after recovery: %v", d)
	}
}

// TestRuntimeUndecodableAndUnknown: an event that does not decode is
// parked; one of a type the codec does not know is skipped (with a
// warning) by a projection that takes every type (no server-side type
// filter then).
func TestRuntimeUndecodableAndUnknown(t *testing.T) {
	e := newEnv(t)
	all := &counter{name: "all", version: 1, types: []string{"*"}}
	if f := typeFilter(e.codec, all); f != nil {
		t.Fatalf("a projection of every type got a type filter: %+v", f)
	}
	if f := typeFilter(e.codec, newCounter()); f == nil || f.EventTypeRegex != "^(?:TestPing)$" {
		t.Fatalf("counter filter: %+v", f)
	}
	rt, _, _ := e.start([]Projection{all}, rtOpts{})
	e.append("a", ping{N: 1})
	e.append("a", struct{ Other bool }{true}) // TestOther: not in the codec
	res, err := e.store.Append(context.Background(), "a", e.revs["a"], []eventstore.Pending{{Type: "TestPing", Data: []byte(`{"n":"not a number"}`), ID: uuid.New()}})
	if err != nil {
		t.Fatal(err)
	}
	e.revs["a"] = int64(res.Revision)
	bad := res.Position
	e.append("a", pong{N: 3})
	waitFor(t, 10*time.Second, "catch-up", func() bool { return caughtUp(t, rt, "all", e.last) })
	if d := dump(t, e.redis.Client, "all"); d["n:a"] != "string:2" || d["types:a"] != "set:TestPing;TestPong" {
		t.Fatalf("read model: %v", d)
	}
	parked, err := rt.Parked(context.Background(), "all", 10)
	if err != nil || len(parked) != 1 || parked[0].Position != bad || !strings.Contains(parked[0].Error, "undecodable") {
		t.Fatalf("parked = %+v, %v", parked, err)
	}
}
