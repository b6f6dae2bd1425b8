package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/crm-es/crm/eventstore"
)

// TestCatchUpSharesPages runs readers from different checkpoints over a
// real store: each must get every event after its start exactly once, in
// order, with the decoded data, and readers on the same pages must share
// the reads.
func TestCatchUpSharesPages(t *testing.T) {
	ctx := context.Background()
	st, err := eventstore.Open(ctx, eventstore.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	const streams, perBatch, batches = 5, 100, 30 // 3,000 events
	for b := range batches {
		stream := fmt.Sprintf("s-%d", b%streams)
		evs := make([]eventstore.Pending, perBatch)
		for i := range evs {
			data, _ := json.Marshal(ping{N: b*perBatch + i})
			evs[i] = eventstore.Pending{Type: "TestPing", Data: data, ID: uuid.New()}
		}
		exp := int64(eventstore.NoStream)
		if b >= streams {
			exp = int64(b/streams*perBatch - 1)
		}
		if _, err := st.Append(ctx, stream, exp, evs); err != nil {
			t.Fatal(err)
		}
	}
	var all []uint64
	var after eventstore.Checkpoint
	for {
		evs, err := st.ReadAll(ctx, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if !e.IsSystem() {
				all = append(all, e.Position)
			}
		}
		if len(evs) < 1000 {
			break
		}
		after = evs[len(evs)-1].Checkpoint()
	}
	if len(all) != perBatch*batches {
		t.Fatalf("store holds %d events, want %d", len(all), perBatch*batches)
	}

	var reads atomic.Int64
	codec := testCodec()
	c := newCatchUp(func(ctx context.Context, after eventstore.Checkpoint, limit int) ([]eventstore.Recorded, error) {
		reads.Add(1)
		return st.ReadAll(ctx, after, limit)
	}, codec.DecodeRecorded, func(typ string) bool { return typ == "TestPing" })

	starts := []int{-1, -1, -1, -1, 1234, len(all) - 10} // index in all of the start (-1: from the beginning)
	got := make([][]uint64, len(starts))
	var wg sync.WaitGroup
	errs := make(chan error, len(starts))
	for i, s := range starts {
		from := eventstore.Checkpoint{}
		if s >= 0 {
			from = eventstore.CheckpointAt(all[s])
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.join(from)
			defer r.leave()
			for {
				p, err := r.next(ctx)
				if err != nil {
					errs <- err
					return
				}
				for _, e := range p.events {
					if e.rec.IsSystem() {
						continue
					}
					if _, ok := e.value.(ping); e.err != nil || !ok {
						errs <- fmt.Errorf("reader %d: event %d decoded as %#v, %v", i, e.rec.Position, e.value, e.err)
						return
					}
					got[i] = append(got[i], e.rec.Position)
				}
				if i%2 == 0 {
					time.Sleep(time.Millisecond) // readers at different speeds
				}
				if p.head {
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, s := range starts {
		if diff := cmp.Diff(all[s+1:], got[i]); diff != "" {
			t.Errorf("reader %d from index %d (-want +got):\n%s", i, s, diff)
		}
	}
	// Four readers from the start: without sharing about 4×3 reads of the
	// first 3,000 events, shared about 3 (+1 per reader that starts
	// elsewhere, + a page read ahead or re-read after eviction).
	pages := int64(len(all)/catchUpPage + 1)
	if n := reads.Load(); n > 2*pages+4 {
		t.Errorf("%d page reads for %d pages: readers did not share", n, pages)
	}
	// Pages still being read when the last reader left drop themselves.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c.mu.Lock()
		left := len(c.pages)
		c.mu.Unlock()
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pages kept after every reader left", left)
		}
	}
}
