package readmodels

import (
	"context"
	"strconv"
	"time"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/projections"
)

// Orders maintains a document per order, the orders of each customer and
// the contribution (net revenue: placed − cancelled − returned) of each
// customer per year. A placement counts in the year it was ordered, a
// cancellation or a return in the year it happened.
//
// Keys (relative):
//
//	order:<id>                          Order document (JSON)
//	customer:<customerId>               sorted set of the customer's order ids, score = orderedAt Unix ms
//	contribution:<year>:<customerId>    Contribution document (JSON)
//	ranking:<year>:<currency>           sorted set of customer ids by net contribution in that
//	                                    currency (score = net as float, for ordering only)
//	year:<year>                         YearContribution totals (JSON)
//	years                               set of the years with contributions
type Orders struct{ cache *docCache }

// Orders key helpers (relative keys of the orders projection).
func OrderKey(id string) string                 { return "order:" + id }
func OrderCustomerKey(customerID string) string { return "customer:" + customerID }
func ContributionKey(year, customerID string) string {
	return "contribution:" + year + ":" + customerID
}
func ContributionRankingKey(year, currency string) string { return "ranking:" + year + ":" + currency }
func ContributionYearKey(year string) string              { return "year:" + year }

// ContributionYearsKey is the set of years with contributions.
const ContributionYearsKey = "years"

// Order is the order document.
type Order struct {
	ID              string             `json:"id"`
	Stream          string             `json:"stream"`
	Revision        uint64             `json:"revision"`
	Position        uint64             `json:"position,string"`
	CustomerID      string             `json:"customerId"`
	OrderNo         string             `json:"orderNo,omitempty"`
	OrderedAt       time.Time          `json:"orderedAt"`
	Currency        string             `json:"currency"`
	Lines           []domain.OrderLine `json:"lines"`
	Total           domain.Decimal     `json:"total"`
	ShippingAddress string             `json:"shippingAddress,omitempty"`
	Status          string             `json:"status"`
	Carrier         string             `json:"carrier,omitempty"`
	TrackingNo      string             `json:"trackingNo,omitempty"`
	ShippedAt       *time.Time         `json:"shippedAt,omitempty"`
	DeliveredAt     *time.Time         `json:"deliveredAt,omitempty"`
	Payments        int                `json:"payments"`
	Paid            domain.Decimal     `json:"paid"`
	FullyPaid       bool               `json:"fullyPaid"`
	Returns         int                `json:"returns"`
	Returned        domain.Decimal     `json:"returned"`
	CancelledAt     *time.Time         `json:"cancelledAt,omitempty"`
	CancelReason    string             `json:"cancelReason,omitempty"`
	// Net is what the order contributes: total − returned, 0 once
	// cancelled (a cancellation after a partial return takes back only
	// what the return left).
	Net domain.Decimal `json:"net"`
}

// Contribution is one customer's contribution in one year.
type Contribution struct {
	CustomerID string  `json:"customerId"`
	Year       string  `json:"year"`
	Orders     int     `json:"orders"`    // placed in the year
	Cancelled  int     `json:"cancelled"` // cancellations in the year
	Returns    int     `json:"returns"`   // returns in the year
	Placed     Amounts `json:"placed"`
	Cancels    Amounts `json:"cancels"`
	Returned   Amounts `json:"returned"`
	Net        Amounts `json:"net"`
}

// YearContribution totals the contributions of one year.
type YearContribution struct {
	Year      string  `json:"year"`
	Customers int     `json:"customers"`
	Orders    int     `json:"orders"`
	Net       Amounts `json:"net"`
}

// Name returns "orders".
func (Orders) Name() string { return "orders" }

// Version returns 1.
func (Orders) Version() int { return 1 }

var ordersHandles = typeSet(orderTypes...)

// Handles reports the order events.
func (Orders) Handles(t string) bool { return ordersHandles[t] }

