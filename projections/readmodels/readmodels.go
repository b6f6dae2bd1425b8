// Package readmodels holds the CRM's read-model projections (DESIGN §6 and
// §8), each a projections.Projection the runtime drives from $all:
// customers (list, search indexes and the customer 360 document with its
// KPIs), timeline (every event of a customer, newest first by occurred
// time), opportunities (documents, status/assignee indexes and the pipeline
// dashboard), service (the service queue and the yearly service report),
// orders (orders per customer and contribution per customer per year) and
// reports (composition, churn report and the overview dashboard). It also
// defines the exported document types readapi serves (JSON, camelCase) and
// the relative key layout of each model (the runtime prefixes every key with
// crm:<projection>:v<version>:).
//
// Every handler is deterministic and replay-safe: it writes absolute values
// derived from the event and from the model's own keys read through the Tx,
// never from the clock. Documents of an aggregate keep the last stream
// revision they applied and ignore an event at or below it, and every
// counter or total derived from them changes only together with such a
// document, so an event applied twice changes nothing. Money is exact
// (domain.Decimal), kept per currency. Months and years (contribution per
// year, the service report, the overview's "this month") are calendar
// months and years in UTC, whatever the business's own time zone: an order
// placed at 00:30 on 1 July in London (23:30 UTC on 30 June) counts in June.
//
// Documents go through getDoc/setDoc. With the runtime's Tx (a
// projections.DocTx) they stay decoded: setDoc hands the document itself to
// the Tx, which encodes it when the batch commits (a dashboard changed by
// every event is encoded once per batch), and getDoc copies the stored
// document (clone.go) instead of decoding it; stored documents are never
// modified. With another Tx, documents are encoded at once, and an instance
// keeps a bounded cache of the documents it wrote, used only when the Tx
// returns exactly the string that was written (so rolled-back batches and
// rebuilds are safe).
//
// All returns one instance of each projection; create the instances once
// per runtime track, not per batch. The zero values (Customers{}, ...) work
// too, without a cache.
//
// Import rule: domain, projections and the standard library (plus
// github.com/google/uuid); never commands, readapi or cmd.
package readmodels

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/projections"
)

// All returns every read-model projection of this package, in a fixed order.
func All() []projections.Projection {
	return []projections.Projection{
		Customers{newDocCache(DefaultCacheEntries)}, Timeline{newDocCache(DefaultCacheEntries)},
		Opportunities{newDocCache(DefaultCacheEntries)}, Service{newDocCache(DefaultCacheEntries)},
		Orders{newDocCache(DefaultCacheEntries)}, Reports{newDocCache(DefaultCacheEntries)},
	}
}

// Money is an exact amount in one currency.
type Money struct {
	Amount   domain.Decimal `json:"amount"`
	Currency string         `json:"currency"`
}

// Amounts holds money per currency, sorted by currency, without zero
// amounts. An Amounts value is immutable: add returns a new slice, and
// nothing changes one in place, so copies of a document share them
// (clone.go).
type Amounts []Money

// add returns a + sign×d in currency cur (sign is +1 or -1).
func (a Amounts) add(cur string, d domain.Decimal, sign int) (Amounts, error) {
	if d.IsZero() {
		return a, nil
	}
	if sign < 0 {
		n, err := d.Neg()
		if err != nil {
			return a, permanent("negate %s: %v", d, err)
		}
		d = n
	}
	out := slices.Clone(a)
	i, found := slices.BinarySearchFunc(out, cur, func(m Money, c string) int { return strings.Compare(m.Currency, c) })
	if !found {
		return slices.Insert(out, i, Money{Amount: d, Currency: cur}), nil
	}
	s, err := out[i].Amount.Add(d)
	if err != nil {
		return a, permanent("add %s %s: %v", d, cur, err)
	}
	if s.IsZero() {
		return slices.Delete(out, i, i+1), nil
	}
	out[i].Amount = s
	return out, nil
}

// MarshalJSON writes [{"amount":"12.50","currency":"GBP"},...] (nil as
// [], so that clients always get a list). Hand-written: it is on the hot
// path of every money-carrying document.
func (a Amounts) MarshalJSON() ([]byte, error) {
	return a.appendJSON(make([]byte, 0, 2+len(a)*40)), nil
}

// appendJSON appends what MarshalJSON returns.
func (a Amounts) appendJSON(b []byte) []byte {
	b = append(b, '[')
	for i, m := range a {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"amount":"`...)
		b = m.Amount.Append(b)
		b = append(b, `","currency":`...)
		b = appendJSONString(b, m.Currency)
		b = append(b, '}')
	}
	return append(b, ']')
}

// plainASCII reports whether s needs no JSON escaping.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// Of returns the amount in currency cur (zero when absent).
func (a Amounts) Of(cur string) domain.Decimal {
	for _, m := range a {
		if m.Currency == cur {
			return m.Amount
		}
	}
	return domain.Decimal{}
}

// Bucket is a count and a value per currency.
type Bucket struct {
	Count int     `json:"count"`
	Value Amounts `json:"value,omitempty"`
}

