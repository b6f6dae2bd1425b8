package domain

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

// orderPlaced: 6 × 2.55 + 2 × 0.85 + 3 × 2.55 = 15.30 + 1.70 + 7.65 = 24.65 GBP.
func orderPlaced() OrderPlaced {
	return OrderPlaced{OrderID: ordID, CustomerID: custID, OrderNo: "536365", OrderedAt: t0, Currency: "GBP",
		Lines: []OrderLine{
			{SKU: "85123A", Description: "WHITE HANGING HEART T-LIGHT HOLDER", Quantity: dec("6"), UnitPrice: dec("2.55"), Amount: dec("15.30")},
			{SKU: "71053", Description: "WHITE METAL LANTERN", Quantity: dec("2"), Unit: "pcs", UnitPrice: dec("0.85"), Amount: dec("1.70")},
			{SKU: "85123A", Quantity: dec("3"), UnitPrice: dec("2.55"), Amount: dec("7.65")},
		},
		Total: dec("24.65"), ShippingAddress: "1 High St, London"}
}

func placeInput() PlaceOrder {
	return PlaceOrder{CustomerID: custID, OrderNo: " 536365", OrderedAt: t0.In(fixedZone), Currency: "GBP", ShippingAddress: "1 High St, London",
		Lines: []OrderLine{
			{SKU: "85123A ", Description: "WHITE HANGING HEART T-LIGHT HOLDER", Quantity: dec("6"), UnitPrice: dec("2.55"), Amount: dec("999")},
			{SKU: "71053", Description: "WHITE METAL LANTERN", Quantity: dec("2"), Unit: "pcs", UnitPrice: dec("0.85")},
			{SKU: "85123A", Quantity: dec("3"), UnitPrice: dec("2.55")},
		}}
}

type ords = scenario[*Order]

func TestOrderPlace(t *testing.T) {
	run(t, NewOrder, []ords{
		{name: "place computes amounts and total", when: func(o *Order) error { return o.Place(ordID, placeInput(), t1) }, then: []Event{orderPlaced()}},
		{name: "orderedAt defaults to the command time", when: func(o *Order) error {
			return o.Place(ordID, PlaceOrder{CustomerID: custID, Currency: "EUR", Lines: []OrderLine{{SKU: "A", Quantity: dec("0.5"), Unit: "kg", UnitPrice: dec("0")}}}, t1)
		}, then: []Event{OrderPlaced{OrderID: ordID, CustomerID: custID, OrderedAt: t1, Currency: "EUR",
			Lines: []OrderLine{{SKU: "A", Quantity: dec("0.5"), Unit: "kg", UnitPrice: dec("0"), Amount: dec("0")}}, Total: dec("0")}}},
		{name: "every bad field is named", when: func(o *Order) error {
			return o.Place(uuid.Nil, PlaceOrder{Currency: "£", Lines: []OrderLine{
				{SKU: "", Quantity: dec("0"), UnitPrice: dec("-1")},
				{SKU: "ok", Quantity: dec("1"), UnitPrice: dec("1")},
				{SKU: "neg", Quantity: dec("-2"), UnitPrice: dec("1")},
			}}, t1)
		}, kind: KindInvalid, fields: []string{"id", "customerId", "currency", "lines[0].sku", "lines[0].quantity", "lines[0].unitPrice", "lines[2].quantity"}},
		{name: "no lines", when: func(o *Order) error { return o.Place(ordID, PlaceOrder{CustomerID: custID, Currency: "GBP"}, t1) },
			kind: KindInvalid, fields: []string{"lines"}},
		{name: "orderedAt in the future", when: func(o *Order) error {
			p := placeInput()
			p.OrderedAt = t1.Add(MaxFutureSkew + time.Minute) // e.g. 2062 typed for 2026
			return o.Place(ordID, p, t1)
		}, kind: KindInvalid, fields: []string{"orderedAt"}},
		{name: "overflowing line", when: func(o *Order) error {
			return o.Place(ordID, PlaceOrder{CustomerID: custID, Currency: "GBP", Lines: []OrderLine{{SKU: "A", Quantity: dec("999999999999"), UnitPrice: dec("99999999999")}}}, t1)
		}, kind: KindInvalid, fields: []string{"lines[0].quantity"}},
		{name: "overflowing total", when: func(o *Order) error {
			big := OrderLine{SKU: "A", Quantity: dec("1"), UnitPrice: dec("900000000000000000")}
			return o.Place(ordID, PlaceOrder{CustomerID: custID, Currency: "GBP", Lines: []OrderLine{big, big, big, big, big, big, big, big, big, big, big}}, t1)
		}, kind: KindInvalid, fields: []string{"lines"}},
		{name: "twice", given: []Event{orderPlaced()}, when: func(o *Order) error { return o.Place(ordID, placeInput(), t1) }, kind: KindConflict},
	})
}

