// Package readapi holds the query side of the HTTP API (DESIGN §8):
// cursor-paged, filtered queries over the Redis read models of
// projections/readmodels and projections/churn (customers, the customer
// 360, timelines, orders, opportunities, service requests, churn risks),
// the reports and dashboards, the projection status and rebuild requests,
// with read-your-writes and ETags. It also holds the audit endpoints, which
// read a customer's history straight from the event log and verify a
// stream's hash chain (audit*.go, RegisterAudit).
//
// Endpoints (Register; GET unless noted):
//
//	/v1/customers?q=&level=&region=&owner=&status=     by name (q: every word starts a word of the name)
//	/v1/customers/{id}                                 the 360: profile, contacts, KPIs, churn state, churnRisk; ETag
//	/v1/customers/{id}/timeline?kinds=                 newest first by occurred time; ETag
//	/v1/customers/{id}/orders                          newest first
//	/v1/opportunities?status=&assignee=, /{id}         newest first by creation
//	/v1/service-requests?status=&type=&assignee=&order=, /{id} (status=open: not archived; order=oldest: first come, first served)
//	/v1/churn/risks?band=&owner=                       highest risk first, with reasons
//	/v1/reports/contribution?year=&q=&currency=        customers by net contribution in the year
//	/v1/reports/composition?by=level|credit|satisfaction|region|status
//	/v1/reports/service?year=, /v1/reports/churn
//	/v1/dashboards/pipeline, /v1/dashboards/overview
//	/v1/projections, POST /v1/projections/{name}/rebuild (202)
//
// Lists answer {items, nextCursor} (null on the last page); limit is 1–200
// (default 50). A cursor is the (score, member) of the last item in the
// sorted set the list walks, never an offset, so paging stays stable while
// writes happen: an item present throughout is returned once. A cursor
// names its list with the parameters that choose it (the customer of a
// timeline or order list, the year and currency of the contribution
// ranking, defaults resolved): given to another list it is a 400 naming
// cursor. Filters (kinds, status, level, ...) keep the list's order, so a
// cursor carries over when they change. A filtered
// page inspects at most 5,000 members and may then end short, with a
// nextCursor. In the rankings (contribution, churn risks) an item whose
// score changes between two pages moves, and may be seen twice or not at
// all, as in any live ranking. Bad parameters answer 400 problem+json
// naming each field; so does a list or filter parameter given twice,
// except kinds, whose repeats add up (kinds=order&kinds=service is
// kinds=order,service).
//
// Roles: httpx.DefaultQueryMatrix. With ScopeOwn (sales) a user sees the
// customers they own, the opportunities and service requests of those
// customers or assigned to or created by them, and the churn risks of their
// customers; another's customer answers 403.
//
// Consistency: every query resolves the served (blue/green) generation of
// each projection it reads together with that generation's checkpoint in
// one atomic Redis round trip (projections.ReadActive), so a rebuild's
// alias switch never makes a query fail. X-Min-Position (or ?minPosition=)
// makes the query wait, up to X-Wait-Timeout (Go duration, default 2 s, at
// most 10 s), until every projection it reads has passed that $all
// position: its checkpoint is there, or no event between its checkpoint
// and the position is of a type it handles (sparse projections store
// checkpoints only every few dozen events); else 503 with Retry-After and a
// problem naming the lagging projection. X-Projection-Position is the
// least position the projections read have passed (a lower bound: a sparse
// projection may report an older checkpoint when no minimum was asked for).
//
// ETags: the customer 360's is its generation, its document's last $all
// position and a hash of its churn-risk document; the timeline's is its
// generation, the number of items of the customer (items are only ever
// added) and a hash of the page asked for.
//
// Page cache: the timeline and churn-risk pages are rendered once per
// version of the data they show and kept in memory (byte-bounded, least
// recently used out; Config.PageCacheBytes): the timeline's under its ETag's
// generation and item count, the churn list's under churn.VersionKey, which
// the scorer bumps in the script that writes the risk documents. The
// version is read (in the same ReadActive round trip as the read-your-writes
// checkpoint) before the data, so a kept page is never older than its
// version and a change always shows on the next request.
//
// Import rule: domain, eventstore (for audit and the $all head),
// internal/httpx and the read-model types of projections; never commands
// or cmd, and no flags or environment.
package readapi
