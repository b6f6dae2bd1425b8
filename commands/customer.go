package commands

import (
	"context"
	"time"

	"github.com/crm-es/crm/domain"
	"github.com/google/uuid"
)

// RegisterCustomer is the input of "register customer".
type RegisterCustomer struct {
	// ID is the client's choice of the customer id (optional, a UUID).
	ID string
	domain.RegisterCustomer
}

func (h *Handlers) customer(ctx context.Context, opts Options, id uuid.UUID, act func(*domain.Customer, time.Time) error) (Result, error) {
	return h.customerWith(ctx, opts, target{}, id, act)
}

func (h *Handlers) customerWith(ctx context.Context, opts Options, t target, id uuid.UUID, act func(*domain.Customer, time.Time) error) (Result, error) {
	t.id, t.stream, t.what = id, domain.CustomerStream(id), "customer"
	return execute(ctx, h.c, opts, t, domain.NewCustomer, ownCustomer(opts), act)
}

// ownCustomer enforces Actor.OwnCustomersOnly on a customer.
func ownCustomer(opts Options) func(context.Context, *domain.Customer) error {
	return func(_ context.Context, c *domain.Customer) error {
		if opts.Actor.OwnCustomersOnly && c.Exists() && c.OwnerID() != opts.Actor.UserID {
			return domain.Errorf(domain.KindForbidden, "you may act only on your own customers; customer %s belongs to another user", c.ID())
		}
		return nil
	}
}

// RegisterCustomer records CustomerRegistered on a new customer stream. An
// actor restricted to own customers registers customers owned by
// themselves (an empty ownerId becomes theirs; another owner is
// forbidden).
func (h *Handlers) RegisterCustomer(ctx context.Context, opts Options, in RegisterCustomer) (Result, error) {
	id, err := h.c.newAggregateID("customer", in.ID, opts)
	if err != nil {
		return Result{}, err
	}
	p := in.RegisterCustomer
	p.OpportunityID = nil
	if opts.Actor.OwnCustomersOnly {
		switch p.OwnerID {
		case "":
			p.OwnerID = opts.Actor.UserID
		case opts.Actor.UserID:
		default:
			return Result{}, domain.Errorf(domain.KindForbidden, "you may register customers for yourself only (ownerId %q)", p.OwnerID)
		}
	}
	t := target{id: id, stream: domain.CustomerStream(id), what: "customer", create: true}
	return execute(ctx, h.c, opts, t, domain.NewCustomer, nil, func(c *domain.Customer, at time.Time) error {
		return c.Register(id, p, at)
	})
}

// ChangeCustomerProfile records CustomerProfileChanged (PATCH).
func (h *Handlers) ChangeCustomerProfile(ctx context.Context, opts Options, id uuid.UUID, p domain.ProfileChange) (Result, error) {
	return h.customer(ctx, opts, id, func(c *domain.Customer, at time.Time) error { return c.ChangeProfile(p, at) })
}

// ChangeCustomerLevel records CustomerLevelChanged.
func (h *Handlers) ChangeCustomerLevel(ctx context.Context, opts Options, id uuid.UUID, level int) (Result, error) {
	return h.customer(ctx, opts, id, func(c *domain.Customer, at time.Time) error { return c.ChangeLevel(level, at) })
}

// RateCustomerCredit records CustomerCreditRated.
func (h *Handlers) RateCustomerCredit(ctx context.Context, opts Options, id uuid.UUID, credit int) (Result, error) {
	return h.customer(ctx, opts, id, func(c *domain.Customer, at time.Time) error { return c.RateCredit(credit, at) })
}

// RateCustomerSatisfaction records CustomerSatisfactionRated.
func (h *Handlers) RateCustomerSatisfaction(ctx context.Context, opts Options, id uuid.UUID, satisfaction int) (Result, error) {
	return h.customer(ctx, opts, id, func(c *domain.Customer, at time.Time) error { return c.RateSatisfaction(satisfaction, at) })
}