func (b Bucket) add(n int, cur string, v *domain.Decimal, sign int) (Bucket, error) {
	b.Count += sign * n
	if v != nil && cur != "" {
		var err error
		if b.Value, err = b.Value.add(cur, *v, sign); err != nil {
			return b, err
		}
	}
	return b, nil
}

// bucketAdd applies a signed contribution to m[key], dropping empty buckets.
func bucketAdd(m map[string]Bucket, key, cur string, v *domain.Decimal, sign int) (map[string]Bucket, error) {
	if m == nil {
		m = map[string]Bucket{}
	}
	b, err := m[key].add(1, cur, v, sign)
	if err != nil {
		return m, err
	}
	if b.Count == 0 && len(b.Value) == 0 {
		delete(m, key)
	} else {
		m[key] = b
	}
	return m, nil
}

// nonNil replaces nil maps by empty ones (JSON {} rather than null).
func nonNil[V any](ms ...*map[string]V) {
	for _, m := range ms {
		if *m == nil {
			*m = map[string]V{}
		}
	}
}

// countAdd applies a signed count to m[key], dropping zero counts.
func countAdd(m map[string]int, key string, n int) map[string]int {
	if m == nil {
		m = map[string]int{}
	}
	m[key] += n
	if m[key] == 0 {
		delete(m, key)
	}
	return m
}

func permanent(format string, args ...any) error {
	return fmt.Errorf("%w: %s", projections.ErrPermanent, fmt.Sprintf(format, args...))
}

// data returns the event's data as a value (a *T is dereferenced).
func data(e projections.Event) domain.Event {
	if e.Data == nil {
		return nil
	}
	v := reflect.ValueOf(e.Data)
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		if ev, ok := v.Elem().Interface().(domain.Event); ok {
			return ev
		}
	}
	return e.Data
}

// typeSet builds a Handles function over a list of event types.
func typeSet(types ...string) map[string]bool {
	m := make(map[string]bool, len(types))
	for _, t := range types {
		m[t] = true
	}
	return m
}

var (
	customerTypes = []string{
		domain.TypeCustomerRegistered, domain.TypeCustomerProfileChanged, domain.TypeCustomerLevelChanged,
		domain.TypeCustomerCreditRated, domain.TypeCustomerSatisfactionRated, domain.TypeCustomerOwnerAssigned,
		domain.TypeContactAdded, domain.TypeContactChanged, domain.TypeContactRemoved, domain.TypeInteractionLogged,
		domain.TypeChurnWarningRaised, domain.TypeChurnDeferred, domain.TypeChurnConfirmed,
		domain.TypeChurnWarningCleared, domain.TypeCustomerReactivated,
	}
	opportunityTypes = []string{
		domain.TypeOpportunityCreated, domain.TypeOpportunityChanged, domain.TypeOpportunityAssigned,
		domain.TypePlanItemAdded, domain.TypePlanItemChanged, domain.TypePlanItemResultRecorded,
		domain.TypeOpportunityWon, domain.TypeOpportunityLost,
	}
	serviceTypes = []string{
		domain.TypeServiceRequestOpened, domain.TypeServiceRequestAssigned, domain.TypeServiceRequestHandled,
		domain.TypeServiceFeedbackRecorded, domain.TypeServiceRequestArchived, domain.TypeServiceRequestReopened,
	}
	orderTypes = []string{
		domain.TypeOrderPlaced, domain.TypeOrderShipped, domain.TypeOrderDelivered,
		domain.TypePaymentReceived, domain.TypeOrderCancelled, domain.TypeOrderReturned,
	}
)

// ms is a sorted-set score: Unix milliseconds.
func ms(t time.Time) float64 { return float64(t.UnixMilli()) }

// year and month of a business time, in UTC.
func year(t time.Time) string  { return strconv.Itoa(t.UTC().Year()) }
func month(t time.Time) string { return t.UTC().Format("2006-01") }

// idPtr formats an optional id ("" for nil).
func idPtr(id *uuid.UUID) string {
	if id == nil {
		return ""
	}
	return id.String()
}

// tptr returns a pointer to a copy of t in UTC.
func tptr(t time.Time) *time.Time {
	u := t.UTC()
	return &u
}

// later returns the later of a (may be nil) and t.
func later(a *time.Time, t time.Time) *time.Time {
	if a == nil || t.After(*a) {
		return tptr(t)
	}
	return a
}

// link is a small per-stream state a projection keeps for streams that
// feed its counters: the last applied revision and what the stream
// currently contributes. It is internal to the projection and stored in a
// compact text form (not JSON): "<revision>|<customerId>|<open 0/1>|<value>|<currency>|<status>",
// or, for a link in a list (the customers projection's orders not
// cancelled), "L<revision>|<customerId>|<open 0/1>|<value>|<currency>|<at>|<prev>|<status>"
// where At is the order's orderedAt (RFC 3339, UTC) and Prev the stream of
// the next older order of the list. The status comes last: it may hold
// any character.
type link struct {
	Revision   uint64
	CustomerID string
	Status     string
	Open       bool
	Value      domain.Decimal
	Currency   string
	At         time.Time
	Prev       string
}

