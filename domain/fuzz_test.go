package domain

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzDecodeAndApply: any stored bytes, decoded as any event type, either
// fail to decode or give an event that every aggregate applies without
// panicking.
func FuzzDecodeAndApply(f *testing.F) {
	types := EventTypes()
	files, _ := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	for _, path := range files {
		if b, err := os.ReadFile(path); err == nil {
			for i := range types {
				if types[i].Name+".json" == filepath.Base(path) {
					f.Add(uint8(i), b)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		et := types[int(which)%len(types)]
		p := reflect.New(reflect.TypeOf(et.New()))
		if json.Unmarshal(data, p.Interface()) != nil {
			return
		}
		e := p.Elem().Interface().(Event)
		c := NewCustomer()
		c.Apply(registered())
		o := NewOpportunity()
		o.Apply(oppCreatedForCustomer())
		s := NewServiceRequest()
		s.Apply(srOpened())
		ord := NewOrder()
		ord.Apply(orderPlaced())
		for _, a := range []aggregate{c, o, s, ord, NewCustomer(), NewOpportunity(), NewServiceRequest(), NewOrder()} {
			a.Apply(e)
			a.Apply(e)
		}
		// The state stays usable: commands validate or refuse, never panic.
		_ = c.ChangeLevel(2, t1)
		_ = c.RaiseChurnWarning(ChurnWarning{Why: "rule"}, t1)
		_, _ = o.Win(WinOpportunity{}, t1)
		_ = s.RecordFeedback(Feedback{Result: "r", Satisfaction: 2}, t1)
		_ = ord.Return(ReturnOrder{Lines: []ReturnLine{{SKU: "85123A", Quantity: dec("1")}}}, t1)
		_ = ord.RecordPayment(Payment{Amount: dec("1")}, t1)
	})
}
