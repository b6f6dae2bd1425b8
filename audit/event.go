package audit

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/crm-es/crm/eventstore"
)

// Event is one event of the log in the audit event shape of DESIGN §8:
// stream, revision, position, type, recordedAt, occurredAt, actor,
// correlationId, causationId, data, metadata; plus eventId (needed to
// recompute the hash chain from an export) and, for a link whose target can
// no longer be read, unresolved with the link's text in data.
type Event struct {
	Stream        string          `json:"stream"`
	Revision      uint64          `json:"revision"`
	Position      Position        `json:"position"`
	EventID       uuid.UUID       `json:"eventId"`
	Type          string          `json:"type"`
	RecordedAt    time.Time       `json:"recordedAt"`
	OccurredAt    *time.Time      `json:"occurredAt,omitempty"`
	Actor         string          `json:"actor"`
	CorrelationID string          `json:"correlationId"`
	CausationID   string          `json:"causationId"`
	Data          json.RawMessage `json:"data"`
	Metadata      json.RawMessage `json:"metadata"`
	// DataEncoding is "base64" when the stored data is not JSON (Data is
	// then a JSON string holding it base64-encoded); empty for JSON data.
	DataEncoding string `json:"dataEncoding,omitempty"`
	// MetadataError says why the stored metadata could not be decoded.
	MetadataError string `json:"metadataError,omitempty"`
	// Unresolved marks a link whose target event cannot be read any more.
	Unresolved bool `json:"unresolved,omitempty"`
}

// Position is an $all commit position, written in JSON as a decimal string
// (like the command replies' position), so that JavaScript clients keep
// every digit.
type Position uint64

// MarshalJSON writes the decimal string.
func (p Position) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, strconv.FormatUint(uint64(p), 10)), nil
}

// UnmarshalJSON accepts a decimal string or a number.
func (p *Position) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return err
	}
	*p = Position(v)
	return nil
}

// FromRecorded converts an event read through the eventstore package.
func FromRecorded(r eventstore.Recorded) Event {
	e := Event{
		Stream:     r.Stream,
		Revision:   r.Revision,
		Position:   Position(r.Position),
		EventID:    r.EventID,
		Type:       r.Type,
		RecordedAt: r.RecordedAt.UTC(),
	}
	e.setData(r.Data, r.JSON)
	e.setMetadata(r.RawMetadata, r.Metadata, r.MetadataErr)
	return e
}

func (e *Event) setData(data []byte, isJSON bool) {
	if isJSON && json.Valid(data) {
		e.Data = json.RawMessage(bytes.Clone(data))
		return
	}
	if len(data) == 0 {
		e.Data = json.RawMessage(`null`)
		return
	}
	e.DataEncoding = "base64"
	e.Data, _ = json.Marshal(base64.StdEncoding.EncodeToString(data))
}

func (e *Event) setMetadata(raw []byte, m eventstore.Metadata, merr error) {
	switch {
	case len(bytes.TrimSpace(raw)) == 0:
		e.Metadata = json.RawMessage(`{}`)
	case json.Valid(raw):
		e.Metadata = json.RawMessage(bytes.Clone(raw))
	default:
		e.Metadata, _ = json.Marshal(string(raw))
	}
	if merr != nil {
		e.MetadataError = merr.Error()
		return
	}
	e.Actor, e.CorrelationID, e.CausationID = m.Actor, m.CorrelationID, m.CausationID
	if !m.OccurredAt.IsZero() {
		t := m.OccurredAt.UTC()
		e.OccurredAt = &t
	}
}
