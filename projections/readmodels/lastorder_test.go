package readmodels

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/projections"
)

// orderStep is a placement (at set) or a cancellation (at zero) of the
// order named by name.
type orderStep struct {
	name string
	at   time.Time
}

func place(name string, at time.Time) orderStep { return orderStep{name: name, at: at} }
func cancel(name string) orderStep              { return orderStep{name: name} }

// orderHistory registers a customer and applies steps to its orders.
func orderHistory(cust string, steps []orderStep) []projections.Event {
	var b builder
	c := id(cust)
	reg := day0(2010, 1, 1)
	b.add(domain.CustomerStream(c), reg, domain.CustomerRegistered{CustomerID: c,
		Profile: domain.Profile{Name: "Last Order " + cust}, Level: 1, OwnerID: "u-sales1", RegisteredAt: reg})
	clock := day0(2012, 1, 1)
	for _, s := range steps {
		o := id(cust + "/" + s.name)
		clock = clock.Add(time.Hour)
		if s.at.IsZero() {
			b.add(domain.OrderStream(o), clock, domain.OrderCancelled{OrderID: o, CustomerID: c, Reason: "test",
				PreviousStatus: domain.OrderStatusPlaced, Total: dec("10"), Currency: "GBP", CancelledAt: clock})
			continue
		}
		b.add(domain.OrderStream(o), clock, domain.OrderPlaced{OrderID: o, CustomerID: c, OrderedAt: s.at, Currency: "GBP",
			Lines: []domain.OrderLine{{SKU: "S", Quantity: dec("1"), UnitPrice: dec("10"), Amount: dec("10")}}, Total: dec("10")})
	}
	return b.events
}

// TestLastOrderAtSkipsCancelled: kpis.lastOrderAt is the latest orderedAt
// of the orders not cancelled; cancelling the latest moves it back to the
// previous one not cancelled (none: absent), whatever order the orders
// were placed and cancelled in, and a replay of any prefix changes
// nothing.
func TestLastOrderAtSkipsCancelled(t *testing.T) {
	jan, feb, mar := day0(2011, 1, 5), day0(2011, 2, 5), day0(2011, 3, 5)
	tests := []struct {
		name  string
		steps []orderStep
		want  *time.Time
		// orders and cancelled are the KPIs' counts.
		orders, cancelled int
	}{
		{"latest cancelled", []orderStep{place("o1", jan), place("o2", mar), cancel("o2")}, &jan, 2, 1},
		{"older cancelled", []orderStep{place("o1", jan), place("o2", mar), cancel("o1")}, &mar, 2, 1},
		{"back two steps", []orderStep{place("o1", jan), place("o2", mar), place("o3", feb), cancel("o2"), cancel("o3")}, &jan, 3, 2},
		{"back one step", []orderStep{place("o1", jan), place("o2", mar), place("o3", feb), cancel("o2")}, &feb, 3, 1},
		{"all cancelled", []orderStep{place("o1", jan), place("o2", mar), cancel("o2"), cancel("o1")}, nil, 2, 2},
		{"only one, cancelled", []orderStep{place("o1", feb), cancel("o1")}, nil, 1, 1},
		{"placed after a cancellation", []orderStep{place("o1", mar), cancel("o1"), place("o2", jan)}, &jan, 2, 1},
		{"placed out of date order", []orderStep{place("o1", mar), place("o2", jan)}, &mar, 2, 0},
		{"equal times, one cancelled", []orderStep{place("o1", mar), place("o2", mar), cancel("o2")}, &mar, 2, 1},
		{"equal times, other cancelled", []orderStep{place("o1", mar), place("o2", mar), cancel("o1")}, &mar, 2, 1},
		{"none", nil, nil, 0, 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cust := fmt.Sprintf("last-order-%d", i)
			events := orderHistory(cust, tt.steps)
			check := func(t *testing.T, s *store, how string) {
				t.Helper()
				var c Customer
				s.doc(t, Customers{}, CustomerKey(id(cust).String()), &c)
				if diff := cmp.Diff(tt.want, c.KPIs.LastOrderAt); diff != "" {
					t.Errorf("%s: lastOrderAt (-want +got):\n%s", how, diff)
				}
				if c.KPIs.Orders != tt.orders || c.KPIs.CancelledOrders != tt.cancelled {
					t.Errorf("%s: %d orders, %d cancelled, want %d, %d", how, c.KPIs.Orders, c.KPIs.CancelledOrders, tt.orders, tt.cancelled)
				}
			}
			clean := newStore()
			clean.apply(t, events)
			check(t, clean, "one pass")
			want := clean.dump()
			for k := 0; k <= len(events); k++ {
				// Redelivered (a prefix, then everything), through the
				// runtime's DocTx path.
				s := newStore().withDocs(t)
				s.apply(t, events[:k])
				s.apply(t, events)
				s.checkDocs()
				check(t, s, fmt.Sprintf("prefix %d redelivered", k))
				if diff := cmp.Diff(want, s.dump()); diff != "" {
					t.Errorf("prefix %d then everything differs from one pass (-clean +replayed):\n%s", k, diff)
				}
			}
		})
	}
}

