package readmodels

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/projections"
)

// Reports maintains the composition report, the churn report and the
// overview dashboard. Periods (months) come from the events' business
// times, never from the clock; the overview's AsOf is the latest business
// time seen, so "this month" is the month of the newest event.
//
// Keys (relative):
//
//	composition               Composition (JSON)
//	churn                     ChurnReport (JSON)
//	overview                  Overview (JSON)
//	customer:<id>             per-customer state the composition is derived from
//	link:<stream>             per opportunity/service/order stream: its contribution to the overview
type Reports struct{ cache *docCache }

// Fixed keys of the reports projection.
const (
	CompositionKey = "composition"
	ChurnReportKey = "churn"
	OverviewKey    = "overview"
)

// UnknownRegion is the composition key of customers without a region.
const UnknownRegion = "(none)"

// Composition counts the registered customers by level, credit,
// satisfaction (key "0": not rated), region and status.
type Composition struct {
	Total          int            `json:"total"`
	ByLevel        map[string]int `json:"byLevel"`
	ByCredit       map[string]int `json:"byCredit"`
	BySatisfaction map[string]int `json:"bySatisfaction"`
	ByRegion       map[string]int `json:"byRegion"`
	ByStatus       map[string]int `json:"byStatus"`
}

// ChurnReport counts churn warnings and their outcomes, in total and per
// month ("2006-01", the month of the event's own time); ByMonth[m].Confirmed
// is the number of customers lost in month m.
type ChurnReport struct {
	Raised        int                   `json:"raised"`
	RaisedByRule  int                   `json:"raisedByRule"`
	RaisedByScore int                   `json:"raisedByScore"`
	Deferred      int                   `json:"deferred"`
	Confirmed     int                   `json:"confirmed"`
	Cleared       int                   `json:"cleared"`
	Reactivated   int                   `json:"reactivated"`
	AtRisk        int                   `json:"atRisk"` // customers at risk now
	Lost          int                   `json:"lost"`   // customers lost now
	ByMonth       map[string]ChurnMonth `json:"byMonth"`
}

// ChurnMonth is one month of the churn report.
type ChurnMonth struct {
	Raised      int `json:"raised"`
	Deferred    int `json:"deferred"`
	Confirmed   int `json:"confirmed"`
	Cleared     int `json:"cleared"`
	Reactivated int `json:"reactivated"`
}

// Overview is the overview dashboard.
type Overview struct {
	AsOf                *time.Time            `json:"asOf,omitempty"` // latest business time seen
	ThisMonth           string                `json:"thisMonth,omitempty"`
	Customers           int                   `json:"customers"`
	CustomersByStatus   map[string]int        `json:"customersByStatus"`
	OpenOpportunities   Bucket                `json:"openOpportunities"` // expected values
	WonOpportunities    Bucket                `json:"wonOpportunities"`  // won amounts
	OpenServiceRequests int                   `json:"openServiceRequests"`
	OpenComplaints      int                   `json:"openComplaints"`
	Orders              int                   `json:"orders"`
	Revenue             Amounts               `json:"revenue"` // net: placed − cancelled − returned
	OrdersByMonth       map[string]OrderMonth `json:"ordersByMonth"`
	InteractionsByMonth map[string]int        `json:"interactionsByMonth"`
	// OrdersThisMonth and InteractionsThisMonth are the ThisMonth entries.
	OrdersThisMonth       OrderMonth `json:"ordersThisMonth"`
	InteractionsThisMonth int        `json:"interactionsThisMonth"`
}

// OrderMonth is one month of orders: placements in the month of their
// order time, cancellations and returns in their own month.
type OrderMonth struct {
	Orders    int     `json:"orders"`
	Cancelled int     `json:"cancelled"`
	Placed    Amounts `json:"placed"`
	Net       Amounts `json:"net"`
}

