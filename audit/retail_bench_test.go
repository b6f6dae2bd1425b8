package audit

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/internal/dataset"
	"github.com/crm-es/crm/internal/retailtest"
)

// BenchmarkLinkerOnlineRetail imports the Online Retail file named by
// CRM_BENCH_ONLINE_RETAIL (default ../../shared/datasets), then times a
// fresh linker linking the whole log, and the history (NDJSON-encoded) of
// the customer with the most events, read with the linker caught up and
// with no link at all ($all scanned). Skipped without the file.
func BenchmarkLinkerOnlineRetail(b *testing.B) {
	ctx := context.Background()
	s := openStore(b)
	sum := retailtest.Import(b, ctx, s, os.Getenv(dataset.OnlineRetailEnv))
	// The customer with the most events.
	counts := map[uuid.UUID]int{}
	after := eventstore.Checkpoint{}
	for {
		page, err := s.ReadAll(ctx, after, 4096)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range page {
			if c, ok, err := CustomerOf(r.Stream, r.Type, r.Data); err == nil && ok {
				counts[c]++
			}
			after = r.Checkpoint()
		}
		if len(page) < 4096 {
			break
		}
	}
	var top uuid.UUID
	for c, n := range counts {
		if n > counts[top] {
			top = c
		}
	}
	lg := NewLog(LogConfig{Store: s})
	readHistory := func(label string) {
		enc := json.NewEncoder(io.Discard)
		n := 0
		start := time.Now()
		if err := lg.History(ctx, top, Cursor{}, func(e Event, _ Cursor) error { n++; return enc.Encode(e) }); err != nil {
			b.Fatal(err)
		}
		if n != counts[top] {
			b.Fatalf("%s: history has %d events, want %d", label, n, counts[top])
		}
		b.Logf("%s: %d events in %s", label, n, time.Since(start).Round(time.Millisecond))
	}
	readHistory("history-unlinked")

	b.ResetTimer()
	start := time.Now()
	l, stop := startLinker(b, s, LinkerConfig{})
	waitCaughtUp(b, s, l)
	stop()
	took := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(l.Linked())/took.Seconds(), "links/s")
	b.ReportMetric(took.Seconds(), "link-all-s")
	b.Logf("imported %d events; linked %d events of %d customers in %s; top customer %s has %d events",
		sum.Events, l.Linked(), len(counts), took.Round(time.Millisecond), domain.CustomerStream(top), counts[top])
	readHistory("history-linked")
}
