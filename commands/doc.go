// Package commands will hold the command handlers of the write side: each
// handler loads an aggregate's stream from the event store, asks the domain
// to decide, and appends the resulting events with an expected revision and
// deterministic event IDs (so a retried command is deduplicated by the
// store), returning the stream revision and the $all commit position written.
//
// Import rule: domain and eventstore only (plus the standard library and the
// libraries those two already depend on). It never imports projections,
// readapi or cmd, and never reads flags or environment variables.
package commands
