package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/crm-es/crm/domain"
)

// WarnChurn is RaiseChurnWarning for the churn-risk process: it records
// ChurnWarningRaised only while the customer is active, deciding on the
// customer's stream itself (not on a possibly lagging read model), so a
// customer already at risk, or lost, is never warned again; it then records
// nothing and answers Changed false (a lost customer is not a conflict
// here). With opts.IdempotencyKey (e.g. "churn-warning:<id>:<day>") a
// retry, a restart or a concurrent process with the same key records
// nothing more and answers the first result with Replayed true.
func (h *Handlers) WarnChurn(ctx context.Context, opts Options, id uuid.UUID, w domain.ChurnWarning) (Result, error) {
	return h.customer(ctx, opts, id, func(c *domain.Customer, at time.Time) error {
		if c.Exists() && c.Status() != domain.CustomerStatusActive {
			return nil
		}
		return c.RaiseChurnWarning(w, at)
	})
}

// ClearChurn is ClearChurnWarning for the churn-risk process, when the risk
// is gone: it records ChurnWarningCleared only while the customer is at
// risk, deciding on the customer's stream itself (not on a possibly lagging
// read model), so an active customer (already cleared, reactivated) or a
// lost one (only a user reactivates it) records nothing and answers Changed
// false, without error. With opts.IdempotencyKey (e.g.
// "churn-clear:<id>:<day>") a retry, a restart or a concurrent process with
// the same key records nothing more and answers the first result with
// Replayed true.
func (h *Handlers) ClearChurn(ctx context.Context, opts Options, id uuid.UUID, reason string) (Result, error) {
	return h.customer(ctx, opts, id, func(c *domain.Customer, at time.Time) error {
		if c.Exists() && c.Status() != domain.CustomerStatusAtRisk {
			return nil
		}
		return c.ClearChurnWarning(reason, at)
	})
}
