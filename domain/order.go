package domain

import (
	"slices"
	"time"

	"github.com/google/uuid"
)

// OrderStatus is an order's fulfilment state. Payment and returns are
// tracked beside it (PaidTotal, FullyPaid, ReturnedTotal).
type OrderStatus string

// Order states: placed → shipped → delivered, or cancelled before delivery.
// Delivery may also follow placement directly (no shipping step, e.g.
// imported or collected orders).
const (
	OrderStatusPlaced    OrderStatus = "placed"
	OrderStatusShipped   OrderStatus = "shipped"
	OrderStatusDelivered OrderStatus = "delivered"
	OrderStatusCancelled OrderStatus = "cancelled"
)

// OrderLine is one line of an order. SKU, Quantity (> 0) and UnitPrice
// (≥ 0) are required; Amount is computed by Place (Quantity × UnitPrice,
// exactly) and ignored on input.
type OrderLine struct {
	SKU         string  `json:"sku"`
	Description string  `json:"description,omitempty"`
	Quantity    Decimal `json:"quantity"`
	Unit        string  `json:"unit,omitempty"`
	UnitPrice   Decimal `json:"unitPrice"`
	Amount      Decimal `json:"amount"`
}

// PlaceOrder holds the fields of "place order": customerId, currency and
// at least one line are required; OrderedAt defaults to the command time.
// The command layer checks that the customer exists.
type PlaceOrder struct {
	CustomerID      uuid.UUID   `json:"customerId"`
	OrderNo         string      `json:"orderNo,omitempty"`
	OrderedAt       time.Time   `json:"orderedAt,omitzero"`
	Currency        string      `json:"currency"`
	Lines           []OrderLine `json:"lines"`
	ShippingAddress string      `json:"shippingAddress,omitempty"`
}

// Shipment holds the fields of "ship": carrier and tracking number, both
// optional.
type Shipment struct {
	Carrier    string `json:"carrier,omitempty"`
	TrackingNo string `json:"trackingNo,omitempty"`
}

// Payment holds the fields of "payment": amount (> 0) is required;
// currency, when given, must be the order's currency.
type Payment struct {
	Amount    Decimal `json:"amount"`
	Currency  string  `json:"currency,omitempty"`
	Reference string  `json:"reference,omitempty"`
}

// ReturnLine is a returned quantity of an order's SKU. On input only SKU
// and Quantity count; Return computes Amount from the order's unit prices.
type ReturnLine struct {
	SKU      string  `json:"sku"`
	Quantity Decimal `json:"quantity"`
	Amount   Decimal `json:"amount"`
}

// ReturnOrder holds the fields of "return": lines and/or amount (at least
// one), and an optional reason. Amount defaults to the sum of the lines'
// amounts.
type ReturnOrder struct {
	Lines  []ReturnLine `json:"lines,omitempty"`
	Amount *Decimal     `json:"amount,omitempty"`
	Reason string       `json:"reason,omitempty"`
}

// Order is the order aggregate (stream order-<id>).
type Order struct {
	changes []Event

	exists       bool
	id           uuid.UUID
	customerID   uuid.UUID
	orderNo      string
	orderedAt    time.Time
	currency     string
	lines        []OrderLine
	returnedQty  []Decimal // per line
	total        Decimal
	status       OrderStatus
	paid         Decimal
	returned     Decimal
	returns      int
	shipment     Shipment
	deliveredAt  time.Time
	shippingAddr string
}

// NewOrder returns an empty order, before its first event.
func NewOrder() *Order { return &Order{} }

// Changes returns the events recorded since load, in order.
func (o *Order) Changes() []Event { return slices.Clone(o.changes) }

// ClearChanges forgets the recorded events.
func (o *Order) ClearChanges() { o.changes = nil }

func (o *Order) record(e Event) {
	o.Apply(e)
	o.changes = append(o.changes, e)
}

// Exists reports whether the order has been placed.
func (o *Order) Exists() bool { return o.exists }

// ID returns the order id.
func (o *Order) ID() uuid.UUID { return o.id }

// CustomerID returns the ordering customer.
func (o *Order) CustomerID() uuid.UUID { return o.customerID }

// OrderNo returns the order number.
func (o *Order) OrderNo() string { return o.orderNo }

// OrderedAt returns the order time.
func (o *Order) OrderedAt() time.Time { return o.orderedAt }

// Status returns placed, shipped, delivered or cancelled.
func (o *Order) Status() OrderStatus { return o.status }

// Currency returns the order's currency.
func (o *Order) Currency() string { return o.currency }

// Lines returns a copy of the lines.
func (o *Order) Lines() []OrderLine { return slices.Clone(o.lines) }

// ShippingAddress returns the shipping address.
func (o *Order) ShippingAddress() string { return o.shippingAddr }