// TestLastOrderRandomHistories: over random histories of placements (in
// any date order, with equal dates) and cancellations, lastOrderAt and
// lastOrderId are the newest order not cancelled by (orderedAt, stream),
// as a plain scan of the history computes it.
func TestLastOrderRandomHistories(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	days := []time.Time{day0(2011, 1, 5), day0(2011, 2, 5), day0(2011, 3, 5), day0(2011, 4, 5)}
	for round := range 100 {
		cust := fmt.Sprintf("random-%d", round)
		var steps []orderStep
		placed := map[string]time.Time{}
		live := map[string]bool{}
		for i := range 4 + rng.IntN(20) {
			var cands []string
			for n := range live {
				cands = append(cands, n)
			}
			slices.Sort(cands)
			if len(cands) > 0 && rng.IntN(3) == 0 {
				n := cands[rng.IntN(len(cands))]
				steps = append(steps, cancel(n))
				delete(live, n)
				continue
			}
			n := fmt.Sprintf("o%d", i)
			placed[n] = days[rng.IntN(len(days))]
			live[n] = true
			steps = append(steps, place(n, placed[n]))
		}
		var wantID string
		var wantAt *time.Time
		for n := range live {
			s := domain.OrderStream(id(cust + "/" + n))
			if at := placed[n]; wantAt == nil || at.After(*wantAt) || at.Equal(*wantAt) && s > domain.OrderStream(uuid.MustParse(wantID)) {
				wantID, wantAt = id(cust+"/"+n).String(), tptr(at)
			}
		}
		s := newStore().withDocs(t)
		s.apply(t, orderHistory(cust, steps))
		s.checkDocs()
		var c Customer
		s.doc(t, Customers{}, CustomerKey(id(cust).String()), &c)
		if diff := cmp.Diff(wantAt, c.KPIs.LastOrderAt); diff != "" || c.KPIs.LastOrderID != wantID {
			t.Fatalf("round %d, steps %v: last order %s at %v, want %s (-want +got at):\n%s", round, steps, c.KPIs.LastOrderID, c.KPIs.LastOrderAt, wantID, diff)
		}
	}
}

// TestLinkRoundTrip: a link's text form decodes to the same link, with and
// without its list part, and a broken one is a permanent error.
func TestLinkRoundTrip(t *testing.T) {
	at := time.Date(2011, 1, 2, 3, 4, 5, 600, time.UTC)
	for _, l := range []link{
		{Revision: 3, CustomerID: "c", Open: true, Value: dec("10.5"), Currency: "GBP", Status: "placed"},
		{Revision: 0, CustomerID: "c", Value: dec("0"), Currency: "GBP", At: at, Prev: "order-x"},
		{Revision: 9, CustomerID: "c", Value: dec("1"), Currency: "EUR", Status: "a|b", At: at},
		{Revision: 1, Value: dec("0"), Prev: "order-y", Status: "|"},
	} {
		got, err := decodeLink("k", l.encode())
		if err != nil {
			t.Fatalf("%q: %v", l.encode(), err)
		}
		if diff := cmp.Diff(l, got, cmp.Comparer(func(a, b domain.Decimal) bool { return a.String() == b.String() })); diff != "" {
			t.Errorf("%q (-want +got):\n%s", l.encode(), diff)
		}
	}
	for _, bad := range []string{"", "1|c|0|1|GBP", "L1|c|0|1|GBP|s|x", "L1|c|0|1|GBP|notatime|p|s", "x|c|0|1|GBP|s", "L1|c|0|x|GBP||p|s"} {
		if _, err := decodeLink("k", bad); !errors.Is(err, projections.ErrPermanent) {
			t.Errorf("decodeLink(%q) = %v, want a permanent error", bad, err)
		}
	}
}
