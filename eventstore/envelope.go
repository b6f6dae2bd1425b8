package eventstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Metadata is the envelope stored as the user metadata (JSON) of every event.
//
// Stored form (field order fixed, all keys always present):
//
//	{
//	  "$correlationId": "…",   // the request/saga the event belongs to
//	  "$causationId": "…",     // the command or event that caused it
//	  "actor": "…",            // user id of whoever ran the command
//	  "commandId": "…",        // the command's id
//	  "occurredAt": "2024-03-01T09:30:00Z", // business time, RFC 3339, UTC
//	  "schemaVersion": 1,      // version of the data's schema (≥ 1)
//	  "prevHash": "<64 hex>",  // hash of the previous event of the stream
//	  "hash": "<64 hex>"       // SHA-256 over prevHash and the canonical bytes
//	}
//
// OccurredAt is stored in UTC with Go's RFC3339Nano layout (fraction without
// trailing zeros, omitted when zero). It may be earlier than the record time
// (e.g. a visit logged the next day). $correlationId and $causationId use the
// names KurrentDB's own projections understand.
type Metadata struct {
	CorrelationID string
	CausationID   string
	Actor         string
	CommandID     string
	OccurredAt    time.Time
	SchemaVersion int
	PrevHash      string
	Hash          string
}

// metadataWire is the JSON form of Metadata.
type metadataWire struct {
	CorrelationID string `json:"$correlationId"`
	CausationID   string `json:"$causationId"`
	Actor         string `json:"actor"`
	CommandID     string `json:"commandId"`
	OccurredAt    string `json:"occurredAt"`
	SchemaVersion int    `json:"schemaVersion"`
	PrevHash      string `json:"prevHash"`
	Hash          string `json:"hash"`
}

