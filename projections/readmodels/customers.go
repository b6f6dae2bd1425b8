package readmodels

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/projections"
)

// Customers maintains the customer list, its filter and search indexes and
// the customer 360 document.
//
// Keys (relative):
//
//	customer:<id>             Customer document (JSON)
//	byName                    sorted set, score 0, member "<lower name>\x00<id>" (ZRANGEBYLEX paging)
//	level:<n>                 set of customer ids at level n (1–5)
//	region:<lower region>     set of customer ids
//	owner:<ownerId>           set of customer ids
//	status:<status>           set of customer ids (active, at_risk, lost)
//	search:<prefix>           set of customer ids whose name has a word starting with prefix
//	                          (lowercase, 1–MaxSearchPrefix runes)
//	link:<stream>             per opportunity/service/order stream: its contribution to the KPIs
type Customers struct{ cache *docCache }

// MaxSearchPrefix is the longest name-word prefix indexed under search:.
const MaxSearchPrefix = 12

// Customer key helpers (relative keys of the customers projection).
func CustomerKey(id string) string         { return "customer:" + id }
func CustomerLevelKey(level int) string    { return "level:" + strconv.Itoa(level) }
func CustomerRegionKey(r string) string    { return "region:" + strings.ToLower(r) }
func CustomerOwnerKey(owner string) string { return "owner:" + owner }
func CustomerStatusKey(s string) string    { return "status:" + s }
func CustomerSearchKey(prefix string) string {
	return "search:" + strings.ToLower(prefix)
}

// CustomerNameIndexKey is the sorted set of all customers by name.
const CustomerNameIndexKey = "byName"

// CustomerNameMember is a customer's member of CustomerNameIndexKey.
func CustomerNameMember(name, id string) string { return strings.ToLower(name) + "\x00" + id }

// Customer is the customer 360 document.
type Customer struct {
	ID            string         `json:"id"`
	Stream        string         `json:"stream"`
	Revision      uint64         `json:"revision"`        // last applied revision of the customer stream
	Position      uint64         `json:"position,string"` // last $all position that changed the document
	Registered    bool           `json:"registered"`      // false while only other streams mentioned it
	Name          string         `json:"name"`
	Region        string         `json:"region,omitempty"`
	Industry      string         `json:"industry,omitempty"`
	Profile       domain.Profile `json:"profile"`
	Level         int            `json:"level"`
	LevelName     string         `json:"levelName,omitempty"`
	Credit        int            `json:"credit,omitempty"`
	Satisfaction  int            `json:"satisfaction,omitempty"`
	OwnerID       string         `json:"ownerId,omitempty"`
	Status        string         `json:"status"`
	ExternalRef   string         `json:"externalRef,omitempty"`
	OpportunityID string         `json:"opportunityId,omitempty"`
	RegisteredAt  *time.Time     `json:"registeredAt,omitempty"`
	Contacts      []Contact      `json:"contacts"`
	Churn         *ChurnState    `json:"churn,omitempty"`
	KPIs          CustomerKPIs   `json:"kpis"`
}

// Contact is a customer's contact person.
type Contact struct {
	ID string `json:"id"`
	domain.Contact
}

// ChurnState is the customer's current churn warning, if any, and its
// history counts.
type ChurnState struct {
	Why            string               `json:"why,omitempty"`
	Score          *int                 `json:"score,omitempty"`
	Signals        []domain.ChurnSignal `json:"signals,omitempty"`
	RaisedAt       *time.Time           `json:"raisedAt,omitempty"`
	Deferrals      int                  `json:"deferrals"`
	LastMeasure    string               `json:"lastMeasure,omitempty"`
	LastDeferredAt *time.Time           `json:"lastDeferredAt,omitempty"`
	ConfirmedAt    *time.Time           `json:"confirmedAt,omitempty"`
	Reason         string               `json:"reason,omitempty"`
	ClearedAt      *time.Time           `json:"clearedAt,omitempty"`
	ReactivatedAt  *time.Time           `json:"reactivatedAt,omitempty"`
	Warnings       int                  `json:"warnings"`
}

