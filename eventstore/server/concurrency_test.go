package server_test

// Concurrency: optimistic concurrency under contention, atomic multi-event
// batches under group commit, and subscriptions racing with writers.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/crm-es/crm/eventstore/server"
)

// lastRevision returns the stream's last revision, or exists=false.
func lastRevision(ctx context.Context, c *esdb.Client, stream string) (rev uint64, exists bool, err error) {
	evs, err := readStream(ctx, c, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil {
		if e, ok := esdbError(err); ok && e.Code() == esdb.ErrorCodeResourceNotFound {
			return 0, false, nil
		}
		return 0, false, err
	}
	if len(evs) != 1 {
		return 0, false, fmt.Errorf("backwards read of %s returned %d events", stream, len(evs))
	}
	return evs[0].OriginalEvent().EventNumber, true, nil
}

// TestConcurrentExactRevisionAppends: 50 goroutines append to ONE stream with
// exact expected revisions (read the current revision, append with it, retry
// on WEV) until N events exist. Every revision must be won exactly once, the
// stream must be dense 0..N-1 and hold exactly the acknowledged event IDs.
func TestConcurrentExactRevisionAppends(t *testing.T) {
	t.Parallel()
	const (
		writers = 50
		total   = 200
		clients = 5
	)
	srv, _ := startServer(t, server.Config{})
	ctx := testContext(t)
	cs := make([]*esdb.Client, clients)
	for i := range cs {
		cs[i] = newClient(t, srv)
	}
	stream := streamName("race")

	type ack struct {
		id  uuid.UUID
		pos uint64
	}
	var (
		mu    sync.Mutex
		won   = map[uint64]ack{}
		wevs  atomic.Int64
		wg    sync.WaitGroup
		errCh = make(chan error, writers)
	)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := cs[w%clients]
			for {
				if ctx.Err() != nil {
					errCh <- ctx.Err()
					return
				}
				cur, exists, err := lastRevision(ctx, c, stream)
				if err != nil {
					errCh <- fmt.Errorf("writer %d: read: %w", w, err)
					return
				}
				var exp esdb.ExpectedRevision = esdb.NoStream{}
				want := uint64(0)
				if exists {
					if cur >= total-1 {
						return
					}
					exp, want = esdb.Revision(cur), cur+1
				}
				ev := jsonEvent("Raced", fmt.Sprintf(`{"writer":%d}`, w))
				res, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: exp}, ev)
				if err != nil {
					if e, ok := esdbError(err); ok && e.Code() == esdb.ErrorCodeWrongExpectedVersion {
						wevs.Add(1)
						continue
					}
					errCh <- fmt.Errorf("writer %d: append %s: %w", w, expString(exp), err)
					return
				}
				if res.NextExpectedVersion != want {
					errCh <- fmt.Errorf("writer %d: append with %s acknowledged revision %d, want %d", w, expString(exp), res.NextExpectedVersion, want)
					return
				}
				mu.Lock()
				if prev, dup := won[want]; dup {
					mu.Unlock()
					errCh <- fmt.Errorf("revision %d won twice: by %s and %s", want, prev.id, ev.EventID)
					return
				}
				won[want] = ack{ev.EventID, res.CommitPosition}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	close(errCh)
	for err := range errCh {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	t.Logf("%d wrong-expected-version rejections for %d events", wevs.Load(), total)
	if len(won) != total {
		t.Fatalf("%d revisions acknowledged, want %d", len(won), total)
	}
	got := mustReadStream(t, ctx, cs[0], stream, esdb.ReadStreamOptions{}, total+100)
	if len(got) != total {
		t.Fatalf("stream has %d events, want %d", len(got), total)
	}
	seen := map[uuid.UUID]bool{}
	for i, r := range got {
		a := won[uint64(i)]
		if r.Rev != uint64(i) || r.ID != a.id || r.Pos != a.pos {
			t.Errorf("event %d = %v id %s, acknowledged id %s pos %d", i, r, r.ID, a.id, a.pos)
		}
		if seen[r.ID] {
			t.Errorf("event id %s duplicated", r.ID)
		}
		seen[r.ID] = true
	}
	requireIncreasing(t, got, "raced stream")
}

// TestConcurrentBatchAppends: many goroutines append multi-event batches with
// Any to a few shared streams at once (group commit). Every batch must be
// atomic: consecutive revisions in its stream, adjacent in $all, the reply's
// revision and position those of its last event; no event lost or doubled.
func TestConcurrentBatchAppends(t *testing.T) {
	t.Parallel()
	const (
		writers   = 50
		perWriter = 10
	)
	e := newEnv(t, server.Config{})
	streams := []string{streamName("batch-a"), streamName("batch-b"), streamName("batch-c")}

	type ack struct {
		stream string
		ids    []uuid.UUID
		rev    uint64
		pos    uint64
	}
	var (
		mu    sync.Mutex
		acks  []ack
		wg    sync.WaitGroup
		errCh = make(chan error, writers)
	)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(w), 42))
			for i := 0; i < perWriter; i++ {
				s := streams[rnd.IntN(len(streams))]
				evs := numberedEvents(1+rnd.IntN(6), fmt.Sprintf("W%d", w))
				res, err := e.client.AppendToStream(e.ctx, s, esdb.AppendToStreamOptions{}, evs...)
				if err != nil {
					errCh <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
				mu.Lock()
				acks = append(acks, ack{s, idsOf(evs), res.NextExpectedVersion, res.CommitPosition})
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	close(errCh)
	for err := range errCh {
		t.Fatal(err)
	}

	all := fullAll(t, e.ctx, e.client)
	requireIncreasing(t, all, "$all")
	index := map[uuid.UUID]int{}
	for i, r := range all {
		if _, dup := index[r.ID]; dup {
			t.Fatalf("event id %s appears twice in $all", r.ID)
		}
		index[r.ID] = i
	}
	total := 0
	for _, a := range acks {
		total += len(a.ids)
		first := index[a.ids[0]]
		for k, id := range a.ids {
			i, ok := index[id]
			if !ok {
				t.Fatalf("acknowledged event %s missing from $all", id)
			}
			r := all[i]
			wantRev := a.rev - uint64(len(a.ids)-1-k)
			if i != first+k || r.Stream != a.stream || r.Rev != wantRev {
				t.Fatalf("batch %v: event %d is %v at $all index %d; want %s@%d at index %d", a.ids, k, r, i, a.stream, wantRev, first+k)
			}
		}
		if last := all[index[a.ids[len(a.ids)-1]]]; last.Pos != a.pos {
			t.Fatalf("batch reply position %d, last event position %d", a.pos, last.Pos)
		}
	}
	n := 0
	for _, s := range streams {
		got := mustReadStream(t, e.ctx, e.client, s, esdb.ReadStreamOptions{}, 1<<20)
		for i, r := range got {
			if r.Rev != uint64(i) {
				t.Fatalf("%s not dense at %d: %v", s, i, r)
			}
		}
		n += len(got)
	}
	if n != total {
		t.Fatalf("streams hold %d events, %d acknowledged", n, total)
	}
}

// TestSubscriptionsUnderConcurrentWrites: catch-up subscriptions (stream and
// $all, from Start) started while writers are appending must deliver exactly
// the final log (no gaps, no duplicates, in order) across the catch-up → live
// switch.
func TestSubscriptionsUnderConcurrentWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	stream := streamName("hot")
	other := streamName("hot-other")
	for i := 0; i < 20; i++ {
		mustAppend(t, e.ctx, e.client, stream, esdb.Any{}, numberedEvents(10, "Pre")...)
	}

	const writers, perWriter = 8, 25
	var wg sync.WaitGroup
	errCh := make(chan error, writers)
	start := make(chan struct{})
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			<-start
			for i := 0; i < perWriter; i++ {
				s := stream
				if i%3 == 0 {
					s = other
				}
				if _, err := e.client.AppendToStream(e.ctx, s, esdb.AppendToStreamOptions{}, numberedEvents(1+(i+w)%3, "Hot")...); err != nil {
					errCh <- err
					return
				}
			}
		}(w)
	}
	close(start)
	ps := subscribeStream(t, e.ctx, e.client, stream, esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	pa := subscribeAll(t, e.ctx, e.client, esdb.SubscribeToAllOptions{From: esdb.Start{}})
	wg.Wait()
	close(errCh)
	for err := range errCh {
		t.Fatal(err)
	}

	all := fullAll(t, e.ctx, e.client)
	wantStream := mustReadStream(t, e.ctx, e.client, stream, esdb.ReadStreamOptions{}, 1<<20)
	for _, tc := range []struct {
		name string
		p    *subPump
		want []rec
	}{{"stream", ps, wantStream}, {"$all", pa, all}} {
		got := eventsOf(tc.p.untilEvents(t, tc.name, len(tc.want)))
		if d := diffRecs(tc.want, got); d != "" {
			t.Errorf("%s subscription vs final log (-want +got):\n%s", tc.name, d)
		}
		if extra := eventsOf(tc.p.quiet(quietPeriod)); len(extra) != 0 {
			t.Errorf("%s subscription delivered extra events: %v", tc.name, extra)
		}
	}
}

