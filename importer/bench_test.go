package importer_test

import (
	"context"
	"os"
	"runtime/debug"
	"testing"

	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/importer"
	"github.com/crm-es/crm/internal/dataset"
)

// BenchmarkImportOnlineRetail imports the whole Online Retail data set
// (541,909 lines) into a fresh embedded event store, through the official
// client, once per iteration, and reports seconds per import and events/s.
// It is skipped when the file is not there.
func BenchmarkImportOnlineRetail(b *testing.B) {
	fullDataset, err := dataset.OnlineRetail(os.Getenv(dataset.OnlineRetailEnv))
	if err != nil {
		b.Skip(err)
	}
	// As "crm import" does: collect garbage less often while the whole
	// file's invoices are in memory.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	ctx := context.Background()
	var events, seconds float64
	for b.Loop() {
		b.StopTimer()
		store, err := eventstore.Open(ctx, eventstore.Config{DataDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		f, err := os.Open(fullDataset)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		sum, err := importer.ImportOnlineRetail(ctx, store, f, importer.Options{})
		b.StopTimer()
		f.Close()
		store.Close()
		if err != nil {
			b.Fatal(err)
		}
		if sum.Appended != sum.Events {
			b.Fatalf("appended %d of %d events", sum.Appended, sum.Events)
		}
		events += float64(sum.Appended)
		seconds += sum.Duration.Seconds()
		b.StartTimer()
	}
	b.ReportMetric(seconds/float64(b.N), "s/import")
	b.ReportMetric(events/seconds, "events/s")
}