type reportCustomer struct {
	Revision     uint64 `json:"revision"`
	Registered   bool   `json:"registered"`
	Level        int    `json:"level"`
	Credit       int    `json:"credit"`
	Satisfaction int    `json:"satisfaction"`
	Region       string `json:"region"`
	Status       string `json:"status"`
}

// Name returns "reports".
func (Reports) Name() string { return "reports" }

// Version returns 1.
func (Reports) Version() int { return 1 }

var reportsHandles = typeSet(slices.Concat(customerTypes, kpiTypes, []string{domain.TypeOpportunityChanged})...)

// Handles reports the customer events and the events of other streams
// the overview counts.
func (Reports) Handles(t string) bool { return reportsHandles[t] }

func (c reportCustomer) count(comp *Composition, ov *Overview, n int) {
	if !c.Registered {
		return
	}
	region := c.Region
	if region == "" {
		region = UnknownRegion
	}
	comp.Total += n
	comp.ByLevel = countAdd(comp.ByLevel, strconv.Itoa(c.Level), n)
	comp.ByCredit = countAdd(comp.ByCredit, strconv.Itoa(c.Credit), n)
	comp.BySatisfaction = countAdd(comp.BySatisfaction, strconv.Itoa(c.Satisfaction), n)
	comp.ByRegion = countAdd(comp.ByRegion, region, n)
	comp.ByStatus = countAdd(comp.ByStatus, c.Status, n)
	ov.Customers += n
	ov.CustomersByStatus = countAdd(ov.CustomersByStatus, c.Status, n)
}

type reportDocs struct {
	comp  Composition
	churn ChurnReport
	ov    Overview
	// which documents the event touches (the overview always: AsOf)
	withComp, withChurn bool
}

func (r *reportDocs) docs() map[string]any {
	m := map[string]any{OverviewKey: &r.ov}
	if r.withComp {
		m[CompositionKey] = &r.comp
	}
	if r.withChurn {
		m[ChurnReportKey] = &r.churn
	}
	return m
}

func (r *reportDocs) load(ctx context.Context, tx projections.Tx, dc *docCache) error {
	for k, v := range r.docs() {
		if _, err := getDoc(ctx, tx, dc, k, v); err != nil {
			return err
		}
	}
	return nil
}

func (r *reportDocs) save(tx projections.Tx, dc *docCache) error {
	r.churn.AtRisk = r.comp.ByStatus[string(domain.CustomerStatusAtRisk)]
	r.churn.Lost = r.comp.ByStatus[string(domain.CustomerStatusLost)]
	nonNil(&r.comp.ByLevel, &r.comp.ByCredit, &r.comp.BySatisfaction, &r.comp.ByRegion,
		&r.comp.ByStatus, &r.ov.CustomersByStatus, &r.ov.InteractionsByMonth)
	nonNil(&r.churn.ByMonth)
	nonNil(&r.ov.OrdersByMonth)
	r.ov.OrdersThisMonth = r.ov.OrdersByMonth[r.ov.ThisMonth]
	r.ov.InteractionsThisMonth = r.ov.InteractionsByMonth[r.ov.ThisMonth]
	for k, v := range r.docs() {
		if err := setDoc(tx, dc, k, v); err != nil {
			return err
		}
	}
	return nil
}

func isChurnType(t string) bool {
	switch t {
	case domain.TypeChurnWarningRaised, domain.TypeChurnDeferred, domain.TypeChurnConfirmed,
		domain.TypeChurnWarningCleared, domain.TypeCustomerReactivated:
		return true
	}
	return false
}