// TestSlowSubscriberDoesNotBlockWriters (§7.4, §7.7): a live $all
// subscriber that stops reading must not block appends; when it resumes it
// gets every event exactly once, in order (the server falls back to
// catch-up when its live buffer overflows).
func TestSlowSubscriberDoesNotBlockWriters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	sub, err := e.client.SubscribeToAll(e.ctx, esdb.SubscribeToAllOptions{From: esdb.End{}})
	if err != nil {
		t.Fatalf("SubscribeToAll: %v", err)
	}
	defer sub.Close()
	if m := toSubMsg(sub.Recv()); m.Kind != "caughtup" {
		t.Fatalf("first message %v, want CaughtUp", m)
	}
	// ~4 MB while nobody reads the subscription: far beyond the live buffer
	// and the HTTP/2 flow-control windows.
	ctx, cancel := context.WithTimeout(e.ctx, 60*time.Second)
	defer cancel()
	pad := strings.Repeat("s", 1000)
	for i := 0; i < 200; i++ {
		evs := make([]esdb.EventData, 20)
		for k := range evs {
			evs[k] = jsonEvent("Flood", fmt.Sprintf(`{"i":%d,"pad":%q}`, i*20+k, pad))
		}
		if _, err := e.client.AppendToStream(ctx, "flood", esdb.AppendToStreamOptions{}, evs...); err != nil {
			t.Fatalf("append %d while a subscriber is stalled: %v", i, err)
		}
	}
	want := fullAll(t, e.ctx, e.client)
	var got []rec
	for len(got) < len(want) {
		m := toSubMsg(sub.Recv())
		switch m.Kind {
		case "event":
			got = append(got, m.Ev)
		case "caughtup", "fellbehind":
		default:
			t.Fatalf("after %d events: %v", len(got), m)
		}
	}
	if !slices.Equal(want, got) {
		t.Fatalf("stalled subscriber (-want +got):\n%s", diffRecs(want, got))
	}
}

