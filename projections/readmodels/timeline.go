package readmodels

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/projections"
)

// Timeline maintains each customer's timeline: every interaction,
// opportunity step, service action, order and churn event (and profile
// change), newest first by occurred time.
//
// Keys (relative):
//
//	item:<position>           TimelineItem document (JSON); items never change
//	customer:<id>             sorted set of the customer's items: score = occurredAt Unix ms,
//	                          member = TimelineMember(position) (20-digit zero-padded, so equal
//	                          scores order by position); ZREVRANGEBYSCORE gives newest first
//	customer:<id>:<kind>      the same, one kind only (filter by kind)
//	stream:<stream>           TimelineStream: the customer an opportunity/service/order stream
//	                          belongs to (and the items of a prospect's opportunity awaiting one)
type Timeline struct{ cache *docCache }

// Timeline item kinds.
const (
	KindInteraction = "interaction"
	KindOpportunity = "opportunity"
	KindService     = "service"
	KindOrder       = "order"
	KindChurn       = "churn"
	KindProfile     = "profile"
)

// TimelineKinds lists every kind.
var TimelineKinds = []string{KindInteraction, KindOpportunity, KindService, KindOrder, KindChurn, KindProfile}

// TimelineItemKey is the key of the item written at a $all position.
func TimelineItemKey(position uint64) string { return "item:" + TimelineMember(position) }

// TimelineMember is an item's member in the customer sorted sets.
func TimelineMember(position uint64) string { return fmt.Sprintf("%020d", position) }

// TimelineKey is a customer's sorted set of items, all kinds ("" kind) or one.
func TimelineKey(customerID, kind string) string {
	if kind == "" {
		return "customer:" + customerID
	}
	return "customer:" + customerID + ":" + kind
}

// TimelineStreamKey holds a non-customer stream's TimelineStream.
func TimelineStreamKey(stream string) string { return "stream:" + stream }

// TimelineItem is one entry of a customer timeline (DESIGN §8).
type TimelineItem struct {
	CustomerID string    `json:"customerId,omitempty"`
	Kind       string    `json:"kind"`
	Type       string    `json:"type"`
	OccurredAt time.Time `json:"occurredAt"`
	RecordedAt time.Time `json:"recordedAt"`
	Stream     string    `json:"stream"`
	Revision   uint64    `json:"revision"`
	Position   uint64    `json:"position,string"`
	Summary    string    `json:"summary"`
	RefID      string    `json:"refId,omitempty"`
	Actor      string    `json:"actor,omitempty"`
}

// TimelineStream maps an opportunity, service or order stream to its
// customer; Pending lists the positions of items written before the
// stream had one (a prospect's opportunity until it is won).
type TimelineStream struct {
	CustomerID string   `json:"customerId,omitempty"`
	Pending    []uint64 `json:"pending,omitempty"`
}

// Name returns "timeline".
func (Timeline) Name() string { return "timeline" }

// Version returns 1.
func (Timeline) Version() int { return 1 }

var timelineHandles = typeSet(allTypes...)

// Handles reports every customer, opportunity, service and order event.
func (Timeline) Handles(t string) bool { return timelineHandles[t] }

func timelineKind(e projections.Event) string {
	kind, _, _ := domain.ParseStream(e.Stream)
	switch kind {
	case domain.KindOpportunity:
		return KindOpportunity
	case domain.KindServiceRequest:
		return KindService
	case domain.KindOrder:
		return KindOrder
	}
	switch e.Type {
	case domain.TypeInteractionLogged:
		return KindInteraction
	case domain.TypeChurnWarningRaised, domain.TypeChurnDeferred, domain.TypeChurnConfirmed,
		domain.TypeChurnWarningCleared, domain.TypeCustomerReactivated:
		return KindChurn
	}
	return KindProfile
}

// Handle applies one event.
func (p Timeline) Handle(ctx context.Context, tx projections.Tx, e projections.Event) error {
	d := data(e)
	if d == nil {
		return unexpected(p.Name(), e)
	}
	item := TimelineItem{
		Kind: timelineKind(e), Type: e.Type, OccurredAt: e.OccurredAt().UTC(), RecordedAt: e.RecordedAt.UTC(),
		Stream: e.Stream, Revision: e.Revision, Position: e.Position, Summary: summary(d), Actor: e.Meta.Actor,
	}
	if il, ok := d.(domain.InteractionLogged); ok && !il.OccurredAt.IsZero() {
		item.OccurredAt = il.OccurredAt.UTC()
	}
	kind, _, _ := domain.ParseStream(e.Stream)
	cid := customerIDOf(d)
	if kind == domain.KindCustomer {
		if cid == "" {
			cid = streamID(e)
		}
	} else {
		item.RefID = streamID(e)
		sk := TimelineStreamKey(e.Stream)
		var st TimelineStream
		if _, err := getDoc(ctx, tx, p.cache, sk, &st); err != nil {
			return err
		}
		if cid == "" {
			cid = st.CustomerID
		}
		switch {
		case cid == "":
			if !containsU(st.Pending, e.Position) {
				st.Pending = append(st.Pending, e.Position)
			}
			if err := setDoc(tx, p.cache, sk, &st); err != nil {
				return err
			}
		case st.CustomerID != cid || len(st.Pending) > 0:
			// First attribution, or a prospect's opportunity now won:
			// move its earlier items onto the customer's timeline.
			for _, pos := range st.Pending {
				var old TimelineItem
				found, err := getDoc(ctx, tx, nil, TimelineItemKey(pos), &old)
				if err != nil {
					return err
				}
				if !found {
					continue
				}
				old.CustomerID = cid
				if err := p.put(tx, old); err != nil {
					return err
				}
			}
			st = TimelineStream{CustomerID: cid}
			if err := setDoc(tx, p.cache, sk, &st); err != nil {
				return err
			}
		}
	}
	item.CustomerID = cid
	return p.put(tx, item)
}

