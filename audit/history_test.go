package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
)

// startLinker runs a linker until the test ends or stop is called.
func startLinker(t testing.TB, s *eventstore.Store, cfg LinkerConfig) (*Linker, func()) {
	t.Helper()
	cfg.Store = s
	cfg.Logger = testLogger()
	l, err := NewLinker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("linker Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return l, stop
}

// waitCaughtUp waits until the linker has saved a checkpoint at or after
// the head of $all (every event up to it is linked).
func waitCaughtUp(t testing.TB, s *eventstore.Store, l *Linker) {
	t.Helper()
	head, err := s.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for l.Saved().Commit < lastUserPosition(t, s, head) {
		if time.Now().After(deadline) {
			t.Fatalf("linker did not catch up: saved %v, head %v, err %v", l.Saved(), head, l.Err())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lastUserPosition is the position of the last non-system event at or
// before head (the linker's checkpoint need not pass its own writes).
func lastUserPosition(t testing.TB, s *eventstore.Store, head eventstore.Checkpoint) uint64 {
	t.Helper()
	var last uint64
	after := eventstore.Checkpoint{}
	for {
		page, err := s.ReadAll(context.Background(), after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			if r.Position <= head.Commit && !r.IsSystem() {
				last = r.Position
			}
			after = r.Checkpoint()
		}
		if len(page) < 1000 {
			return last
		}
	}
}

// links returns the raw link records of a customer's link stream.
func links(t testing.TB, s *eventstore.Store, cid uuid.UUID) []string {
	t.Helper()
	evs, err := readStream(context.Background(), s, HistoryStream(cid), esdb.Forwards, esdb.Start{}, 1_000_000, false)
	if errors.Is(err, errStreamNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		out = append(out, string(ev.OriginalEvent().Data))
	}
	return out
}

func linkTexts(evs []Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = string(LinkData(e.Stream, e.Revision))
	}
	return out
}

// TestHistoryEqualsDirectReads: the history equals the events read
// directly from every related stream, whether the linker never ran, has
// caught up, or lags behind; no Redis is involved at any point.
func TestHistoryEqualsDirectReads(t *testing.T) {
	s := openStore(t)
	w := newWriter(t, s)
	sc := writeScenario(t, w, "one")
	lg := NewLog(LogConfig{Store: s, Logger: testLogger(), PageSize: 3})
	oppP := domain.OpportunityStream(uuid.NewSHA1(uuid.NameSpaceOID, []byte("one/opp-p")))
	streamsC := []string{oppP, domain.CustomerStream(sc.c)}
	streamsB := []string{domain.CustomerStream(sc.b), domain.OrderStream(uuid.NewSHA1(uuid.NameSpaceOID, []byte("one/order-b")))}

	check := func(t *testing.T, wantLinks bool) {
		t.Helper()
		for _, c := range []struct {
			name    string
			id      uuid.UUID
			streams []string
		}{{"A", sc.a, sc.streamsA}, {"B", sc.b, streamsB}, {"C from prospect", sc.c, streamsC}} {
			want := direct(t, s, c.id, c.streams)
			got := history(t, lg, c.id)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("customer %s: history differs from direct reads (-want +got):\n%s", c.name, diff)
			}
			if len(want) == 0 {
				t.Errorf("customer %s: scenario has no events", c.name)
			}
			if wantLinks {
				if diff := cmp.Diff(linkTexts(want), links(t, s, c.id)); diff != "" {
					t.Errorf("customer %s: link stream (-want +got):\n%s", c.name, diff)
				}
			}
		}
	}

	t.Run("linker never ran", func(t *testing.T) {
		if l := links(t, s, sc.a); l != nil {
			t.Fatalf("links before the linker ran: %v", l)
		}
		check(t, false)
	})
	l, stop := startLinker(t, s, LinkerConfig{BatchSize: 4})
	t.Run("linker caught up", func(t *testing.T) {
		waitCaughtUp(t, s, l)
		check(t, true)
	})
	t.Run("linker live", func(t *testing.T) {
		// One event on a quiet log: linked and checkpointed by the flush
		// ticker, with no further delivery to trigger it.
		before := len(links(t, s, sc.b))
		w.append(domain.CustomerStream(sc.b), domain.CustomerSatisfactionRated{CustomerID: sc.b, From: 0, To: 4})
		waitCaughtUp(t, s, l)
		if got := len(links(t, s, sc.b)); got != before+1 {
			t.Fatalf("links of B: %d, want %d", got, before+1)
		}
		check(t, true)
	})
	stop()
	t.Run("linker behind", func(t *testing.T) {
		w.append(domain.CustomerStream(sc.a), domain.CustomerLevelChanged{CustomerID: sc.a, From: 2, To: 4})
		w.append(domain.OrderStream(uuid.NewSHA1(uuid.NameSpaceOID, []byte("one/order-a"))),
			domain.OrderDelivered{OrderID: uuid.NewSHA1(uuid.NameSpaceOID, []byte("one/order-a")), CustomerID: sc.a, DeliveredAt: t0})
		got := history(t, lg, sc.a)
		if n := len(links(t, s, sc.a)); n >= len(got) {
			t.Fatalf("the linker is not behind: %d links, %d events", n, len(got))
		}
		check(t, false)
	})
	t.Run("linker resumes from its checkpoint", func(t *testing.T) {
		l2, _ := startLinker(t, s, LinkerConfig{})
		waitCaughtUp(t, s, l2)
		check(t, true)
		if l2.Linked() != 2 {
			t.Errorf("second linker appended %d links, want 2 (it resumes from the stored checkpoint)", l2.Linked())
		}
	})
}

// TestLinkerIdempotent: linkers restarted from scratch, and two at once,
// never duplicate a link.
func TestLinkerIdempotent(t *testing.T) {
	s := openStore(t)
	w := newWriter(t, s)
	sc := writeScenario(t, w, "idem")
	l, stop := startLinker(t, s, LinkerConfig{BatchSize: 2})
	waitCaughtUp(t, s, l)
	stop()
	want := links(t, s, sc.a)

	// Forget the checkpoint: the next linkers start from the beginning of
	// $all, as after a crash before the first checkpoint.
	if err := SaveCheckpoint(context.Background(), s, eventstore.Checkpoint{}); err != nil {
		t.Fatal(err)
	}
	writeScenario(t, w, "idem-2") // more customers while they catch up
	l1, _ := startLinker(t, s, LinkerConfig{BatchSize: 3})
	l2, _ := startLinker(t, s, LinkerConfig{BatchSize: 1})
	waitCaughtUp(t, s, l1)
	waitCaughtUp(t, s, l2)
	if diff := cmp.Diff(want, links(t, s, sc.a)); diff != "" {
		t.Errorf("links of A after restarts (-want +got):\n%s", diff)
	}
	lg := NewLog(LogConfig{Store: s})
	if diff := cmp.Diff(direct(t, s, sc.a, sc.streamsA), history(t, lg, sc.a)); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
}

// TestHistoryPaging: walking the history page by page with cursors gives
// the whole history, also when the linker moves on between two pages.
func TestHistoryPaging(t *testing.T) {
	s := openStore(t)
	w := newWriter(t, s)
	sc := writeScenario(t, w, "paging")
	lg := NewLog(LogConfig{Store: s, PageSize: 2})
	want := history(t, lg, sc.a)

	var got []Event
	var cur Cursor
	for page := 0; ; page++ {
		var items []Event
		var next Cursor
		err := lg.History(testContext(t), sc.a, cur, func(e Event, c Cursor) error {
			if len(items) == 2 {
				return ErrStop
			}
			items, next = append(items, e), c
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, items...)
		if len(items) < 2 {
			break
		}
		if page == 1 { // the linker catches up between two pages
			l, stop := startLinker(t, s, LinkerConfig{})
			waitCaughtUp(t, s, l)
			stop()
		}
		parsed, err := ParseCursor(next.String())
		if err != nil || parsed != next {
			t.Fatalf("cursor round trip: %v %v", parsed, err)
		}
		cur = next
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paged history (-want +got):\n%s", diff)
	}
}

func TestHistoryUnknownCustomer(t *testing.T) {
	s := openStore(t)
	lg := NewLog(LogConfig{Store: s})
	err := lg.History(testContext(t), uuid.New(), Cursor{}, func(Event, Cursor) error { return nil })
	if domain.KindOf(err) != domain.KindNotFound {
		t.Fatalf("History of an unknown customer: %v, want KindNotFound", err)
	}
}

func TestCustomerOf(t *testing.T) {
	cid := uuid.MustParse("0b7a9c1e-2f3d-4e5f-8a9b-0c1d2e3f4a5b")
	opp := uuid.MustParse("1b7a9c1e-2f3d-4e5f-8a9b-0c1d2e3f4a5b")
	tests := []struct {
		name, stream, typ, data string
		want                    uuid.UUID
		ok, err                 bool
	}{
		{"customer stream", domain.CustomerStream(cid), "CustomerRegistered", `{}`, cid, true, false},
		{"order by customerId", domain.OrderStream(opp), "OrderShipped", `{"customerId":"` + cid.String() + `"}`, cid, true, false},
		{"prospect opportunity", domain.OpportunityStream(opp), "OpportunityCreated", `{"prospect":{"name":"x"}}`, domain.CustomerIDForOpportunity(opp), true, false},
		{"opportunity of a customer", domain.OpportunityStream(opp), "PlanItemAdded", `{"customerId":"` + cid.String() + `"}`, cid, true, false},
		{"service without customerId", domain.ServiceStream(opp), "ServiceRequestOpened", `{}`, uuid.Nil, false, true},
		{"bad customerId", domain.OrderStream(opp), "OrderPlaced", `{"customerId":"nope"}`, uuid.Nil, false, true},
		{"not JSON", domain.OrderStream(opp), "OrderPlaced", `xx`, uuid.Nil, false, true},
		{"link stream", HistoryStream(cid), "$>", `0@customer-x`, uuid.Nil, false, false},
		{"system type", domain.CustomerStream(cid), "$metadata", `{}`, uuid.Nil, false, false},
		{"other stream", "product-1", "ProductAdded", `{"customerId":"` + cid.String() + `"}`, uuid.Nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := CustomerOf(tt.stream, tt.typ, []byte(tt.data))
			if got != tt.want || ok != tt.ok || (err != nil) != tt.err {
				t.Errorf("CustomerOf = %v, %v, %v; want %v, %v, error %v", got, ok, err, tt.want, tt.ok, tt.err)
			}
		})
	}
}

// TestLinkerWritesNothingOnEmptyStore: on an empty store the linker
// appends nothing (crm serve --demo checks for an empty store while the
// linker already runs).
func TestLinkerWritesNothingOnEmptyStore(t *testing.T) {
	s := openStore(t)
	l, stop := startLinker(t, s, LinkerConfig{FlushInterval: time.Millisecond, CheckpointInterval: time.Millisecond})
	deadline := time.Now().Add(5 * time.Second)
	for !l.Live() {
		if time.Now().After(deadline) {
			t.Fatal("linker not live")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	stop()
	evs, err := s.ReadAll(context.Background(), eventstore.Checkpoint{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		t.Errorf("the linker wrote %s to %s on an empty store", e.Type, e.Stream)
	}
}

// TestLinkerStopsPromptlyWithoutStore: with the event store gone, stopping
// the linker returns at once.
func TestLinkerStopsPromptlyWithoutStore(t *testing.T) {
	s := openStore(t)
	writeScenario(t, newWriter(t, s), "gone")
	l, stop := startLinker(t, s, LinkerConfig{RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	waitCaughtUp(t, s, l)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let it fail and retry a few times
	began := time.Now()
	stop()
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("stopping the linker took %s", d)
	}
}

// TestLinkerLiveUnderLoad: writers append to many customers while one
// linker runs live and a second one starts and stops midway; afterwards
// every link stream holds exactly the customer's events, in log order.
func TestLinkerLiveUnderLoad(t *testing.T) {
	s := openStore(t)
	const writers, perWriter, rounds = 4, 10, 6
	l, stop := startLinker(t, s, LinkerConfig{BatchSize: 7, Concurrency: 4})
	var ids []uuid.UUID
	var wg sync.WaitGroup
	for wi := range writers {
		mine := make([]uuid.UUID, perWriter)
		for i := range mine {
			mine[i] = uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "load-%d-%d", wi, i))
		}
		ids = append(ids, mine...)
		w := newWriter(t, s)
		wg.Go(func() {
			for r := range rounds {
				for _, id := range mine {
					if r == 0 {
						c := domain.NewCustomer()
						if err := c.Register(id, domain.RegisterCustomer{Profile: domain.Profile{Name: "L"}}, t0); err != nil {
							t.Error(err)
							return
						}
						w.append(domain.CustomerStream(id), c.Changes()...)
						continue
					}
					w.append(domain.CustomerStream(id), domain.CustomerLevelChanged{CustomerID: id, From: r - 1, To: r})
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	l2, stop2 := startLinker(t, s, LinkerConfig{BatchSize: 3})
	time.Sleep(100 * time.Millisecond)
	stop2()
	wg.Wait()
	waitCaughtUp(t, s, l)
	stop()
	for _, id := range ids {
		want := linkTexts(direct(t, s, id, []string{domain.CustomerStream(id)}))
		if diff := cmp.Diff(want, links(t, s, id)); diff != "" {
			t.Fatalf("links of %s (-want +got):\n%s", id, diff)
		}
	}
	t.Logf("first linker appended %d links, second %d", l.Linked(), l2.Linked())
}
