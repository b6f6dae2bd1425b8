package memredis_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/crm-es/crm/commands"
	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/importer"
	"github.com/crm-es/crm/internal/memredis"
	"github.com/crm-es/crm/internal/redistest"
	"github.com/crm-es/crm/projections"
	"github.com/crm-es/crm/projections/churn"
	"github.com/crm-es/crm/projections/readmodels"
)

func start(t *testing.T) *memredis.Store {
	t.Helper()
	s, err := memredis.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func TestStartAndClose(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Errorf("listens on %s, want loopback", s.Addr())
	}
	if err := s.Client.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	other := redis.NewClient(&redis.Options{Addr: s.Addr()})
	defer other.Close()
	if v, err := other.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Errorf("second client: %q %v", v, err)
	}
	s2 := start(t)
	if s2.Addr() == s.Addr() {
		t.Errorf("two stores on one address %s", s.Addr())
	}
}

// allProjections is what cmd/crm runs.
func allProjections() []projections.Projection {
	return append(readmodels.All(), churn.NewProjection())
}

func runtime(t *testing.T, store *eventstore.Store, rdb redis.UniversalClient) (*projections.Runtime, context.CancelFunc, chan struct{}) {
	t.Helper()
	rt, err := projections.NewRuntime(projections.RuntimeConfig{Store: store, Redis: rdb, Codec: commands.NewCodec(),
		Projections: allProjections(), LeaseTTL: 500 * time.Millisecond, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = rt.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return rt, cancel, done
}

func caughtUp(t *testing.T, rt *projections.Runtime, head uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		sts, err := rt.Status(context.Background())
		ok := err == nil && len(sts) > 0
		for _, s := range sts {
			ok = ok && s.Active != "" && s.Building == "" && s.Checkpoint >= head && s.Parked == 0 && s.State != projections.StateFailed
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not caught up with %d within 30 s: %+v (%v)", head, sts, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dump returns every read-model key of the served generations, relative
// to their generation prefix, typed.

// TestProjectorScriptsOnEmbeddedStore runs the real projectors (every Lua
// script of the runtime: lease acquire, renew and release, the fenced
// plan writes, batch commits, the alias switch of a blue/green rebuild)
// and the churn scorer's write script on the embedded store, and requires
// exactly the keys a real redis-server gets.
func TestProjectorScriptsOnEmbeddedStore(t *testing.T) {
	ctx := context.Background()
	mem := start(t)
	real := redistest.Start(t)
	store, err := eventstore.Open(ctx, eventstore.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })

	_, cancel1, done1 := runtime(t, store, mem.Client)
	f, err := os.Open("../../importer/testdata/online-retail-slice.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := importer.ImportOnlineRetail(ctx, store, f, importer.Options{Workers: 2}); err != nil {
		t.Fatal(err)
	}
	head, err := store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Stop (release the leases) and start again: the new holder takes over.
	cancel1()
	<-done1
	rtMem, _, _ := runtime(t, store, mem.Client)
	caughtUp(t, rtMem, head.Commit)
	rtReal, _, _ := runtime(t, store, real.Client)
	caughtUp(t, rtReal, head.Commit)
	want := redistest.DumpServed(t, real.Client, allProjections(), projections.ActivePrefix)
	if len(want) < 100 {
		t.Fatalf("only %d keys on the real Redis", len(want))
	}
	if diff := cmp.Diff(want, redistest.DumpServed(t, mem.Client, allProjections(), projections.ActivePrefix)); diff != "" {
		t.Errorf("embedded store differs from redis-server (-redis +embedded):\n%s", diff)
	}

	// A blue/green rebuild on the embedded store switches the alias.
	before, err := mem.Client.Get(ctx, projections.AliasKey("customers")).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := rtMem.Rebuild(ctx, "customers"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		after, _ := mem.Client.Get(ctx, projections.AliasKey("customers")).Result()
		if after != "" && after != before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rebuild did not switch the alias from %s", before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	caughtUp(t, rtMem, head.Commit)
	if diff := cmp.Diff(want, redistest.DumpServed(t, mem.Client, allProjections(), projections.ActivePrefix)); diff != "" {
		t.Errorf("after a rebuild (-redis +embedded):\n%s", diff)
	}

	// The scorer's script: the same risk documents on both.
	now := time.Date(2012, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, rdb := range []*redis.Client{real.Client, mem.Client} {
		s, err := churn.NewScorer(churn.ScorerConfig{Redis: rdb, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		if st, ok, err := s.ScoreAll(ctx); err != nil || !ok || st.Scored == 0 {
			t.Fatalf("ScoreAll: %+v %v %v", st, ok, err)
		}
	}
	wantRisks, _, err := churn.ListRisks(ctx, real.Client, "", "", "", churn.MaxListLimit)
	if err != nil {
		t.Fatal(err)
	}
	gotRisks, _, err := churn.ListRisks(ctx, mem.Client, "", "", "", churn.MaxListLimit)
	if err != nil {
		t.Fatal(err)
	}
	if len(wantRisks) == 0 {
		t.Fatal("no risks scored")
	}
	if diff := cmp.Diff(wantRisks, gotRisks); diff != "" {
		t.Errorf("risks (-redis +embedded):\n%s", diff)
	}
}
