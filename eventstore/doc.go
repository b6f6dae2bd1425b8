// Package eventstore is the CRM's client-side access layer to the event log:
// a KurrentDB (EventStoreDB) node reached through the official Go client
// (github.com/EventStore/EventStore-Client-Go/v4), or, when no URL is
// configured, the project's embedded KurrentDB-compatible server started
// in-process (package eventstore/server) and reached through the very same
// client over real gRPC.
//
// It holds:
//
//   - connection management: Open, Store, Store.Close, Store.Ping, Store.Client;
//   - error kinds for the layers above (ErrWrongExpectedVersion / ErrConflict
//     with *ConflictError, ErrStreamNotFound, ErrStreamDeleted,
//     ErrUnavailable, ...), translated from the client's errors with %w;
//   - the event envelope: Metadata (correlation, causation, actor, command,
//     business time, schema version, hash chain), deterministic event ids
//     (EventID), the hash chain (CanonicalBytes, ComputeHash, VerifyChain);
//   - the Codec: an explicit table of event type names, schema versions and
//     upcasters (names are never derived from Go type names);
//   - helpers with the project's rules built in: LoadStream, Append (always
//     with an expected revision, deterministic ids, hash chain), ReadAll,
//     Head, and SubscribeAll (filtered $all catch-up subscription that
//     resubscribes with backoff, without duplicates or gaps);
//   - small interfaces (StreamLoader, Appender, AllReader, AllSubscriber,
//     Pinger, EventStore) that the layers above depend on and can mock.
//
// Import rules: this package may import the standard library, the official
// client (esdb and, indirectly, grpc), google/uuid, and the embedded server
// package github.com/crm-es/crm/eventstore/server. It must never import the
// CRM packages (domain, commands, projections, readapi, cmd); they import it.
package eventstore
