// Package churn holds the churn risk of DESIGN §7.
//
// The model (pure, deterministic): the per-customer Signals accumulated from
// domain events, the explainable score (Score: 0–100, a band and each
// signal's contribution with a human detail), the classic N-month rule
// (Rule), and the evaluation protocol behind "crm churn evaluate"
// (Evaluator, AUC). Signals.Apply derives the signals from the event and its
// business time only, and Score is a function of (signals, now) alone, never
// of the clock, so the read model, the API and the offline evaluation at a
// past moment run the very same code.
//
// The read model: Projection (the "churn" projection) keeps each customer's
// Signals, name and owner in Redis as the events arrive, deterministically
// (replays and rebuilds write the same keys). The Scorer scores the
// customers at the clock's now, periodically and whenever their signals
// change, writes the Risk documents and the rankings under KeyPrefix
// (outside the projections' generations, since they depend on the clock),
// and raises churn warnings through a Warner (the command side) when a
// customer crosses into band high or the N-month rule fires; through the
// same Warner it clears the warning of a customer at risk whose risk is
// gone (the rule no longer fires and the score is in band low; see
// Clearing, ClearKey). ReadRiskReport is what the query API's churn
// report reads; ReadRisk and ListRisks read one risk document and a
// ranking page for Go callers and tests (the query API pages the same
// rankings with its own reader and page cache, package readapi).
//
// Replay feeds $all to an Evaluator, as crm churn evaluate runs it.
//
// Import rule: the standard library, domain, eventstore and
// internal/eventcodec (for Replay), projections (and its readmodels, for
// the churn report) and the Redis client; never commands,
// readapi or cmd, and no flags or environment: the command side is reached
// through the Warner interface, wired in cmd/crm.
package churn
