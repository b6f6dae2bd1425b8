package domain

import (
	"strings"
	"testing"

	"github.com/google/uuid"
)

func srOpened() ServiceRequestOpened {
	return ServiceRequestOpened{ServiceRequestID: srID, CustomerID: custID, Type: ServiceComplaint, Channel: ChannelCall,
		Title: "Late delivery", Request: "Order 536365 arrived two weeks late", CreatedBy: "agent-0", OpenedAt: t0}
}

func srAssigned(prev, to string) ServiceRequestAssigned {
	return ServiceRequestAssigned{ServiceRequestID: srID, CustomerID: custID, PreviousAssigneeID: prev, AssigneeID: to, AssignedAt: t0}
}

func srHandled() ServiceRequestHandled {
	return ServiceRequestHandled{ServiceRequestID: srID, CustomerID: custID, Handling: "apologised, voucher sent", HandledBy: "agent-1", HandledAt: t1}
}

type ss = scenario[*ServiceRequest]

func TestServiceRequest(t *testing.T) {
	opened := []Event{srOpened()}
	assigned := []Event{srOpened(), srAssigned("", "agent-1")}
	handled := plus(assigned, srHandled())
	archived := plus(handled, ServiceFeedbackRecorded{ServiceRequestID: srID, CustomerID: custID, Result: "ok", Satisfaction: 4, RecordedAt: t2},
		ServiceRequestArchived{ServiceRequestID: srID, CustomerID: custID, Satisfaction: 4, ArchivedAt: t2})
	reopened := plus(handled, ServiceFeedbackRecorded{ServiceRequestID: srID, CustomerID: custID, Result: "still angry", Satisfaction: 2, RecordedAt: t2},
		ServiceRequestReopened{ServiceRequestID: srID, CustomerID: custID, AssigneeID: "agent-1", Satisfaction: 2, ReopenedAt: t2})
	handle := func(o *ServiceRequest) error { return o.Handle("apologised, voucher sent", t1) }
	feedback := func(sat int) func(o *ServiceRequest) error {
		return func(o *ServiceRequest) error {
			return o.RecordFeedback(Feedback{Result: " fine ", Satisfaction: sat}, t2)
		}
	}
	run(t, NewServiceRequest, []ss{
		{name: "open", when: func(s *ServiceRequest) error {
			return s.Open(srID, OpenServiceRequest{CustomerID: custID, Type: "complaint", Channel: "call", Title: " Late delivery",
				Request: "Order 536365 arrived two weeks late", CreatedBy: "agent-0"}, t0)
		}, then: []Event{srOpened()}},
		{name: "open without channel", when: func(s *ServiceRequest) error {
			return s.Open(srID, OpenServiceRequest{CustomerID: custID, Type: "consultation", Title: "t", Request: "r"}, t0)
		}, then: []Event{ServiceRequestOpened{ServiceRequestID: srID, CustomerID: custID, Type: "consultation", Title: "t", Request: "r", OpenedAt: t0}}},
		{name: "open invalid", when: func(s *ServiceRequest) error {
			return s.Open(uuid.Nil, OpenServiceRequest{Channel: "telepathy", Title: strings.Repeat("t", MaxShortText+1)}, t0)
		}, kind: KindInvalid, fields: []string{"id", "customerId", "type", "title", "request", "channel"}},
		{name: "open unknown type", when: func(s *ServiceRequest) error {
			return s.Open(srID, OpenServiceRequest{CustomerID: custID, Type: "praise", Title: "t", Request: "r"}, t0)
		}, kind: KindInvalid, fields: []string{"type"}},
		{name: "open twice", given: opened, when: func(s *ServiceRequest) error {
			return s.Open(srID, OpenServiceRequest{CustomerID: custID, Type: "complaint", Title: "t", Request: "r"}, t0)
		}, kind: KindConflict},

		{name: "assign: created → assigned", given: opened, when: func(s *ServiceRequest) error { return s.Assign("agent-1", t0) },
			then: []Event{srAssigned("", "agent-1")}},
		{name: "reassign", given: assigned, when: func(s *ServiceRequest) error { return s.Assign("agent-2", t0) },
			then: []Event{srAssigned("agent-1", "agent-2")}},
		{name: "reassign after reopening", given: reopened, when: func(s *ServiceRequest) error { return s.Assign("agent-2", t0) },
			then: []Event{srAssigned("agent-1", "agent-2")}},
		{name: "assign same: no-op", given: assigned, when: func(s *ServiceRequest) error { return s.Assign("agent-1", t0) }, noop: true},
		{name: "assign needs an assignee", given: opened, when: func(s *ServiceRequest) error { return s.Assign(" ", t0) },
			kind: KindInvalid, fields: []string{"assigneeId"}},
		{name: "assign handled", given: handled, when: func(s *ServiceRequest) error { return s.Assign("agent-2", t0) }, kind: KindConflict},
		{name: "assign archived", given: archived, when: func(s *ServiceRequest) error { return s.Assign("agent-2", t0) }, kind: KindConflict},

		{name: "handle", given: assigned, when: handle, then: []Event{srHandled()}},
		{name: "handle after reopening", given: reopened, when: handle, then: []Event{srHandled()}},
		{name: "handle a never-assigned request", given: opened, when: handle, kind: KindConflict},
		{name: "handle needs the handling", given: assigned, when: func(s *ServiceRequest) error { return s.Handle("", t1) },
			kind: KindInvalid, fields: []string{"handling"}},
		{name: "handle twice", given: handled, when: handle, kind: KindConflict},
		{name: "handle archived", given: archived, when: handle, kind: KindConflict},

		{name: "feedback 3 archives", given: handled, when: feedback(3), then: []Event{
			ServiceFeedbackRecorded{ServiceRequestID: srID, CustomerID: custID, Result: "fine", Satisfaction: 3, RecordedAt: t2},
			ServiceRequestArchived{ServiceRequestID: srID, CustomerID: custID, Satisfaction: 3, ArchivedAt: t2}}},
		{name: "feedback 5 archives", given: handled, when: feedback(5), then: []Event{
			ServiceFeedbackRecorded{ServiceRequestID: srID, CustomerID: custID, Result: "fine", Satisfaction: 5, RecordedAt: t2},
			ServiceRequestArchived{ServiceRequestID: srID, CustomerID: custID, Satisfaction: 5, ArchivedAt: t2}}},
		{name: "feedback 2 sends it back to assigned", given: handled, when: feedback(2), then: []Event{
			ServiceFeedbackRecorded{ServiceRequestID: srID, CustomerID: custID, Result: "fine", Satisfaction: 2, RecordedAt: t2},
			ServiceRequestReopened{ServiceRequestID: srID, CustomerID: custID, AssigneeID: "agent-1", Satisfaction: 2, ReopenedAt: t2}}},
		{name: "feedback 1 sends it back to assigned", given: handled, when: feedback(1), then: []Event{
			ServiceFeedbackRecorded{ServiceRequestID: srID, CustomerID: custID, Result: "fine", Satisfaction: 1, RecordedAt: t2},
			ServiceRequestReopened{ServiceRequestID: srID, CustomerID: custID, AssigneeID: "agent-1", Satisfaction: 1, ReopenedAt: t2}}},
		{name: "feedback invalid", given: handled, when: func(s *ServiceRequest) error { return s.RecordFeedback(Feedback{Satisfaction: 0}, t2) },
			kind: KindInvalid, fields: []string{"result", "satisfaction"}},
		{name: "feedback 6", given: handled, when: feedback(6), kind: KindInvalid, fields: []string{"satisfaction"}},
		{name: "feedback before handling", given: assigned, when: feedback(4), kind: KindConflict},
		{name: "feedback on created", given: opened, when: feedback(4), kind: KindConflict},
		{name: "feedback on archived", given: archived, when: feedback(4), kind: KindConflict},
		{name: "feedback on reopened (not yet handled again)", given: reopened, when: feedback(4), kind: KindConflict},

		{name: "assign nonexistent", when: func(s *ServiceRequest) error { return s.Assign("a", t0) }, kind: KindNotFound},
		{name: "handle nonexistent", when: handle, kind: KindNotFound},
		{name: "feedback nonexistent", when: feedback(3), kind: KindNotFound},
	})
}