func TestOrderFulfilment(t *testing.T) {
	placed := []Event{orderPlaced()}
	shipped := plus(placed, OrderShipped{OrderID: ordID, CustomerID: custID, Carrier: "DHL", TrackingNo: "JD1", ShippedAt: t1})
	delivered := plus(shipped, OrderDelivered{OrderID: ordID, CustomerID: custID, DeliveredAt: t2})
	cancelled := plus(placed, OrderCancelled{OrderID: ordID, CustomerID: custID, Reason: "duplicate", PreviousStatus: OrderStatusPlaced, Total: dec("24.65"), Currency: "GBP", CancelledAt: t1})
	ship := func(o *Order) error { return o.Ship(Shipment{Carrier: " DHL", TrackingNo: "JD1"}, t1) }
	deliver := func(o *Order) error { return o.Deliver(t2.In(fixedZone), t2.Add(time.Hour)) }
	cancel := func(o *Order) error { return o.Cancel("customer changed their mind", t2) }
	run(t, NewOrder, []ords{
		{name: "ship", given: placed, when: ship, then: []Event{OrderShipped{OrderID: ordID, CustomerID: custID, Carrier: "DHL", TrackingNo: "JD1", ShippedAt: t1}}},
		{name: "ship without details", given: placed, when: func(o *Order) error { return o.Ship(Shipment{}, t1) },
			then: []Event{OrderShipped{OrderID: ordID, CustomerID: custID, ShippedAt: t1}}},
		{name: "ship again identically: no-op", given: shipped, when: ship, noop: true},
		{name: "ship again differently", given: shipped, when: func(o *Order) error { return o.Ship(Shipment{Carrier: "UPS"}, t1) }, kind: KindConflict},
		{name: "ship delivered", given: delivered, when: ship, kind: KindConflict},
		{name: "ship cancelled", given: cancelled, when: ship, kind: KindConflict},
		{name: "ship invalid", given: placed, when: func(o *Order) error { return o.Ship(Shipment{Carrier: string(make([]byte, MaxShortText+1))}, t1) },
			kind: KindInvalid, fields: []string{"carrier"}},

		{name: "deliver shipped", given: shipped, when: deliver, then: []Event{OrderDelivered{OrderID: ordID, CustomerID: custID, DeliveredAt: t2}}},
		{name: "deliver placed (no shipping step)", given: placed, when: deliver, then: []Event{OrderDelivered{OrderID: ordID, CustomerID: custID, DeliveredAt: t2}}},
		{name: "deliveredAt defaults to the command time", given: placed, when: func(o *Order) error { return o.Deliver(time.Time{}, t2) },
			then: []Event{OrderDelivered{OrderID: ordID, CustomerID: custID, DeliveredAt: t2}}},
		{name: "deliver before the order time", given: placed, when: func(o *Order) error { return o.Deliver(t0.Add(-time.Second), t2) },
			kind: KindInvalid, fields: []string{"deliveredAt"}},
		{name: "deliver delivered: no-op", given: delivered, when: deliver, noop: true},
		{name: "deliver cancelled", given: cancelled, when: deliver, kind: KindConflict},

		{name: "cancel placed", given: placed, when: cancel, then: []Event{OrderCancelled{OrderID: ordID, CustomerID: custID,
			Reason: "customer changed their mind", PreviousStatus: OrderStatusPlaced, Total: dec("24.65"), Currency: "GBP", CancelledAt: t2}}},
		{name: "cancel shipped", given: shipped, when: cancel, then: []Event{OrderCancelled{OrderID: ordID, CustomerID: custID,
			Reason: "customer changed their mind", PreviousStatus: OrderStatusShipped, Total: dec("24.65"), Currency: "GBP", CancelledAt: t2}}},
		{name: "cancel delivered", given: delivered, when: cancel, kind: KindConflict},
		{name: "cancel cancelled: no-op", given: cancelled, when: cancel, noop: true},
		{name: "cancel needs a reason", given: placed, when: func(o *Order) error { return o.Cancel("", t2) }, kind: KindInvalid, fields: []string{"reason"}},

		{name: "ship nonexistent", when: ship, kind: KindNotFound},
		{name: "deliver nonexistent", when: deliver, kind: KindNotFound},
		{name: "cancel nonexistent", when: cancel, kind: KindNotFound},
		{name: "pay nonexistent", when: func(o *Order) error { return o.RecordPayment(Payment{Amount: dec("1")}, t1) }, kind: KindNotFound},
		{name: "return nonexistent", when: func(o *Order) error { return o.Return(ReturnOrder{Amount: ptr(dec("1"))}, t1) }, kind: KindNotFound},
	})
}