// Shipment returns the carrier and tracking number once shipped.
func (o *Order) Shipment() Shipment { return o.shipment }

// DeliveredAt returns the delivery time (zero before delivery).
func (o *Order) DeliveredAt() time.Time { return o.deliveredAt }

// Returns returns how many returns were recorded.
func (o *Order) Returns() int { return o.returns }

// ReturnedQuantity returns the quantity of a SKU returned so far.
func (o *Order) ReturnedQuantity(sku string) Decimal {
	var sum Decimal
	for i, l := range o.lines {
		if l.SKU == sku && i < len(o.returnedQty) {
			if s, err := sum.Add(o.returnedQty[i]); err == nil {
				sum = s
			}
		}
	}
	return sum
}

// Total returns the order total (sum of line amounts).
func (o *Order) Total() Decimal { return o.total }

// PaidTotal returns the sum of the payments received.
func (o *Order) PaidTotal() Decimal { return o.paid }

// ReturnedTotal returns the sum of the returned amounts.
func (o *Order) ReturnedTotal() Decimal { return o.returned }

// Due returns what the customer owes: total − returned.
func (o *Order) Due() Decimal {
	d, err := o.total.Sub(o.returned)
	if err != nil {
		return o.total
	}
	return d
}

// Outstanding returns Due − PaidTotal (negative when overpaid after a return).
func (o *Order) Outstanding() Decimal {
	d, err := o.Due().Sub(o.paid)
	if err != nil {
		return o.Due()
	}
	return d
}

// FullyPaid reports whether the payments cover Due.
func (o *Order) FullyPaid() bool { return o.paid.Cmp(o.Due()) >= 0 }

// Apply changes the state by one event of an order stream; it never fails.
// Events of other aggregates are ignored.
func (o *Order) Apply(e Event) {
	switch e := deref(e).(type) {
	case OrderPlaced:
		o.exists = true
		o.id = e.OrderID
		o.customerID = e.CustomerID
		o.orderNo = e.OrderNo
		o.orderedAt = e.OrderedAt
		o.currency = e.Currency
		o.lines = slices.Clone(e.Lines)
		o.returnedQty = make([]Decimal, len(e.Lines))
		o.total = e.Total
		o.shippingAddr = e.ShippingAddress
		o.status = OrderStatusPlaced
	case OrderShipped:
		o.shipment = Shipment{Carrier: e.Carrier, TrackingNo: e.TrackingNo}
		o.status = OrderStatusShipped
	case OrderDelivered:
		o.deliveredAt = e.DeliveredAt
		o.status = OrderStatusDelivered
	case PaymentReceived:
		o.paid = e.PaidTotal
	case OrderCancelled:
		o.status = OrderStatusCancelled
	case OrderReturned:
		o.returned = e.ReturnedTotal
		o.returns = e.ReturnNo
		// Best effort: a stored return is a fact even if it no longer
		// fits the lines (e.g. written by an older version).
		o.returnedQty = o.allocate(e.Lines).returnedQty
	}
}

func (o *Order) mustExist() error {
	if !o.exists {
		return notCreated("order")
	}
	return nil
}

// Place records OrderPlaced: validates the lines, computes each line's
// amount and the total exactly.
func (o *Order) Place(id uuid.UUID, p PlaceOrder, at time.Time) error {
	if o.exists {
		return alreadyCreated("order")
	}
	var fe fieldErrors
	if id == uuid.Nil {
		fe.add("id", "is required")
	}
	if p.CustomerID == uuid.Nil {
		fe.add("customerId", "is required")
	}
	p.OrderNo = trim(p.OrderNo)
	fe.maxLen("orderNo", p.OrderNo, MaxShortText)
	fe.notFuture("orderedAt", p.OrderedAt, at)
	p.Currency = trim(p.Currency)
	fe.currency("currency", p.Currency)
	p.ShippingAddress = trim(p.ShippingAddress)
	fe.maxLen("shippingAddress", p.ShippingAddress, 1000)
	if len(p.Lines) == 0 {
		fe.add("lines", "at least one line is required")
	}
	lines := make([]OrderLine, len(p.Lines))
	var total Decimal
	totalOK := true
	for i, l := range p.Lines {
		pre := "lines[" + itoa(i) + "]."
		l.SKU = trim(l.SKU)
		fe.required(pre+"sku", l.SKU, MaxShortText)
		l.Description = trim(l.Description)
		fe.maxLen(pre+"description", l.Description, 1000)
		l.Unit = trim(l.Unit)
		fe.maxLen(pre+"unit", l.Unit, MaxShortText)
		if l.Quantity.Sign() <= 0 {
			fe.add(pre+"quantity", "must be greater than 0")
		}
		if l.UnitPrice.Sign() < 0 {
			fe.add(pre+"unitPrice", "must not be negative")
		}
		amt, err := l.Quantity.Mul(l.UnitPrice)
		if err != nil {
			fe.add(pre+"quantity", "quantity × unitPrice is too large")
			totalOK = false
		} else if totalOK {
			if total, err = total.Add(amt); err != nil {
				fe.add("lines", "the order total is too large")
				totalOK = false
			}
		}
		l.Amount = amt
		lines[i] = l
	}
	if err := fe.err(); err != nil {
		return err
	}
	orderedAt := p.OrderedAt
	if orderedAt.IsZero() {
		orderedAt = at
	}
	o.record(OrderPlaced{OrderID: id, CustomerID: p.CustomerID, OrderNo: p.OrderNo, OrderedAt: utc(orderedAt),
		Currency: p.Currency, Lines: lines, Total: total, ShippingAddress: p.ShippingAddress})
	return nil
}

