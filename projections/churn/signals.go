package churn

import (
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/crm-es/crm/domain"
)

// MaxOrders is how many of a customer's most recent orders Signals keeps
// individually (older ones only count in the totals). The model looks back
// 365 days; 400 orders is more than any customer of the Online Retail data
// set places in a year, and bounds the JSON a read model stores.
const MaxOrders = 400

// retention is how long signals other than orders are kept once they no
// longer matter: complaints closed, feedback and lost opportunities older
// than this before the latest event are dropped.
const retention = 400 * 24 * time.Hour

// Order is one order as the model sees it: when, and its amount net of
// returns and cancellation.
type Order struct {
	ID        string         `json:"id"`
	At        time.Time      `json:"at"`
	Net       domain.Decimal `json:"net"`
	Cancelled bool           `json:"cancelled,omitempty"`
}

// Complaint is a service request of type complaint; open until archived.
type Complaint struct {
	ID       string    `json:"id"`
	OpenedAt time.Time `json:"openedAt"`
	Open     bool      `json:"open"`
	ClosedAt time.Time `json:"closedAt,omitzero"`
}

// Feedback is one satisfaction score (1–5) given on a service request.
type Feedback struct {
	At           time.Time `json:"at"`
	Satisfaction int       `json:"satisfaction"`
}

// Signals is everything the churn model knows about one customer,
// accumulated from the customer's domain events (Apply). It is a plain
// value with a stable JSON form.
type Signals struct {
	CustomerID   string                `json:"customerId,omitempty"`
	ExternalRef  string                `json:"externalRef,omitempty"`
	RegisteredAt time.Time             `json:"registeredAt,omitzero"`
	Status       domain.CustomerStatus `json:"status,omitempty"`

	// Orders: the most recent MaxOrders, sorted by time (then id).
	Orders []Order `json:"orders,omitempty"`
	// OrdersPlaced counts every order ever placed (cancelled ones too);
	// FirstOrderAt is the earliest one's time.
	OrdersPlaced int       `json:"ordersPlaced,omitempty"`
	FirstOrderAt time.Time `json:"firstOrderAt,omitzero"`

	LastInteractionAt time.Time   `json:"lastInteractionAt,omitzero"`
	Interactions      int         `json:"interactions,omitempty"`
	Complaints        []Complaint `json:"complaints,omitempty"`
	Feedback          []Feedback  `json:"feedback,omitempty"`
	// Satisfaction is the customer's rated satisfaction (1–5, 0 = never).
	Satisfaction      int         `json:"satisfaction,omitempty"`
	LostOpportunities []time.Time `json:"lostOpportunities,omitempty"`
	// LastEventAt is the latest business time applied.
	LastEventAt time.Time `json:"lastEventAt,omitzero"`
}

// CustomerOf returns the customer an event concerns, if any.
func CustomerOf(e domain.Event) (uuid.UUID, bool) {
	switch e := deref(e).(type) {
	case domain.CustomerRegistered:
		return e.CustomerID, true
	case domain.CustomerSatisfactionRated:
		return e.CustomerID, true
	case domain.InteractionLogged:
		return e.CustomerID, true
	case domain.ChurnWarningRaised:
		return e.CustomerID, true
	case domain.ChurnDeferred:
		return e.CustomerID, true
	case domain.ChurnConfirmed:
		return e.CustomerID, true
	case domain.ChurnWarningCleared:
		return e.CustomerID, true
	case domain.CustomerReactivated:
		return e.CustomerID, true
	case domain.OpportunityLost:
		if e.CustomerID != nil {
			return *e.CustomerID, true
		}
	case domain.ServiceRequestOpened:
		return e.CustomerID, true
	case domain.ServiceRequestArchived:
		return e.CustomerID, true
	case domain.ServiceRequestReopened:
		return e.CustomerID, true
	case domain.ServiceFeedbackRecorded:
		return e.CustomerID, true
	case domain.OrderPlaced:
		return e.CustomerID, true
	case domain.OrderCancelled:
		return e.CustomerID, true
	case domain.OrderReturned:
		return e.CustomerID, true
	}
	return uuid.UUID{}, false
}