func TestOrderPayments(t *testing.T) {
	placed := []Event{orderPlaced()}
	partly := plus(placed, PaymentReceived{OrderID: ordID, CustomerID: custID, Amount: dec("20"), Currency: "GBP", PaidTotal: dec("20"), ReceivedAt: t1})
	returned := plus(placed, OrderReturned{OrderID: ordID, CustomerID: custID, ReturnNo: 1, Amount: dec("4.65"), Currency: "GBP", ReturnedTotal: dec("4.65"), ReturnedAt: t1})
	cancelled := plus(placed, OrderCancelled{OrderID: ordID, CustomerID: custID, Reason: "x", PreviousStatus: OrderStatusPlaced, Total: dec("24.65"), Currency: "GBP", CancelledAt: t1})
	pay := func(amount, cur string) func(o *Order) error {
		return func(o *Order) error {
			return o.RecordPayment(Payment{Amount: dec(amount), Currency: cur, Reference: "INV-1"}, t2)
		}
	}
	run(t, NewOrder, []ords{
		{name: "partial payment", given: placed, when: pay("20", ""), then: []Event{PaymentReceived{OrderID: ordID, CustomerID: custID,
			Amount: dec("20"), Currency: "GBP", Reference: "INV-1", PaidTotal: dec("20"), FullyPaid: false, ReceivedAt: t2}}},
		{name: "payments accumulate to fully paid", given: partly, when: pay("4.65", "GBP"), then: []Event{PaymentReceived{OrderID: ordID, CustomerID: custID,
			Amount: dec("4.65"), Currency: "GBP", Reference: "INV-1", PaidTotal: dec("24.65"), FullyPaid: true, ReceivedAt: t2}}},
		{name: "full payment net of returns", given: returned, when: pay("20.00", ""), then: []Event{PaymentReceived{OrderID: ordID, CustomerID: custID,
			Amount: dec("20.00"), Currency: "GBP", Reference: "INV-1", PaidTotal: dec("20.00"), FullyPaid: true, ReceivedAt: t2}}},
		{name: "overpayment", given: partly, when: pay("4.66", ""), kind: KindInvalid, fields: []string{"amount"}},
		{name: "zero and foreign currency", given: placed, when: pay("0", "EUR"), kind: KindInvalid, fields: []string{"currency", "amount"}},
		{name: "negative", given: placed, when: pay("-1", ""), kind: KindInvalid, fields: []string{"amount"}},
		{name: "cancelled order", given: cancelled, when: pay("1", ""), kind: KindConflict},
		{name: "paid in full, then more", given: plus(partly, PaymentReceived{OrderID: ordID, CustomerID: custID, Amount: dec("4.65"), Currency: "GBP",
			PaidTotal: dec("24.65"), FullyPaid: true, ReceivedAt: t1}), when: pay("0.01", ""), kind: KindInvalid, fields: []string{"amount"}},
	})
}

