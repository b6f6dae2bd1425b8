package commands

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

// plainCodec is NewCodec without the fast decoders: encoding/json only.
func plainCodec() *eventstore.Codec {
	c := eventstore.NewCodec()
	for _, t := range domain.EventTypes() {
		c.Register(t.Name, t.SchemaVersion, func() any { return t.New() })
	}
	return c
}

// exactly compares decimals by coefficient and scale and times by instant
// and zone, so a decoded value must be identical, not just equivalent.
var exactly = cmp.Options{
	cmp.Comparer(func(a, b domain.Decimal) bool { return a == b }),
	cmp.Comparer(func(a, b time.Time) bool {
		an, ao := a.Zone()
		bn, bo := b.Zone()
		return a.Equal(b) && an == bn && ao == bo
	}),
}

// bigOrder is an OrderPlaced of n lines as the Online Retail import stores it.
func bigOrder(t testing.TB, n int) domain.OrderPlaced {
	t.Helper()
	p := domain.PlaceOrder{CustomerID: uuid.MustParse("11111111-1111-4111-8111-111111111111"), OrderNo: "536365",
		OrderedAt: time.Date(2010, 12, 1, 8, 26, 0, 0, time.UTC), Currency: "GBP", ShippingAddress: "United Kingdom"}
	for i := range n {
		price, err := domain.ParseDecimal(fmt.Sprintf("%d.%02d", i%13, 5+i*7%90))
		if err != nil {
			t.Fatal(err)
		}
		p.Lines = append(p.Lines, domain.OrderLine{SKU: fmt.Sprintf("%d", 84029+i*37), Description: fmt.Sprintf("WHITE HANGING HEART T-LIGHT HOLDER %d", i),
			Quantity: domain.DecimalFromInt(int64(1 + i*7%48)), UnitPrice: price})
	}
	o := domain.NewOrder()
	if err := o.Place(uuid.MustParse("44444444-4444-4444-8444-444444444444"), p, p.OrderedAt); err != nil {
		t.Fatal(err)
	}
	return o.Changes()[0].(domain.OrderPlaced)
}

// NewCodec wires the domain's fast decoders, and decoding through them
// gives exactly what encoding/json gives: for the golden files of the four
// types, a 20-line order, and a legacy form the fast path leaves to
// encoding/json.
func TestNewCodecFastDecoders(t *testing.T) {
	fast, plain := NewCodec(), plainCodec()
	for _, name := range []string{domain.TypeOrderPlaced, domain.TypeOrderCancelled, domain.TypeOrderReturned, domain.TypeCustomerRegistered} {
		if !fast.HasFastDecoder(name) {
			t.Errorf("no fast decoder for %s", name)
		}
	}
	golden := filepath.Join("..", "domain", "testdata", "events")
	order, err := plain.Decode(domain.TypeOrderPlaced, 1, mustEncode(t, plain, bigOrder(t, 20)))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, typ string
		data      []byte
	}{
		{"20-line order", domain.TypeOrderPlaced, mustEncode(t, plain, order)},
		{"golden OrderPlaced", domain.TypeOrderPlaced, readFile(t, filepath.Join(golden, "OrderPlaced.json"))},
		{"golden OrderCancelled", domain.TypeOrderCancelled, readFile(t, filepath.Join(golden, "OrderCancelled.json"))},
		{"golden OrderReturned", domain.TypeOrderReturned, readFile(t, filepath.Join(golden, "OrderReturned.json"))},
		{"golden CustomerRegistered", domain.TypeCustomerRegistered, readFile(t, filepath.Join(golden, "CustomerRegistered.json"))},
		{"legacy numeric decimals", domain.TypeOrderPlaced, readFile(t, filepath.Join(golden, "legacy", "OrderPlaced.numeric-decimals.json"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := plain.Decode(tt.typ, 1, tt.data)
			if err != nil {
				t.Fatal(err)
			}
			got, err := fast.Decode(tt.typ, 1, tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got, exactly); diff != "" {
				t.Errorf("(-encoding/json +fast):\n%s", diff)
			}
		})
	}
	if _, err := fast.Decode(domain.TypeOrderPlaced, 1, []byte(`{"total":"1,5"}`)); err == nil {
		t.Error("a bad decimal decoded without error")
	}
}

func mustEncode(t testing.TB, c *eventstore.Codec, v any) []byte {
	t.Helper()
	_, _, data, err := c.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// BenchmarkCodecDecodeOrderPlaced decodes a stored 20-line order through
// the codec as a projector does: with NewCodec's fast decoder and with
// encoding/json only.
func BenchmarkCodecDecodeOrderPlaced(b *testing.B) {
	data := mustEncode(b, plainCodec(), bigOrder(b, 20))
	for _, bc := range []struct {
		name  string
		codec *eventstore.Codec
	}{{"fast", NewCodec()}, {"encoding-json", plainCodec()}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := bc.codec.Decode(domain.TypeOrderPlaced, 1, data); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
		})
	}
}
