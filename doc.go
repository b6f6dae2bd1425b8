// Package crm is the root of an event-sourced CRM service: every customer
// interaction, sales-opportunity step, service action and order is appended
// as an immutable event to a KurrentDB-compatible event store, projectors turn
// the event log into Redis read models, and a Gin HTTP API serves commands and
// queries. The root package holds no code; it documents the layout and carries
// the repository-wide tests (import rules, package docs, docker-compose.yml).
//
// # Layout
//
//   - cmd/crm: the single binary "crm" and all wiring. Only cmd/ reads flags
//     and environment variables; nothing imports cmd/.
//   - domain: aggregates, events and invariants as pure decide/apply
//     functions. No I/O, no clock (time is an argument), no logging.
//   - commands: command handlers that load an aggregate from the event store,
//     decide with the domain and append the new events.
//   - projections: projectors that follow $all and maintain read models in
//     Redis, with checkpoints committed in the same transaction.
//   - readapi: HTTP/JSON queries over the read models and audit endpoints that
//     read the event log directly.
//   - eventstore: the client side of the event store (the official KurrentDB Go
//     client), and eventstore/server, an embedded server that speaks the
//     KurrentDB gRPC protocol over a durable local store.
//
// # Import rules
//
// The rules below are enforced by TestImportRules over "go list -deps":
//
//   - domain imports only the standard library and github.com/google/uuid.
//   - commands imports domain and eventstore.
//   - projections imports domain and eventstore.
//   - readapi imports domain, eventstore and projections (read-model types).
//   - commands, projections and readapi import each other in no other way.
//   - eventstore never imports domain, commands, projections, readapi or cmd.
//   - nothing imports cmd; only cmd reads flags and environment variables.
//
// Helpers under internal/ may be imported where the rules above allow; they
// may not be used to route around them (the rules are checked on the
// transitive dependencies, not only on direct imports).
package crm