func TestServiceRequestState(t *testing.T) {
	s := NewServiceRequest()
	if s.Exists() || s.Status() != "" {
		t.Fatal("a new service request must be empty")
	}
	steps := []struct {
		e    Event
		want ServiceStatus
	}{
		{srOpened(), ServiceStatusCreated},
		{srAssigned("", "agent-1"), ServiceStatusAssigned},
		{srHandled(), ServiceStatusHandled},
		{ServiceFeedbackRecorded{Satisfaction: 2}, ServiceStatusHandled},
		{&ServiceRequestReopened{AssigneeID: "agent-1", Satisfaction: 2}, ServiceStatusAssigned},
		{srAssigned("agent-1", "agent-2"), ServiceStatusAssigned},
		{srHandled(), ServiceStatusHandled},
		{ServiceFeedbackRecorded{Satisfaction: 4}, ServiceStatusHandled},
		{ServiceRequestArchived{Satisfaction: 4}, ServiceStatusArchived},
	}
	for i, st := range steps {
		s.Apply(st.e)
		if s.Status() != st.want {
			t.Fatalf("after step %d (%s): status %q, want %q", i, st.e.EventType(), s.Status(), st.want)
		}
	}
	if !s.Exists() || s.ID() != srID || s.CustomerID() != custID || s.Type() != ServiceComplaint || s.Title() != "Late delivery" ||
		s.CreatedBy() != "agent-0" || s.AssigneeID() != "agent-2" || s.Handling() != "apologised, voucher sent" || s.Satisfaction() != 4 || s.Reopened() != 1 {
		t.Errorf("unexpected state %+v", s)
	}
	s.ClearChanges()
}
