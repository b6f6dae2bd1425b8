// Package projections will hold the projectors that follow the event log
// through a filtered catch-up subscription to $all and maintain the Redis
// read models (customer list and 360, timeline, pipeline, service queue,
// orders and contribution, churn risk, reports). Read-model writes and the
// checkpoint are committed in one Redis transaction guarded by a fencing
// epoch; rebuilds run blue/green under versioned key prefixes. It also
// defines the read-model types that readapi serves.
//
// Import rule: domain and eventstore (plus the standard library and Redis
// client); never commands, readapi or cmd, and no flags or environment.
package projections
