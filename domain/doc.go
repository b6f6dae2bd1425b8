// Package domain holds the CRM's write-side model: the aggregates Customer,
// Opportunity, ServiceRequest and Order, every event of their streams
// (DESIGN §5), their state machines and invariants, the codec table of
// event types, the stream names and the derived ids, the exact Decimal used
// for money and quantities, and the project's one error type (Error).
//
// How it is used: the command layer loads a stream, feeds each stored event
// to a fresh aggregate's Apply (NewCustomer().Apply(e)...), calls one
// command method, and appends the aggregate's Changes with the expected
// revision. Command methods check the fields and the state and return
// *Error: KindInvalid with FieldErrors listing every bad field by its HTTP
// body name ("name", "prospect.name", "lines[0].sku"), KindConflict when
// the state forbids the transition, KindNotFound for a missing aggregate
// or sub-entity. A refused command records nothing; only when every check
// passes do they record events, and a change that changes nothing records
// nothing and returns nil. Apply never fails and never validates: stored events are
// facts. Creation is the first event ("no event, no aggregate").
//
// Events are plain values with explicit, stable PascalCase type names
// (Event.EventType, EventTypes), camelCase JSON fields, fat payloads (old
// and new values), the aggregate id and, where there is one, the customer
// id they refer to. Times are UTC; money is a Decimal string with an ISO
// currency code. Golden files in testdata/events pin each event's stored
// JSON; old forms must keep decoding.
//
// State machines and decisions (a refused transition is KindConflict):
//
//   - Customer: active → at_risk (RaiseChurnWarning; at most one per UTC
//     day, a second one the same day records nothing; refused when lost) →
//     lost (ConfirmChurn, reason required, also allowed straight from
//     active). DeferChurn (measure required, repeatable) needs at_risk.
//     ClearChurnWarning: at_risk → active (no-op when active, refused when
//     lost). Reactivate: lost or at_risk → active (no-op when active).
//     Profile, ratings, owner, contacts and interactions may change in any
//     state.
//   - Opportunity: unassigned → assigned (Assign; reassigning keeps it
//     assigned) → won (Win, only when assigned) | lost (Lose, reason
//     required, from unassigned or assigned). Plan items need assigned.
//     Closed opportunities refuse every change. Win for a prospect returns
//     the new Customer (id CustomerIDForOpportunity) with its events.
//   - ServiceRequest: created → assigned (Assign, reassign while assigned)
//     → handled (Handle; "must be assigned before it is handled") →
//     feedback: satisfaction ≥ 3 records ServiceFeedbackRecorded +
//     ServiceRequestArchived, < 3 ServiceFeedbackRecorded +
//     ServiceRequestReopened (back to assigned, same assignee).
//   - Order: placed → shipped → delivered (delivery may skip shipping);
//     Cancel while placed or shipped (not once delivered; a second cancel
//     records nothing); Return once placed, shipped or delivered (lines of
//     the order's SKUs up to the quantity not yet returned and/or an amount
//     up to total − returned); payments accumulate up to total − returned
//     (FullyPaid once covered); a cancelled order refuses payments and
//     returns.
//
// Ids of entities created by a command (aggregates, contacts, interactions,
// plan items) are chosen by the caller; re-adding the same id with the
// same fields records nothing, so retries are harmless. Aggregates are not
// safe for concurrent use: one command, one fresh aggregate.
//
// Import rule: the standard library and github.com/google/uuid only. No I/O,
// no clock (the current time is passed in as an argument), no randomness
// (ids are passed in or derived with UUIDv5), no logging.
package domain