// Ship records OrderShipped: placed → shipped. Shipping again with the same
// carrier and tracking number records nothing; otherwise a shipped,
// delivered or cancelled order is KindConflict.
func (o *Order) Ship(p Shipment, at time.Time) error {
	if err := o.mustExist(); err != nil {
		return err
	}
	p.Carrier, p.TrackingNo = trim(p.Carrier), trim(p.TrackingNo)
	var fe fieldErrors
	fe.maxLen("carrier", p.Carrier, MaxShortText)
	fe.maxLen("trackingNo", p.TrackingNo, MaxShortText)
	if err := fe.err(); err != nil {
		return err
	}
	switch o.status {
	case OrderStatusShipped:
		if o.shipment == p {
			return nil
		}
		return conflict("order is already shipped")
	case OrderStatusDelivered:
		return conflict("order is already delivered")
	case OrderStatusCancelled:
		return conflict("order is cancelled")
	}
	o.record(OrderShipped{OrderID: o.id, CustomerID: o.customerID, Carrier: p.Carrier, TrackingNo: p.TrackingNo, ShippedAt: utc(at)})
	return nil
}

// Deliver records OrderDelivered: placed or shipped → delivered.
// deliveredAt defaults to at and may not precede the order time (field
// "deliveredAt"). A delivered order records nothing; a cancelled one is
// KindConflict.
func (o *Order) Deliver(deliveredAt time.Time, at time.Time) error {
	if err := o.mustExist(); err != nil {
		return err
	}
	switch o.status {
	case OrderStatusDelivered:
		return nil
	case OrderStatusCancelled:
		return conflict("order is cancelled")
	}
	if deliveredAt.IsZero() {
		deliveredAt = at
	}
	if deliveredAt.Before(o.orderedAt) {
		return Invalid(FieldError{Field: "deliveredAt", Message: "must not be before the order time " + timeText(o.orderedAt)})
	}
	o.record(OrderDelivered{OrderID: o.id, CustomerID: o.customerID, DeliveredAt: utc(deliveredAt)})
	return nil
}

// RecordPayment records PaymentReceived. The amount must be > 0 and not
// exceed the outstanding amount (field "amount"); a currency other than the
// order's is refused (field "currency"); a cancelled order is KindConflict.
func (o *Order) RecordPayment(p Payment, at time.Time) error {
	if err := o.mustExist(); err != nil {
		return err
	}
	var fe fieldErrors
	p.Currency = trim(p.Currency)
	if p.Currency != "" && p.Currency != o.currency {
		fe.add("currency", "must be the order's currency %s", o.currency)
	}
	p.Reference = trim(p.Reference)
	fe.maxLen("reference", p.Reference, MaxShortText)
	if p.Amount.Sign() <= 0 {
		fe.add("amount", "must be greater than 0")
	}
	if o.status == OrderStatusCancelled {
		if err := fe.err(); err != nil {
			return err
		}
		return conflict("order is cancelled")
	}
	paid, err := o.paid.Add(p.Amount)
	if err != nil {
		fe.add("amount", "is too large")
	} else if p.Amount.Sign() > 0 && paid.Cmp(o.Due()) > 0 {
		fe.add("amount", "exceeds the outstanding amount %s %s", o.Outstanding(), o.currency)
	}
	if err := fe.err(); err != nil {
		return err
	}
	o.record(PaymentReceived{OrderID: o.id, CustomerID: o.customerID, Amount: p.Amount, Currency: o.currency,
		Reference: p.Reference, PaidTotal: paid, FullyPaid: paid.Cmp(o.Due()) >= 0, ReceivedAt: utc(at)})
	return nil
}