// Relevant reports whether events of this stored type change Signals (the
// projection subscribes to these).
func Relevant(eventType string) bool {
	switch eventType {
	case domain.TypeCustomerRegistered, domain.TypeCustomerSatisfactionRated, domain.TypeInteractionLogged,
		domain.TypeChurnWarningRaised, domain.TypeChurnDeferred, domain.TypeChurnConfirmed,
		domain.TypeChurnWarningCleared, domain.TypeCustomerReactivated, domain.TypeOpportunityLost,
		domain.TypeServiceRequestOpened, domain.TypeServiceRequestArchived, domain.TypeServiceRequestReopened,
		domain.TypeServiceFeedbackRecorded, domain.TypeOrderPlaced, domain.TypeOrderCancelled, domain.TypeOrderReturned:
		return true
	}
	return false
}

// Apply folds one event of the customer, which happened at occurredAt
// (business time), into the signals. Events of other types are ignored.
// Apply is deterministic: the same events in the same order give the same
// Signals; it never reads the clock.
func (s *Signals) Apply(e domain.Event, occurredAt time.Time) {
	occurredAt = occurredAt.UTC()
	e = deref(e)
	if !Relevant(typeOf(e)) {
		return
	}
	if occurredAt.After(s.LastEventAt) {
		s.LastEventAt = occurredAt
	}
	if id, ok := CustomerOf(e); ok && s.CustomerID == "" {
		s.CustomerID = id.String()
	}
	switch e := e.(type) {
	case domain.CustomerRegistered:
		s.ExternalRef = e.ExternalRef
		s.RegisteredAt = at(e.RegisteredAt, occurredAt)
		if s.Status == "" {
			s.Status = domain.CustomerStatusActive
		}
		if e.Satisfaction > 0 {
			s.Satisfaction = e.Satisfaction
		}
	case domain.CustomerSatisfactionRated:
		s.Satisfaction = e.To
	case domain.InteractionLogged:
		t := at(e.OccurredAt, occurredAt)
		if t.After(s.LastInteractionAt) {
			s.LastInteractionAt = t
		}
		s.Interactions++
	case domain.ChurnWarningRaised:
		s.Status = domain.CustomerStatusAtRisk
	case domain.ChurnConfirmed:
		s.Status = domain.CustomerStatusLost
	case domain.ChurnWarningCleared, domain.CustomerReactivated:
		s.Status = domain.CustomerStatusActive
	case domain.OpportunityLost:
		s.LostOpportunities = append(s.LostOpportunities, at(e.LostAt, occurredAt))
		slices.SortFunc(s.LostOpportunities, time.Time.Compare)
	case domain.ServiceRequestOpened:
		if e.Type == domain.ServiceComplaint {
			s.Complaints = append(s.Complaints, Complaint{ID: e.ServiceRequestID.String(), OpenedAt: at(e.OpenedAt, occurredAt), Open: true})
		}
	case domain.ServiceRequestArchived:
		if c := s.complaint(e.ServiceRequestID.String()); c != nil {
			c.Open = false
			c.ClosedAt = at(e.ArchivedAt, occurredAt)
		}
	case domain.ServiceRequestReopened:
		if c := s.complaint(e.ServiceRequestID.String()); c != nil {
			c.Open = true
			c.ClosedAt = time.Time{}
		}
	case domain.ServiceFeedbackRecorded:
		s.Feedback = append(s.Feedback, Feedback{At: at(e.RecordedAt, occurredAt), Satisfaction: e.Satisfaction})
		slices.SortStableFunc(s.Feedback, func(a, b Feedback) int { return a.At.Compare(b.At) })
	case domain.OrderPlaced:
		t := at(e.OrderedAt, occurredAt)
		s.OrdersPlaced++
		if s.FirstOrderAt.IsZero() || t.Before(s.FirstOrderAt) {
			s.FirstOrderAt = t
		}
		o := Order{ID: e.OrderID.String(), At: t, Net: e.Total}
		i, _ := slices.BinarySearchFunc(s.Orders, o, compareOrders)
		s.Orders = slices.Insert(s.Orders, i, o)
		if len(s.Orders) > MaxOrders {
			s.Orders = slices.Delete(s.Orders, 0, len(s.Orders)-MaxOrders)
		}
	case domain.OrderCancelled:
		if o := s.order(e.OrderID.String()); o != nil {
			o.Cancelled = true
			o.Net = domain.Decimal{}
		}
	case domain.OrderReturned:
		if o := s.order(e.OrderID.String()); o != nil {
			if net, err := o.Net.Sub(e.Amount); err == nil {
				if net.Sign() < 0 {
					net = domain.Decimal{}
				}
				o.Net = net
			}
		}
	}
	s.prune()
}