// TestCloseEndsLiveSubscriptions (§7.7): Close must not wait for live
// subscriptions (they end promptly) and must not wedge on in-flight calls.
func TestCloseEndsLiveSubscriptions(t *testing.T) {
	t.Parallel()
	srv, _ := startServer(t, server.Config{})
	c := newClient(t, srv)
	ctx := testContext(t)
	stream := streamName("closing")
	mustAppend(t, ctx, c, stream, esdb.NoStream{}, numberedEvents(3, "E")...)
	var pumps []*subPump
	for i := 0; i < 5; i++ {
		pumps = append(pumps,
			subscribeStream(t, ctx, c, stream, esdb.SubscribeToStreamOptions{From: esdb.Start{}}),
			subscribeAll(t, ctx, c, esdb.SubscribeToAllOptions{From: esdb.Start{}}),
			subscribeAll(t, ctx, c, esdb.SubscribeToAllOptions{From: esdb.End{}, Filter: esdb.ExcludeSystemEventsFilter()}))
	}
	for _, p := range pumps {
		p.untilCaughtUp(t, "caught up")
	}
	start := time.Now()
	closeWithin(t, srv, 5*time.Second)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v", d)
	}
	deadline := time.After(5 * time.Second)
	for i, p := range pumps {
		var last subMsg
	drain:
		for {
			select {
			case m, ok := <-p.ch:
				if !ok {
					break drain
				}
				last = m
			case <-deadline:
				break drain
			}
		}
		if last.Kind != "dropped" {
			t.Errorf("subscription %d did not end within 5s of Close (last message %v)", i, last)
		}
	}
}
