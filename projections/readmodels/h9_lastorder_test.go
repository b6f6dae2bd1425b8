package readmodels

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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

// TestCustomerOrdersAppendJSON: the hand encoder of the orders a customer
// has not cancelled writes exactly what json.Marshal writes.
func TestCustomerOrdersAppendJSON(t *testing.T) {
	at := day0(2011, 12, 9)
	tests := []struct {
		name string
		co   customerOrders
	}{
		{"nil", customerOrders{}},
		{"empty", customerOrders{Live: []orderAt{}}},
		{"two", customerOrders{Live: []orderAt{{ID: id("a").String(), At: at}, {ID: id("b").String(), At: at.Add(90 * time.Second)}}}},
		{"sub-second, offset, odd id", customerOrders{Live: []orderAt{{ID: "\"<x>\"\u2028é", At: time.Date(2011, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600))}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.Marshal(&tt.co)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := tt.co.appendJSON(nil)
			if !ok {
				t.Fatal("appendJSON refused")
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("(-json.Marshal +appendJSON):\n%s", diff)
			}
		})
	}
	// A time without an RFC 3339 form: refused by both.
	bad := customerOrders{Live: []orderAt{{ID: "x", At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}}
	if _, ok := bad.appendJSON(nil); ok {
		t.Error("appendJSON accepted year 10000")
	}
	if _, err := json.Marshal(&bad); err == nil {
		t.Error("json.Marshal accepted year 10000")
	}
}

// FuzzCustomerOrdersAppendJSON: for any ids and times, appendJSON writes
// what json.Marshal writes, or refuses what it refuses.
func FuzzCustomerOrdersAppendJSON(f *testing.F) {
	f.Add("3f1c", int64(1293840000), int32(0), "b", int64(-62135596800), int32(999))
	f.Add("\"\\<>&\u2028", int64(253402300800), int32(1), "", int64(0), int32(-3600))
	f.Fuzz(func(t *testing.T, id1 string, sec1 int64, off1 int32, id2 string, sec2 int64, off2 int32) {
		co := customerOrders{Live: []orderAt{
			{ID: id1, At: time.Unix(sec1, 0).In(time.FixedZone("a", int(off1%86400)))},
			{ID: id2, At: time.Unix(sec2, int64(off2)).UTC()},
		}}
		want, err := json.Marshal(&co)
		got, ok := co.appendJSON(nil)
		if (err == nil) != ok {
			t.Fatalf("json.Marshal err %v, appendJSON ok %v", err, ok)
		}
		if ok && string(want) != string(got) {
			t.Errorf("json.Marshal %s\nappendJSON   %s", want, got)
		}
	})
}
