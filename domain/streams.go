package domain

import (
	"strings"

	"github.com/google/uuid"
)

// Aggregate is what every aggregate (Customer, Opportunity,
// ServiceRequest, Order) offers the command layer.
type Aggregate interface {
	// Apply changes the state by one stored event; it never fails.
	Apply(Event)
	// Changes returns the events recorded by command methods, in order.
	Changes() []Event
	// Exists reports whether the aggregate's first event was applied.
	Exists() bool
	// ID returns the aggregate id (uuid.Nil before the first event).
	ID() uuid.UUID
}

var (
	_ Aggregate = (*Customer)(nil)
	_ Aggregate = (*Opportunity)(nil)
	_ Aggregate = (*ServiceRequest)(nil)
	_ Aggregate = (*Order)(nil)
)

// Stream kinds: the prefix of a stream name, "<kind>-<uuid>" (DESIGN §4).
const (
	KindCustomer       = "customer"
	KindOpportunity    = "opportunity"
	KindServiceRequest = "service"
	KindOrder          = "order"
)

// StreamName returns "<kind>-<id>", e.g. StreamName(KindCustomer, id).
func StreamName(kind string, id uuid.UUID) string { return kind + "-" + id.String() }

// CustomerStream returns "customer-<id>".
func CustomerStream(id uuid.UUID) string { return StreamName(KindCustomer, id) }

// OpportunityStream returns "opportunity-<id>".
func OpportunityStream(id uuid.UUID) string { return StreamName(KindOpportunity, id) }

// ServiceStream returns "service-<id>".
func ServiceStream(id uuid.UUID) string { return StreamName(KindServiceRequest, id) }

// OrderStream returns "order-<id>".
func OrderStream(id uuid.UUID) string { return StreamName(KindOrder, id) }

// ParseStream splits a stream name of one of the four aggregate kinds into
// its kind and id; ok is false for anything else.
func ParseStream(name string) (kind string, id uuid.UUID, ok bool) {
	k, rest, found := strings.Cut(name, "-")
	if !found {
		return "", uuid.Nil, false
	}
	switch k {
	case KindCustomer, KindOpportunity, KindServiceRequest, KindOrder:
	default:
		return "", uuid.Nil, false
	}
	id, err := uuid.Parse(rest)
	if err != nil || len(rest) != 36 {
		return "", uuid.Nil, false
	}
	return k, id, true
}

// Namespace is the UUIDv5 namespace of the ids the domain derives
// (DeriveID, CustomerIDForOpportunity). Never change it: derived ids are
// stored.
var Namespace = uuid.UUID{0x6b, 0x1c, 0x3e, 0x52, 0x9a, 0x0d, 0x4f, 0x4e, 0x8d, 0x61, 0x0b, 0x7e, 0x2a, 0x33, 0xc5, 0x19}

// DeriveID returns a stable UUIDv5 from the parts (joined with "\x00")
// in Namespace: the same parts always give the same id. Use it for ids that
// a retry must not duplicate, e.g. DeriveID("online-retail-customer", "12346").
func DeriveID(parts ...string) uuid.UUID {
	return uuid.NewSHA1(Namespace, []byte(strings.Join(parts, "\x00")))
}

// CustomerIDForOpportunity is the id of the customer registered when an
// opportunity for a prospect is won: derived from the opportunity id, so
// winning twice (or retrying) can never create two customers.
func CustomerIDForOpportunity(opportunityID uuid.UUID) uuid.UUID {
	return DeriveID("customer-from-opportunity", opportunityID.String())
}

// ContactIDForOpportunity is the id of the contact added to the customer
// registered from a prospect (the prospect's contact person).
func ContactIDForOpportunity(opportunityID uuid.UUID) uuid.UUID {
	return DeriveID("contact-from-opportunity", opportunityID.String())
}
