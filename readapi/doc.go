// Package readapi will hold the query side of the HTTP API: cursor-paged,
// filtered queries over the Redis read models with read-your-writes
// (X-Min-Position), the reports and dashboards, and the audit endpoints that
// read a customer's history straight from the event log and verify a
// stream's hash chain.
//
// Import rule: domain, eventstore (for audit) and the read-model types of
// projections; never commands or cmd, and no flags or environment.
package readapi
