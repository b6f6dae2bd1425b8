package domain

import (
	"reflect"
	"testing"
)

// TestApplyNeverPanics feeds every event type, as a zero value, a pointer,
// a nil pointer and a nil interface, to every aggregate, fresh and created:
// Apply never fails, whatever the stream holds.
func TestApplyNeverPanics(t *testing.T) {
	var odd []Event
	for _, et := range EventTypes() {
		v := et.New()
		p := reflect.New(reflect.TypeOf(v))
		odd = append(odd, v, p.Interface().(Event), reflect.Zero(p.Type()).Interface().(Event))
	}
	odd = append(odd, nil,
		OrderReturned{Lines: []ReturnLine{{SKU: "85123A", Quantity: dec("1000")}, {SKU: "nope", Quantity: dec("1")}, {Quantity: dec("-1")}}},
		ContactChanged{ContactID: cont2ID}, ContactRemoved{ContactID: cont2ID}, PlanItemChanged{ItemID: item2ID}, PlanItemResultRecorded{ItemID: item2ID})
	aggs := map[string]func() aggregate{
		"customer":    func() aggregate { return NewCustomer() },
		"customer+":   func() aggregate { c := NewCustomer(); c.Apply(registered()); return c },
		"opportunity": func() aggregate { return NewOpportunity() },
		"opp+":        func() aggregate { o := NewOpportunity(); o.Apply(oppCreatedForProspect()); return o },
		"service":     func() aggregate { return NewServiceRequest() },
		"service+":    func() aggregate { s := NewServiceRequest(); s.Apply(srOpened()); return s },
		"order":       func() aggregate { return NewOrder() },
		"order+":      func() aggregate { o := NewOrder(); o.Apply(orderPlaced()); return o },
	}
	for name, fresh := range aggs {
		a := fresh()
		for _, e := range odd {
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%s.Apply(%#v) panicked: %v", name, e, r)
					}
				}()
				a.Apply(e)
			}()
		}
		if len(a.Changes()) != 0 {
			t.Errorf("%s: Apply recorded changes", name)
		}
	}
	// A stored over-return is taken as far as it fits.
	o := NewOrder()
	o.Apply(orderPlaced())
	o.Apply(OrderReturned{Lines: []ReturnLine{{SKU: "85123A", Quantity: dec("1000")}}, Amount: dec("1"), ReturnedTotal: dec("1"), ReturnNo: 1})
	if got := o.ReturnedQuantity("85123A"); got.String() != "9" || o.Returns() != 1 {
		t.Errorf("returned quantity %v, returns %d", got, o.Returns())
	}
}
