package readmodels

import (
	"context"
	"time"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/projections"
)

// Service maintains the service queue (a document per service request and
// its list indexes) and the service report per year.
//
// Keys (relative):
//
//	request:<id>              ServiceRequest document (JSON)
//	all                       sorted set of ids, score = openedAt Unix ms
//	status:<status>           sorted set of ids in that state, score = openedAt Unix ms
//	status:open               sorted set of the ids not archived (the open queue), score = openedAt Unix ms
//	type:<type>               sorted set of ids of that type, score = openedAt Unix ms
//	assignee:<assigneeId>     sorted set of the assignee's ids, score = openedAt Unix ms
//	customer:<customerId>     sorted set of the customer's ids, score = openedAt Unix ms
//	report:<year>             ServiceReport of the requests opened that year (JSON)
//	years                     set of the years that have a report
type Service struct{ cache *docCache }

// Service key helpers (relative keys of the service projection).
func ServiceRequestKey(id string) string          { return "request:" + id }
func ServiceStatusKey(status string) string       { return "status:" + status }
func ServiceTypeKey(typ string) string            { return "type:" + typ }
func ServiceAssigneeKey(assignee string) string   { return "assignee:" + assignee }
func ServiceCustomerKey(customerID string) string { return "customer:" + customerID }
func ServiceReportKey(year string) string         { return "report:" + year }

// Fixed keys of the service projection.
const (
	ServiceAllKey   = "all"
	ServiceYearsKey = "years"
)

// ServiceRequest is the service request document.
type ServiceRequest struct {
	ID           string            `json:"id"`
	Stream       string            `json:"stream"`
	Revision     uint64            `json:"revision"`
	Position     uint64            `json:"position,string"`
	CustomerID   string            `json:"customerId"`
	Type         string            `json:"type"`
	Channel      string            `json:"channel,omitempty"`
	Title        string            `json:"title"`
	Request      string            `json:"request"`
	CreatedBy    string            `json:"createdBy,omitempty"`
	OpenedAt     time.Time         `json:"openedAt"`
	Status       string            `json:"status"`
	AssigneeID   string            `json:"assigneeId,omitempty"`
	AssignedAt   *time.Time        `json:"assignedAt,omitempty"`
	Handling     string            `json:"handling,omitempty"`
	HandledBy    string            `json:"handledBy,omitempty"`
	HandledAt    *time.Time        `json:"handledAt,omitempty"`
	Feedback     []ServiceFeedback `json:"feedback"`
	Satisfaction int               `json:"satisfaction,omitempty"` // of the last feedback
	Reopened     int               `json:"reopened"`
	ArchivedAt   *time.Time        `json:"archivedAt,omitempty"`
}

// ServiceFeedback is one feedback on a handling.
type ServiceFeedback struct {
	Result       string    `json:"result"`
	Satisfaction int       `json:"satisfaction"`
	RecordedAt   time.Time `json:"recordedAt"`
}

// ServiceReport counts the service requests opened in one year: per type,
// per current state, and their feedback (AvgSatisfaction over every
// feedback recorded on them).
type ServiceReport struct {
	Year            string         `json:"year"`
	Total           int            `json:"total"`
	ByType          map[string]int `json:"byType"`
	ByStatus        map[string]int `json:"byStatus"`
	ByChannel       map[string]int `json:"byChannel"`
	Feedbacks       int            `json:"feedbacks"`
	SatisfactionSum int            `json:"satisfactionSum"`
	AvgSatisfaction float64        `json:"avgSatisfaction"`
	Reopened        int            `json:"reopened"`
}

// Name returns "service".
func (Service) Name() string { return "service" }

// Version returns 2 (2: the open queue, status:open).
func (Service) Version() int { return 2 }

// ServiceOpen is the pseudo-status of the open queue: every request not
// archived (created, assigned or handled and awaiting its feedback).
const ServiceOpen = "open"

var serviceHandles = typeSet(serviceTypes...)

// Handles reports the service request events.
func (Service) Handles(t string) bool { return serviceHandles[t] }

func (s *ServiceRequest) unindex(tx projections.Tx) {
	tx.ZRem(ServiceStatusKey(s.Status), s.ID)
	if s.AssigneeID != "" {
		tx.ZRem(ServiceAssigneeKey(s.AssigneeID), s.ID)
	}
}

