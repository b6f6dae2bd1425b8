package importer

import (
	"context"
	"fmt"

	"github.com/crm-es/crm/domain"
)

// toDomain converts an exact importer Decimal to a domain.Decimal, keeping
// at least two fraction digits ("2.55", "0.001", "3.00").
func (d Decimal) toDomain() domain.Decimal {
	coef, scale := int64(d), maxFraction
	for scale > 2 && coef%10 == 0 {
		coef /= 10
		scale--
	}
	return domain.NewDecimal(coef, scale)
}

// action records one planned action with the order aggregate and queues its
// events.
func (cw *custWriter) action(ctx context.Context, a Action) error {
	switch a.Kind {
	case ActPlace:
		o := domain.NewOrder()
		lines := make([]domain.OrderLine, len(a.Invoice.Lines))
		for i, l := range a.Invoice.Lines {
			lines[i] = domain.OrderLine{
				SKU:         l.SKU,
				Description: l.Description,
				Quantity:    domain.DecimalFromInt(l.Quantity),
				UnitPrice:   l.UnitPrice.toDomain(),
			}
		}
		if err := o.Place(OrderUUID(a.Invoice.No), domain.PlaceOrder{
			CustomerID: cw.c.ID,
			OrderNo:    a.Invoice.No,
			OrderedAt:  a.Invoice.Time,
			Currency:   Currency,
			Lines:      lines,
		}, a.Invoice.Time); err != nil {
			return fmt.Errorf("invoice %s (line %d): place order: %w", a.Invoice.No, a.Invoice.FirstLine, err)
		}
		cw.orders[a.Invoice.No] = o
		return cw.record(ctx, o, invoiceKey(a.Invoice.No), a)

	case ActCancel:
		o := cw.orders[a.Order.No]
		if o == nil {
			return fmt.Errorf("invoice %s: order %s was not placed", a.Invoice.No, a.Order.No)
		}
		if err := o.Cancel("cancellation invoice "+a.Invoice.No, a.Invoice.Time); err != nil {
			return fmt.Errorf("invoice %s (line %d): cancel order %s: %w", a.Invoice.No, a.Invoice.FirstLine, a.Order.No, err)
		}
		return cw.record(ctx, o, invoiceKey(a.Invoice.No), a)

	case ActReturn:
		o := cw.orders[a.Order.No]
		if o == nil {
			return fmt.Errorf("invoice %s: order %s was not placed", a.Invoice.No, a.Order.No)
		}
		ret := domain.ReturnOrder{Reason: "cancellation invoice " + a.Invoice.No}
		if len(a.Lines) > 0 {
			ret.Lines = make([]domain.ReturnLine, len(a.Lines))
			for i, l := range a.Lines {
				ret.Lines[i] = domain.ReturnLine{SKU: l.SKU, Quantity: domain.DecimalFromInt(l.Quantity)}
			}
		} else {
			amount := a.Amount.toDomain()
			ret.Amount = &amount
			ret.Reason += ": refund of goods bought before this order"
		}
		if err := o.Return(ret, a.Invoice.Time); err != nil {
			return fmt.Errorf("invoice %s (line %d): return on order %s: %w", a.Invoice.No, a.Invoice.FirstLine, a.Order.No, err)
		}
		key := returnKey(a.Invoice.No, a.Order.No)
		if len(a.Lines) == 0 {
			key += ":refund" // the same cancellation may also return lines of this order
		}
		return cw.record(ctx, o, key, a)
	}
	return fmt.Errorf("invoice %s: unknown action %d", a.Invoice.No, a.Kind)
}

// record queues the order's new events.
func (cw *custWriter) record(ctx context.Context, o *domain.Order, key string, a Action) error {
	evs := o.Changes()
	o.ClearChanges()
	return cw.add(ctx, domain.OrderStream(o.ID()), key, a.Invoice.Time, evs)
}
