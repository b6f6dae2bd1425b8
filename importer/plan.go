package importer

import (
	"cmp"
	"errors"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
)

// SkipReason says why a row that parsed was not imported. Skipped rows are
// counted per reason and reported; none is dropped silently. Guest lines
// (no CustomerID) are counted apart, not as skipped.
type SkipReason string

// The reasons a parsed row is skipped.
const (
	SkipAdjustment       SkipReason = "adjustment invoice (neither a sale nor a cancellation)"
	SkipZeroQuantity     SkipReason = "zero quantity"
	SkipNegativeSale     SkipReason = "negative quantity on a sale (a stock adjustment)"
	SkipPositiveCancel   SkipReason = "positive quantity on a cancellation invoice"
	SkipNegativePrice    SkipReason = "negative unit price"
	SkipCustomerMismatch SkipReason = "customer id differs from the invoice's first line"
)

// Line is one line of an order or of a cancellation, with a positive
// quantity.
type Line struct {
	SKU         string
	Description string
	Quantity    int64
	UnitPrice   Decimal
	SourceLine  int // line number in the file
}

// Invoice is a sale (an order) or a cancellation of one customer.
type Invoice struct {
	No           string
	CustomerID   string
	Country      string
	Time         time.Time // the earliest of its lines' times (a long invoice can straddle a minute)
	FirstLine    int       // line number of its first line in the file
	Cancellation bool
	Lines        []Line // in file order; quantities positive
}

// Dataset is the content of a file, grouped into invoices, with what was
// left out.
type Dataset struct {
	Rows          int                // data rows read (header excluded)
	GuestLines    int                // rows without a customer id
	GuestInvoices int                // invoices made only of guest lines
	Skipped       map[SkipReason]int // parsed rows left out, per reason
	Invoices      []*Invoice         // invoices with a customer, in file order of their first line
}

// Collect reads all rows of r and groups them into invoices. It stops at
// the first malformed row (a *ParseError).
func Collect(r *Reader) (*Dataset, error) {
	ds := &Dataset{Skipped: map[SkipReason]int{}}
	byNo := map[string]*Invoice{}
	guestNos := map[string]bool{}
	intern := map[string]string{}
	in := func(s string) string {
		if v, ok := intern[s]; ok {
			return v
		}
		intern[s] = s
		return s
	}
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		ds.Rows++
		if row.Guest() {
			ds.GuestLines++
			guestNos[row.InvoiceNo] = true
			continue
		}
		if reason, skip := classify(row); skip {
			ds.Skipped[reason]++
			continue
		}
		inv := byNo[row.InvoiceNo]
		if inv == nil {
			inv = &Invoice{
				No:           row.InvoiceNo,
				CustomerID:   in(row.CustomerID),
				Country:      in(row.Country),
				Time:         row.InvoiceDate,
				FirstLine:    row.Line,
				Cancellation: row.Cancellation(),
			}
			byNo[row.InvoiceNo] = inv
			ds.Invoices = append(ds.Invoices, inv)
		} else if inv.CustomerID != row.CustomerID {
			ds.Skipped[SkipCustomerMismatch]++
			continue
		}
		if row.InvoiceDate.Before(inv.Time) {
			inv.Time = row.InvoiceDate
		}
		q := row.Quantity
		if q < 0 {
			q = -q
		}
		inv.Lines = append(inv.Lines, Line{
			SKU:         in(row.StockCode),
			Description: in(row.Description),
			Quantity:    q,
			UnitPrice:   row.UnitPrice,
			SourceLine:  row.Line,
		})
	}
	for no := range guestNos {
		if byNo[no] == nil {
			ds.GuestInvoices++
		}
	}
	return ds, nil
}

// classify returns why a customer's row is left out, if it is.
func classify(row Row) (SkipReason, bool) {
	switch {
	case row.InvoiceNo[0] < '0' || row.InvoiceNo[0] > '9':
		if !row.Cancellation() {
			return SkipAdjustment, true
		}
		if row.Quantity > 0 {
			return SkipPositiveCancel, true
		}
	case row.Quantity < 0:
		return SkipNegativeSale, true
	}
	switch {
	case row.Quantity == 0:
		return SkipZeroQuantity, true
	case row.UnitPrice < 0:
		return SkipNegativePrice, true
	}
	return "", false
}

// ---------------------------------------------------------------------------
// Planning

// Namespace is the UUIDv5 namespace of the ids this importer derives:
// UUIDv5(NameSpaceURL, "https://github.com/crm-es/crm/importer/online-retail").
// It must never change: a re-import would create new customers and orders.
var Namespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/crm-es/crm/importer/online-retail"))

// CustomerUUID is the stable id of the data set's customer id ("17850").
func CustomerUUID(customerID string) uuid.UUID {
	return uuid.NewSHA1(Namespace, []byte("online-retail:customer:"+customerID))
}

// OrderUUID is the stable id of the order of an invoice number ("536365").
func OrderUUID(invoiceNo string) uuid.UUID {
	return uuid.NewSHA1(Namespace, []byte("online-retail:order:"+invoiceNo))
}