func TestOrderReturns(t *testing.T) {
	placed := []Event{orderPlaced()}
	delivered := plus(placed, OrderDelivered{OrderID: ordID, CustomerID: custID, DeliveredAt: t1})
	ret1 := OrderReturned{OrderID: ordID, CustomerID: custID, ReturnNo: 1, Lines: []ReturnLine{{SKU: "85123A", Quantity: dec("7"), Amount: dec("17.85")}},
		Amount: dec("17.85"), Currency: "GBP", Reason: "broken", ReturnedTotal: dec("17.85"), ReturnedAt: t2}
	afterRet1 := plus(delivered, ret1)
	cancelled := plus(placed, OrderCancelled{OrderID: ordID, CustomerID: custID, Reason: "x", PreviousStatus: OrderStatusPlaced, Total: dec("24.65"), Currency: "GBP", CancelledAt: t1})
	ret := func(p ReturnOrder) func(o *Order) error { return func(o *Order) error { return o.Return(p, t2) } }
	run(t, NewOrder, []ords{
		{name: "partial return spread over two lines of one SKU", given: delivered,
			when: ret(ReturnOrder{Lines: []ReturnLine{{SKU: " 85123A", Quantity: dec("7"), Amount: dec("1000")}}, Reason: "broken"}), then: []Event{ret1}},
		{name: "second return: the rest of the SKU and another", given: afterRet1,
			when: ret(ReturnOrder{Lines: []ReturnLine{{SKU: "85123A", Quantity: dec("2")}, {SKU: "71053", Quantity: dec("1")}}}),
			then: []Event{OrderReturned{OrderID: ordID, CustomerID: custID, ReturnNo: 2,
				Lines:  []ReturnLine{{SKU: "85123A", Quantity: dec("2"), Amount: dec("5.10")}, {SKU: "71053", Quantity: dec("1"), Amount: dec("0.85")}},
				Amount: dec("5.95"), Currency: "GBP", ReturnedTotal: dec("23.80"), ReturnedAt: t2}}},
		{name: "more than left of a SKU", given: afterRet1, when: ret(ReturnOrder{Lines: []ReturnLine{{SKU: "85123A", Quantity: dec("3")}}}),
			kind: KindInvalid, fields: []string{"lines[0].quantity"}},
		{name: "the same SKU twice in one return counts cumulatively", given: delivered,
			when: ret(ReturnOrder{Lines: []ReturnLine{{SKU: "71053", Quantity: dec("2")}, {SKU: "71053", Quantity: dec("1")}}}),
			kind: KindInvalid, fields: []string{"lines[1].quantity"}},
		{name: "return before delivery, by amount only", given: placed, when: ret(ReturnOrder{Amount: ptr(dec("5")), Reason: "goodwill"}),
			then: []Event{OrderReturned{OrderID: ordID, CustomerID: custID, ReturnNo: 1, Amount: dec("5"), Currency: "GBP", Reason: "goodwill",
				ReturnedTotal: dec("5"), ReturnedAt: t2}}},
		{name: "lines with an explicit amount", given: placed, when: ret(ReturnOrder{Lines: []ReturnLine{{SKU: "71053", Quantity: dec("2")}}, Amount: ptr(dec("1.00"))}),
			then: []Event{OrderReturned{OrderID: ordID, CustomerID: custID, ReturnNo: 1, Lines: []ReturnLine{{SKU: "71053", Quantity: dec("2"), Amount: dec("1.70")}},
				Amount: dec("1.00"), Currency: "GBP", ReturnedTotal: dec("1.00"), ReturnedAt: t2}}},
		{name: "amount beyond what is left", given: afterRet1, when: ret(ReturnOrder{Amount: ptr(dec("6.81"))}), kind: KindInvalid, fields: []string{"amount"}},
		{name: "everything invalid", given: placed, when: ret(ReturnOrder{Lines: []ReturnLine{{SKU: "", Quantity: dec("1")}, {SKU: "nope", Quantity: dec("1")}, {SKU: "71053", Quantity: dec("0")}},
			Amount: ptr(dec("-1"))}), kind: KindInvalid, fields: []string{"amount", "lines[0].sku", "lines[1].sku", "lines[2].quantity"}},
		{name: "neither lines nor amount", given: placed, when: ret(ReturnOrder{Reason: "?"}), kind: KindInvalid, fields: []string{"lines"}},
		{name: "cancelled order", given: cancelled, when: ret(ReturnOrder{Amount: ptr(dec("1"))}), kind: KindConflict},
	})
}

func TestOrderState(t *testing.T) {
	o := NewOrder()
	if o.Exists() || o.Status() != "" {
		t.Fatal("a new order must be empty")
	}
	for _, e := range []Event{orderPlaced(), &PaymentReceived{Amount: dec("10"), PaidTotal: dec("10")},
		OrderReturned{ReturnNo: 1, Lines: []ReturnLine{{SKU: "71053", Quantity: dec("2")}}, Amount: dec("1.70"), ReturnedTotal: dec("1.70")}} {
		o.Apply(e)
	}
	if !o.Exists() || o.ID() != ordID || o.CustomerID() != custID || o.OrderNo() != "536365" || !o.OrderedAt().Equal(t0) ||
		o.Status() != OrderStatusPlaced || o.Currency() != "GBP" || len(o.Lines()) != 3 || o.Total().String() != "24.65" ||
		o.PaidTotal().String() != "10" || o.ReturnedTotal().String() != "1.70" || o.Due().String() != "22.95" ||
		o.Outstanding().String() != "12.95" || o.FullyPaid() {
		t.Errorf("unexpected state: %+v", o)
	}
	// The returned lantern quantity is used up.
	if err := o.Return(ReturnOrder{Lines: []ReturnLine{{SKU: "71053", Quantity: dec("1")}}}, t2); KindOf(err) != KindInvalid {
		t.Errorf("returning a fully returned SKU: %v", err)
	}
	o.ClearChanges()
}
