package domain

import (
	"slices"
	"time"

	"github.com/google/uuid"
)

// ServiceStatus is a service request's state.
type ServiceStatus string

// Service request states (DESIGN §8): created → assigned → handled →
// archived, or back to assigned after unsatisfying feedback.
const (
	ServiceStatusCreated  ServiceStatus = "created"
	ServiceStatusAssigned ServiceStatus = "assigned"
	ServiceStatusHandled  ServiceStatus = "handled"
	ServiceStatusArchived ServiceStatus = "archived"
)

// Service request types.
const (
	ServiceConsultation = "consultation"
	ServiceSuggestion   = "suggestion"
	ServiceComplaint    = "complaint"
)

// ServiceTypes lists the valid service request types.
var ServiceTypes = []string{ServiceConsultation, ServiceSuggestion, ServiceComplaint}

// ArchiveSatisfaction is the lowest feedback satisfaction that archives a
// handled request; lower sends it back to its assignee.
const ArchiveSatisfaction = 3

// OpenServiceRequest holds the fields of "open service request": customerId,
// type, title and request are required; channel, when given, is one of
// Channels. The command layer checks that the customer exists.
type OpenServiceRequest struct {
	CustomerID uuid.UUID `json:"customerId"`
	Type       string    `json:"type"`
	Title      string    `json:"title"`
	Request    string    `json:"request"`
	Channel    string    `json:"channel,omitempty"`
	// CreatedBy is the actor's user id (set by the command layer).
	CreatedBy string `json:"-"`
}

// Feedback holds the fields of "feedback": result and satisfaction (1–5).
type Feedback struct {
	Result       string `json:"result"`
	Satisfaction int    `json:"satisfaction"`
}

// ServiceRequest is the service request aggregate (stream service-<id>).
type ServiceRequest struct {
	changes []Event

	exists       bool
	id           uuid.UUID
	customerID   uuid.UUID
	typ          string
	channel      string
	title        string
	request      string
	createdBy    string
	assigneeID   string
	handling     string
	status       ServiceStatus
	satisfaction int
	rounds       int
}

// NewServiceRequest returns an empty service request, before its first event.
func NewServiceRequest() *ServiceRequest { return &ServiceRequest{} }

// Changes returns the events recorded since load, in order.
func (s *ServiceRequest) Changes() []Event { return slices.Clone(s.changes) }

// ClearChanges forgets the recorded events.
func (s *ServiceRequest) ClearChanges() { s.changes = nil }

func (s *ServiceRequest) record(e Event) {
	s.Apply(e)
	s.changes = append(s.changes, e)
}

// Exists reports whether the request has been opened.
func (s *ServiceRequest) Exists() bool { return s.exists }

// ID returns the service request id.
func (s *ServiceRequest) ID() uuid.UUID { return s.id }

// CustomerID returns the customer the request is from.
func (s *ServiceRequest) CustomerID() uuid.UUID { return s.customerID }

// Status returns created, assigned, handled or archived.
func (s *ServiceRequest) Status() ServiceStatus { return s.status }

// Type returns consultation, suggestion or complaint.
func (s *ServiceRequest) Type() string { return s.typ }

// Title returns the title.
func (s *ServiceRequest) Title() string { return s.title }

// Channel returns the channel the request came in by ("" when not given).
func (s *ServiceRequest) Channel() string { return s.channel }

// Request returns the request text.
func (s *ServiceRequest) Request() string { return s.request }

// CreatedBy returns the creator's user id.
func (s *ServiceRequest) CreatedBy() string { return s.createdBy }

// AssigneeID returns the assigned agent ("" before assignment).
func (s *ServiceRequest) AssigneeID() string { return s.assigneeID }

// Handling returns the last handling text.
func (s *ServiceRequest) Handling() string { return s.handling }

// Satisfaction returns the last feedback's satisfaction (0 before any).
func (s *ServiceRequest) Satisfaction() int { return s.satisfaction }

// Reopened returns how many times the request was sent back after feedback.
func (s *ServiceRequest) Reopened() int { return s.rounds }

// Apply changes the state by one event of a service stream; it never
// fails. Events of other aggregates are ignored.
func (s *ServiceRequest) Apply(e Event) {
	switch e := deref(e).(type) {
	case ServiceRequestOpened:
		s.exists = true
		s.id = e.ServiceRequestID
		s.customerID = e.CustomerID
		s.typ = e.Type
		s.channel = e.Channel
		s.title = e.Title
		s.request = e.Request
		s.createdBy = e.CreatedBy
		s.status = ServiceStatusCreated
	case ServiceRequestAssigned:
		s.assigneeID = e.AssigneeID
		if s.status == ServiceStatusCreated {
			s.status = ServiceStatusAssigned
		}
	case ServiceRequestHandled:
		s.handling = e.Handling
		s.status = ServiceStatusHandled
	case ServiceFeedbackRecorded:
		s.satisfaction = e.Satisfaction
	case ServiceRequestArchived:
		s.status = ServiceStatusArchived
	case ServiceRequestReopened:
		s.status = ServiceStatusAssigned
		s.rounds++
	}
}

