package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
)

func runExport(t *testing.T, s *eventstore.Store, f ExportFilter) []Event {
	t.Helper()
	var buf bytes.Buffer
	var last ExportProgress
	n, err := Export(context.Background(), s, &buf, f, func(p ExportProgress) { last = p })
	if err != nil {
		t.Fatal(err)
	}
	var out []Event
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	if n != len(out) || last.Exported != n || last.Position != last.Head {
		t.Errorf("Export returned %d, wrote %d lines, last progress %+v", n, len(out), last)
	}
	return out
}

// TestExport: stream prefix, event type and record-time filters select
// exactly the events read directly from the streams; system events (links,
// the linker's checkpoints) are left out.
func TestExport(t *testing.T) {
	s := openStore(t)
	w := newWriter(t, s)
	sc := writeScenario(t, w, "export")
	l, stop := startLinker(t, s, LinkerConfig{})
	waitCaughtUp(t, s, l)
	stop()
	time.Sleep(20 * time.Millisecond)
	since := time.Now().UTC()
	time.Sleep(20 * time.Millisecond)
	ord := uuid.NewSHA1(uuid.NameSpaceOID, []byte("export/order-a"))
	w.append(domain.OrderStream(ord), domain.OrderDelivered{OrderID: ord, CustomerID: sc.a, DeliveredAt: t0})
	w.append(domain.CustomerStream(sc.b), domain.CustomerCreditRated{CustomerID: sc.b, To: 2})
	time.Sleep(20 * time.Millisecond)
	until := time.Now().UTC()
	time.Sleep(20 * time.Millisecond)
	w.append(domain.CustomerStream(sc.b), domain.CustomerCreditRated{CustomerID: sc.b, From: 2, To: 3})

	load := func(streams ...string) []Event {
		var out []Event
		for _, st := range streams {
			evs, _, err := s.LoadStream(context.Background(), st)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range evs {
				out = append(out, FromRecorded(r))
			}
		}
		return out
	}
	byPos := func(evs []Event) []Event {
		out := append([]Event(nil), evs...)
		for i := range out {
			for j := i + 1; j < len(out); j++ {
				if out[j].Position < out[i].Position {
					out[i], out[j] = out[j], out[i]
				}
			}
		}
		return out
	}
	orderA := domain.OrderStream(ord)
	orderB := domain.OrderStream(uuid.NewSHA1(uuid.NameSpaceOID, []byte("export/order-b")))
	custB := load(domain.CustomerStream(sc.b))

	tests := []struct {
		name   string
		filter ExportFilter
		want   []Event
	}{
		{"prefix", ExportFilter{StreamPrefixes: []string{"order-"}}, byPos(load(orderA, orderB))},
		{"type", ExportFilter{Types: []string{domain.TypeCustomerCreditRated, domain.TypeOrderShipped}},
			byPos(append(load(orderA)[1:2], custB[len(custB)-2:]...))},
		{"time range", ExportFilter{Since: since, Until: until}, byPos(append(load(orderA)[2:], custB[len(custB)-2]))},
		{"all three", ExportFilter{StreamPrefixes: []string{"customer-"}, Types: []string{domain.TypeCustomerCreditRated}, Since: since},
			custB[len(custB)-2:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, runExport(t, s, tt.filter)); diff != "" {
				t.Errorf("export (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("no system events", func(t *testing.T) {
		for _, e := range runExport(t, s, ExportFilter{}) {
			if e.Type[0] == '$' || e.Stream[0] == '$' || e.Stream == CheckpointStream || len(e.Stream) > len(HistoryStreamPrefix) && e.Stream[:len(HistoryStreamPrefix)] == HistoryStreamPrefix {
				t.Errorf("system event exported: %s %s@%d", e.Type, e.Stream, e.Revision)
			}
		}
	})
	t.Run("empty range", func(t *testing.T) {
		if _, err := Export(context.Background(), s, &bytes.Buffer{}, ExportFilter{Since: until, Until: since}, nil); err == nil {
			t.Error("an empty time range was accepted")
		}
	})
}
