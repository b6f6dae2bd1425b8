package churn_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/crm-es/crm/commands"
	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/internal/dataset"
	"github.com/crm-es/crm/internal/redistest"
	"github.com/crm-es/crm/internal/retailtest"
	"github.com/crm-es/crm/projections"
	"github.com/crm-es/crm/projections/churn"
)

// BenchmarkChurnOnlineRetail imports the Online Retail file named by
// CRM_BENCH_ONLINE_RETAIL (default ../shared/datasets), then times the
// churn signals projection's build from the start of $all, one scoring
// pass of every customer without warnings (at 2011-12-10, the end of the
// data), and one at the current time with warnings through the command
// side (on this old history the rule fires for every active customer).
// Skipped without the file.
func BenchmarkChurnOnlineRetail(b *testing.B) {
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
	r := redistest.Start(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.FlushAll()
		rt, err := projections.NewRuntime(projections.RuntimeConfig{Store: store, Redis: r.Client, Codec: commands.NewCodec(),
			Projections: []projections.Projection{churn.NewProjection()}})
		if err != nil {
			b.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		start := time.Now()
		go func() { defer close(done); _ = rt.Run(rctx) }()
		for {
			sts, err := rt.Status(ctx)
			if err == nil && len(sts) == 1 && sts[0].Active != "" && sts[0].LagEvents == 0 && sts[0].Head >= head.Commit {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		build := time.Since(start)
		cancel()
		<-done

		end := time.Date(2011, 12, 10, 0, 0, 0, 0, time.UTC)
		s, err := churn.NewScorer(churn.ScorerConfig{Redis: r.Client, Now: func() time.Time { return end }})
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		st, ok, err := s.ScoreAll(ctx)
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
		score := time.Since(start)

		h := commands.New(commands.Config{Store: store})
		sw, err := churn.NewScorer(churn.ScorerConfig{Redis: r.Client, Warner: warner{h}})
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		stw, ok, err := sw.ScoreAll(ctx)
		if err != nil || !ok || stw.Failed > 0 {
			b.Fatal(stw, ok, err)
		}
		warn := time.Since(start)

		b.ReportMetric(float64(sum.Events)/build.Seconds(), "build-events/s")
		b.ReportMetric(float64(st.Scored)/score.Seconds(), "scored-customers/s")
		b.ReportMetric(float64(stw.Warned)/warn.Seconds(), "warnings/s")
		b.Logf("signals build over %d events: %s; scoring %d customers: %s; at now with warnings: %d scored, %d warned in %s",
			sum.Events, build.Round(time.Millisecond), st.Scored, score.Round(time.Millisecond), stw.Scored, stw.Warned, warn.Round(time.Millisecond))
	}
}
