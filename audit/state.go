package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
)

// CustomerView is the customer aggregate's state as JSON.
type CustomerView struct {
	ID                 uuid.UUID             `json:"id"`
	Status             domain.CustomerStatus `json:"status"`
	OwnerID            string                `json:"ownerId"`
	Profile            domain.Profile        `json:"profile"`
	Level              int                   `json:"level"`
	Credit             int                   `json:"credit"`
	Satisfaction       int                   `json:"satisfaction"`
	Contacts           []domain.ContactEntry `json:"contacts"`
	ExternalRef        string                `json:"externalRef,omitempty"`
	OpportunityID      *uuid.UUID            `json:"opportunityId,omitempty"`
	RegisteredAt       time.Time             `json:"registeredAt"`
	LastChurnWarningAt *time.Time            `json:"lastChurnWarningAt,omitempty"`
}

// ViewOf returns the view of a customer aggregate.
func ViewOf(c *domain.Customer) CustomerView {
	v := CustomerView{
		ID: c.ID(), Status: c.Status(), OwnerID: c.OwnerID(), Profile: c.Profile(),
		Level: c.Level(), Credit: c.Credit(), Satisfaction: c.Satisfaction(),
		Contacts: c.Contacts(), ExternalRef: c.ExternalRef(), OpportunityID: c.OpportunityID(),
		RegisteredAt: c.RegisteredAt().UTC(),
	}
	if v.Contacts == nil {
		v.Contacts = []domain.ContactEntry{}
	}
	if t := c.LastChurnWarningAt(); !t.IsZero() {
		t = t.UTC()
		v.LastChurnWarningAt = &t
	}
	return v
}

// Skipped is an event left out of a rehydration, with the reason.
type Skipped struct {
	Stream   string `json:"stream"`
	Revision uint64 `json:"revision"`
	Type     string `json:"type"`
	Reason   string `json:"reason"`
}

// State is a customer as the system knew it at a record time.
type State struct {
	CustomerID uuid.UUID    `json:"customerId"`
	AsOf       time.Time    `json:"asOf"`
	Revision   uint64       `json:"revision"` // last revision of customer-<id> applied
	Position   Position     `json:"position"` // its $all position
	Customer   CustomerView `json:"customer"`
	// Events are the events that produced the state, in revision order.
	Events []Event `json:"events"`
	// Skipped lists events of unknown types (from a newer version or
	// another tool), which the domain cannot apply.
	Skipped []Skipped `json:"skipped,omitempty"`
}

// StateAsOf rehydrates the customer aggregate, with the domain's Apply,
// from the events of customer-<id> recorded at or before asOf (record time,
// the server's write time; the stream is read in revision order, which is
// record order, up to the first event recorded later). Errors: KindNotFound
// when the customer has no event at all, or none recorded by asOf.
func (l *Log) StateAsOf(ctx context.Context, cid uuid.UUID, asOf time.Time) (State, error) {
	stream := domain.CustomerStream(cid)
	st := State{CustomerID: cid, AsOf: asOf.UTC(), Events: []Event{}}
	cust := domain.NewCustomer()
	var first *eventstore.Recorded
	var next uint64
	applied := 0
walk:
	for {
		page, err := readRecords(ctx, l.src, stream, next, uint64(l.pageSize))
		if errors.Is(err, errStreamNotFound) {
			break
		}
		if err != nil {
			return State{}, unavailable(err)
		}
		for i, r := range page {
			if first == nil {
				first = &page[i]
			}
			next = r.Revision + 1
			if r.RecordedAt.After(asOf) {
				break walk
			}
			ev, err := l.codec.DecodeRecorded(r)
			switch {
			case errors.Is(err, eventstore.ErrUnknownEventType):
				st.Skipped = append(st.Skipped, Skipped{Stream: r.Stream, Revision: r.Revision, Type: r.Type, Reason: "unknown event type"})
				l.log.Warn("unknown event type skipped while rehydrating", "stream", r.Stream, "revision", r.Revision, "type", r.Type)
				continue
			case err != nil:
				return State{}, domain.Wrap(domain.KindInternal, err, "an event of the customer cannot be decoded")
			}
			de, ok := ev.(domain.Event)
			if !ok {
				return State{}, domain.Errorf(domain.KindInternal, "%s@%d: decoded %T is not a domain event", r.Stream, r.Revision, ev)
			}
			cust.Apply(de)
			applied++
			st.Revision, st.Position = r.Revision, Position(r.Position)
			st.Events = append(st.Events, FromRecorded(r))
		}
		if len(page) < l.pageSize {
			break
		}
	}
	switch {
	case first == nil:
		return State{}, notFound(cid)
	case applied == 0 || !cust.Exists():
		return State{}, domain.Errorf(domain.KindNotFound, "customer %s did not exist yet at %s (its first event was recorded at %s)",
			cid, asOf.UTC().Format(time.RFC3339Nano), first.RecordedAt.UTC().Format(time.RFC3339Nano))
	}
	st.Customer = ViewOf(cust)
	return st, nil
}

// ParseTime parses a time given to the audit API or the export command:
// RFC 3339 (with or without fraction) or a plain date (YYYY-MM-DD, midnight
// UTC). The result is in UTC. It never panics.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("empty; want an RFC 3339 time such as 2024-03-01T09:30:00Z or a date such as 2024-03-01")
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time such as 2024-03-01T09:30:00Z or a date such as 2024-03-01", s)
}
