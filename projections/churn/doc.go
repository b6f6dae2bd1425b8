// Package churn holds the churn-risk model of DESIGN §7: the per-customer
// Signals accumulated from domain events, the explainable score (Score: 0–100,
// a band and each signal's contribution with a human detail), the classic
// N-month rule (Rule), and the evaluation protocol behind
// "crm churn evaluate" (Evaluator, AUC).
//
// Everything here is pure and deterministic: Signals.Apply derives the signals
// from the event and its business time only, and Score is a function of
// (signals, now) alone, never of the clock, so the read-model projection, the
// API and the offline evaluation at a past moment run the very same code.
// Signals serialise to JSON so a projection can keep them in Redis.
//
// Import rule: the standard library, domain and google/uuid (domain's own
// dependency) only; no event store, Redis, flags or environment. The callers
// (the churn read model, cmd/crm) feed it decoded events.
package churn
