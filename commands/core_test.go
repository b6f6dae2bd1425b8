package commands

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
	"github.com/google/uuid"
)

// openStore starts the embedded event store (real gRPC, official client).
func openStore(t testing.TB) *eventstore.Store {
	t.Helper()
	s, err := eventstore.Open(context.Background(), eventstore.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

type counted struct {
	By int `json:"by"`
}

func toyCore(t testing.TB, store Store) *core {
	codec := eventstore.NewCodec()
	codec.Register("Counted", 1, func() any { return counted{} })
	return &core{
		store: store, codec: codec, now: time.Now, newID: uuid.New,
		log: slog.New(slog.DiscardHandler), maxRetries: 50, sleep: backoff,
	}
}

// countRequest adds by to the counter in stream; it refuses to go above max.
func countRequest(stream string, by, max int, opts Options, create bool) request {
	key := opts.IdempotencyKey
	cmdID := "cmd-" + uuid.NewString()
	if key == "" {
		key = cmdID
	}
	return request{id: stream, stream: stream, what: "counter", create: create, opts: opts, key: key, commandID: cmdID,
		decide: func(_ context.Context, history []any, now time.Time) ([]change, error) {
			sum := 0
			for _, e := range history {
				sum += e.(counted).By
			}
			if sum+by > max {
				return nil, domain.Errorf(domain.KindConflict, "over max")
			}
			if by == 0 {
				return nil, nil
			}
			return []change{{event: counted{By: by}, occurredAt: now}, {event: counted{By: 0}, occurredAt: now}}, nil
		}}
}

func TestCoreAppendReplayIfMatch(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	c := toyCore(t, store)
	stream := "counter-" + uuid.NewString()

	if _, err := c.run(ctx, countRequest(stream, 1, 100, Options{}, false)); domain.KindOf(err) != domain.KindNotFound {
		t.Fatalf("missing stream: err %v, want not found", err)
	}
	opts := Options{IdempotencyKey: "k1", Actor: Actor{UserID: "u1"}}
	r1, err := c.run(ctx, countRequest(stream, 1, 100, opts, true))
	if err != nil || r1.Revision != 1 || r1.Replayed || !r1.Changed {
		t.Fatalf("first: %+v %v", r1, err)
	}
	r2, err := c.run(ctx, countRequest(stream, 1, 100, opts, true))
	if err != nil || !r2.Replayed || r2.Revision != r1.Revision || r2.Position != r1.Position {
		t.Fatalf("replay: %+v %v, first %+v", r2, err, r1)
	}
	// No-op: unchanged revision.
	r3, err := c.run(ctx, countRequest(stream, 0, 100, Options{}, false))
	if err != nil || r3.Revision != 1 || r3.Changed || r3.Position != r1.Position {
		t.Fatalf("no-op: %+v %v", r3, err)
	}
	// If-Match stale → precondition failed.
	stale := int64(0)
	_, err = c.run(ctx, countRequest(stream, 1, 100, Options{IfMatch: &stale}, false))
	var pe *PreconditionError
	if !errors.Is(err, ErrPreconditionFailed) || !errors.As(err, &pe) || pe.Current != 1 || domain.KindOf(err) != domain.KindConflict {
		t.Fatalf("stale If-Match: %v", err)
	}
	cur := int64(1)
	r4, err := c.run(ctx, countRequest(stream, 1, 100, Options{IfMatch: &cur}, false))
	if err != nil || r4.Revision != 3 {
		t.Fatalf("If-Match current: %+v %v", r4, err)
	}
	events, _, err := store.LoadStream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 4 {
		t.Fatalf("%d events, want 4", len(events))
	}
	if events[0].EventID != eventstore.EventID("k1", 0) || events[1].EventID != eventstore.EventID("k1", 1) {
		t.Errorf("event ids not derived from the idempotency key")
	}
	m := events[0].Metadata
	if m.Actor != "u1" || m.CommandID == "" || m.CorrelationID != m.CommandID || m.CausationID != m.CommandID || m.SchemaVersion != 1 {
		t.Errorf("metadata %+v", m)
	}
	if bad, err := eventstore.VerifyChain(events); err != nil {
		t.Errorf("chain broken at %d: %v", bad, err)
	}
}

func TestCoreConcurrentNoLostUpdate(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	c := toyCore(t, store)
	stream := "counter-" + uuid.NewString()
	if _, err := c.run(ctx, countRequest(stream, 1, 1000, Options{}, true)); err != nil {
		t.Fatal(err)
	}
	const n = 32
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = c.run(ctx, countRequest(stream, 1, 1000, Options{}, false))
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if domain.KindOf(err) != domain.KindConflict {
			t.Errorf("unexpected error %v", err)
		}
	}
	events, _, err := store.LoadStream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(events); got != 2*(ok+1) {
		t.Errorf("%d events for %d accepted commands", got, ok+1)
	}
	if ok != n {
		t.Errorf("only %d of %d commands accepted", ok, n)
	}
	if _, err := eventstore.VerifyChain(events); err != nil {
		t.Error(err)
	}
}

func TestCoreIfMatchConcurrent(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	c := toyCore(t, store)
	stream := "counter-" + uuid.NewString()
	if _, err := c.run(ctx, countRequest(stream, 1, 1000, Options{}, true)); err != nil {
		t.Fatal(err)
	}
	rev := int64(1)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = c.run(ctx, countRequest(stream, 1, 1000, Options{IfMatch: &rev}, false))
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrPreconditionFailed):
			t.Errorf("unexpected %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d conditional writes succeeded, want exactly 1", ok)
	}
}