// CustomerKPIs are the customer's figures derived from its other streams.
// LastOrderAt and LastOrderID are the latest order not cancelled (absent
// when there is none): cancelling the latest order moves them back to the
// previous one, as the churn rule sees it (see placeOrder, cancelOrder).
type CustomerKPIs struct {
	Orders              int        `json:"orders"`          // orders placed
	CancelledOrders     int        `json:"cancelledOrders"` // of which cancelled
	Revenue             Amounts    `json:"revenue"`         // placed − cancelled − returned, per currency
	LastOrderAt         *time.Time `json:"lastOrderAt,omitempty"`
	LastOrderID         string     `json:"lastOrderId,omitempty"`
	Interactions        int        `json:"interactions"`
	LastInteractionAt   *time.Time `json:"lastInteractionAt,omitempty"`
	OpenServiceRequests int        `json:"openServiceRequests"`
	Complaints          int        `json:"complaints"`
	OpenOpportunities   int        `json:"openOpportunities"`
	WonOpportunities    int        `json:"wonOpportunities"`
	LostOpportunities   int        `json:"lostOpportunities"`
}

// The orders of a customer form a list, newest first by (orderedAt,
// stream), whose head is the newest order not cancelled: kpis.lastOrderId.
// Each order stream's link holds its orderedAt, the stream of the next
// older order (Prev) and whether it is still open (not cancelled). Placing
// the newest order, the usual case, makes it the head; cancelling an order
// only marks its own link closed, except for the head, whose cancellation
// walks back to the next open order (closed ones behind the head are
// skipped then). Every change is written in the same batch as the
// document, and only for an event its order stream's link has not seen, so
// a replay changes nothing. No key grows with the customer's orders, and a
// cancellation does not walk the customer's history.

// orderNode is an order of the list: its stream and orderedAt.
type orderNode struct {
	stream string
	at     time.Time
}

// newer reports whether a comes before b in the list (newest first).
func (a orderNode) newer(b orderNode) bool {
	if c := a.at.Compare(b.at); c != 0 {
		return c > 0
	}
	return a.stream > b.stream
}

// orderStream and orderID convert between an order id and its stream name
// (domain.StreamName's form, with the id as text).
func orderStream(id string) string { return domain.KindOrder + "-" + id }
func orderID(stream string) string { return strings.TrimPrefix(stream, domain.KindOrder+"-") }

// listLink loads the link of an order stream of the list.
func listLink(ctx context.Context, tx projections.Tx, stream string) (link, error) {
	key := "link:" + stream
	raw, found, err := tx.Get(ctx, key)
	if err != nil {
		return link{}, err
	}
	if !found {
		return link{}, permanent("customers: order %s of a customer's order list has no link", stream)
	}
	return decodeLink(key, raw)
}

// placeOrder links the new order (stream, its link l) into the customer's
// list; the newest becomes kpis.lastOrderAt and lastOrderId.
func placeOrder(ctx context.Context, tx projections.Tx, k *CustomerKPIs, stream string, l *link, at time.Time) error {
	node := orderNode{stream, at.UTC()}
	l.At, l.Open = node.at, true
	if k.LastOrderID == "" || k.LastOrderAt == nil {
		l.Prev = ""
		k.LastOrderID, k.LastOrderAt = orderID(stream), tptr(node.at)
		return nil
	}
	head := orderNode{orderStream(k.LastOrderID), *k.LastOrderAt}
	if node.newer(head) {
		l.Prev = head.stream
		k.LastOrderID, k.LastOrderAt = orderID(stream), tptr(node.at)
		return nil
	}
	// An older order: walk back to its place.
	cur := head.stream
	lc, err := listLink(ctx, tx, cur)
	if err != nil {
		return err
	}
	for {
		if lc.Prev != "" {
			lp, err := listLink(ctx, tx, lc.Prev)
			if err != nil {
				return err
			}
			if !node.newer(orderNode{lc.Prev, lp.At}) {
				cur, lc = lc.Prev, lp
				continue
			}
		}
		l.Prev, lc.Prev = lc.Prev, stream
		tx.Set("link:"+cur, lc.encode())
		return nil
	}
}