// ActionKind is what an Action records.
type ActionKind int

// The kinds of Action.
const (
	ActPlace  ActionKind = iota + 1 // OrderPlaced for a sale
	ActCancel                       // OrderCancelled: the cancellation matches a whole order
	ActReturn                       // OrderReturned: some lines of an order come back
)

// Action is one thing that happens to a customer's order.
type Action struct {
	Kind    ActionKind
	Invoice *Invoice // the sale (ActPlace) or the cancellation invoice
	Order   *Invoice // the order cancelled or returned (ActCancel, ActReturn)
	Lines   []Line   // ActReturn: the lines returned (quantities of the order's SKUs)
	// Amount is, for an ActReturn without Lines, the refund of cancelled
	// goods that are on none of the customer's earlier orders (quantity ×
	// the cancellation's unit price), recorded as an amount-only return on
	// the customer's latest earlier order.
	Amount Decimal
}

// Customer is a customer of the data set and what happened to it, in
// business-time order.
type Customer struct {
	SourceID     string    // the data set's CustomerID ("17850")
	ID           uuid.UUID // CustomerUUID(SourceID)
	Region       string    // the country of its first invoice
	Countries    int       // distinct countries seen on its invoices
	RegisteredAt time.Time // the time of its first invoice
	Actions      []Action
}

// Plan is a whole import: customers with their actions, and the counts of
// what could not be matched.
type Plan struct {
	Customers []*Customer // in order of first appearance in the file

	Orders                int // ActPlace actions
	Cancellations         int // cancellation invoices of customers
	OrdersCancelled       int // ActCancel actions: cancellations matching a whole order
	Returns               int // ActReturn actions
	AmountReturns         int // ActReturn actions without lines (refunds of goods on no earlier order)
	UnmatchedCancels      int // cancellation invoices with no earlier order of the customer
	UnmatchedLines        int // cancellation lines that could not be recorded at all
	MultiCountryCustomers int // customers seen with more than one country (region = the first)
}

// orderState tracks what is left of a placed order while matching, the way
// domain.Order does: returned quantities are taken from the order's lines
// with the SKU, first line first, and valued at those lines' prices.
type orderState struct {
	inv       *Invoice
	totals    map[string]int64 // SKU → quantity ordered
	left      []int64          // per line: quantity not returned yet
	total     Decimal
	returned  Decimal
	touched   bool // cancelled or partly returned
	cancelled bool
}

func newOrderState(inv *Invoice) *orderState {
	st := &orderState{inv: inv, totals: skuTotals(inv.Lines), left: make([]int64, len(inv.Lines))}
	for i, l := range inv.Lines {
		st.left[i] = l.Quantity
		amt, _ := l.UnitPrice.Mul(l.Quantity)
		st.total += amt
	}
	return st
}

// available returns the quantity of sku not returned yet.
func (st *orderState) available(sku string) int64 {
	var n int64
	for i, l := range st.inv.Lines {
		if l.SKU == sku {
			n += st.left[i]
		}
	}
	return n
}

// value returns what q of sku (q ≤ available(sku)) is worth at the order's
// prices, taken first line first.
func (st *orderState) value(sku string, q int64) Decimal {
	var v Decimal
	for i, l := range st.inv.Lines {
		if q == 0 {
			break
		}
		if l.SKU != sku || st.left[i] == 0 {
			continue
		}
		n := min(q, st.left[i])
		q -= n
		amt, _ := l.UnitPrice.Mul(n)
		v += amt
	}
	return v
}

// fits reports whether returning v more stays within the order's total
// (the domain refuses returns worth more than what is left).
func (st *orderState) fits(v Decimal) bool { return st.returned+v <= st.total }

// take returns q of sku (q ≤ available(sku)).
func (st *orderState) take(sku string, q int64) {
	for i, l := range st.inv.Lines {
		if q == 0 {
			break
		}
		if l.SKU != sku || st.left[i] == 0 {
			continue
		}
		n := min(q, st.left[i])
		st.left[i] -= n
		q -= n
		amt, _ := l.UnitPrice.Mul(n)
		st.returned += amt
	}
	st.touched = true
}

// matches reports whether the order, untouched, holds exactly want.
func (st *orderState) matches(want map[string]int64) bool {
	return !st.touched && maps.Equal(st.totals, want)
}

