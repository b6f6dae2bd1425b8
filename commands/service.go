package commands

import (
	"context"
	"time"

	"github.com/crm-es/crm/domain"
	"github.com/google/uuid"
)

// OpenServiceRequest is the input of "open service request".
type OpenServiceRequest struct {
	// ID is the client's choice of the service request id (optional).
	ID string
	domain.OpenServiceRequest
}

func (h *Handlers) serviceRequest(ctx context.Context, opts Options, id uuid.UUID, act func(*domain.ServiceRequest, time.Time) error) (Result, error) {
	t := target{id: id, stream: domain.ServiceStream(id), what: "service request"}
	check := func(ctx context.Context, s *domain.ServiceRequest) error {
		if !s.Exists() {
			return nil
		}
		return h.c.ownedCustomer(ctx, opts, s.CustomerID(), "service request")
	}
	return execute(ctx, h.c, opts, t, domain.NewServiceRequest, check, act)
}

// OpenServiceRequest records ServiceRequestOpened; the customer must exist.
func (h *Handlers) OpenServiceRequest(ctx context.Context, opts Options, in OpenServiceRequest) (Result, error) {
	id, err := h.c.newAggregateID("service", in.ID, opts)
	if err != nil {
		return Result{}, err
	}
	p := in.OpenServiceRequest
	p.CreatedBy = opts.Actor.UserID
	t := target{id: id, stream: domain.ServiceStream(id), what: "service request", create: true}
	return execute(ctx, h.c, opts, t, domain.NewServiceRequest, nil, func(s *domain.ServiceRequest, at time.Time) error {
		exists := s.Exists()
		err := s.Open(id, p, at)
		if exists || p.CustomerID == uuid.Nil {
			return err
		}
		return withCustomerCheck(err, h.c.referencedCustomer(ctx, opts, "customerId", p.CustomerID))
	})
}

// AssignServiceRequest records ServiceRequestAssigned.
func (h *Handlers) AssignServiceRequest(ctx context.Context, opts Options, id uuid.UUID, assigneeID string) (Result, error) {
	return h.serviceRequest(ctx, opts, id, func(s *domain.ServiceRequest, at time.Time) error { return s.Assign(assigneeID, at) })
}

// HandleServiceRequest records ServiceRequestHandled.
func (h *Handlers) HandleServiceRequest(ctx context.Context, opts Options, id uuid.UUID, handling string) (Result, error) {
	return h.serviceRequest(ctx, opts, id, func(s *domain.ServiceRequest, at time.Time) error { return s.Handle(handling, at) })
}

// RecordServiceFeedback records ServiceFeedbackRecorded and then
// ServiceRequestArchived or ServiceRequestReopened.
func (h *Handlers) RecordServiceFeedback(ctx context.Context, opts Options, id uuid.UUID, f domain.Feedback) (Result, error) {
	return h.serviceRequest(ctx, opts, id, func(s *domain.ServiceRequest, at time.Time) error { return s.RecordFeedback(f, at) })
}
