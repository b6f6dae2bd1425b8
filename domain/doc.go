// Package domain will hold the CRM's aggregates (customer, opportunity,
// service request, order), their events and invariants, written as pure
// decide/apply functions: a command is validated against the current state
// and yields events; applying an event never fails; a change that changes
// nothing records nothing. It also holds the event codec table (stable
// PascalCase event type names, JSON payloads, upcasting of old schema
// versions) and the per-event metadata with its hash chain.
//
// Import rule: the standard library and github.com/google/uuid only. No I/O,
// no clock (the current time is passed in as an argument), no logging.
package domain