// Handle applies one event.
func (p Reports) Handle(ctx context.Context, tx projections.Tx, e projections.Event) error {
	d := data(e)
	if d == nil {
		return unexpected(p.Name(), e)
	}
	kind, _, _ := domain.ParseStream(e.Stream)
	r := reportDocs{withComp: kind == domain.KindCustomer, withChurn: isChurnType(e.Type)}
	if err := r.load(ctx, tx, p.cache); err != nil {
		return err
	}
	var applied bool
	var err error
	if kind == domain.KindCustomer {
		applied, err = p.customerEvent(ctx, tx, e, d, &r)
	} else {
		applied, err = p.otherEvent(ctx, tx, e, d, &r)
	}
	if err != nil || !applied {
		return err
	}
	if at := e.OccurredAt(); r.ov.AsOf == nil || at.After(*r.ov.AsOf) {
		r.ov.AsOf = tptr(at)
		r.ov.ThisMonth = month(at)
	}
	return r.save(tx, p.cache)
}

func (p Reports) customerEvent(ctx context.Context, tx projections.Tx, e projections.Event, d domain.Event, r *reportDocs) (bool, error) {
	id := customerIDOf(d)
	if id == "" {
		id = streamID(e)
	}
	key := "customer:" + id
	var c reportCustomer
	if _, err := getDoc(ctx, tx, p.cache, key, &c); err != nil {
		return false, err
	}
	if c.Registered && e.Revision <= c.Revision {
		return false, nil
	}
	c.count(&r.comp, &r.ov, -1)
	cm := func(f func(*ChurnMonth), t time.Time) {
		if r.churn.ByMonth == nil {
			r.churn.ByMonth = map[string]ChurnMonth{}
		}
		m := r.churn.ByMonth[month(t)]
		f(&m)
		r.churn.ByMonth[month(t)] = m
	}
	switch d := d.(type) {
	case domain.CustomerRegistered:
		c = reportCustomer{Registered: true, Level: d.Level, Credit: d.Credit, Satisfaction: d.Satisfaction,
			Region: d.Region, Status: string(domain.CustomerStatusActive)}
	case domain.CustomerProfileChanged:
		c.Region = d.Profile.Region
	case domain.CustomerLevelChanged:
		c.Level = d.To
	case domain.CustomerCreditRated:
		c.Credit = d.To
	case domain.CustomerSatisfactionRated:
		c.Satisfaction = d.To
	case domain.InteractionLogged:
		at := d.OccurredAt
		if at.IsZero() {
			at = e.OccurredAt()
		}
		r.ov.InteractionsByMonth = countAdd(r.ov.InteractionsByMonth, month(at), 1)
	case domain.ChurnWarningRaised:
		c.Status = string(domain.CustomerStatusAtRisk)
		r.churn.Raised++
		if d.Why == domain.ChurnWhyScore {
			r.churn.RaisedByScore++
		} else {
			r.churn.RaisedByRule++
		}
		cm(func(m *ChurnMonth) { m.Raised++ }, d.RaisedAt)
	case domain.ChurnDeferred:
		r.churn.Deferred++
		cm(func(m *ChurnMonth) { m.Deferred++ }, d.DeferredAt)
	case domain.ChurnConfirmed:
		c.Status = string(domain.CustomerStatusLost)
		r.churn.Confirmed++
		cm(func(m *ChurnMonth) { m.Confirmed++ }, d.ConfirmedAt)
	case domain.ChurnWarningCleared:
		c.Status = string(domain.CustomerStatusActive)
		r.churn.Cleared++
		cm(func(m *ChurnMonth) { m.Cleared++ }, d.ClearedAt)
	case domain.CustomerReactivated:
		c.Status = string(domain.CustomerStatusActive)
		r.churn.Reactivated++
		cm(func(m *ChurnMonth) { m.Reactivated++ }, d.ReactivatedAt)
	case domain.CustomerOwnerAssigned, domain.ContactAdded, domain.ContactChanged, domain.ContactRemoved:
	default:
		return false, unexpected(p.Name(), e)
	}
	c.Revision = e.Revision
	c.count(&r.comp, &r.ov, +1)
	return true, setDoc(tx, p.cache, key, &c)
}

