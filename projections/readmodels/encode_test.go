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
