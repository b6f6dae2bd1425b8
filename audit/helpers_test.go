package audit

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/internal/eventcodec"
)

// openStore starts the embedded event store in a temporary directory and
// connects to it through the official client.
func openStore(t testing.TB) *eventstore.Store {
	t.Helper()
	s, err := eventstore.Open(context.Background(), eventstore.Config{DataDir: t.TempDir(), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func testLogger() *slog.Logger {
	if os.Getenv("AUDIT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// writer appends domain events with the project's envelope, keeping each
// stream's revision.
type writer struct {
	t     testing.TB
	store *eventstore.Store
	codec *eventstore.Codec
	revs  map[string]int64
	n     int
}

func newWriter(t testing.TB, s *eventstore.Store) *writer {
	return &writer{t: t, store: s, codec: eventcodec.New(), revs: map[string]int64{}}
}

// append writes events to stream as one batch and returns the result.
func (w *writer) append(stream string, events ...domain.Event) eventstore.AppendResult {
	w.t.Helper()
	rev, ok := w.revs[stream]
	if !ok {
		rev = -1
	}
	w.n++
	cmd := uuid.NewSHA1(uuid.NameSpaceOID, []byte(stream+"/"+time.Now().String()+"/"+string(rune(w.n)))).String()
	pend := make([]eventstore.Pending, len(events))
	for i, e := range events {
		p, err := w.codec.NewPending(e, eventstore.Metadata{CorrelationID: cmd, CausationID: cmd, Actor: "user-7", CommandID: cmd,
			OccurredAt: time.Date(2024, 3, 1, 9, 30, 0, 0, time.UTC)})
		if err != nil {
			w.t.Fatal(err)
		}
		pend[i] = p
	}
	res, err := w.store.Append(context.Background(), stream, rev, pend)
	if err != nil {
		w.t.Fatalf("append to %s: %v", stream, err)
	}
	w.revs[stream] = int64(res.Revision)
	return res
}

// scenario writes a small CRM: customers A and B with their own events,
// an opportunity, a service request and an order of A, a prospect
// opportunity that is won (registering customer C), and B's order, all
// interleaved in $all.
type scenario struct {
	a, b, c  uuid.UUID
	streamsA []string
}

var t0 = time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)

func writeScenario(t testing.TB, w *writer, seed string) scenario {
	t.Helper()
	id := func(s string) uuid.UUID { return uuid.NewSHA1(uuid.NameSpaceOID, []byte(seed+"/"+s)) }
	sc := scenario{a: id("a"), b: id("b")}
	register := func(cid uuid.UUID, name string) {
		c := domain.NewCustomer()
		if err := c.Register(cid, domain.RegisterCustomer{Profile: domain.Profile{Name: name, Region: "UK"}, Level: 2, OwnerID: "user-7"}, t0); err != nil {
			t.Fatal(err)
		}
		w.append(domain.CustomerStream(cid), c.Changes()...)
	}
	register(sc.a, "Acme Ltd")
	register(sc.b, "Bolt plc")
	w.append(domain.CustomerStream(sc.a), domain.ContactAdded{CustomerID: sc.a, ContactID: id("contact"), Contact: domain.Contact{Name: "Ann"}})

	oppA := id("opp-a")
	o := domain.NewOpportunity()
	if err := o.Create(oppA, domain.CreateOpportunity{Title: "Renewal", CustomerID: &sc.a}, t0); err != nil {
		t.Fatal(err)
	}
	if err := o.Assign("user-7", t0); err != nil {
		t.Fatal(err)
	}
	w.append(domain.OpportunityStream(oppA), o.Changes()...)
	w.append(domain.CustomerStream(sc.b), domain.CustomerLevelChanged{CustomerID: sc.b, From: 2, To: 3})

	svc := id("svc-a")
	w.append(domain.ServiceStream(svc), domain.ServiceRequestOpened{ServiceRequestID: svc, CustomerID: sc.a, Type: "complaint", Title: "Late", Request: "Where is it?", OpenedAt: t0})
	ordA, ordB := id("order-a"), id("order-b")
	total, err := domain.ParseDecimal("10.00")
	if err != nil {
		t.Fatal(err)
	}
	w.append(domain.OrderStream(ordA), domain.OrderPlaced{OrderID: ordA, CustomerID: sc.a, OrderedAt: t0, Currency: "GBP", Total: total})
	w.append(domain.OrderStream(ordB), domain.OrderPlaced{OrderID: ordB, CustomerID: sc.b, OrderedAt: t0, Currency: "GBP", Total: total})
	w.append(domain.OrderStream(ordA), domain.OrderShipped{OrderID: ordA, CustomerID: sc.a, Carrier: "DHL", ShippedAt: t0})
	w.append(domain.ServiceStream(svc), domain.ServiceRequestAssigned{ServiceRequestID: svc, CustomerID: sc.a, AssigneeID: "agent-1", AssignedAt: t0})

	// A prospect opportunity, won: the customer registered from it is C.
	oppP := id("opp-p")
	p := domain.NewOpportunity()
	if err := p.Create(oppP, domain.CreateOpportunity{Title: "New shop", Prospect: &domain.Prospect{Name: "Cobalt", ContactName: "Cy"}}, t0); err != nil {
		t.Fatal(err)
	}
	if err := p.Assign("user-7", t0); err != nil {
		t.Fatal(err)
	}
	w.append(domain.OpportunityStream(oppP), p.Changes()...)
	p.ClearChanges()
	newCust, err := p.Win(domain.WinOpportunity{}, t0)
	if err != nil {
		t.Fatal(err)
	}
	sc.c = newCust.ID()
	w.append(domain.CustomerStream(sc.c), newCust.Changes()...)
	w.append(domain.OpportunityStream(oppP), p.Changes()...)
	w.append(domain.CustomerStream(sc.a), domain.InteractionLogged{CustomerID: sc.a, InteractionID: id("int"), Channel: "call", OccurredAt: t0, Summary: "Called"})

	sc.streamsA = []string{domain.CustomerStream(sc.a), domain.OpportunityStream(oppA), domain.ServiceStream(svc), domain.OrderStream(ordA)}
	return sc
}

// direct reads every given stream with the eventstore client and keeps the
// events that belong to cid, in $all order: what a history must equal.
func direct(t testing.TB, s *eventstore.Store, cid uuid.UUID, streams []string) []Event {
	t.Helper()
	var out []Event
	for _, st := range streams {
		evs, _, err := s.LoadStream(context.Background(), st)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range evs {
			if c, ok, err := CustomerOf(r.Stream, r.Type, r.Data); err == nil && ok && c == cid {
				out = append(out, FromRecorded(r))
			}
		}
	}
	slices.SortFunc(out, func(a, b Event) int { return int(a.Position) - int(b.Position) })
	return out
}

// history collects a whole history.
func history(t testing.TB, l *Log, cid uuid.UUID) []Event {
	t.Helper()
	var out []Event
	if err := l.History(testContext(t), cid, Cursor{}, func(e Event, _ Cursor) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}
