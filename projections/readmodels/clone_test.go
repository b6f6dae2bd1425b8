package readmodels

import (
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crm-es/crm/domain"
)

// TestDeepCopy checks that deepCopyInto copies documents exactly and that
// changing the copy (maps, slices, pointers) leaves the original alone.
func TestDeepCopy(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	dec := func(s string) domain.Decimal { d, _ := domain.ParseDecimal(s); return d }
	ov := &Overview{AsOf: &at, ThisMonth: "2026-03", Customers: 2, CustomersByStatus: map[string]int{"active": 2},
		Revenue:       Amounts{{Amount: dec("10.50"), Currency: "GBP"}},
		OrdersByMonth: map[string]OrderMonth{"2026-03": {Orders: 1, Placed: Amounts{{Amount: dec("10.50"), Currency: "GBP"}}}}}
	order := &Order{ID: "o", Lines: []domain.OrderLine{{SKU: "a", Quantity: dec("2")}}, ShippedAt: &at}
	tests := []struct {
		name   string
		src    any
		dst    func() any
		mutate func(copy any)
	}{
		{"overview", ov, func() any { return &Overview{} }, func(c any) {
			o := c.(*Overview)
			o.CustomersByStatus["lost"] = 1
			m := o.OrdersByMonth["2026-03"]
			m.Orders++
			m.Placed, _ = m.Placed.add("GBP", dec("1"), +1)
			o.OrdersByMonth["2026-03"] = m
			o.OrdersByMonth["2026-04"] = m
			o.Revenue, _ = o.Revenue.add("USD", dec("2"), +1)
			*o.AsOf = at.Add(time.Hour)
		}},
		{"order", order, func() any { return &Order{} }, func(c any) {
			o := c.(*Order)
			o.Lines[0].SKU = "b"
			*o.ShippedAt = time.Time{}
		}},
		{"value source", *order, func() any { return &Order{} }, func(c any) { c.(*Order).Lines[0].SKU = "c" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := encodeOrFail(t, tt.src)
			dst := tt.dst()
			if !deepCopyInto(dst, tt.src) {
				t.Fatal("deepCopyInto refused matching types")
			}
			if diff := cmp.Diff(before, encodeOrFail(t, dst)); diff != "" {
				t.Fatalf("copy differs (-original +copy):\n%s", diff)
			}
			tt.mutate(dst)
			if diff := cmp.Diff(before, encodeOrFail(t, tt.src)); diff != "" {
				t.Fatalf("changing the copy changed the original (-before +after):\n%s", diff)
			}
		})
	}
	if deepCopyInto(&Order{}, ov) || deepCopyInto(Order{}, order) || deepCopyInto((*Order)(nil), order) {
		t.Error("deepCopyInto accepted mismatched types or a nil destination")
	}
}

func encodeOrFail(t *testing.T, v any) string {
	t.Helper()
	b, err := encodeDoc(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestHandClones fills every field of the hand-copied documents and checks
// that the copy equals the original and shares no map, slice or pointer
// with it (a field added to a document but not to its clone fails here).
func TestHandClones(t *testing.T) {
	for _, doc := range []any{&Overview{}, &Composition{}, &ChurnReport{}} {
		t.Run(reflect.TypeOf(doc).Elem().Name(), func(t *testing.T) {
			fill(reflect.ValueOf(doc).Elem(), 0)
			dst := reflect.New(reflect.TypeOf(doc).Elem())
			if !deepCopyInto(dst.Interface(), doc) {
				t.Fatal("deepCopyInto refused")
			}
			if diff := cmp.Diff(encodeOrFail(t, doc), encodeOrFail(t, dst.Interface())); diff != "" {
				t.Fatalf("copy differs:\n%s", diff)
			}
			if path, shared := sharesRefs(reflect.ValueOf(doc).Elem(), dst.Elem(), ""); shared {
				t.Fatalf("the copy shares %s with the original", path)
			}
		})
	}
}

// fill sets every exported field reachable from v to a non-zero value
// (maps and slices get one element).
func fill(v reflect.Value, depth int) {
	if depth > 6 {
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)))
			return
		}
		if v.Type() == reflect.TypeOf(domain.Decimal{}) {
			d, _ := domain.ParseDecimal("1.5")
			v.Set(reflect.ValueOf(d))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth+1)
			}
		}
	case reflect.Pointer:
		n := reflect.New(v.Type().Elem())
		fill(n.Elem(), depth+1)
		v.Set(n)
	case reflect.Slice:
		n := reflect.MakeSlice(v.Type(), 1, 1)
		fill(n.Index(0), depth+1)
		v.Set(n)
	case reflect.Map:
		n := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, depth+1)
		fill(e, depth+1)
		n.SetMapIndex(k, e)
		v.Set(n)
	case reflect.String:
		v.SetString("x")
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(7)
	case reflect.Uint64, reflect.Uint32, reflect.Uint:
		v.SetUint(7)
	case reflect.Float64:
		v.SetFloat(0.5)
	case reflect.Bool:
		v.SetBool(true)
	}
}

// sharesRefs reports the first map, slice or pointer a and b share
// (Amounts, immutable, are meant to be shared).
func sharesRefs(a, b reflect.Value, path string) (string, bool) {
	if a.Type() == reflect.TypeFor[Amounts]() {
		return "", false
	}
	switch a.Kind() {
	case reflect.Map:
		if !a.IsNil() && a.UnsafePointer() == b.UnsafePointer() {
			return path, true
		}
		for it := a.MapRange(); it.Next(); {
			if p, s := sharesRefs(it.Value(), b.MapIndex(it.Key()), path+"["+it.Key().String()+"]"); s {
				return p, true
			}
		}
	case reflect.Slice:
		if a.Len() > 0 && a.UnsafePointer() == b.UnsafePointer() {
			return path, true
		}
		for i := range a.Len() {
			if p, s := sharesRefs(a.Index(i), b.Index(i), path+"[i]"); s {
				return p, true
			}
		}
	case reflect.Pointer:
		if !a.IsNil() && a.UnsafePointer() == b.UnsafePointer() {
			return path, true
		}
		if !a.IsNil() {
			return sharesRefs(a.Elem(), b.Elem(), path)
		}
	case reflect.Struct:
		for i := range a.NumField() {
			if a.Type().Field(i).IsExported() {
				if p, s := sharesRefs(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); s {
					return p, true
				}
			}
		}
	}
	return "", false
}

// TestAmountsAddKeepsReceiver: add returns a new slice and never changes
// the one it was called on (documents share Amounts between copies).
func TestAmountsAddKeepsReceiver(t *testing.T) {
	dec := func(s string) domain.Decimal { d, _ := domain.ParseDecimal(s); return d }
	base := Amounts{{Amount: dec("1.00"), Currency: "EUR"}, {Amount: dec("2.50"), Currency: "GBP"}}
	want := encodeOrFail(t, base)
	for _, tt := range []struct {
		cur  string
		d    string
		sign int
	}{{"GBP", "1", +1}, {"GBP", "2.50", -1}, {"AUD", "3", +1}, {"EUR", "1.00", -1}, {"USD", "0", +1}} {
		if _, err := base.add(tt.cur, dec(tt.d), tt.sign); err != nil {
			t.Fatal(err)
		}
		if got := encodeOrFail(t, base); got != want {
			t.Fatalf("add(%s %s %+d) changed its receiver: %s, was %s", tt.cur, tt.d, tt.sign, got, want)
		}
	}
}
