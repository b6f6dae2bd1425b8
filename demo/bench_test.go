package demo_test

import (
	"context"
	"testing"
	"time"

	"github.com/crm-es/crm/demo"
	"github.com/crm-es/crm/eventstore"
)

// BenchmarkLoad measures "crm demo" on a fresh embedded event store: the
// default slice (250 customers) and seed, import and generated commands.
// Target: seconds (the first start of make run waits for it).
func BenchmarkLoad(b *testing.B) {
	var commands int
	var took time.Duration
	for b.Loop() {
		b.StopTimer()
		store, err := eventstore.Open(context.Background(), eventstore.Config{DataDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		sum, err := demo.Load(context.Background(), store, demo.Options{Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		took += time.Since(start)
		commands += sum.Recorded
		b.StopTimer()
		store.Close()
		b.StartTimer()
	}
	b.ReportMetric(took.Seconds()/float64(b.N), "s/load")
	b.ReportMetric(float64(commands)/took.Seconds(), "commands/s")
}