func (Timeline) put(tx projections.Tx, it TimelineItem) error {
	if err := setDoc(tx, nil, TimelineItemKey(it.Position), &it); err != nil {
		return err
	}
	if it.CustomerID != "" {
		score, m := ms(it.OccurredAt), TimelineMember(it.Position)
		tx.ZAdd(TimelineKey(it.CustomerID, ""), score, m)
		tx.ZAdd(TimelineKey(it.CustomerID, it.Kind), score, m)
	}
	return nil
}

func containsU(s []uint64, v uint64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func money(d domain.Decimal, cur string) string {
	return strings.TrimSpace(d.String() + " " + cur)
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }

// summary is the one-line text of a timeline item.
func summary(d domain.Event) string {
	switch d := d.(type) {
	case domain.CustomerRegistered:
		return fmt.Sprintf("Customer %s registered (level %d)", d.Name, d.Level)
	case domain.CustomerProfileChanged:
		f := make([]string, len(d.Changes))
		for i, c := range d.Changes {
			f[i] = c.Field
		}
		return "Profile changed: " + strings.Join(f, ", ")
	case domain.CustomerLevelChanged:
		return fmt.Sprintf("Level %d → %d (%s)", d.From, d.To, domain.LevelName(d.To))
	case domain.CustomerCreditRated:
		return fmt.Sprintf("Credit rated %d → %d", d.From, d.To)
	case domain.CustomerSatisfactionRated:
		return fmt.Sprintf("Satisfaction rated %d → %d", d.From, d.To)
	case domain.CustomerOwnerAssigned:
		return fmt.Sprintf("Owner %s → %s", orNone(d.PreviousOwnerID), d.OwnerID)
	case domain.ContactAdded:
		return "Contact added: " + d.Name
	case domain.ContactChanged:
		return "Contact changed: " + d.Contact.Name
	case domain.ContactRemoved:
		return "Contact removed: " + d.Name
	case domain.InteractionLogged:
		return d.Channel + ": " + d.Summary
	case domain.ChurnWarningRaised:
		s := "Churn warning (" + d.Why + ")"
		if d.Score != nil {
			s += fmt.Sprintf(", score %d", *d.Score)
		}
		if len(d.Signals) > 0 && d.Signals[0].Detail != "" {
			s += ": " + d.Signals[0].Detail
		}
		return s
	case domain.ChurnDeferred:
		return "Churn deferred: " + d.Measure
	case domain.ChurnConfirmed:
		return "Churn confirmed: " + d.Reason
	case domain.ChurnWarningCleared:
		return strings.TrimSuffix("Churn warning cleared: "+d.Reason, ": ")
	case domain.CustomerReactivated:
		return strings.TrimSuffix("Customer reactivated: "+d.Reason, ": ")
	case domain.OpportunityCreated:
		s := "Opportunity created: " + d.Title
		if d.ExpectedValue != nil {
			s += " (" + money(*d.ExpectedValue, d.Currency) + ")"
		}
		return s
	case domain.OpportunityChanged:
		f := make([]string, len(d.Changes))
		for i, c := range d.Changes {
			f[i] = c.Field
		}
		return "Opportunity changed: " + strings.Join(f, ", ")
	case domain.OpportunityAssigned:
		return "Opportunity assigned to " + d.AssigneeID
	case domain.PlanItemAdded:
		return "Plan step added (due " + day(d.DueDate) + "): " + d.Action
	case domain.PlanItemChanged:
		return "Plan step changed (due " + day(d.DueDate) + "): " + d.Action
	case domain.PlanItemResultRecorded:
		return "Plan step result: " + d.Result
	case domain.OpportunityWon:
		s := "Opportunity won"
		if d.Amount != nil {
			s += " (" + money(*d.Amount, d.Currency) + ")"
		}
		return s
	case domain.OpportunityLost:
		return "Opportunity lost: " + d.Reason
	case domain.ServiceRequestOpened:
		return "Service request (" + d.Type + ") opened: " + d.Title
	case domain.ServiceRequestAssigned:
		return "Service request assigned to " + d.AssigneeID
	case domain.ServiceRequestHandled:
		return "Service request handled by " + d.HandledBy
	case domain.ServiceFeedbackRecorded:
		return fmt.Sprintf("Service feedback (satisfaction %d): %s", d.Satisfaction, d.Result)
	case domain.ServiceRequestArchived:
		return "Service request archived"
	case domain.ServiceRequestReopened:
		return fmt.Sprintf("Service request reopened (satisfaction %d)", d.Satisfaction)
	case domain.OrderPlaced:
		no := d.OrderNo
		if no != "" {
			no = " " + no
		}
		return fmt.Sprintf("Order%s placed: %s, %d line(s)", no, money(d.Total, d.Currency), len(d.Lines))
	case domain.OrderShipped:
		return strings.TrimSuffix("Order shipped "+d.Carrier+" "+d.TrackingNo, " ")
	case domain.OrderDelivered:
		return "Order delivered"
	case domain.PaymentReceived:
		s := "Payment received: " + money(d.Amount, d.Currency)
		if d.FullyPaid {
			s += " (fully paid)"
		}
		return s
	case domain.OrderCancelled:
		return "Order cancelled: " + d.Reason
	case domain.OrderReturned:
		return strings.TrimSuffix("Order return: "+money(d.Amount, d.Currency)+" "+d.Reason, " ")
	}
	return d.EventType()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