func (l link) encode() string {
	open := "0"
	if l.Open {
		open = "1"
	}
	s := strconv.FormatUint(l.Revision, 10) + "|" + l.CustomerID + "|" + open + "|" + l.Value.String() + "|" + l.Currency + "|"
	if l.At.IsZero() && l.Prev == "" {
		return s + l.Status
	}
	at := ""
	if !l.At.IsZero() {
		at = l.At.UTC().Format(time.RFC3339Nano)
	}
	return "L" + s + at + "|" + l.Prev + "|" + l.Status
}

func decodeLink(key, s string) (link, error) {
	bad := func() (link, error) { return link{}, permanent("read model key %s holds an invalid link %q", key, s) }
	n := 6
	rest, listed := strings.CutPrefix(s, "L")
	if listed {
		n = 8
	}
	f := strings.SplitN(rest, "|", n)
	if len(f) != n {
		return bad()
	}
	rev, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return bad()
	}
	v, err := domain.ParseDecimal(f[3])
	if err != nil {
		return bad()
	}
	l := link{Revision: rev, CustomerID: f[1], Open: f[2] == "1", Value: v, Currency: f[4], Status: f[n-1]}
	if listed {
		if f[5] != "" {
			if l.At, err = time.Parse(time.RFC3339Nano, f[5]); err != nil {
				return bad()
			}
		}
		l.Prev = f[6]
	}
	return l, nil
}

// loadLink returns the link of e's stream and whether e is new for it.
func loadLink(ctx context.Context, tx projections.Tx, key string, e projections.Event) (link, bool, error) {
	raw, found, err := tx.Get(ctx, key)
	if err != nil || !found {
		return link{}, err == nil, err
	}
	l, err := decodeLink(key, raw)
	if err != nil {
		return l, false, err
	}
	return l, e.Revision > l.Revision, nil
}

// customerIDOf returns the customer an event refers to, if it names one.
func customerIDOf(d domain.Event) string {
	switch d := d.(type) {
	case domain.CustomerRegistered:
		return d.CustomerID.String()
	case domain.CustomerProfileChanged:
		return d.CustomerID.String()
	case domain.CustomerLevelChanged:
		return d.CustomerID.String()
	case domain.CustomerCreditRated:
		return d.CustomerID.String()
	case domain.CustomerSatisfactionRated:
		return d.CustomerID.String()
	case domain.CustomerOwnerAssigned:
		return d.CustomerID.String()
	case domain.ContactAdded:
		return d.CustomerID.String()
	case domain.ContactChanged:
		return d.CustomerID.String()
	case domain.ContactRemoved:
		return d.CustomerID.String()
	case domain.InteractionLogged:
		return d.CustomerID.String()
	case domain.ChurnWarningRaised:
		return d.CustomerID.String()
	case domain.ChurnDeferred:
		return d.CustomerID.String()
	case domain.ChurnConfirmed:
		return d.CustomerID.String()
	case domain.ChurnWarningCleared:
		return d.CustomerID.String()
	case domain.CustomerReactivated:
		return d.CustomerID.String()
	case domain.OpportunityCreated:
		return idPtr(d.CustomerID)
	case domain.OpportunityChanged:
		return idPtr(d.CustomerID)
	case domain.OpportunityAssigned:
		return idPtr(d.CustomerID)
	case domain.PlanItemAdded:
		return idPtr(d.CustomerID)
	case domain.PlanItemChanged:
		return idPtr(d.CustomerID)
	case domain.PlanItemResultRecorded:
		return idPtr(d.CustomerID)
	case domain.OpportunityWon:
		return d.CustomerID.String()
	case domain.OpportunityLost:
		return idPtr(d.CustomerID)
	case domain.ServiceRequestOpened:
		return d.CustomerID.String()
	case domain.ServiceRequestAssigned:
		return d.CustomerID.String()
	case domain.ServiceRequestHandled:
		return d.CustomerID.String()
	case domain.ServiceFeedbackRecorded:
		return d.CustomerID.String()
	case domain.ServiceRequestArchived:
		return d.CustomerID.String()
	case domain.ServiceRequestReopened:
		return d.CustomerID.String()
	case domain.OrderPlaced:
		return d.CustomerID.String()
	case domain.OrderShipped:
		return d.CustomerID.String()
	case domain.OrderDelivered:
		return d.CustomerID.String()
	case domain.PaymentReceived:
		return d.CustomerID.String()
	case domain.OrderCancelled:
		return d.CustomerID.String()
	case domain.OrderReturned:
		return d.CustomerID.String()
	}
	return ""
}

// streamID returns the aggregate id of e's stream ("" when the stream is
// not an aggregate stream).
func streamID(e projections.Event) string {
	_, id, ok := domain.ParseStream(e.Stream)
	if !ok {
		return ""
	}
	return id.String()
}

func unexpected(p string, e projections.Event) error {
	return permanent("%s: event %s at %s/%d has data of type %T", p, e.Type, e.Stream, e.Revision, e.Data)
}
