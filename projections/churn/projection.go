package churn

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/projections"
)

// ProjectionName is the name of the signals projection (keys under
// crm:churn:<generation>:).
const ProjectionName = "churn"

// Relative keys of the signals projection (the runtime prefixes them with
// the generation's prefix, see projections.ActivePrefix):
//
//	customer:<customerId>   CustomerSignals (JSON)
//	changed                 sorted set: customer id → $all position of the
//	                        customer's last applied event (the Scorer follows it)
const ChangedKey = "changed"

// SignalsKey is the relative key of a customer's CustomerSignals.
func SignalsKey(customerID string) string { return "customer:" + customerID }

// CustomerSignals is the signals projection's document of one customer:
// the churn model's Signals plus what a risk item shows (name, owner).
type CustomerSignals struct {
	CustomerID string `json:"customerId"`
	Name       string `json:"name,omitempty"`
	OwnerID    string `json:"ownerId,omitempty"`
	// Position is the $all position of the last event applied: an event at
	// or below it is a replay and changes nothing.
	Position uint64  `json:"position,string"`
	Signals  Signals `json:"signals"`
}

// Projection keeps every customer's Signals in Redis as the events arrive
// (DESIGN §7). It is deterministic: it derives everything from the events
// (their business time included), never from the clock, so a replay or a
// rebuild writes the same keys. It is safe for concurrent use. The zero
// value works; NewProjection adds a bounded cache of the documents it
// wrote, used only when the Tx returns exactly the string written (so it
// never changes what Handle sees; it spares the JSON decoding).
type Projection struct {
	cache *projections.DocCache[*CustomerSignals]
}

var _ projections.Projection = Projection{}

// NewProjection returns a Projection with a document cache (one per
// runtime).
func NewProjection() Projection {
	return Projection{cache: projections.NewDocCache[*CustomerSignals](20_000)}
}

// Name returns ProjectionName.
func (Projection) Name() string { return ProjectionName }

// Version returns 1.
func (Projection) Version() int { return 1 }

// Handles reports the event types that change a customer's signals, name
// or owner.
func (Projection) Handles(t string) bool {
	return Relevant(t) || t == domain.TypeCustomerProfileChanged || t == domain.TypeCustomerOwnerAssigned
}

// Handle folds one event into its customer's document.
func (p Projection) Handle(ctx context.Context, tx projections.Tx, e projections.Event) error {
	ev := deref(e.Data)
	id, ok := CustomerOf(ev)
	switch ev := ev.(type) {
	case domain.CustomerProfileChanged:
		id, ok = ev.CustomerID, true
	case domain.CustomerOwnerAssigned:
		id, ok = ev.CustomerID, true
	}
	if !ok {
		// An event of a handled type without a customer (an opportunity
		// for a prospect lost): nothing to record.
		return nil
	}
	cid := id.String()
	key := SignalsKey(cid)
	raw, found, err := tx.Get(ctx, key)
	if err != nil {
		return err
	}
	doc := &CustomerSignals{}
	if found {
		if d, ok := p.cache.Take(key, raw); ok {
			doc = d
		} else if err := json.Unmarshal([]byte(raw), doc); err != nil {
			return fmt.Errorf("%w: read model key %s holds invalid JSON: %v", projections.ErrPermanent, key, err)
		}
		if e.Position <= doc.Position {
			p.cache.Put(key, raw, doc)
			return nil // already applied
		}
	}
	doc.CustomerID = cid
	switch ev := ev.(type) {
	case domain.CustomerRegistered:
		doc.Name, doc.OwnerID = ev.Name, ev.OwnerID
	case domain.CustomerProfileChanged:
		doc.Name = ev.Profile.Name
	case domain.CustomerOwnerAssigned:
		doc.OwnerID = ev.OwnerID
	}
	doc.Signals.Apply(ev, e.OccurredAt())
	doc.Position = e.Position
	b, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("%w: encode read model key %s: %v", projections.ErrPermanent, key, err)
	}
	tx.Set(key, string(b))
	p.cache.Put(key, string(b), doc)
	tx.ZAdd(ChangedKey, float64(e.Position), cid)
	return nil
}

// ReadSignals returns a customer's signals document from the generation
// being served; found is false when the customer is unknown or the
// projection has no generation to serve yet.
func ReadSignals(ctx context.Context, rdb redis.Cmdable, customerID string) (doc CustomerSignals, found bool, err error) {
	prefix, ok, err := projections.ActivePrefix(ctx, rdb, ProjectionName)
	if err != nil || !ok {
		return doc, false, err
	}
	return readSignalsAt(ctx, rdb, prefix, customerID)
}

func readSignalsAt(ctx context.Context, rdb redis.Cmdable, prefix, customerID string) (doc CustomerSignals, found bool, err error) {
	s, err := rdb.Get(ctx, prefix+SignalsKey(customerID)).Result()
	if err == redis.Nil {
		return doc, false, nil
	}
	if err != nil {
		return doc, false, err
	}
	if err := decodeSignals(s, &doc); err != nil {
		return doc, false, err
	}
	return doc, true, nil
}

func decodeSignals(s string, doc *CustomerSignals) error {
	if err := json.Unmarshal([]byte(s), doc); err != nil {
		return fmt.Errorf("churn: signals document: %w", err)
	}
	return nil
}
