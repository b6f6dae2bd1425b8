package churn

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/crm-es/crm/domain"
)

var (
	cust = uuid.MustParse("6f1c2f0e-0000-4000-8000-000000000001")
	t0   = time.Date(2011, 1, 3, 10, 0, 0, 0, time.UTC)
)

func dec(s string) domain.Decimal {
	d, err := domain.ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d
}

func oid(n int) uuid.UUID { return uuid.NewSHA1(uuid.NameSpaceOID, []byte{byte(n), byte(n >> 8)}) }

func placed(n int, at time.Time, total string) domain.OrderPlaced {
	return domain.OrderPlaced{OrderID: oid(n), CustomerID: cust, OrderedAt: at, Currency: "GBP", Total: dec(total)}
}

func registered(at time.Time) domain.CustomerRegistered {
	return domain.CustomerRegistered{CustomerID: cust, ExternalRef: "online-retail:1", RegisteredAt: at}
}

type ev struct {
	e  domain.Event
	at time.Time
}

func apply(evs ...ev) Signals {
	var s Signals
	for _, e := range evs {
		s.Apply(e.e, e.at)
	}
	return s
}

func TestSignalsApply(t *testing.T) {
	srID := uuid.MustParse("6f1c2f0e-0000-4000-8000-0000000000aa")
	d := func(n int) time.Time { return t0.AddDate(0, 0, n) }
	tests := []struct {
		name  string
		evs   []ev
		check func(t *testing.T, s Signals)
	}{
		{"registration", []ev{{registered(d(0)), d(0)}}, func(t *testing.T, s Signals) {
			if s.CustomerID != cust.String() || s.ExternalRef != "online-retail:1" || !s.RegisteredAt.Equal(d(0)) || s.Status != domain.CustomerStatusActive {
				t.Errorf("%+v", s)
			}
		}},
		{"orders sorted, net of returns and cancellation", []ev{
			{registered(d(0)), d(0)},
			{placed(2, d(10), "50.00"), d(10)},
			{placed(1, d(0), "100.00"), d(0)}, // late arrival: sorted in
			{domain.OrderReturned{OrderID: oid(2), CustomerID: cust, Amount: dec("20.50")}, d(12)},
			{placed(3, d(20), "70"), d(20)},
			{&domain.OrderCancelled{OrderID: oid(3), CustomerID: cust, Total: dec("70")}, d(21)}, // pointer form
		}, func(t *testing.T, s Signals) {
			if s.OrdersPlaced != 3 || len(s.Orders) != 3 || !s.FirstOrderAt.Equal(d(0)) {
				t.Fatalf("%+v", s)
			}
			if s.Orders[0].ID != oid(1).String() || !s.Orders[1].Net.Equal(dec("29.50")) || !s.Orders[2].Cancelled || !s.Orders[2].Net.IsZero() {
				t.Errorf("orders %+v", s.Orders)
			}
			if got := s.LastOrderAt(); !got.Equal(d(10)) {
				t.Errorf("last order %v, want the last uncancelled one %v", got, d(10))
			}
		}},
		{"return larger than the order nets to zero", []ev{
			{placed(1, d(0), "10"), d(0)},
			{domain.OrderReturned{OrderID: oid(1), CustomerID: cust, Amount: dec("15")}, d(1)},
		}, func(t *testing.T, s Signals) {
			if !s.Orders[0].Net.IsZero() {
				t.Errorf("net %s", s.Orders[0].Net)
			}
		}},
		{"complaints open, archived, reopened; other types ignored", []ev{
			{domain.ServiceRequestOpened{ServiceRequestID: srID, CustomerID: cust, Type: domain.ServiceComplaint, OpenedAt: d(1)}, d(1)},
			{domain.ServiceRequestOpened{ServiceRequestID: oid(9), CustomerID: cust, Type: domain.ServiceConsultation, OpenedAt: d(1)}, d(1)},
			{domain.ServiceRequestArchived{ServiceRequestID: srID, CustomerID: cust, ArchivedAt: d(3)}, d(3)},
			{domain.ServiceRequestReopened{ServiceRequestID: srID, CustomerID: cust, ReopenedAt: d(4)}, d(4)},
		}, func(t *testing.T, s Signals) {
			if len(s.Complaints) != 1 || !s.Complaints[0].Open || !s.Complaints[0].ClosedAt.IsZero() {
				t.Errorf("%+v", s.Complaints)
			}
		}},
		{"feedback, rating, interactions, lost opportunities, status", []ev{
			{domain.ServiceFeedbackRecorded{CustomerID: cust, Satisfaction: 2, RecordedAt: d(5)}, d(5)},
			{domain.CustomerSatisfactionRated{CustomerID: cust, To: 4}, d(5)},
			{domain.InteractionLogged{CustomerID: cust, OccurredAt: d(7)}, d(8)},
			{domain.InteractionLogged{CustomerID: cust, OccurredAt: d(6)}, d(9)},
			{domain.OpportunityLost{CustomerID: &cust, LostAt: d(9)}, d(9)},
			{domain.OpportunityLost{LostAt: d(9)}, d(9)}, // a prospect's: not this customer's (CustomerOf says so)
			{domain.ChurnWarningRaised{CustomerID: cust}, d(10)},
		}, func(t *testing.T, s Signals) {
			if len(s.Feedback) != 1 || s.Feedback[0].Satisfaction != 2 || s.Satisfaction != 4 {
				t.Errorf("feedback %+v rating %d", s.Feedback, s.Satisfaction)
			}
			if !s.LastInteractionAt.Equal(d(7)) || s.Interactions != 2 {
				t.Errorf("interactions %v %d", s.LastInteractionAt, s.Interactions)
			}
			if len(s.LostOpportunities) != 2 || s.Status != domain.CustomerStatusAtRisk {
				t.Errorf("lost %v status %s", s.LostOpportunities, s.Status)
			}
		}},
		{"status lost then reactivated", []ev{
			{registered(d(0)), d(0)},
			{domain.ChurnConfirmed{CustomerID: cust}, d(1)},
			{domain.CustomerReactivated{CustomerID: cust}, d(2)},
		}, func(t *testing.T, s Signals) {
			if s.Status != domain.CustomerStatusActive {
				t.Errorf("status %s", s.Status)
			}
		}},
		{"irrelevant and nil events are ignored", []ev{
			{domain.OrderShipped{CustomerID: cust}, d(1)},
			{(*domain.OrderPlaced)(nil), d(1)},
			{nil, d(1)},
		}, func(t *testing.T, s Signals) {
			if !reflect.DeepEqual(s, Signals{}) {
				t.Errorf("%+v", s)
			}
		}},
		{"old closed signals are pruned", []ev{
			{domain.ServiceFeedbackRecorded{CustomerID: cust, Satisfaction: 1, RecordedAt: d(0)}, d(0)},
			{placed(1, d(500), "1"), d(500)},
		}, func(t *testing.T, s Signals) {
			if len(s.Feedback) != 0 {
				t.Errorf("feedback kept: %+v", s.Feedback)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := apply(tt.evs...)
			tt.check(t, s)
			// Deterministic and JSON round-trippable.
			if again := apply(tt.evs...); !reflect.DeepEqual(s, again) {
				t.Errorf("not deterministic")
			}
			b, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			var back Signals
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			b2, _ := json.Marshal(back)
			if string(b) != string(b2) {
				t.Errorf("JSON round trip:\n%s\n%s", b, b2)
			}
			now := t0.AddDate(1, 0, 0)
			if a, b := Score(s, now), Score(back, now); !reflect.DeepEqual(a, b) {
				t.Errorf("score after round trip differs: %+v vs %+v", a, b)
			}
		})
	}
}

func TestSignalsMaxOrders(t *testing.T) {
	var s Signals
	for i := range MaxOrders + 10 {
		s.Apply(placed(i, t0.Add(time.Duration(i)*time.Hour), "1"), t0)
	}
	if len(s.Orders) != MaxOrders || s.OrdersPlaced != MaxOrders+10 || !s.FirstOrderAt.Equal(t0) {
		t.Fatalf("len %d placed %d first %v", len(s.Orders), s.OrdersPlaced, s.FirstOrderAt)
	}
	if s.Orders[0].ID != oid(10).String() {
		t.Errorf("the oldest were not dropped: %s", s.Orders[0].ID)
	}
}

func TestRelevantMatchesCustomerOf(t *testing.T) {
	for _, et := range domain.EventTypes() {
		_, ok := CustomerOf(et.New())
		if et.Name == domain.TypeOpportunityLost {
			ok = true // its customer is optional (prospects)
		}
		if ok != Relevant(et.Name) {
			t.Errorf("%s: CustomerOf %v, Relevant %v", et.Name, ok, Relevant(et.Name))
		}
	}
}