// NewPlan decides, for every customer, which orders are placed and how each
// cancellation ("C" invoice) is recorded, considering only the customer's
// orders placed before it:
//
//  1. against the latest order whose lines (SKU and quantity, summed per
//     SKU) are exactly the cancellation's, with nothing returned yet:
//     OrderCancelled;
//  2. else against the latest order that still holds every SKU in at least
//     the cancelled quantity: one OrderReturned with the cancelled lines;
//  3. else line by line, against the latest orders still holding the SKU
//     (a line may be split over several orders): one OrderReturned per
//     order;
//  4. what is left (goods on none of the earlier orders: the data set starts
//     on 2010-12-01, so many were bought before) becomes an amount-only
//     OrderReturned on the customer's latest order, refunding quantity ×
//     the cancellation's unit price, when that order has that much left to
//     return; otherwise its lines are counted as unmatched.
//
// A cancellation with no earlier order at all is counted as unmatched.
// A cancelled order is never matched again.
func NewPlan(ds *Dataset) *Plan {
	p := &Plan{}
	byCustomer := map[string]*Customer{}
	invoices := map[string][]*Invoice{}
	for _, inv := range ds.Invoices {
		c := byCustomer[inv.CustomerID]
		if c == nil {
			c = &Customer{SourceID: inv.CustomerID, ID: CustomerUUID(inv.CustomerID)}
			byCustomer[inv.CustomerID] = c
			p.Customers = append(p.Customers, c)
		}
		invoices[inv.CustomerID] = append(invoices[inv.CustomerID], inv)
	}
	for _, c := range p.Customers {
		invs := invoices[c.SourceID]
		slices.SortStableFunc(invs, func(a, b *Invoice) int {
			return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.FirstLine, b.FirstLine))
		})
		c.Region = invs[0].Country
		c.RegisteredAt = invs[0].Time
		countries := map[string]bool{}
		for _, inv := range invs {
			countries[inv.Country] = true
		}
		c.Countries = len(countries)
		if c.Countries > 1 {
			p.MultiCountryCustomers++
		}
		p.planCustomer(c, invs)
	}
	return p
}

func (p *Plan) planCustomer(c *Customer, invs []*Invoice) {
	var orders []*orderState // placed so far, oldest first
	for _, inv := range invs {
		if !inv.Cancellation {
			orders = append(orders, newOrderState(inv))
			c.Actions = append(c.Actions, Action{Kind: ActPlace, Invoice: inv})
			p.Orders++
			continue
		}
		p.Cancellations++
		if len(orders) == 0 {
			p.UnmatchedCancels++
			p.UnmatchedLines += len(inv.Lines)
			continue
		}
		want := skuTotals(inv.Lines)

		// 1. A whole order, untouched.
		if st := latest(orders, func(st *orderState) bool { return st.matches(want) }); st != nil {
			st.touched, st.cancelled = true, true
			c.Actions = append(c.Actions, Action{Kind: ActCancel, Invoice: inv, Order: st.inv})
			p.OrdersCancelled++
			continue
		}

		// 2. One order holding all of it.
		if st := latest(orders, func(st *orderState) bool {
			if st.cancelled {
				return false
			}
			var v Decimal
			for sku, q := range want {
				if st.available(sku) < q {
					return false
				}
				v += st.value(sku, q)
			}
			return st.fits(v)
		}); st != nil {
			for _, l := range inv.Lines {
				st.take(l.SKU, l.Quantity)
			}
			c.Actions = append(c.Actions, Action{Kind: ActReturn, Invoice: inv, Order: st.inv, Lines: inv.Lines})
			p.Returns++
			continue
		}

		// 3. Line by line over the latest orders holding the SKU.
		perOrder := map[*orderState][]Line{}
		var touched []*orderState
		var refund Decimal
		var refundLines int
		for _, l := range inv.Lines {
			left := l.Quantity
			for i := len(orders) - 1; i >= 0 && left > 0; i-- {
				st := orders[i]
				if st.cancelled {
					continue
				}
				have := st.available(l.SKU)
				if have <= 0 {
					continue
				}
				q := min(have, left)
				if !st.fits(st.value(l.SKU, q)) {
					continue
				}
				st.take(l.SKU, q)
				left -= q
				part := l
				part.Quantity = q
				if perOrder[st] == nil {
					touched = append(touched, st)
				}
				perOrder[st] = append(perOrder[st], part)
			}
			if left > 0 {
				amt, _ := l.UnitPrice.Mul(left)
				refund += amt
				refundLines++
			}
		}
		slices.SortFunc(touched, func(a, b *orderState) int { return slices.Index(orders, a) - slices.Index(orders, b) })
		for _, st := range touched {
			c.Actions = append(c.Actions, Action{Kind: ActReturn, Invoice: inv, Order: st.inv, Lines: perOrder[st]})
			p.Returns++
		}

		// 4. The rest as a refund on the latest order, if it fits.
		if refundLines == 0 {
			continue
		}
		st := latest(orders, func(st *orderState) bool { return !st.cancelled })
		if st == nil || refund <= 0 || st.returned+refund > st.total {
			p.UnmatchedLines += refundLines
			continue
		}
		st.returned += refund
		st.touched = true
		c.Actions = append(c.Actions, Action{Kind: ActReturn, Invoice: inv, Order: st.inv, Amount: refund})
		p.Returns++
		p.AmountReturns++
	}
}

// latest returns the most recent order satisfying ok.
func latest(orders []*orderState, ok func(*orderState) bool) *orderState {
	for i := len(orders) - 1; i >= 0; i-- {
		if ok(orders[i]) {
			return orders[i]
		}
	}
	return nil
}

// skuTotals sums quantities per SKU.
func skuTotals(lines []Line) map[string]int64 {
	m := make(map[string]int64, len(lines))
	for _, l := range lines {
		m[l.SKU] += l.Quantity
	}
	return m
}
