// Package projections holds the projector runtime that follows the event
// log through a filtered catch-up subscription to $all and maintains the
// Redis read models (the projections themselves are in readmodels and
// churn): read-model writes and the checkpoint are committed in one Redis
// MULTI/EXEC transaction guarded by a fencing epoch (runtime_commit.go);
// rebuilds run blue/green under versioned key prefixes, behind catch-up
// reads shared between projections (runtime_catchup.go). It also holds
// what readers of the read models need: the key layout (ActivePrefix),
// positions and lag (position.go).
//
// Import rule: domain and eventstore (plus the standard library and Redis
// client); never commands, readapi or cmd, and no flags or environment.
package projections
