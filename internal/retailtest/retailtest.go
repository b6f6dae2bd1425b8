// Package retailtest loads the UCI Online Retail data set into an event
// store for tests and benchmarks (internal/dataset finds the file).
//
// Import rule: eventstore, importer, internal/dataset and the standard
// library only.
package retailtest

import (
	"context"
	"os"
	"testing"

	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/importer"
	"github.com/crm-es/crm/internal/dataset"
)

// Import imports the whole Online Retail file into store (override names
// the file, as dataset.OnlineRetail takes it: the caller reads
// CRM_BENCH_ONLINE_RETAIL) and returns the import's summary. It skips tb
// when the file is not there and fails it when the import fails.
func Import(tb testing.TB, ctx context.Context, store *eventstore.Store, override string) *importer.Summary {
	tb.Helper()
	path, err := dataset.OnlineRetail(override)
	if err != nil {
		tb.Skip(err)
	}
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sum, err := importer.ImportOnlineRetail(ctx, store, f, importer.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return sum
}
