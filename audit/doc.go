// Package audit holds the log-side logic of the audit API (DESIGN §8
// "Audit"): everything here reads the event log, never a read model, so it
// answers completely even when Redis is empty or absent.
//
//   - Linker: a catch-up subscription to $all (through the official
//     client, every call bounded by its context) that appends one link event
//     ("$>", data "<revision>@<stream>") per customer-related event to that
//     customer's link stream, HistoryStream(id) =
//     "crm-customer-history-<id>". Link event ids are deterministic
//     (eventstore.EventID of the source event's stream and revision) and
//     every append carries the stream's expected revision, so a retry after
//     a crash, or a second linker process running at the same time, never
//     duplicates a link. Links are appended in batches to many link streams
//     at once. The linker's checkpoint lives in the event store itself
//     (stream CheckpointStream, event type "$crm-linker-checkpoint"), not in
//     Redis, and is written only once every link up to it is stored.
//   - CustomerOf: which customer an event belongs to (the customer stream
//     itself; opportunity, service request and order events by their
//     customerId; an opportunity for a prospect by the id the customer will
//     get when it is won, domain.CustomerIDForOpportunity).
//   - Log.History: a customer's history in $all order: the link stream read
//     with links resolved, then $all scanned from the linker's checkpoint
//     (or the last linked position, whichever is later) up to the head
//     captured at the start of the request, so the answer is complete at
//     that moment even when the linker lags or never ran. It streams page
//     by page (bounded memory).
//   - Log.StateAsOf: the customer aggregate rehydrated with the domain code
//     from the customer stream's events recorded up to a moment.
//   - VerifyStream / Log.VerifyCustomer: walk the hash chain (eventstore's
//     prevHash/hash envelope) and report the first broken link with the
//     expected and the found value.
//   - Export: NDJSON of the log filtered by stream prefix, event type and
//     record-time range, one line per event in the audit event shape.
//
// Import rule: domain and eventstore (plus the official client and the
// standard library); never commands, projections, readapi, writeapi or
// cmd, never Redis, and no flags or environment variables.
package audit
