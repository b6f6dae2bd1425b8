package readmodels

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/crm-es/crm/domain"
	"github.com/google/go-cmp/cmp"
)

func TestOrderAppendJSON(t *testing.T) {
	at := time.Date(2011, 3, 4, 5, 6, 7, 890, time.UTC)
	loc := time.FixedZone("x", 3600)
	full := Order{ID: "o1", Stream: "order-o1", Revision: 7, Position: 1 << 60, CustomerID: "c1", OrderNo: "536365",
		OrderedAt: at.In(loc), Currency: "GBP", Lines: []domain.OrderLine{
			{SKU: "85123A", Description: "WHITE HANGING HEART T-LIGHT HOLDER", Quantity: dec("6"), Unit: "pcs", UnitPrice: dec("2.55"), Amount: dec("15.30")},
			{SKU: "x<y>&z", Quantity: dec("-1"), UnitPrice: dec("0"), Amount: dec("-0.5")},
		},
		Total: dec("14.80"), ShippingAddress: "Straße 1\n\"quoted\"", Status: "shipped", Carrier: "dhl", TrackingNo: "t\u2028",
		ShippedAt: tptr(at), DeliveredAt: tptr(at.Add(time.Hour)), Payments: 2, Paid: dec("14.8"), FullyPaid: true,
		Returns: 1, Returned: dec("1"), CancelledAt: tptr(at), CancelReason: "bad \xff utf8", Net: dec("13.80")}
	tests := []struct {
		name string
		o    Order
		ok   bool
	}{
		{"zero", Order{}, true},
		{"empty lines", Order{ID: "o", Lines: []domain.OrderLine{}}, true},
		{"full", full, true},
		{"year out of range", Order{OrderedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.o.appendJSON(nil)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			want, err := json.Marshal(&tt.o)
			if !ok {
				if err == nil {
					t.Fatal("json.Marshal accepts what appendJSON refused")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("(-json.Marshal +appendJSON):\n%s", diff)
			}
		})
	}
}

func FuzzOrderAppendJSON(f *testing.F) {
	f.Add("o1", "536365", "GBP", "sku", "desc", "pcs", "addr", "2.55", int64(0), uint64(3))
	f.Add("<&>", "", "\u2028", "", "\xff", "", "", "-0.001", int64(-62135596800), uint64(0))
	f.Fuzz(func(t *testing.T, id, no, cur, sku, desc, unit, addr, price string, sec int64, rev uint64) {
		p, err := domain.ParseDecimal(price)
		if err != nil {
			p = domain.Decimal{}
		}
		at := time.Unix(sec%(1<<40), 0).UTC()
		o := Order{ID: id, Stream: "order-" + id, Revision: rev, Position: rev * 3, OrderNo: no, OrderedAt: at, Currency: cur,
			Lines: []domain.OrderLine{{SKU: sku, Description: desc, Quantity: p, Unit: unit, UnitPrice: p, Amount: p}},
			Total: p, ShippingAddress: addr, Status: desc, ShippedAt: &at, Paid: p, Net: p}
		got, ok := o.appendJSON(nil)
		want, err := json.Marshal(&o)
		if ok != (err == nil) {
			t.Fatalf("appendJSON ok=%v, json.Marshal err=%v", ok, err)
		}
		if ok && string(got) != string(want) {
			t.Fatalf("appendJSON:\n%s\njson.Marshal:\n%s", got, want)
		}
	})
}

func TestReportAppendJSON(t *testing.T) {
	at := time.Date(2011, 12, 9, 12, 50, 0, 0, time.UTC)
	gbp := Amounts{{Amount: dec("-12.50"), Currency: "GBP"}, {Amount: dec("3"), Currency: "x<y>"}}
	tests := []struct {
		name string
		v    jsonAppender
	}{
		{"zero overview", &Overview{}},
		{"empty maps", &Overview{CustomersByStatus: map[string]int{}, OrdersByMonth: map[string]OrderMonth{}, InteractionsByMonth: map[string]int{}}},
		{"full overview", &Overview{AsOf: &at, ThisMonth: "2011-12", Customers: 4372,
			CustomersByStatus: map[string]int{"active": 4000, "at_risk": 300, "lost": 72, "é\u2028": -1},
			OpenOpportunities: Bucket{Count: 2, Value: gbp}, WonOpportunities: Bucket{Count: 1},
			OpenServiceRequests: 3, OpenComplaints: 1, Orders: 18532, Revenue: gbp,
			OrdersByMonth:       map[string]OrderMonth{"2011-12": {Orders: 5, Cancelled: 1, Placed: gbp}, "2010-12": {Net: gbp}},
			InteractionsByMonth: map[string]int{"2011-01": 7}, OrdersThisMonth: OrderMonth{Orders: 5, Placed: gbp, Net: gbp}, InteractionsThisMonth: 2}},
		{"zero composition", &Composition{}},
		{"composition", &Composition{Total: 3, ByLevel: map[string]int{"3": 1, "10": 2}, ByCredit: map[string]int{},
			BySatisfaction: map[string]int{"0": 3}, ByRegion: map[string]int{"United Kingdom": 2, "<&>": 1}, ByStatus: map[string]int{"active": 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.v.appendJSON(nil)
			if !ok {
				t.Fatal("appendJSON refused")
			}
			want, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("(-json.Marshal +appendJSON):\n%s", diff)
			}
		})
	}
}

func FuzzOverviewAppendJSON(f *testing.F) {
	f.Add("2011-12", "GBP", "1.5", 3, "active")
	f.Add("", "<\u2028>", "-0", -1, "\xff")
	f.Fuzz(func(t *testing.T, month, cur, amount string, n int, status string) {
		d, err := domain.ParseDecimal(amount)
		if err != nil {
			d = domain.Decimal{}
		}
		a := Amounts{{Amount: d, Currency: cur}}
		o := &Overview{ThisMonth: month, Customers: n, CustomersByStatus: map[string]int{status: n, month: -n},
			OpenOpportunities: Bucket{Count: n, Value: a}, Revenue: a,
			OrdersByMonth: map[string]OrderMonth{month: {Orders: n, Placed: a}, status: {Net: a}}, InteractionsByMonth: map[string]int{cur: n}}
		c := &Composition{Total: n, ByRegion: map[string]int{status: n, cur: 1, month: 2}}
		for _, v := range []jsonAppender{o, c} {
			got, ok := v.appendJSON(nil)
			want, err := json.Marshal(v)
			if ok != (err == nil) || ok && string(got) != string(want) {
				t.Fatalf("appendJSON %v:\n%s\njson.Marshal %v:\n%s", ok, got, err, want)
			}
		}
	})
}
