// Package readapi holds the query side of the HTTP API (DESIGN §8):
// cursor-paged, filtered queries over the Redis read models of
// projections/readmodels and projections/churn (customers, the customer
// 360, timelines, orders, opportunities, service requests, churn risks),
// the reports and dashboards, the projection status and rebuild requests;
// read-your-writes (X-Min-Position or ?minPosition=, X-Wait-Timeout) with
// X-Projection-Position on every answer; ETag/304 on the customer 360 and
// the timeline; the query side of the role matrix (httpx.QueryMatrix). It
// also holds the audit endpoints, which read a customer's history straight
// from the event log and verify a stream's hash chain (audit*.go).
//
// Every query resolves the served (blue/green) generation of each
// projection it reads together with that generation's checkpoint in one
// atomic Redis round trip (projections.ReadActive), so a rebuild's alias
// switch never makes a query fail. List cursors are the (score, member) of
// the last item in the sorted set the list walks, never offsets, so paging
// stays stable while writes happen.
//
// Import rule: domain, eventstore (for audit and the $all head),
// internal/httpx and the read-model types of projections; never commands
// or cmd, and no flags or environment.
package readapi