func (s *ServiceRequest) mustExist() error {
	if !s.exists {
		return notCreated("service request")
	}
	return nil
}

// Open records ServiceRequestOpened (state created).
func (s *ServiceRequest) Open(id uuid.UUID, p OpenServiceRequest, at time.Time) error {
	if s.exists {
		return alreadyCreated("service request")
	}
	var fe fieldErrors
	if id == uuid.Nil {
		fe.add("id", "is required")
	}
	if p.CustomerID == uuid.Nil {
		fe.add("customerId", "is required")
	}
	p.Type = trim(p.Type)
	fe.oneOf("type", p.Type, ServiceTypes)
	p.Title = trim(p.Title)
	fe.required("title", p.Title, MaxShortText)
	p.Request = trim(p.Request)
	fe.required("request", p.Request, MaxLongText)
	p.Channel = trim(p.Channel)
	if p.Channel != "" {
		fe.oneOf("channel", p.Channel, Channels)
	}
	if err := fe.err(); err != nil {
		return err
	}
	s.record(ServiceRequestOpened{ServiceRequestID: id, CustomerID: p.CustomerID, Type: p.Type, Channel: p.Channel,
		Title: p.Title, Request: p.Request, CreatedBy: trim(p.CreatedBy), OpenedAt: utc(at)})
	return nil
}

// Assign records ServiceRequestAssigned (field "assigneeId", required):
// created → assigned, or a reassignment while assigned. The same assignee
// records nothing; a handled or archived request is KindConflict.
func (s *ServiceRequest) Assign(assigneeID string, at time.Time) error {
	if err := s.mustExist(); err != nil {
		return err
	}
	assigneeID = trim(assigneeID)
	var fe fieldErrors
	fe.required("assigneeId", assigneeID, MaxShortText)
	if err := fe.err(); err != nil {
		return err
	}
	switch s.status {
	case ServiceStatusHandled:
		return conflict("service request is handled and waits for feedback; it cannot be reassigned")
	case ServiceStatusArchived:
		return conflict("service request is archived")
	}
	if assigneeID == s.assigneeID {
		return nil
	}
	s.record(ServiceRequestAssigned{ServiceRequestID: s.id, CustomerID: s.customerID, PreviousAssigneeID: s.assigneeID,
		AssigneeID: assigneeID, AssignedAt: utc(at)})
	return nil
}

// Handle records ServiceRequestHandled (field "handling", required):
// assigned → handled. HandledBy is the assignee. A request that is not
// assigned is KindConflict.
func (s *ServiceRequest) Handle(handling string, at time.Time) error {
	if err := s.mustExist(); err != nil {
		return err
	}
	handling = trim(handling)
	var fe fieldErrors
	fe.required("handling", handling, MaxLongText)
	if err := fe.err(); err != nil {
		return err
	}
	switch s.status {
	case ServiceStatusCreated:
		return conflict("service request must be assigned before it is handled")
	case ServiceStatusHandled:
		return conflict("service request is already handled and waits for feedback")
	case ServiceStatusArchived:
		return conflict("service request is archived")
	}
	s.record(ServiceRequestHandled{ServiceRequestID: s.id, CustomerID: s.customerID, Handling: handling,
		HandledBy: s.assigneeID, HandledAt: utc(at)})
	return nil
}

// RecordFeedback records ServiceFeedbackRecorded (fields "result" and
// "satisfaction" 1–5, required) on a handled request, followed by
// ServiceRequestArchived when satisfaction ≥ ArchiveSatisfaction, or by
// ServiceRequestReopened (back to assigned, same assignee) otherwise.
func (s *ServiceRequest) RecordFeedback(p Feedback, at time.Time) error {
	if err := s.mustExist(); err != nil {
		return err
	}
	p.Result = trim(p.Result)
	var fe fieldErrors
	fe.required("result", p.Result, MaxLongText)
	fe.rng("satisfaction", p.Satisfaction, 1, 5)
	if err := fe.err(); err != nil {
		return err
	}
	if s.status != ServiceStatusHandled {
		return conflict("service request is %s; feedback is recorded only after it is handled", s.status)
	}
	at = utc(at)
	s.record(ServiceFeedbackRecorded{ServiceRequestID: s.id, CustomerID: s.customerID, Result: p.Result,
		Satisfaction: p.Satisfaction, RecordedAt: at})
	if p.Satisfaction >= ArchiveSatisfaction {
		s.record(ServiceRequestArchived{ServiceRequestID: s.id, CustomerID: s.customerID, Satisfaction: p.Satisfaction, ArchivedAt: at})
	} else {
		s.record(ServiceRequestReopened{ServiceRequestID: s.id, CustomerID: s.customerID, AssigneeID: s.assigneeID,
			Satisfaction: p.Satisfaction, ReopenedAt: at})
	}
	return nil
}