// cancelOrder marks the cancelled order (stream, its link l) closed and,
// when it was the head (kpis.lastOrderId), walks back to the next open
// order, which becomes the head.
func cancelOrder(ctx context.Context, tx projections.Tx, k *CustomerKPIs, stream string, l *link) error {
	l.Open = false
	if k.LastOrderID == "" || orderStream(k.LastOrderID) != stream {
		return nil
	}
	k.LastOrderID, k.LastOrderAt = "", nil
	for cur := l.Prev; cur != ""; {
		lc, err := listLink(ctx, tx, cur)
		if err != nil {
			return err
		}
		if lc.Open {
			k.LastOrderID, k.LastOrderAt = orderID(cur), tptr(lc.At)
			return nil
		}
		cur = lc.Prev
	}
	return nil
}

// Name returns "customers".
func (Customers) Name() string { return "customers" }

// Version returns 2 (2: kpis.lastOrderAt skips cancelled orders, and
// lastOrderId; a new version is built beside the served one and replaces
// it, so a deployed read store gets it whole).
func (Customers) Version() int { return 2 }

// allTypes are the event types of the four aggregates.
var allTypes = slices.Concat(customerTypes, opportunityTypes, serviceTypes, orderTypes)

// kpiTypes are the events of other streams that change a customer's KPIs.
var kpiTypes = []string{
	domain.TypeOpportunityCreated, domain.TypeOpportunityWon, domain.TypeOpportunityLost,
	domain.TypeServiceRequestOpened, domain.TypeServiceRequestArchived,
	domain.TypeOrderPlaced, domain.TypeOrderCancelled, domain.TypeOrderReturned,
}

var customersHandles = typeSet(slices.Concat(customerTypes, kpiTypes)...)

// Handles reports the customer events and the events of other streams
// that change the KPIs.
func (Customers) Handles(t string) bool { return customersHandles[t] }