// prune drops what can no longer matter, relative to the latest event time.
func (s *Signals) prune() {
	horizon := s.LastEventAt.Add(-retention)
	s.Complaints = slices.DeleteFunc(s.Complaints, func(c Complaint) bool {
		return !c.Open && c.ClosedAt.Before(horizon) && c.OpenedAt.Before(horizon)
	})
	s.Feedback = slices.DeleteFunc(s.Feedback, func(f Feedback) bool { return f.At.Before(horizon) })
	s.LostOpportunities = slices.DeleteFunc(s.LostOpportunities, func(t time.Time) bool { return t.Before(horizon) })
}

func (s *Signals) order(id string) *Order {
	for i := len(s.Orders) - 1; i >= 0; i-- {
		if s.Orders[i].ID == id {
			return &s.Orders[i]
		}
	}
	return nil
}

func (s *Signals) complaint(id string) *Complaint {
	for i := range s.Complaints {
		if s.Complaints[i].ID == id {
			return &s.Complaints[i]
		}
	}
	return nil
}

// LastOrderAt is the time of the latest order that was not cancelled
// (zero when there is none).
func (s *Signals) LastOrderAt() time.Time {
	for i := len(s.Orders) - 1; i >= 0; i-- {
		if !s.Orders[i].Cancelled {
			return s.Orders[i].At
		}
	}
	return time.Time{}
}

// Since is the customer's start: registration, else the first order.
func (s *Signals) Since() time.Time {
	switch {
	case s.RegisteredAt.IsZero():
		return s.FirstOrderAt
	case !s.FirstOrderAt.IsZero() && s.FirstOrderAt.Before(s.RegisteredAt):
		return s.FirstOrderAt
	}
	return s.RegisteredAt
}

func compareOrders(a, b Order) int {
	if c := a.At.Compare(b.At); c != 0 {
		return c
	}
	if a.ID < b.ID {
		return -1
	}
	if a.ID > b.ID {
		return 1
	}
	return 0
}

// at prefers the event's own business time, else the envelope's.
func at(t, occurredAt time.Time) time.Time {
	if t.IsZero() {
		return occurredAt
	}
	return t.UTC()
}

// deref turns a *T event into its T value (nil for a nil pointer).
func deref(e domain.Event) domain.Event {
	if e == nil {
		return nil
	}
	v := reflect.ValueOf(e)
	if v.Kind() != reflect.Pointer {
		return e
	}
	if v.IsNil() {
		return nil
	}
	if ev, ok := v.Elem().Interface().(domain.Event); ok {
		return ev
	}
	return nil
}

func typeOf(e domain.Event) string {
	if e == nil {
		return ""
	}
	return e.EventType()
}

// toFloat converts an exact amount for the model's arithmetic.
func toFloat(d domain.Decimal) float64 {
	f, err := strconv.ParseFloat(d.String(), 64)
	if err != nil {
		return 0
	}
	return f
}
