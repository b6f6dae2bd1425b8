// Package commands holds the command handlers of the write side (DESIGN §8):
// one method of Handlers per command. Each loads the aggregate's stream
// (or takes it from a per-process cache), rebuilds the domain aggregate with
// Apply, calls the domain method with the time of an injected clock, and
// appends the recorded events with the loaded revision as the expected
// revision and the metadata of DESIGN §4 (correlation, causation, actor,
// command id, business time, schema version; the hash chain is sealed by
// eventstore.Append). It returns the stream's revision and the $all commit
// position written (Result).
//
// Concurrency: commands of one process on the same stream queue; a
// wrong-expected-version (another process) re-runs load and decide, up to
// Config.MaxRetries times, unless the command carries an If-Match revision
// (Options.IfMatch), which turns any mismatch into a *PreconditionError
// (ErrPreconditionFailed, KindConflict; HTTP 412).
//
// Idempotency: with Options.IdempotencyKey the events get the ids
// eventstore.EventID(key, i) and a create without an explicit id gets an id
// derived from the key; a command whose events are already in the stream
// returns its first result (Result.Replayed) and appends nothing. Winning an
// opportunity for a prospect registers the customer with the id
// domain.CustomerIDForOpportunity on a new stream first (expected revision
// "no stream"; an existing stream counts as done), so a retry cannot create
// two customers.
//
// Authorisation: Options.Actor.OwnCustomersOnly (set by the HTTP layer from
// the role matrix) limits a command to the actor's own customers
// (KindForbidden otherwise).
//
// Import rule: domain and eventstore only (plus the standard library and the
// libraries those two already depend on). It never imports projections,
// readapi or cmd, and never reads flags or environment variables.
package commands
