package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
)

// Event is what a projection handles: one decoded domain event with its
// place in the log and its envelope.
type Event struct {
	Position   uint64              // $all commit position
	Stream     string              // e.g. "customer-<uuid>"
	Revision   uint64              // revision in Stream
	Type       string              // event type name (domain.EventTypes)
	RecordedAt time.Time           // when the store wrote it
	Meta       eventstore.Metadata // actor, occurredAt, correlation, hash chain
	Data       domain.Event        // the decoded event (a value of the type's struct)
	// Data is shared by every projection handling the event (the runtime
	// decodes once): handlers must not modify it or what it refers to.
}

// OccurredAt is the business time of the event (the envelope's occurredAt,
// else the record time).
func (e Event) OccurredAt() time.Time {
	if !e.Meta.OccurredAt.IsZero() {
		return e.Meta.OccurredAt
	}
	return e.RecordedAt
}

// Projection is one read model's logic. Handle must be deterministic and
// derive what it writes from the event and the read model's own current
// values (read through the Tx), never from the clock or from other stores,
// so that replaying the log always rebuilds the same keys. It writes
// absolute values (no blind increments): a batch replayed after a crash
// before its commit leaves exactly what a clean run leaves.
//
// Returning an error that wraps ErrPermanent parks the event (dead-letter
// list, visible in the status); any other error is retried with backoff
// without moving the checkpoint.
type Projection interface {
	// Name is the stable projection name used in keys and the API
	// ("customers", "timeline", ...).
	Name() string
	// Version changes when Handle's output changes; a new version is built
	// blue/green beside the old one.
	Version() int
	// Handles reports whether the projection wants events of this type;
	// the runtime skips the rest without calling Handle.
	Handles(eventType string) bool
	// Handle applies one event through tx.
	Handle(ctx context.Context, tx Tx, e Event) error
}

// Tx is a projection's view of Redis during one batch. Keys are relative:
// the runtime prefixes them with crm:<projection>:v<version>: so that
// versions never share keys (a rebuild of the same version builds under
// crm:<projection>:v<version>-r<k>:; readers find the generation being
// served with ActivePrefix). Reads see the batch's own earlier writes.
// Nothing is written until the runtime commits the whole batch together
// with the checkpoint in one fenced Redis transaction.
type Tx interface {
	// Get returns a string value ("" and false when missing).
	Get(ctx context.Context, key string) (string, bool, error)
	// Set stores a string value; Del removes keys.
	Set(key, value string)
	Del(keys ...string)
	// ZAdd/ZRem maintain sorted-set indexes (write only: queries read them).
	ZAdd(key string, score float64, member string)
	ZRem(key string, members ...string)
	// SAdd/SRem maintain set indexes (write only).
	SAdd(key string, members ...string)
	SRem(key string, members ...string)
}

// Doc is a read-model document a DocTx keeps decoded.
type Doc interface {
	// AppendJSON appends the document's JSON encoding (the stored string)
	// to dst.
	AppendJSON(dst []byte) ([]byte, error)
}

// DocTx is the part of a Tx that keeps documents decoded between events;
// the runtime's Tx implements it. A document stored with SetDoc is encoded
// only when its batch commits (or when Get reads it as a string), so a
// document that many events of a batch change, such as a dashboard, is
// encoded once per batch instead of once per event, and Doc hands the
// stored document back without decoding it.
//
// Stored documents are immutable: the caller of SetDoc must not modify doc
// or anything it refers to afterwards, and a caller of Doc must copy the
// document before changing it.
type DocTx interface {
	Tx
	// SetDoc stores doc at key; the stored string is doc's encoding.
	SetDoc(key string, doc Doc)
	// Doc returns the document at key when its current value was stored
	// with SetDoc (by this batch, or committed before and still cached);
	// ok false means: read the key with Get.
	Doc(key string) (doc Doc, ok bool)
}

// ErrPermanent marks a failure that retrying cannot fix (an undecodable
// event, a handler bug): the event is parked, never skipped silently.
var ErrPermanent = errors.New("permanent projection failure")

// GetJSON loads a JSON document into v; found is false when the key is missing.
func GetJSON(ctx context.Context, tx Tx, key string, v any) (found bool, err error) {
	s, ok, err := tx.Get(ctx, key)
	if err != nil || !ok {
		return false, err
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return false, fmt.Errorf("%w: read model key %s holds invalid JSON: %v", ErrPermanent, key, err)
	}
	return true, nil
}

// SetJSON stores v as a JSON document.
func SetJSON(tx Tx, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: encode read model key %s: %v", ErrPermanent, key, err)
	}
	tx.Set(key, string(b))
	return nil
}