// FormatOccurredAt returns the stored (and canonical) form of a business
// time: UTC, RFC3339Nano; the zero time is stored as "".
func FormatOccurredAt(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// MarshalJSON encodes the stored form.
func (m Metadata) MarshalJSON() ([]byte, error) {
	return json.Marshal(metadataWire{
		CorrelationID: m.CorrelationID,
		CausationID:   m.CausationID,
		Actor:         m.Actor,
		CommandID:     m.CommandID,
		OccurredAt:    FormatOccurredAt(m.OccurredAt),
		SchemaVersion: m.SchemaVersion,
		PrevHash:      m.PrevHash,
		Hash:          m.Hash,
	})
}

// UnmarshalJSON decodes the stored form. Unknown keys are ignored and
// missing keys stay zero, so older and foreign envelopes keep decoding.
func (m *Metadata) UnmarshalJSON(b []byte) error {
	var w metadataWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	var t time.Time
	if w.OccurredAt != "" {
		var err error
		t, err = time.Parse(time.RFC3339Nano, w.OccurredAt)
		if err != nil {
			return fmt.Errorf("occurredAt: %w", err)
		}
		t = t.UTC()
	}
	*m = Metadata{
		CorrelationID: w.CorrelationID,
		CausationID:   w.CausationID,
		Actor:         w.Actor,
		CommandID:     w.CommandID,
		OccurredAt:    t,
		SchemaVersion: w.SchemaVersion,
		PrevHash:      w.PrevHash,
		Hash:          w.Hash,
	}
	return nil
}

// ErrMalformedMetadata is wrapped by DecodeMetadata's errors.
var ErrMalformedMetadata = errors.New("eventstore: malformed event metadata")

// DecodeMetadata decodes an event's stored user metadata. Empty input (an
// event written without metadata) yields the zero Metadata and no error.
// It never panics on any input.
func DecodeMetadata(b []byte) (Metadata, error) {
	var m Metadata
	if len(bytes.TrimSpace(b)) == 0 {
		return m, nil
	}
	if b = bytes.TrimSpace(b); b[0] != '{' {
		return Metadata{}, fmt.Errorf("%w: not a JSON object", ErrMalformedMetadata)
	}
	if fast, ok := decodeMetadataFast(b); ok {
		return fast, nil
	}
	return decodeMetadataJSON(b)
}

// decodeMetadataJSON is DecodeMetadata's general path (encoding/json).
func decodeMetadataJSON(b []byte) (Metadata, error) {
	var m Metadata
	if err := json.Unmarshal(b, &m); err != nil {
		return Metadata{}, fmt.Errorf("%w: %v", ErrMalformedMetadata, err)
	}
	return m, nil
}

// ---------------------------------------------------------------------------
// Hash chain

// GenesisHash is the prevHash of the first event of a stream: 32 zero bytes
// in lower-case hex.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// canonicalTag versions the canonical byte layout below.
const canonicalTag = "crm-es/event/v1"

// CanonicalBytes returns the bytes an event's hash covers. Layout (v1):
//
//	canonical = F("crm-es/event/v1")
//	         || F(stream)                    // stream name, UTF-8
//	         || F(eventType)                 // e.g. "CustomerRegistered"
//	         || F(eventID)                   // 36-char lower-case UUID string
//	         || F(data)                      // the event's data bytes exactly as stored
//	         || F(meta.$correlationId)
//	         || F(meta.$causationId)
//	         || F(meta.actor)
//	         || F(meta.commandId)
//	         || F(meta.occurredAt)           // UTC RFC3339Nano, as stored ("" if zero)
//	         || F(decimal(meta.schemaVersion))
//	         || F(meta.prevHash)             // 64 lower-case hex chars
//	F(x)     = uint32 big-endian byte length of x || x
//
// i.e. every metadata field except hash, each length-prefixed, so no two
// different events share the same canonical bytes. Metadata strings are the
// values decoded from the stored JSON (UTF-8), so JSON escaping and key
// order do not matter; the data bytes are taken verbatim. The hash of an event is
//
//	hash = lower-hex( SHA-256( bytes(prevHash) || canonical ) )
//
// where bytes(prevHash) is the 32 bytes the prevHash hex string denotes
// (GenesisHash, i.e. 32 zero bytes, for the first event of a stream).
// Metadata keys other than the eight of the envelope are not covered.
func CanonicalBytes(stream, eventType string, eventID uuid.UUID, data []byte, meta Metadata) []byte {
	occurred := FormatOccurredAt(meta.OccurredAt)
	version := strconv.Itoa(meta.SchemaVersion)
	fields := [...][]byte{
		[]byte(canonicalTag),
		[]byte(stream),
		[]byte(eventType),
		[]byte(eventID.String()),
		data,
		[]byte(meta.CorrelationID),
		[]byte(meta.CausationID),
		[]byte(meta.Actor),
		[]byte(meta.CommandID),
		[]byte(occurred),
		[]byte(version),
		[]byte(meta.PrevHash),
	}
	n := 0
	for _, f := range fields {
		n += 4 + len(f)
	}
	out := make([]byte, 0, n)
	for _, f := range fields {
		out = binary.BigEndian.AppendUint32(out, uint32(len(f)))
		out = append(out, f...)
	}
	return out
}

// ComputeHash returns the hash of an event whose metadata carries its
// prevHash (meta.Hash is ignored). See CanonicalBytes for the definition.
func ComputeHash(stream, eventType string, eventID uuid.UUID, data []byte, meta Metadata) (string, error) {
	prev, err := decodeHash(meta.PrevHash)
	if err != nil {
		return "", fmt.Errorf("prevHash: %w", err)
	}
	h := sha256.New()
	h.Write(prev[:])
	h.Write(CanonicalBytes(stream, eventType, eventID, data, meta))
	return hex.EncodeToString(h.Sum(nil)), nil
}

func decodeHash(s string) ([32]byte, error) {
	var out [32]byte
	if len(s) != 64 || strings.ToLower(s) != s {
		return out, fmt.Errorf("want 64 lower-case hex characters, got %q", s)
	}
	if _, err := hex.Decode(out[:], []byte(s)); err != nil {
		return out, err
	}
	return out, nil
}

// ErrChainBroken is matched (errors.Is) by the *ChainError VerifyChain returns.
var ErrChainBroken = errors.New("eventstore: hash chain broken")

// ChainError reports the first event whose hash-chain link does not hold.
type ChainError struct {
	Stream   string
	Revision uint64
	Index    int // index in the slice given to VerifyChain
	Reason   string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("eventstore: hash chain broken at %s@%d: %s", e.Stream, e.Revision, e.Reason)
}

// Is reports ErrChainBroken.
func (e *ChainError) Is(target error) bool { return target == ErrChainBroken }

// VerifyChain walks the events of one stream in revision order and checks
// every link: the metadata decodes; revisions are consecutive; each event's
// prevHash equals the previous event's hash (GenesisHash when the slice
// starts at revision 0; when it starts later, the first prevHash is taken as
// given); and each stored hash equals ComputeHash over the stored fields.
//
// It returns firstBad = -1 and a nil error when the chain holds (also for no
// events); otherwise the stream revision of the first bad event and a
// *ChainError (errors.Is(err, ErrChainBroken)).
func VerifyChain(events []Recorded) (firstBad int64, err error) {
	prevHash := ""
	for i, ev := range events {
		fail := func(format string, args ...any) (int64, error) {
			return int64(ev.Revision), &ChainError{Stream: ev.Stream, Revision: ev.Revision, Index: i, Reason: fmt.Sprintf(format, args...)}
		}
		if ev.MetadataErr != nil {
			return fail("metadata: %v", ev.MetadataErr)
		}
		meta := ev.Metadata
		switch {
		case i == 0 && ev.Revision == 0:
			if meta.PrevHash != GenesisHash {
				return fail("first event's prevHash is %q, want the genesis hash", meta.PrevHash)
			}
		case i > 0:
			if prev := events[i-1]; ev.Stream != prev.Stream || ev.Revision != prev.Revision+1 {
				return fail("does not follow %s@%d", prev.Stream, prev.Revision)
			}
			if meta.PrevHash != prevHash {
				return fail("prevHash %q does not match the previous event's hash %q", meta.PrevHash, prevHash)
			}
		}
		want, herr := ComputeHash(ev.Stream, ev.Type, ev.EventID, ev.Data, meta)
		if herr != nil {
			return fail("%v", herr)
		}
		if meta.Hash != want {
			return fail("stored hash %q, computed %q", meta.Hash, want)
		}
		prevHash = meta.Hash
	}
	return -1, nil
}

// ---------------------------------------------------------------------------
// Events in and out

// Recorded is an event as read from the store.
type Recorded struct {
	Stream     string
	Revision   uint64    // 0-based revision in Stream
	Position   uint64    // commit position in $all
	EventID    uuid.UUID // as stored
	Type       string    // event type name
	JSON       bool      // content type application/json (else octet-stream)
	Data       []byte    // data bytes exactly as stored
	RecordedAt time.Time // server write time (UTC)
	// RawMetadata is the stored user metadata; Metadata is its decoded form.
	// If decoding failed, Metadata is zero and MetadataErr says why (the
	// event is still returned: callers decide whether that matters).
	RawMetadata []byte
	Metadata    Metadata
	MetadataErr error
}

// RecordedEvent is another name for Recorded.
type RecordedEvent = Recorded

// IsSystem reports whether the event has a system ($-prefixed) type or
// lives in a system stream.
func (r Recorded) IsSystem() bool {
	return strings.HasPrefix(r.Type, "$") || strings.HasPrefix(r.Stream, "$")
}

// Checkpoint returns the $all position of the event, usable as a
// subscription checkpoint (subscriptions resume after it).
func (r Recorded) Checkpoint() Checkpoint { return Checkpoint{Commit: r.Position, Prepare: r.Position} }

// Pending is an event to append. Build it by hand or with Codec.NewPending.
type Pending struct {
	// Type is the event type name (required).
	Type string
	// Data is the event's JSON data (required non-nil; "{}" for no fields).
	Data []byte
	// Metadata: Append fills Hash (always) and PrevHash (from the previous
	// event unless the first Pending of the batch carries it), sets a zero
	// SchemaVersion to 1 and a zero OccurredAt to the current time.
	Metadata Metadata
	// IdempotencyKey identifies the command that produced the event; the
	// event id is EventID(IdempotencyKey, index in the batch). Empty =
	// Metadata.CommandID.
	IdempotencyKey string
	// ID overrides the deterministic event id when not uuid.Nil (imports
	// that carry their own ids).
	ID uuid.UUID
}

// AppendResult is the outcome of a successful (or idempotently repeated)
// append.
type AppendResult struct {
	// Revision is the stream revision of the last event written.
	Revision uint64
	// Position is the $all commit position of the last event written.
	Position uint64
}

// Checkpoint is a position in $all. The zero Checkpoint means "the start of
// $all"; subscriptions started from a non-zero checkpoint deliver only
// events after it.
type Checkpoint struct {
	Commit  uint64
	Prepare uint64
}

// CheckpointAt returns the checkpoint for a commit position of an event
// written through gRPC (whose prepare position equals its commit position).
func CheckpointAt(position uint64) Checkpoint { return Checkpoint{Commit: position, Prepare: position} }

// IsZero reports whether c is the start of $all.
func (c Checkpoint) IsZero() bool { return c.Commit == 0 && c.Prepare == 0 }

func (c Checkpoint) String() string {
	if c.Commit == c.Prepare {
		return strconv.FormatUint(c.Commit, 10)
	}
	return fmt.Sprintf("%d/%d", c.Commit, c.Prepare)
}