func (p Reports) otherEvent(ctx context.Context, tx projections.Tx, e projections.Event, d domain.Event, r *reportDocs) (bool, error) {
	lk := "link:" + e.Stream
	l, fresh, err := loadLink(ctx, tx, lk, e)
	if err != nil || !fresh {
		return false, err
	}
	ov := &r.ov
	om := func(t time.Time, f func(*OrderMonth) error) error {
		if ov.OrdersByMonth == nil {
			ov.OrdersByMonth = map[string]OrderMonth{}
		}
		m := ov.OrdersByMonth[month(t)]
		if err := f(&m); err != nil {
			return err
		}
		ov.OrdersByMonth[month(t)] = m
		return nil
	}
	openValue := func(sign int) error {
		if !l.Open {
			return nil
		}
		v := l.Value
		ov.OpenOpportunities, err = ov.OpenOpportunities.add(1, l.Currency, &v, sign)
		return err
	}
	switch d := d.(type) {
	case domain.OpportunityCreated:
		l.Open = true
		if d.ExpectedValue != nil {
			l.Value, l.Currency = *d.ExpectedValue, d.Currency
		}
		err = openValue(+1)
	case domain.OpportunityChanged:
		if err = openValue(-1); err == nil {
			l.Value, l.Currency = domain.Decimal{}, d.Details.Currency
			if d.Details.ExpectedValue != nil {
				l.Value = *d.Details.ExpectedValue
			}
			err = openValue(+1)
		}
	case domain.OpportunityWon:
		if err = openValue(-1); err == nil {
			l.Open = false
			won, cur := l.Value, l.Currency
			if d.Amount != nil {
				won = *d.Amount
				if d.Currency != "" {
					cur = d.Currency
				}
			}
			ov.WonOpportunities, err = ov.WonOpportunities.add(1, cur, &won, +1)
		}
	case domain.OpportunityLost:
		if err = openValue(-1); err == nil {
			l.Open = false
		}
	case domain.ServiceRequestOpened:
		l.Open, l.Status = true, d.Type
		ov.OpenServiceRequests++
		if d.Type == domain.ServiceComplaint {
			ov.OpenComplaints++
		}
	case domain.ServiceRequestArchived:
		if l.Open {
			l.Open = false
			ov.OpenServiceRequests--
			if l.Status == domain.ServiceComplaint {
				ov.OpenComplaints--
			}
		}
	case domain.OrderPlaced:
		l.Value, l.Currency = d.Total, d.Currency
		ov.Orders++
		if ov.Revenue, err = ov.Revenue.add(d.Currency, d.Total, +1); err == nil {
			err = om(d.OrderedAt, func(m *OrderMonth) (err error) {
				m.Orders++
				if m.Placed, err = m.Placed.add(d.Currency, d.Total, +1); err != nil {
					return err
				}
				m.Net, err = m.Net.add(d.Currency, d.Total, +1)
				return err
			})
		}
	case domain.OrderCancelled:
		// A cancellation takes back what returns left of the order.
		left := l.Value
		l.Value = domain.Decimal{}
		if ov.Revenue, err = ov.Revenue.add(l.Currency, left, -1); err == nil {
			err = om(d.CancelledAt, func(m *OrderMonth) (err error) {
				m.Cancelled++
				m.Net, err = m.Net.add(l.Currency, left, -1)
				return err
			})
		}
	case domain.OrderReturned:
		if l.Value, err = l.Value.Sub(d.Amount); err != nil {
			return false, permanent("%s: %s net: %v", p.Name(), e.Stream, err)
		}
		if ov.Revenue, err = ov.Revenue.add(d.Currency, d.Amount, -1); err == nil {
			err = om(d.ReturnedAt, func(m *OrderMonth) (err error) {
				m.Net, err = m.Net.add(d.Currency, d.Amount, -1)
				return err
			})
		}
	}
	if err != nil {
		return false, err
	}
	l.Revision = e.Revision
	tx.Set(lk, l.encode())
	return true, nil
}
