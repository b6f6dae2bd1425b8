package projections

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crm-es/crm/eventstore"
)

// TestCommitPlan checks how a batch becomes commands: SETs of keys nothing
// else touches merge into MSETs sent first, everything else keeps its
// order, and the type checks are exactly the first set/zset op of each key
// whose stored type the track does not know.
func TestCommitPlan(t *testing.T) {
	type step func(b *batchTx)
	set := func(k, v string) step { return func(b *batchTx) { b.Set(k, v) } }
	zadd := func(k, m string) step { return func(b *batchTx) { b.ZAdd(k, 1, m) } }
	zrem := func(k, m string) step { return func(b *batchTx) { b.ZRem(k, m) } }
	sadd := func(k, m string) step { return func(b *batchTx) { b.SAdd(k, m) } }
	del := func(k string) step { return func(b *batchTx) { b.Del(k) } }
	tests := []struct {
		name      string
		known     map[string]string // types the track knows
		steps     []step
		wantCmds  [][]any
		wantCheck map[string]string
		wantFinal map[string]string
		wantErr   string
	}{
		{
			name:  "sets merge into one MSET, first",
			steps: []step{set("a", "1"), zadd("z", "m"), set("b", "2"), set("a", "3")},
			wantCmds: [][]any{
				{"MSET", "p:b", "2", "p:a", "3"},
				{"ZADD", "p:z", "1", "m"},
			},
			wantCheck: map[string]string{"p:z": "zset"},
			wantFinal: map[string]string{"p:a": "string", "p:b": "string", "p:z": "zset"},
		},
		{
			name:  "a set of a key other ops touch stays in order",
			steps: []step{del("a"), set("a", "1"), set("b", "2")},
			wantCmds: [][]any{
				{"MSET", "p:b", "2"},
				{"DEL", "p:a"},
				{"SET", "p:a", "1"},
			},
			wantCheck: map[string]string{},
			wantFinal: map[string]string{"p:a": "string", "p:b": "string"},
		},
		{
			name:      "known types need no check",
			known:     map[string]string{"p:z": "zset", "p:s": "none"},
			steps:     []step{zadd("z", "m"), sadd("s", "x"), sadd("t", "y")},
			wantCmds:  [][]any{{"ZADD", "p:z", "1", "m"}, {"SADD", "p:s", "x"}, {"SADD", "p:t", "y"}},
			wantCheck: map[string]string{"p:t": "set"},
			wantFinal: map[string]string{"p:z": "zset", "p:s": "set", "p:t": "set"},
		},
		{
			name:  "consecutive ops of one kind on a key merge",
			known: map[string]string{"p:s": "set", "p:z": "zset"},
			steps: []step{sadd("s", "a"), zadd("z", "m"), sadd("s", "b"), zrem("z", "m"), zadd("z", "n"), zadd("z", "o"), del("s"), sadd("s", "c")},
			wantCmds: [][]any{
				{"SADD", "p:s", "a", "b"},
				{"ZADD", "p:z", "1", "m"},
				{"ZREM", "p:z", "m"},
				{"ZADD", "p:z", "1", "n", "1", "o"},
				{"DEL", "p:s"},
				{"SADD", "p:s", "c"},
			},
			wantCheck: map[string]string{},
			wantFinal: map[string]string{"p:s": "set", "p:z": "zset"},
		},
		{
			name:      "a removal leaves the type unknown",
			steps:     []step{zrem("z", "m")},
			wantCmds:  [][]any{{"ZREM", "p:z", "m"}},
			wantCheck: map[string]string{"p:z": "zset"},
			wantFinal: map[string]string{"p:z": "zset?"},
		},
		{
			name:      "sorted-set ops after a removal are fine, a set op is not",
			known:     map[string]string{"p:z": "zset"},
			steps:     []step{zrem("z", "m"), zadd("z", "n"), zrem("z", "n"), zrem("z", "o")},
			wantCmds:  [][]any{{"ZREM", "p:z", "m"}, {"ZADD", "p:z", "1", "n"}, {"ZREM", "p:z", "n", "o"}},
			wantCheck: map[string]string{},
			wantFinal: map[string]string{"p:z": "zset?"},
		},
		{
			name:    "a set op after a sorted-set removal is refused",
			steps:   []step{zrem("z", "m"), sadd("z", "x")},
			wantErr: "CRMWRONGTYPE SADD on p:z holding a zset",
		},
		{
			name:    "a zset op on a key the batch set is refused",
			steps:   []step{set("k", "v"), zadd("k", "m")},
			wantErr: "CRMWRONGTYPE ZADD on p:k holding a string",
		},
		{
			name:    "a set op on a key known to be a zset is refused",
			known:   map[string]string{"p:k": "zset"},
			steps:   []step{sadd("k", "m")},
			wantErr: "CRMWRONGTYPE SADD on p:k holding a zset",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBatchTx(nil, "p:", newValueCache())
			for _, s := range tt.steps {
				s(b)
			}
			p, err := b.plan(func(k string) string { return tt.known[k] })
			if tt.wantErr != "" {
				if !errors.Is(err, errWrongType) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want errWrongType with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantCmds, p.cmds); diff != "" {
				t.Errorf("commands (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantCheck, p.check); diff != "" {
				t.Errorf("type checks (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantFinal, p.final); diff != "" {
				t.Errorf("types after (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCommitRefusesStoredWrongType: a write that does not fit the type a
// key has in Redis (one the track has not seen, so only the TYPE check
// before EXEC can tell) fails the whole batch before anything is written.
func TestCommitRefusesStoredWrongType(t *testing.T) {
	e := newEnv(t)
	for i := range 5 {
		e.append("s-"+string(rune('a'+i)), ping{N: i})
	}
	rt, cancel, done := e.start([]Projection{newCounter()}, rtOpts{})
	waitFor(t, 10*time.Second, "catch-up", func() bool { return caughtUp(t, rt, "counter", e.last) })
	cancel()
	<-done
	before := dump(t, e.redis.Client, "counter")
	tr := stoppedTrack(t, rt, "counter", 0)
	tr.pending = eventstore.CheckpointAt(tr.committed.Commit + 10)
	tr.batch.Set("fresh", "1")
	tr.batch.SAdd("n:s-a", "oops") // n:s-a holds a string
	err := tr.flush(context.Background())
	if !errors.Is(err, errWrongType) || !strings.Contains(err.Error(), "CRMWRONGTYPE") {
		t.Fatalf("flush = %v, want errWrongType", err)
	}
	if diff := cmp.Diff(before, dump(t, e.redis.Client, "counter")); diff != "" {
		t.Fatalf("a refused batch wrote (-before +after):\n%s", diff)
	}
}
