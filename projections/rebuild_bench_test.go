package projections_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/crm-es/crm/commands"
	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/internal/dataset"
	"github.com/crm-es/crm/internal/redistest"
	"github.com/crm-es/crm/internal/retailtest"
	"github.com/crm-es/crm/projections"
	"github.com/crm-es/crm/projections/readmodels"
)

// BenchmarkRebuildOnlineRetail imports the Online Retail file named by
// CRM_BENCH_ONLINE_RETAIL (csv or csv.gz; default ../shared/datasets), then times a rebuild of every
// read model from the start of $all into an empty Redis, beside the raw
// $all read rate. Skipped without the file.
func BenchmarkRebuildOnlineRetail(b *testing.B) {
	ctx := context.Background()
	store, err := eventstore.Open(ctx, eventstore.Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	sum := retailtest.Import(b, ctx, store, os.Getenv(dataset.OnlineRetailEnv))
	head, err := store.Head(ctx)
	if err != nil {
		b.Fatal(err)
	}
	events := sum.Events

	// Raw $all read rate through the client.
	start := time.Now()
	var after eventstore.Checkpoint
	n := 0
	for {
		evs, err := store.ReadAll(ctx, after, 4096)
		if err != nil {
			b.Fatal(err)
		}
		n += len(evs)
		if len(evs) < 4096 {
			break
		}
		after = evs[len(evs)-1].Checkpoint()
	}
	raw := float64(n) / time.Since(start).Seconds()
	b.Logf("raw $all read: %d events at %.0f events/s", n, raw)

	r := redistest.Start(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.FlushAll()
		rt, err := projections.NewRuntime(projections.RuntimeConfig{Store: store, Redis: r.Client, Codec: commands.NewCodec(),
			Projections: readmodels.All(), Logger: benchLogger()})
		if err != nil {
			b.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		start := time.Now()
		go func() { defer close(done); _ = rt.Run(rctx) }()
		for {
			if rt.Ready(ctx) == nil {
				sts, err := rt.Status(ctx)
				ok := err == nil
				for _, s := range sts {
					ok = ok && s.LagEvents == 0 && s.Head >= head.Commit
				}
				if ok {
					break
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		el := time.Since(start)
		cancel()
		<-done
		b.ReportMetric(float64(events)/el.Seconds(), "rebuild-events/s")
		b.ReportMetric(raw, "raw-all-events/s") // the ceiling, measured in the same run
		b.Logf("rebuild of %d projections over %d events: %s", len(readmodels.All()), events, el.Round(time.Millisecond))
	}
}

func benchLogger() *slog.Logger {
	if os.Getenv("CRM_BENCH_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
