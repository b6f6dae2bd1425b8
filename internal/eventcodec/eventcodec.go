// Package eventcodec builds the event store codec of the CRM's domain
// events: every type of domain.EventTypes under its stored name and schema
// version, with the domain's hand-written decoders of the events a rebuild
// reads most (orders and customer registrations; they fall back to
// encoding/json for anything they do not decode exactly as it would).
// Every reader and writer of the log (command handlers, projectors, the
// audit log, the importer, churn evaluation) uses this one table.
//
// Import rule: domain, eventstore and the standard library only.
package eventcodec

import (
	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
)

// New returns a codec of the domain's event types.
func New() *eventstore.Codec {
	codec := eventstore.NewCodec()
	for _, t := range domain.EventTypes() {
		codec.Register(t.Name, t.SchemaVersion, func() any { return t.New() })
	}
	eventstore.RegisterFastDecoder(codec, domain.TypeOrderPlaced, domain.DecodeOrderPlacedFast)
	eventstore.RegisterFastDecoder(codec, domain.TypeOrderCancelled, domain.DecodeOrderCancelledFast)
	eventstore.RegisterFastDecoder(codec, domain.TypeOrderReturned, domain.DecodeOrderReturnedFast)
	eventstore.RegisterFastDecoder(codec, domain.TypeCustomerRegistered, domain.DecodeCustomerRegisteredFast)
	return codec
}