// searchPrefixes returns the lowercase prefixes of every word of name.
func searchPrefixes(name string) []string {
	seen := map[string]bool{}
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(name), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		rs := []rune(w)
		for n := 1; n <= len(rs) && n <= MaxSearchPrefix; n++ {
			p := string(rs[:n])
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// reindex moves c's index entries from what old had to what c has,
// touching only the indexes whose membership changes.
func (c *Customer) reindex(tx projections.Tx, old *Customer) {
	if !c.Registered {
		return
	}
	if !old.Registered {
		old = &Customer{ID: c.ID}
	}
	if old.Name != c.Name || !old.Registered {
		if old.Registered {
			tx.ZRem(CustomerNameIndexKey, CustomerNameMember(old.Name, c.ID))
		}
		tx.ZAdd(CustomerNameIndexKey, 0, CustomerNameMember(c.Name, c.ID))
		was := map[string]bool{}
		for _, p := range searchPrefixes(old.Name) {
			was[p] = true
		}
		now := map[string]bool{}
		for _, p := range searchPrefixes(c.Name) {
			now[p] = true
			if !was[p] {
				tx.SAdd(CustomerSearchKey(p), c.ID)
			}
		}
		for _, p := range searchPrefixes(old.Name) {
			if !now[p] {
				tx.SRem(CustomerSearchKey(p), c.ID)
			}
		}
	}
	move := func(from, to string) {
		if from == to && old.Registered {
			return
		}
		if from != "" && old.Registered {
			tx.SRem(from, c.ID)
		}
		if to != "" {
			tx.SAdd(to, c.ID)
		}
	}
	opt := func(key func(string) string, v string) string {
		if v == "" {
			return ""
		}
		return key(v)
	}
	move(CustomerLevelKey(old.Level), CustomerLevelKey(c.Level))
	move(opt(CustomerRegionKey, old.Region), opt(CustomerRegionKey, c.Region))
	move(opt(CustomerOwnerKey, old.OwnerID), opt(CustomerOwnerKey, c.OwnerID))
	move(opt(CustomerStatusKey, old.Status), opt(CustomerStatusKey, c.Status))
}

func loadCustomer(ctx context.Context, tx projections.Tx, dc *docCache, id string) (*Customer, error) {
	c := &Customer{}
	found, err := getDoc(ctx, tx, dc, CustomerKey(id), c)
	if err != nil {
		return nil, err
	}
	if !found {
		c = &Customer{ID: id, Stream: "customer-" + id, Status: string(domain.CustomerStatusActive), Contacts: []Contact{}}
	}
	return c, nil
}

// Handle applies one event.
func (p Customers) Handle(ctx context.Context, tx projections.Tx, e projections.Event) error {
	d := data(e)
	kind, _, _ := domain.ParseStream(e.Stream)
	if kind == domain.KindCustomer {
		return p.customerEvent(ctx, tx, e, d)
	}
	return p.otherEvent(ctx, tx, e, d)
}

func (p Customers) customerEvent(ctx context.Context, tx projections.Tx, e projections.Event, d domain.Event) error {
	id := customerIDOf(d)
	if id == "" {
		id = streamID(e)
	}
	if id == "" {
		return unexpected(p.Name(), e)
	}
	c, err := loadCustomer(ctx, tx, p.cache, id)
	if err != nil {
		return err
	}
	if c.Registered && e.Revision <= c.Revision {
		return nil // already applied
	}
	old := *c
	setProfile := func(pr domain.Profile) {
		c.Profile, c.Name, c.Region, c.Industry = pr, pr.Name, pr.Region, pr.Industry
	}
	switch d := d.(type) {
	case domain.CustomerRegistered:
		setProfile(d.Profile)
		c.Registered = true
		c.Level, c.LevelName = d.Level, domain.LevelName(d.Level)
		c.Credit, c.Satisfaction, c.OwnerID = d.Credit, d.Satisfaction, d.OwnerID
		c.ExternalRef, c.OpportunityID = d.ExternalRef, idPtr(d.OpportunityID)
		c.RegisteredAt = tptr(d.RegisteredAt)
		c.Status = string(domain.CustomerStatusActive)
	case domain.CustomerProfileChanged:
		setProfile(d.Profile)
	case domain.CustomerLevelChanged:
		c.Level, c.LevelName = d.To, domain.LevelName(d.To)
	case domain.CustomerCreditRated:
		c.Credit = d.To
	case domain.CustomerSatisfactionRated:
		c.Satisfaction = d.To
	case domain.CustomerOwnerAssigned:
		c.OwnerID = d.OwnerID
	case domain.ContactAdded:
		c.Contacts = upsertContact(c.Contacts, Contact{ID: d.ContactID.String(), Contact: d.Contact})
	case domain.ContactChanged:
		c.Contacts = upsertContact(c.Contacts, Contact{ID: d.ContactID.String(), Contact: d.Contact})
	case domain.ContactRemoved:
		for i, ct := range c.Contacts {
			if ct.ID == d.ContactID.String() {
				c.Contacts = append(c.Contacts[:i:i], c.Contacts[i+1:]...)
				break
			}
		}
	case domain.InteractionLogged:
		c.KPIs.Interactions++
		at := d.OccurredAt
		if at.IsZero() {
			at = e.OccurredAt()
		}
		c.KPIs.LastInteractionAt = later(c.KPIs.LastInteractionAt, at)
	case domain.ChurnWarningRaised:
		ch := c.churn()
		ch.Why, ch.Score, ch.Signals, ch.RaisedAt = d.Why, d.Score, d.Signals, tptr(d.RaisedAt)
		ch.Warnings++
		ch.ClearedAt, ch.ConfirmedAt, ch.Reason = nil, nil, ""
		c.Status = string(domain.CustomerStatusAtRisk)
	case domain.ChurnDeferred:
		ch := c.churn()
		ch.Deferrals++
		ch.LastMeasure, ch.LastDeferredAt = d.Measure, tptr(d.DeferredAt)
	case domain.ChurnConfirmed:
		ch := c.churn()
		ch.ConfirmedAt, ch.Reason = tptr(d.ConfirmedAt), d.Reason
		c.Status = string(domain.CustomerStatusLost)
	case domain.ChurnWarningCleared:
		ch := c.churn()
		ch.ClearedAt = tptr(d.ClearedAt)
		c.Status = string(domain.CustomerStatusActive)
	case domain.CustomerReactivated:
		ch := c.churn()
		ch.ReactivatedAt = tptr(d.ReactivatedAt)
		c.Status = string(domain.CustomerStatusActive)
	default:
		return unexpected(p.Name(), e)
	}
	c.Revision, c.Position = e.Revision, e.Position
	c.reindex(tx, &old)
	return setDoc(tx, p.cache, CustomerKey(c.ID), c)
}

func (c *Customer) churn() *ChurnState {
	if c.Churn == nil {
		c.Churn = &ChurnState{}
	}
	return c.Churn
}

func upsertContact(list []Contact, ct Contact) []Contact {
	for i := range list {
		if list[i].ID == ct.ID {
			out := append([]Contact(nil), list...)
			out[i] = ct
			return out
		}
	}
	return append(list, ct)
}

// otherEvent updates the KPIs from opportunity, service and order streams.
func (p Customers) otherEvent(ctx context.Context, tx projections.Tx, e projections.Event, d domain.Event) error {
	lk := "link:" + e.Stream
	l, fresh, err := loadLink(ctx, tx, lk, e)
	if err != nil || !fresh {
		return err
	}
	if id := customerIDOf(d); id != "" {
		l.CustomerID = id
	}
	l.Revision = e.Revision
	if l.CustomerID == "" {
		tx.Set(lk, l.encode())
		return nil // an opportunity for a prospect
	}
	c, err := loadCustomer(ctx, tx, p.cache, l.CustomerID)
	if err != nil {
		return err
	}
	k := &c.KPIs
	switch d := d.(type) {
	case domain.OpportunityCreated:
		k.OpenOpportunities++
	case domain.OpportunityWon:
		if !d.NewCustomer {
			k.OpenOpportunities--
		}
		k.WonOpportunities++
	case domain.OpportunityLost:
		k.OpenOpportunities--
		k.LostOpportunities++
	case domain.ServiceRequestOpened:
		k.OpenServiceRequests++
		if d.Type == domain.ServiceComplaint {
			k.Complaints++
		}
	case domain.ServiceRequestArchived:
		k.OpenServiceRequests--
	case domain.OrderPlaced:
		k.Orders++
		if err := placeOrder(ctx, tx, k, e.Stream, &l, d.OrderedAt); err != nil {
			return err
		}
		l.Value, l.Currency = d.Total, d.Currency // what the order still contributes
		if k.Revenue, err = k.Revenue.add(d.Currency, d.Total, +1); err != nil {
			return err
		}
	case domain.OrderCancelled:
		// A cancellation takes back what returns left of the order.
		k.CancelledOrders++
		if err := cancelOrder(ctx, tx, k, e.Stream, &l); err != nil {
			return err
		}
		if k.Revenue, err = k.Revenue.add(l.Currency, l.Value, -1); err != nil {
			return err
		}
		l.Value = domain.Decimal{}
	case domain.OrderReturned:
		if k.Revenue, err = k.Revenue.add(d.Currency, d.Amount, -1); err != nil {
			return err
		}
		if l.Value, err = l.Value.Sub(d.Amount); err != nil {
			return permanent("%s: %s net: %v", p.Name(), e.Stream, err)
		}
	default:
		tx.Set(lk, l.encode())
		return nil // no KPI change
	}
	tx.Set(lk, l.encode())
	c.Position = e.Position
	return setDoc(tx, p.cache, CustomerKey(c.ID), c)
}
