// Package domain holds the CRM's write-side model: the aggregates Customer,
// Opportunity, ServiceRequest and Order, every event of their streams
// (DESIGN §5), their state machines and invariants, the codec table of
// event types, the stream names and the derived ids, the exact Decimal used
// for money and quantities, and the project's one error type (Error).
//
// How it is used: the command layer loads a stream, feeds each stored event
// to a fresh aggregate's Apply (NewCustomer().Apply(e)...), calls one
// command method, and appends the aggregate's Changes with the expected
// revision. Command methods validate first and return *Error: KindInvalid
// with FieldErrors named like the HTTP body fields ("name",
// "prospect.name", "lines[0].sku"), KindConflict when the state forbids the
// transition, KindNotFound for a missing aggregate or sub-entity. Only then
// do they record events; a change that changes nothing records nothing and
// returns nil. Apply never fails and never validates: stored events are
// facts. Creation is the first event ("no event, no aggregate").
//
// Events are plain values with explicit, stable PascalCase type names
// (Event.EventType, EventTypes), camelCase JSON fields, fat payloads (old
// and new values), the aggregate id and, where there is one, the customer
// id they refer to. Times are UTC; money is a Decimal string with an ISO
// currency code. Golden files in testdata/events pin each event's stored
// JSON; old forms must keep decoding.
//
// Import rule: the standard library and github.com/google/uuid only. No I/O,
// no clock (the current time is passed in as an argument), no randomness
// (ids are passed in or derived with UUIDv5), no logging.
package domain
