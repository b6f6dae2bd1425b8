package projections_test

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
	"github.com/crm-es/crm/internal/redistest"
	"github.com/crm-es/crm/projections"
	"github.com/crm-es/crm/projections/readmodels"
)

// TestReadModelsEndToEnd drives the real read models through the runtime
// on a real Redis while the Online Retail slice is imported, restarting
// the projector halfway, and compares every read-model key with a clean
// rebuild into another database. Nothing may be parked.
func TestReadModelsEndToEnd(t *testing.T) {
	r := redistest.Start(t)
	store, err := eventstore.Open(context.Background(), eventstore.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })

	run := func(rdb *redis.Client) (*projections.Runtime, context.CancelFunc, chan struct{}) {
		rt, err := projections.NewRuntime(projections.RuntimeConfig{Store: store, Redis: rdb, Codec: commands.NewCodec(),
			Projections: readmodels.All(), LeaseTTL: 500 * time.Millisecond, PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = rt.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		return rt, cancel, done
	}

	_, cancel1, done1 := run(r.Client)
	imported := make(chan error, 1)
	go func() {
		f, err := os.Open("../importer/testdata/online-retail-slice.csv")
		if err != nil {
			imported <- err
			return
		}
		defer f.Close()
		_, err = importer.ImportOnlineRetail(context.Background(), store, f, importer.Options{Workers: 4})
		imported <- err
	}()
	time.Sleep(100 * time.Millisecond)
	cancel1() // a restart in the middle of the import
	<-done1
	rt, _, _ := run(r.Client)
	if err := <-imported; err != nil {
		t.Fatal(err)
	}
	head, err := store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, rt, head.Commit)

	clean := r.NewClient(1)
	rtClean, _, _ := run(clean)
	waitCaughtUp(t, rtClean, head.Commit)

	sts, _ := rt.Status(context.Background())
	total := 0
	for _, s := range sts {
		if s.Parked != 0 {
			t.Errorf("%s: %d events parked", s.Name, s.Parked)
		}
		got, want := dumpActive(t, r.Client, s.Name), dumpActive(t, clean, s.Name)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: read model after a restart differs from a clean rebuild (-clean +restarted):\n%s", s.Name, diff)
		}
		total += len(got)
	}
	if total < 100 {
		t.Fatalf("only %d read-model keys", total)
	}

	// Rebuild every projection while it serves (two generations fed at
	// once by the same instances), then compare again.
	for _, s := range sts {
		if err := rt.Rebuild(context.Background(), s.Name); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		sts, err := rt.Status(context.Background())
		done := err == nil
		for _, s := range sts {
			done = done && strings.HasSuffix(s.Active, "-r1") && s.Building == "" && s.LagEvents == 0
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rebuilds did not finish: %+v (%v)", sts, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, s := range sts {
		if diff := cmp.Diff(dumpActive(t, clean, s.Name), dumpActive(t, r.Client, s.Name)); diff != "" {
			t.Errorf("%s: rebuilt generation differs from a clean rebuild:\n%s", s.Name, diff)
		}
	}
	t.Logf("%d read-model keys across %d projections equal a clean rebuild", total, len(sts))
}

func waitCaughtUp(t *testing.T, rt *projections.Runtime, head uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		sts, err := rt.Status(context.Background())
		ok := err == nil
		for _, s := range sts {
			ok = ok && s.Active != "" && s.Building == "" && s.Head >= head && s.LagEvents == 0
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not caught up within 30 s: %+v (%v)", sts, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func dumpActive(t *testing.T, rdb *redis.Client, name string) map[string]string {
	t.Helper()
	prefix, ok, err := projections.ActivePrefix(context.Background(), rdb, name)
	if err != nil || !ok {
		t.Fatalf("%s: no active generation (%v)", name, err)
	}
	return redistest.Dump(t, rdb, prefix)
}
