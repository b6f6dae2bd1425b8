package commands

import (
	"context"
	"time"

	"github.com/crm-es/crm/domain"
	"github.com/google/uuid"
)

// PlaceOrder is the input of "place order".
type PlaceOrder struct {
	// ID is the client's choice of the order id (optional).
	ID string
	domain.PlaceOrder
}

func (h *Handlers) order(ctx context.Context, opts Options, id uuid.UUID, act func(*domain.Order, time.Time) error) (Result, error) {
	t := target{id: id, stream: domain.OrderStream(id), what: "order"}
	check := func(ctx context.Context, o *domain.Order) error {
		if !o.Exists() {
			return nil
		}
		return h.c.ownedCustomer(ctx, opts, o.CustomerID(), "order")
	}
	return execute(ctx, h.c, opts, t, domain.NewOrder, check, act)
}

// PlaceOrder records OrderPlaced; the customer must exist. The metadata's
// occurredAt is the order's orderedAt.
func (h *Handlers) PlaceOrder(ctx context.Context, opts Options, in PlaceOrder) (Result, error) {
	id, err := h.c.newAggregateID("order", in.ID, opts)
	if err != nil {
		return Result{}, err
	}
	p := in.PlaceOrder
	t := target{id: id, stream: domain.OrderStream(id), what: "order", create: true}
	return execute(ctx, h.c, opts, t, domain.NewOrder, nil, func(o *domain.Order, at time.Time) error {
		exists := o.Exists()
		err := o.Place(id, p, at)
		if exists || p.CustomerID == uuid.Nil {
			return err
		}
		return withCustomerCheck(err, h.c.referencedCustomer(ctx, opts, "customerId", p.CustomerID))
	})
}

// ShipOrder records OrderShipped.
func (h *Handlers) ShipOrder(ctx context.Context, opts Options, id uuid.UUID, s domain.Shipment) (Result, error) {
	return h.order(ctx, opts, id, func(o *domain.Order, at time.Time) error { return o.Ship(s, at) })
}

// DeliverOrder records OrderDelivered (deliveredAt zero = now).
func (h *Handlers) DeliverOrder(ctx context.Context, opts Options, id uuid.UUID, deliveredAt time.Time) (Result, error) {
	return h.order(ctx, opts, id, func(o *domain.Order, at time.Time) error { return o.Deliver(deliveredAt, at) })
}

// RecordPayment records PaymentReceived.
func (h *Handlers) RecordPayment(ctx context.Context, opts Options, id uuid.UUID, p domain.Payment) (Result, error) {
	return h.order(ctx, opts, id, func(o *domain.Order, at time.Time) error { return o.RecordPayment(p, at) })
}

// CancelOrder records OrderCancelled.
func (h *Handlers) CancelOrder(ctx context.Context, opts Options, id uuid.UUID, reason string) (Result, error) {
	return h.order(ctx, opts, id, func(o *domain.Order, at time.Time) error { return o.Cancel(reason, at) })
}

// ReturnOrder records OrderReturned.
func (h *Handlers) ReturnOrder(ctx context.Context, opts Options, id uuid.UUID, r domain.ReturnOrder) (Result, error) {
	return h.order(ctx, opts, id, func(o *domain.Order, at time.Time) error { return o.Return(r, at) })
}