// AssignCustomerOwner records CustomerOwnerAssigned.
func (h *Handlers) AssignCustomerOwner(ctx context.Context, opts Options, id uuid.UUID, ownerID string) (Result, error) {
	return h.customer(ctx, opts, id, func(c *domain.Customer, at time.Time) error { return c.AssignOwner(ownerID, at) })
}

// AddContact records ContactAdded; the Result's id is the new contact's id
// (chosen: the client's choice, else derived from the idempotency key).
func (h *Handlers) AddContact(ctx context.Context, opts Options, id uuid.UUID, chosen string, p domain.Contact) (Result, error) {
	cid, err := h.c.subID("contact", chosen, opts)
	if err != nil {
		return Result{}, err
	}
	return h.customerWith(ctx, opts, target{resultID: cid.String()}, id, func(c *domain.Customer, at time.Time) error {
		return c.AddContact(cid, p, at)
	})
}

// ChangeContact records ContactChanged (PATCH).
func (h *Handlers) ChangeContact(ctx context.Context, opts Options, id, contactID uuid.UUID, p domain.ContactChange) (Result, error) {
	return h.customer(ctx, opts, id, func(c *domain.Customer, at time.Time) error { return c.ChangeContact(contactID, p, at) })
}

// RemoveContact records ContactRemoved.
func (h *Handlers) RemoveContact(ctx context.Context, opts Options, id, contactID uuid.UUID) (Result, error) {
	return h.customer(ctx, opts, id, func(c *domain.Customer, at time.Time) error { return c.RemoveContact(contactID, at) })
}

// LogInteraction records InteractionLogged; the Result's id is the
// interaction's id.
func (h *Handlers) LogInteraction(ctx context.Context, opts Options, id uuid.UUID, chosen string, p domain.Interaction) (Result, error) {
	iid, err := h.c.subID("interaction", chosen, opts)
	if err != nil {
		return Result{}, err
	}
	return h.customerWith(ctx, opts, target{resultID: iid.String()}, id, func(c *domain.Customer, at time.Time) error {
		return c.LogInteraction(iid, p, at)
	})
}

// RaiseChurnWarning records ChurnWarningRaised (used by the churn
// detector; idempotent per customer and day).
func (h *Handlers) RaiseChurnWarning(ctx context.Context, opts Options, id uuid.UUID, w domain.ChurnWarning) (Result, error) {
	return h.customer(ctx, opts, id, func(c *domain.Customer, at time.Time) error { return c.RaiseChurnWarning(w, at) })
}

// ClearChurnWarning records ChurnWarningCleared (at risk → active; a user's
// decision; the churn-risk process uses ClearChurn when the risk is gone).
func (h *Handlers) ClearChurnWarning(ctx context.Context, opts Options, id uuid.UUID, reason string) (Result, error) {
	return h.customer(ctx, opts, id, func(c *domain.Customer, at time.Time) error { return c.ClearChurnWarning(reason, at) })
}

// DeferChurn records ChurnDeferred.
func (h *Handlers) DeferChurn(ctx context.Context, opts Options, id uuid.UUID, measure string) (Result, error) {
	return h.customer(ctx, opts, id, func(c *domain.Customer, at time.Time) error { return c.DeferChurn(measure, at) })
}

// ConfirmChurn records ChurnConfirmed.
func (h *Handlers) ConfirmChurn(ctx context.Context, opts Options, id uuid.UUID, reason string) (Result, error) {
	return h.customer(ctx, opts, id, func(c *domain.Customer, at time.Time) error { return c.ConfirmChurn(reason, at) })
}

// ReactivateCustomer records CustomerReactivated.
func (h *Handlers) ReactivateCustomer(ctx context.Context, opts Options, id uuid.UUID, reason string) (Result, error) {
	return h.customer(ctx, opts, id, func(c *domain.Customer, at time.Time) error { return c.Reactivate(reason, at) })
}
