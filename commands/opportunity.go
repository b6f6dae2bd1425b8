package commands

import (
	"context"
	"errors"
	"time"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
	"github.com/google/uuid"
)

// CreateOpportunity is the input of "create opportunity".
type CreateOpportunity struct {
	// ID is the client's choice of the opportunity id (optional).
	ID string
	domain.CreateOpportunity
}

func (h *Handlers) opportunity(ctx context.Context, opts Options, id uuid.UUID, t target, act func(*domain.Opportunity, time.Time) error) (Result, error) {
	t.id, t.stream, t.what = id, domain.OpportunityStream(id), "opportunity"
	return execute(ctx, h.c, opts, t, domain.NewOpportunity, h.ownOpportunity(opts), act)
}

// ownOpportunity enforces Actor.OwnCustomersOnly: the opportunity's
// customer is the actor's, or (a prospect) the actor created it or is its
// assignee.
func (h *Handlers) ownOpportunity(opts Options) func(context.Context, *domain.Opportunity) error {
	return func(ctx context.Context, o *domain.Opportunity) error {
		if !opts.Actor.OwnCustomersOnly || !o.Exists() {
			return nil
		}
		if cid := o.CustomerID(); cid != uuid.Nil {
			return h.c.ownedCustomer(ctx, opts, cid, "opportunity")
		}
		if u := opts.Actor.UserID; o.CreatedBy() == u || o.AssigneeID() == u {
			return nil
		}
		return domain.Errorf(domain.KindForbidden, "you may act only on your own opportunities")
	}
}

// CreateOpportunity records OpportunityCreated. The customer, when given,
// must exist (and be the actor's, for an actor restricted to own
// customers).
func (h *Handlers) CreateOpportunity(ctx context.Context, opts Options, in CreateOpportunity) (Result, error) {
	id, err := h.c.newAggregateID("opportunity", in.ID, opts)
	if err != nil {
		return Result{}, err
	}
	p := in.CreateOpportunity
	p.CreatedBy = opts.Actor.UserID
	t := target{id: id, stream: domain.OpportunityStream(id), what: "opportunity", create: true}
	return execute(ctx, h.c, opts, t, domain.NewOpportunity, nil, func(o *domain.Opportunity, at time.Time) error {
		exists := o.Exists()
		err := o.Create(id, p, at)
		if exists || p.CustomerID == nil || *p.CustomerID == uuid.Nil || p.Prospect != nil {
			return err // the domain reports these
		}
		return withCustomerCheck(err, h.c.referencedCustomer(ctx, opts, "customerId", *p.CustomerID))
	})
}

// ChangeOpportunity records OpportunityChanged (PATCH).
func (h *Handlers) ChangeOpportunity(ctx context.Context, opts Options, id uuid.UUID, p domain.OpportunityChange) (Result, error) {
	return h.opportunity(ctx, opts, id, target{}, func(o *domain.Opportunity, at time.Time) error { return o.Change(p, at) })
}

// AssignOpportunity records OpportunityAssigned.
func (h *Handlers) AssignOpportunity(ctx context.Context, opts Options, id uuid.UUID, assigneeID string) (Result, error) {
	return h.opportunity(ctx, opts, id, target{}, func(o *domain.Opportunity, at time.Time) error { return o.Assign(assigneeID, at) })
}

// AddPlanItem records PlanItemAdded; the Result's id is the item's id.
func (h *Handlers) AddPlanItem(ctx context.Context, opts Options, id uuid.UUID, chosen string, dueDate time.Time, action string) (Result, error) {
	itemID, err := h.c.subID("item", chosen, opts)
	if err != nil {
		return Result{}, err
	}
	return h.opportunity(ctx, opts, id, target{resultID: itemID.String()}, func(o *domain.Opportunity, at time.Time) error {
		return o.AddPlanItem(itemID, dueDate, action, at)
	})
}

// ChangePlanItem records PlanItemChanged (PATCH).
func (h *Handlers) ChangePlanItem(ctx context.Context, opts Options, id, itemID uuid.UUID, p domain.PlanItemChange) (Result, error) {
	return h.opportunity(ctx, opts, id, target{}, func(o *domain.Opportunity, at time.Time) error { return o.ChangePlanItem(itemID, p, at) })
}

// RecordPlanItemResult records PlanItemResultRecorded.
func (h *Handlers) RecordPlanItemResult(ctx context.Context, opts Options, id, itemID uuid.UUID, result string) (Result, error) {
	return h.opportunity(ctx, opts, id, target{}, func(o *domain.Opportunity, at time.Time) error {
		return o.RecordPlanItemResult(itemID, result, at)
	})
}

// WinOpportunity records OpportunityWon. For a prospect, the customer
// registered from it (id domain.CustomerIDForOpportunity) is appended to
// its own stream first, with expected revision "no stream": if a previous
// attempt already created it, that counts as done, so retries never create
// two customers. Then the opportunity's events are appended.
func (h *Handlers) WinOpportunity(ctx context.Context, opts Options, id uuid.UUID, p domain.WinOpportunity) (Result, error) {
	var newCustomer *domain.Customer
	t := target{id: id, stream: domain.OpportunityStream(id), what: "opportunity"}
	act := func(o *domain.Opportunity, at time.Time) error {
		nc, err := o.Win(p, at)
		newCustomer = nc
		return err
	}
	before := func(ctx context.Context, commandID, key string) error {
		if newCustomer == nil {
			return nil
		}
		return h.registerDerivedCustomer(ctx, opts, commandID, key, newCustomer)
	}
	return executeWith(ctx, h.c, opts, t, domain.NewOpportunity, h.ownOpportunity(opts), act, before)
}

// registerDerivedCustomer appends a won prospect's customer events to a new
// customer stream; an existing stream means an earlier attempt did it.
func (h *Handlers) registerDerivedCustomer(ctx context.Context, opts Options, commandID, key string, cust *domain.Customer) error {
	evs := cust.Changes()
	changes := make([]change, len(evs))
	now := h.c.now()
	for i, e := range evs {
		changes[i] = change{event: e, occurredAt: occurredAt(e, now)}
	}
	stream := domain.CustomerStream(cust.ID())
	r := request{stream: stream, opts: opts, key: key + "/customer", commandID: commandID}
	pending, err := h.c.pending(r, changes, "")
	if err != nil {
		return err
	}
	_, err = h.c.store.Append(ctx, stream, eventstore.NoStream, pending)
	var ce *eventstore.ConflictError
	if errors.As(err, &ce) && ce.Current >= 0 {
		return nil // registered by an earlier attempt
	}
	if err != nil {
		return storeError(err, "customer")
	}
	return nil
}

// LoseOpportunity records OpportunityLost.
func (h *Handlers) LoseOpportunity(ctx context.Context, opts Options, id uuid.UUID, reason string) (Result, error) {
	return h.opportunity(ctx, opts, id, target{}, func(o *domain.Opportunity, at time.Time) error { return o.Lose(reason, at) })
}
