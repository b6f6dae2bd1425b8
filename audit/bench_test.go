package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
)

// writeCustomers writes customers × perCustomer events (one registration,
// then interactions), interleaved across customers in $all like an
// import, and returns the customer ids.
func writeCustomers(b *testing.B, s *eventstore.Store, customers, perCustomer int) []uuid.UUID {
	b.Helper()
	w := newWriter(b, s)
	ids := make([]uuid.UUID, customers)
	for i := range ids {
		ids[i] = uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "bench-%d", i))
		c := domain.NewCustomer()
		if err := c.Register(ids[i], domain.RegisterCustomer{Profile: domain.Profile{Name: "C"}}, t0); err != nil {
			b.Fatal(err)
		}
		w.append(domain.CustomerStream(ids[i]), c.Changes()...)
	}
	for round := 1; round < perCustomer; round += 10 {
		for _, id := range ids {
			batch := make([]domain.Event, 0, 10)
			for k := round; k < min(round+10, perCustomer); k++ {
				batch = append(batch, domain.InteractionLogged{CustomerID: id, InteractionID: uuid.NewSHA1(id, fmt.Appendf(nil, "%d", k)),
					Channel: "call", OccurredAt: t0, Summary: "s"})
			}
			w.append(domain.CustomerStream(id), batch...)
		}
	}
	return ids
}

// BenchmarkLinkerCatchUp: a fresh linker links a log of 500 customers × 20
// events (10,000 events, as after an import); events/s is the catch-up rate.
func BenchmarkLinkerCatchUp(b *testing.B) {
	const customers, per = 500, 20
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := openStore(b) // a fresh log each round: no link exists yet
		writeCustomers(b, s, customers, per)
		b.StartTimer()
		start := time.Now()
		l, stop := startLinker(b, s, LinkerConfig{})
		waitCaughtUp(b, s, l)
		stop()
		b.ReportMetric(float64(customers*per)/time.Since(start).Seconds(), "events/s")
		if l.Linked() != customers*per {
			b.Fatalf("linked %d, want %d", l.Linked(), customers*per)
		}
	}
}

// BenchmarkHistoryNDJSON: one customer's history of 5,000 events read
// through the link stream and encoded as NDJSON; events/s is the rate.
func BenchmarkHistoryNDJSON(b *testing.B) {
	s := openStore(b)
	ids := writeCustomers(b, s, 1, 5000)
	l, stop := startLinker(b, s, LinkerConfig{})
	waitCaughtUp(b, s, l)
	stop()
	lg := NewLog(LogConfig{Store: s})
	enc := json.NewEncoder(io.Discard)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		start := time.Now()
		err := lg.History(context.Background(), ids[0], Cursor{}, func(e Event, _ Cursor) error {
			n++
			return enc.Encode(e)
		})
		if err != nil || n != 5000 {
			b.Fatalf("history: %d events, %v", n, err)
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
	}
}