func (s *ServiceRequest) index(tx projections.Tx) {
	sc := ms(s.OpenedAt)
	tx.ZAdd(ServiceAllKey, sc, s.ID)
	tx.ZAdd(ServiceStatusKey(s.Status), sc, s.ID)
	// The open queue (index follows unindex, which leaves it alone).
	if s.Status == string(domain.ServiceStatusArchived) {
		tx.ZRem(ServiceStatusKey(ServiceOpen), s.ID)
	} else {
		tx.ZAdd(ServiceStatusKey(ServiceOpen), sc, s.ID)
	}
	tx.ZAdd(ServiceTypeKey(s.Type), sc, s.ID)
	tx.ZAdd(ServiceCustomerKey(s.CustomerID), sc, s.ID)
	if s.AssigneeID != "" {
		tx.ZAdd(ServiceAssigneeKey(s.AssigneeID), sc, s.ID)
	}
}

// Handle applies one event.
func (p Service) Handle(ctx context.Context, tx projections.Tx, e projections.Event) error {
	d := data(e)
	id := streamID(e)
	if id == "" {
		return unexpected(p.Name(), e)
	}
	s := &ServiceRequest{}
	found, err := getDoc(ctx, tx, p.cache, ServiceRequestKey(id), s)
	if err != nil {
		return err
	}
	if found && e.Revision <= s.Revision {
		return nil
	}
	if _, opened := d.(domain.ServiceRequestOpened); !found && !opened {
		return permanent("%s: %s at %s/%d before ServiceRequestOpened", p.Name(), e.Type, e.Stream, e.Revision)
	}
	var rep ServiceReport
	var yr string
	if found {
		yr = year(s.OpenedAt)
		if _, err := getDoc(ctx, tx, p.cache, ServiceReportKey(yr), &rep); err != nil {
			return err
		}
		rep.ByStatus = countAdd(rep.ByStatus, s.Status, -1)
		s.unindex(tx)
	}
	switch d := d.(type) {
	case domain.ServiceRequestOpened:
		*s = ServiceRequest{
			ID: id, Stream: e.Stream, CustomerID: d.CustomerID.String(), Type: d.Type, Channel: d.Channel,
			Title: d.Title, Request: d.Request, CreatedBy: d.CreatedBy, OpenedAt: d.OpenedAt.UTC(),
			Status: string(domain.ServiceStatusCreated), Feedback: []ServiceFeedback{},
		}
		yr = year(s.OpenedAt)
		if _, err := getDoc(ctx, tx, p.cache, ServiceReportKey(yr), &rep); err != nil {
			return err
		}
		rep.Year = yr
		rep.Total++
		rep.ByType = countAdd(rep.ByType, s.Type, 1)
		if s.Channel != "" {
			rep.ByChannel = countAdd(rep.ByChannel, s.Channel, 1)
		}
		tx.SAdd(ServiceYearsKey, yr)
	case domain.ServiceRequestAssigned:
		s.AssigneeID, s.AssignedAt = d.AssigneeID, tptr(d.AssignedAt)
		s.Status = string(domain.ServiceStatusAssigned)
	case domain.ServiceRequestHandled:
		s.Handling, s.HandledBy, s.HandledAt = d.Handling, d.HandledBy, tptr(d.HandledAt)
		s.Status = string(domain.ServiceStatusHandled)
	case domain.ServiceFeedbackRecorded:
		s.Feedback = append(s.Feedback, ServiceFeedback{Result: d.Result, Satisfaction: d.Satisfaction, RecordedAt: d.RecordedAt.UTC()})
		s.Satisfaction = d.Satisfaction
		rep.Feedbacks++
		rep.SatisfactionSum += d.Satisfaction
	case domain.ServiceRequestArchived:
		s.Status = string(domain.ServiceStatusArchived)
		s.ArchivedAt = tptr(d.ArchivedAt)
	case domain.ServiceRequestReopened:
		s.Status = string(domain.ServiceStatusAssigned)
		if d.AssigneeID != "" {
			s.AssigneeID = d.AssigneeID
		}
		s.Reopened++
		rep.Reopened++
	default:
		return unexpected(p.Name(), e)
	}
	s.Revision, s.Position = e.Revision, e.Position
	rep.ByStatus = countAdd(rep.ByStatus, s.Status, 1)
	rep.AvgSatisfaction = 0
	if rep.Feedbacks > 0 {
		rep.AvgSatisfaction = float64(rep.SatisfactionSum) / float64(rep.Feedbacks)
	}
	s.index(tx)
	nonNil(&rep.ByType, &rep.ByStatus, &rep.ByChannel)
	if err := setDoc(tx, p.cache, ServiceReportKey(yr), &rep); err != nil {
		return err
	}
	return setDoc(tx, p.cache, ServiceRequestKey(id), s)
}