// Cancel records OrderCancelled (field "reason", required). Decision: an
// order can be cancelled while placed or shipped (a shipment can still be
// stopped), not once delivered (record a return instead). Cancelling a
// cancelled order records nothing.
func (o *Order) Cancel(reason string, at time.Time) error {
	if err := o.mustExist(); err != nil {
		return err
	}
	reason = trim(reason)
	var fe fieldErrors
	fe.required("reason", reason, MaxLongText)
	if err := fe.err(); err != nil {
		return err
	}
	switch o.status {
	case OrderStatusCancelled:
		return nil
	case OrderStatusDelivered:
		return conflict("a delivered order cannot be cancelled; record a return instead")
	}
	o.record(OrderCancelled{OrderID: o.id, CustomerID: o.customerID, Reason: reason, PreviousStatus: o.status,
		Total: o.total, Currency: o.currency, CancelledAt: utc(at)})
	return nil
}

type allocation struct {
	returnedQty []Decimal
	amounts     []Decimal // per return line
	errs        fieldErrors
}

// allocate spreads returned quantities over the order's lines with the
// SKU, first line first, and prices them with each line's unit price.
func (o *Order) allocate(lines []ReturnLine) allocation {
	a := allocation{returnedQty: slices.Clone(o.returnedQty), amounts: make([]Decimal, len(lines))}
	if len(a.returnedQty) < len(o.lines) {
		a.returnedQty = append(a.returnedQty, make([]Decimal, len(o.lines)-len(a.returnedQty))...)
	}
	for i, rl := range lines {
		pre := "lines[" + itoa(i) + "]."
		sku := trim(rl.SKU)
		if sku == "" {
			a.errs.add(pre+"sku", "is required")
			continue
		}
		if rl.Quantity.Sign() <= 0 {
			a.errs.add(pre+"quantity", "must be greater than 0")
			continue
		}
		left := rl.Quantity
		var amount Decimal
		found := false
		for j, ol := range o.lines {
			if ol.SKU != sku || left.Sign() <= 0 {
				continue
			}
			found = true
			avail, err := ol.Quantity.Sub(a.returnedQty[j])
			if err != nil || avail.Sign() <= 0 {
				continue
			}
			take := left
			if take.Cmp(avail) > 0 {
				take = avail
			}
			amt, err1 := take.Mul(ol.UnitPrice)
			sum, err2 := amount.Add(amt)
			rq, err3 := a.returnedQty[j].Add(take)
			nl, err4 := left.Sub(take)
			if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
				a.errs.add(pre+"quantity", "is too large")
				break
			}
			amount, a.returnedQty[j], left = sum, rq, nl
		}
		switch {
		case !found:
			a.errs.add(pre+"sku", "is not on the order")
		case left.Sign() > 0:
			a.errs.add(pre+"quantity", "exceeds the quantity not yet returned")
		}
		a.amounts[i] = amount
	}
	return a
}

// Return records OrderReturned: returned goods (lines of the order's SKUs,
// partial quantities allowed, never more than ordered minus already
// returned) and/or an amount. At least one of lines and amount is needed
// (field "lines"); the amount defaults to the lines' value at the order's
// unit prices and may not exceed total − already returned (field
// "amount"). Allowed once placed, shipped or delivered; a cancelled order
// is KindConflict.
func (o *Order) Return(p ReturnOrder, at time.Time) error {
	if err := o.mustExist(); err != nil {
		return err
	}
	var fe fieldErrors
	p.Reason = trim(p.Reason)
	fe.maxLen("reason", p.Reason, MaxLongText)
	if len(p.Lines) == 0 && p.Amount == nil {
		fe.add("lines", "lines or amount is required")
	}
	if p.Amount != nil && p.Amount.Sign() < 0 {
		fe.add("amount", "must not be negative")
	}
	if o.status == OrderStatusCancelled {
		if err := fe.err(); err != nil {
			return err
		}
		return conflict("order is cancelled; nothing can be returned")
	}
	alloc := o.allocate(p.Lines)
	fe = append(fe, alloc.errs...)
	lines := make([]ReturnLine, len(p.Lines))
	var linesAmount Decimal
	for i, rl := range p.Lines {
		lines[i] = ReturnLine{SKU: trim(rl.SKU), Quantity: rl.Quantity, Amount: alloc.amounts[i]}
		if s, err := linesAmount.Add(alloc.amounts[i]); err == nil {
			linesAmount = s
		}
	}
	amount := linesAmount
	if p.Amount != nil {
		amount = *p.Amount
	}
	returned, err := o.returned.Add(amount)
	if err != nil || returned.Cmp(o.total) > 0 {
		fe.add("amount", "exceeds what is left to return (%s %s)", o.Due(), o.currency)
	}
	if err := fe.err(); err != nil {
		return err
	}
	if len(lines) == 0 {
		lines = nil
	}
	o.record(OrderReturned{OrderID: o.id, CustomerID: o.customerID, ReturnNo: o.returns + 1, Lines: lines, Amount: amount,
		Currency: o.currency, Reason: p.Reason, ReturnedTotal: returned, ReturnedAt: utc(at)})
	return nil
}
