package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
)

// HistoryStreamPrefix starts the name of every customer link stream. It is
// not one of the aggregate kinds of domain.ParseStream ("crm" is no kind),
// so no tool mistakes a link stream for an aggregate stream.
const HistoryStreamPrefix = "crm-customer-history-"

// HistoryStream returns the link stream of a customer,
// "crm-customer-history-<id>".
func HistoryStream(customerID uuid.UUID) string { return HistoryStreamPrefix + customerID.String() }

// LinkEventType is the system event type of a link (KurrentDB's "$>").
const LinkEventType = "$>"

// CustomerOf returns the customer an event belongs to:
//
//   - an event of customer-<id>: that customer;
//   - an event of opportunity-, service- or order-<id>: its data's
//     customerId; an opportunity event without one (an opportunity for a
//     prospect) belongs to domain.CustomerIDForOpportunity(<id>), the only
//     customer that opportunity can ever refer to (winning it registers that
//     customer), so the prospect phase is part of that customer's history;
//   - anything else (system events, streams of other tools): none.
//
// An event of a service or order stream without a valid customerId is an
// error (the catalogue requires one): the caller must report it, not skip it.
func CustomerOf(stream, eventType string, data []byte) (uuid.UUID, bool, error) {
	if strings.HasPrefix(eventType, "$") {
		return uuid.Nil, false, nil
	}
	kind, id, ok := domain.ParseStream(stream)
	if !ok {
		return uuid.Nil, false, nil
	}
	if kind == domain.KindCustomer {
		return id, true, nil
	}
	var body struct {
		CustomerID *string `json:"customerId"`
	}
	if err := json.Unmarshal(data, &body); err != nil {
		return uuid.Nil, false, fmt.Errorf("%s event %s: data is not a JSON object: %v", stream, eventType, err)
	}
	if body.CustomerID == nil || *body.CustomerID == "" {
		if kind == domain.KindOpportunity {
			return domain.CustomerIDForOpportunity(id), true, nil
		}
		return uuid.Nil, false, fmt.Errorf("%s event %s has no customerId", stream, eventType)
	}
	cid, err := uuid.Parse(*body.CustomerID)
	if err != nil || len(*body.CustomerID) != 36 {
		return uuid.Nil, false, fmt.Errorf("%s event %s: customerId %q is not a UUID", stream, eventType, *body.CustomerID)
	}
	return cid, true, nil
}

// customerOfRecorded is CustomerOf for a recorded event.
func customerOfRecorded(r eventstore.Recorded) (uuid.UUID, bool, error) {
	return CustomerOf(r.Stream, r.Type, r.Data)
}

// LinkData returns the data of a link to an event: "<revision>@<stream>".
func LinkData(stream string, revision uint64) []byte {
	return []byte(strconv.FormatUint(revision, 10) + "@" + stream)
}

// ErrBadLink is wrapped by ParseLinkData's errors.
var ErrBadLink = errors.New("audit: malformed link")

// ParseLinkData parses a link's data "<revision>@<stream>": a decimal
// revision (no sign, no leading zeros except "0") and a non-empty stream
// name. It never panics.
func ParseLinkData(b []byte) (stream string, revision uint64, err error) {
	s := string(b)
	revText, stream, ok := strings.Cut(s, "@")
	switch {
	case !ok:
		return "", 0, fmt.Errorf("%w: %q has no '@' (want <revision>@<stream>)", ErrBadLink, s)
	case stream == "":
		return "", 0, fmt.Errorf("%w: %q has no stream name", ErrBadLink, s)
	case revText == "" || (len(revText) > 1 && revText[0] == '0') || strings.TrimLeft(revText, "0123456789") != "":
		return "", 0, fmt.Errorf("%w: %q: the revision must be a decimal number", ErrBadLink, s)
	}
	revision, err = strconv.ParseUint(revText, 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %q: %v", ErrBadLink, s, err)
	}
	return stream, revision, nil
}

// linkMeta is the metadata of a link event: where its target sits in $all,
// so the linker can tell, after a restart, how far a link stream goes
// without resolving its last link.
type linkMeta struct {
	SourcePosition uint64 `json:"sourcePosition"`
	SourceEventID  string `json:"sourceEventId"`
}

// linkEventID is the deterministic id of the link to stream@revision: the
// same source event always gives the same link id, so the store recognises
// a repeated append.
func linkEventID(stream string, revision uint64) uuid.UUID {
	return eventstore.EventID("crm-audit-link/"+stream+"@"+strconv.FormatUint(revision, 10), 0)
}