// Handle applies one event.
func (p Orders) Handle(ctx context.Context, tx projections.Tx, e projections.Event) error {
	d := data(e)
	id := streamID(e)
	if id == "" {
		return unexpected(p.Name(), e)
	}
	o := &Order{}
	found, err := getDoc(ctx, tx, nil, OrderKey(id), o) // touched a few times each: not worth caching
	if err != nil {
		return err
	}
	if found && e.Revision <= o.Revision {
		return nil
	}
	if _, placed := d.(domain.OrderPlaced); !found && !placed {
		return permanent("%s: %s at %s/%d before OrderPlaced", p.Name(), e.Type, e.Stream, e.Revision)
	}
	switch d := d.(type) {
	case domain.OrderPlaced:
		*o = Order{
			ID: id, Stream: e.Stream, CustomerID: d.CustomerID.String(), OrderNo: d.OrderNo,
			OrderedAt: d.OrderedAt.UTC(), Currency: d.Currency, Lines: d.Lines, Total: d.Total,
			ShippingAddress: d.ShippingAddress, Status: string(domain.OrderStatusPlaced), Net: d.Total,
		}
		if o.Lines == nil {
			o.Lines = []domain.OrderLine{}
		}
		tx.ZAdd(OrderCustomerKey(o.CustomerID), ms(o.OrderedAt), id)
		if err := p.contribute(ctx, tx, o.CustomerID, year(o.OrderedAt), o.Currency, d.Total, func(c *Contribution) (err error) {
			c.Orders++
			c.Placed, err = c.Placed.add(o.Currency, d.Total, +1)
			return err
		}, +1, 1); err != nil {
			return err
		}
	case domain.OrderShipped:
		o.Status, o.Carrier, o.TrackingNo, o.ShippedAt = string(domain.OrderStatusShipped), d.Carrier, d.TrackingNo, tptr(d.ShippedAt)
	case domain.OrderDelivered:
		o.Status, o.DeliveredAt = string(domain.OrderStatusDelivered), tptr(d.DeliveredAt)
	case domain.PaymentReceived:
		o.Payments++
		o.Paid, o.FullyPaid = d.PaidTotal, d.FullyPaid
	case domain.OrderCancelled:
		// A cancellation takes back what returns left of the order.
		o.Status, o.CancelledAt, o.CancelReason = string(domain.OrderStatusCancelled), tptr(d.CancelledAt), d.Reason
		left := o.Net
		o.Net = domain.Decimal{}
		if err := p.contribute(ctx, tx, o.CustomerID, year(d.CancelledAt), o.Currency, left, func(c *Contribution) (err error) {
			c.Cancelled++
			c.Cancels, err = c.Cancels.add(o.Currency, left, +1)
			return err
		}, -1, 0); err != nil {
			return err
		}
	case domain.OrderReturned:
		o.Returns++
		o.Returned = d.ReturnedTotal
		if o.Net, err = o.Net.Sub(d.Amount); err != nil {
			return permanent("%s: order %s net: %v", p.Name(), id, err)
		}
		if err := p.contribute(ctx, tx, o.CustomerID, year(d.ReturnedAt), d.Currency, d.Amount, func(c *Contribution) (err error) {
			c.Returns++
			c.Returned, err = c.Returned.add(d.Currency, d.Amount, +1)
			return err
		}, -1, 0); err != nil {
			return err
		}
	default:
		return unexpected(p.Name(), e)
	}
	o.Revision, o.Position = e.Revision, e.Position
	return setDoc(tx, nil, OrderKey(id), o)
}

// contribute updates a customer's contribution of one year: f changes the
// detail, sign×amount goes to the net, orders is added to the year's count.
func (p Orders) contribute(ctx context.Context, tx projections.Tx, customerID, yr, cur string, amount domain.Decimal,
	f func(*Contribution) error, sign, orders int) error {
	key := ContributionKey(yr, customerID)
	c := Contribution{CustomerID: customerID, Year: yr}
	found, err := getDoc(ctx, tx, p.cache, key, &c)
	if err != nil {
		return err
	}
	var y YearContribution
	if _, err := getDoc(ctx, tx, p.cache, ContributionYearKey(yr), &y); err != nil {
		return err
	}
	y.Year = yr
	if !found {
		y.Customers++
	}
	y.Orders += orders
	if err := f(&c); err != nil {
		return err
	}
	if c.Net, err = c.Net.add(cur, amount, sign); err != nil {
		return err
	}
	if y.Net, err = y.Net.add(cur, amount, sign); err != nil {
		return err
	}
	f64, _ := strconv.ParseFloat(c.Net.Of(cur).String(), 64)
	tx.ZAdd(ContributionRankingKey(yr, cur), f64, customerID)
	tx.SAdd(ContributionYearsKey, yr)
	if err := setDoc(tx, p.cache, ContributionYearKey(yr), &y); err != nil {
		return err
	}
	return setDoc(tx, p.cache, key, &c)
}
