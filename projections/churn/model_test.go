package churn

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/crm-es/crm/domain"
)

// regular is a customer who ordered every `every` days, n times, from t0.
func regular(n, every int, total string) Signals {
	evs := []ev{{registered(t0), t0}}
	for i := range n {
		at := t0.AddDate(0, 0, i*every)
		evs = append(evs, ev{placed(i, at, total), at})
	}
	return apply(evs...)
}

func reason(r Result, signal string) (Reason, bool) {
	for _, x := range r.Reasons {
		if x.Signal == signal {
			return x, true
		}
	}
	return Reason{}, false
}

func TestScoreReasons(t *testing.T) {
	s := regular(5, 20, "100") // last order t0+80d
	now := t0.AddDate(0, 0, 80+212)
	r := Score(s, now)
	rec, ok := reason(r, SignalRecency)
	if !ok || !strings.Contains(rec.Detail, "no order for 212 days") || rec.Contribution <= 0 {
		t.Errorf("recency reason %+v in %+v", rec, r)
	}
	if f, ok := reason(r, SignalFrequency); !ok || !strings.Contains(f.Detail, "5 order days in the last 365 days") {
		t.Errorf("frequency reason %+v", f)
	}
	if m, ok := reason(r, SignalMonetary); !ok || !strings.Contains(m.Detail, "net spend 500.00") {
		t.Errorf("monetary reason %+v", m)
	}
	sum := 0.0
	for _, x := range r.Reasons {
		sum += x.Contribution
		if x.Detail == "" {
			t.Errorf("reason without detail: %+v", x)
		}
	}
	if want := math.Round(min(max(sum, 0), 100)*10) / 10; math.Abs(r.Value-want) > 1e-9 {
		t.Errorf("value %v, contributions sum to %v", r.Value, sum)
	}
	if r.Score != int(math.Round(r.Value)) || r.Band != BandOf(r.Score) {
		t.Errorf("%+v", r)
	}
	for i := 1; i < len(r.Reasons); i++ {
		if math.Abs(r.Reasons[i].Contribution) > math.Abs(r.Reasons[i-1].Contribution) {
			t.Errorf("reasons not largest first: %+v", r.Reasons)
		}
	}
	// Pure: the same inputs give the same result; events after now do not count.
	if again := Score(s, now); !reflect.DeepEqual(r, again) {
		t.Error("not deterministic")
	}
	later := s
	later.Orders = append(append([]Order(nil), s.Orders...), Order{ID: "x", At: now.Add(time.Hour), Net: dec("1000")})
	if got := Score(later, now); !reflect.DeepEqual(got, r) {
		t.Errorf("an order after now changed the score: %+v", got)
	}
}

func TestScoreMonotone(t *testing.T) {
	t.Run("longer silence, higher score", func(t *testing.T) {
		for _, s := range []Signals{regular(1, 0, "50"), regular(6, 15, "200"), regular(20, 7, "1000")} {
			prev := -1.0
			last := s.LastOrderAt()
			for days := 0; days <= 400; days += 10 {
				v := Score(s, last.AddDate(0, 0, days)).Value
				if v < prev {
					t.Fatalf("%d orders: score fell from %v to %v at %d days of silence", s.OrdersPlaced, prev, v, days)
				}
				prev = v
			}
		}
	})
	t.Run("more orders over the same span, lower score", func(t *testing.T) {
		now := t0.AddDate(0, 0, 200)
		prev := 101.0
		for _, n := range []int{2, 4, 8, 16} {
			// Same first and last order and the same spend: only the rhythm differs.
			var evs []ev
			for i := range n {
				at := t0.AddDate(0, 0, i*180/(n-1))
				evs = append(evs, ev{placed(i, at, fmt.Sprintf("%.2f", 1600/float64(n))), at})
			}
			v := Score(apply(evs...), now).Value
			if v >= prev {
				t.Fatalf("%d orders: score %v not below %v", n, v, prev)
			}
			prev = v
		}
	})
	t.Run("more spend, lower score", func(t *testing.T) {
		now := t0.AddDate(0, 0, 100)
		prev := 101.0
		for _, total := range []string{"0", "10", "100", "1000", "10000"} {
			v := Score(regular(3, 20, total), now).Value
			if v > prev {
				t.Fatalf("spend %s: score %v above %v", total, v, prev)
			}
			prev = v
		}
	})
	t.Run("falling spend raises the score", func(t *testing.T) {
		now := t0.AddDate(0, 0, 170)
		steady := apply(ev{placed(1, t0.AddDate(0, 0, 10), "100"), t0}, ev{placed(2, t0.AddDate(0, 0, 100), "100"), t0})
		falling := apply(ev{placed(1, t0.AddDate(0, 0, 10), "190"), t0}, ev{placed(2, t0.AddDate(0, 0, 100), "10"), t0})
		a, b := Score(steady, now), Score(falling, now)
		tr, ok := reason(b, SignalTrend)
		if !ok || !strings.Contains(tr.Detail, "-84%") || tr.Contribution <= 0 || b.Value <= a.Value {
			t.Errorf("steady %+v\nfalling %+v", a, b)
		}
	})
}

func TestScoreCRMSignals(t *testing.T) {
	d := func(n int) time.Time { return t0.AddDate(0, 0, n) }
	base := []ev{{registered(d(0)), d(0)}, {placed(1, d(0), "300"), d(0)}, {placed(2, d(30), "300"), d(30)}}
	now := d(60)
	plain := Score(apply(base...), now)
	tests := []struct {
		name, signal, detail string
		evs                  []ev
	}{
		{"open complaints", SignalComplaintOpen, "2 open complaints", []ev{
			{domain.ServiceRequestOpened{ServiceRequestID: oid(100), CustomerID: cust, Type: domain.ServiceComplaint, OpenedAt: d(40)}, d(40)},
			{domain.ServiceRequestOpened{ServiceRequestID: oid(101), CustomerID: cust, Type: domain.ServiceComplaint, OpenedAt: d(50)}, d(50)},
		}},
		{"recent complaints", SignalComplaints, "1 complaint in 90 days", []ev{
			{domain.ServiceRequestOpened{ServiceRequestID: oid(100), CustomerID: cust, Type: domain.ServiceComplaint, OpenedAt: d(40)}, d(40)},
		}},
		{"low satisfaction", SignalSatisfaction, "satisfaction 1/5", []ev{
			{domain.ServiceFeedbackRecorded{CustomerID: cust, Satisfaction: 1, RecordedAt: d(45)}, d(45)},
		}},
		{"low rating", SignalSatisfaction, "satisfaction 2/5 (customer rating)", []ev{
			{domain.CustomerSatisfactionRated{CustomerID: cust, To: 2}, d(45)},
		}},
		{"lost opportunity", SignalLostOpps, "1 opportunity lost in 180 days", []ev{
			{domain.OpportunityLost{CustomerID: &cust, LostAt: d(20)}, d(20)},
		}},
		{"no interaction", SignalInteraction, "no interaction for 160 days", []ev{
			{domain.InteractionLogged{CustomerID: cust, OccurredAt: d(-100)}, d(-100)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Score(apply(append(append([]ev(nil), base...), tt.evs...)...), now)
			x, ok := reason(r, tt.signal)
			if !ok || !strings.Contains(x.Detail, tt.detail) || x.Contribution <= 0 {
				t.Errorf("reason %+v in %+v", x, r.Reasons)
			}
			if r.Value <= plain.Value {
				t.Errorf("score %v not above %v", r.Value, plain.Value)
			}
		})
	}
	// A complaint opened after now, or archived before it, is not open then.
	s := apply(append(base,
		ev{domain.ServiceRequestOpened{ServiceRequestID: oid(100), CustomerID: cust, Type: domain.ServiceComplaint, OpenedAt: d(40)}, d(40)},
		ev{domain.ServiceRequestArchived{ServiceRequestID: oid(100), CustomerID: cust, ArchivedAt: d(45)}, d(45)},
		ev{domain.ServiceRequestOpened{ServiceRequestID: oid(101), CustomerID: cust, Type: domain.ServiceComplaint, OpenedAt: d(70)}, d(70)})...)
	if _, ok := reason(Score(s, now), SignalComplaintOpen); ok {
		t.Error("closed or future complaint counted as open")
	}
}

func TestBands(t *testing.T) {
	for score, want := range map[int]Band{0: BandLow, 39: BandLow, 40: BandMedium, 69: BandMedium, 70: BandHigh, 100: BandHigh} {
		if got := BandOf(score); got != want {
			t.Errorf("BandOf(%d) = %s, want %s", score, got, want)
		}
	}
	if r := Score(Signals{}, t0); r.Score < 0 || r.Score > 100 {
		t.Errorf("empty signals: %+v", r)
	}
}

func TestRule(t *testing.T) {
	d := func(n int) time.Time { return t0.AddDate(0, 0, n) }
	tests := []struct {
		name   string
		evs    []ev
		now    time.Time
		months int
		want   bool
	}{
		{"silent 7 months, customer for 8", []ev{{registered(d(0)), d(0)}, {placed(1, d(30), "1"), d(30)}}, d(30).AddDate(0, 7, 0), 6, true},
		{"silent 5 months", []ev{{registered(d(0)), d(0)}, {placed(1, d(200), "1"), d(200)}}, d(200).AddDate(0, 5, 0), 6, false},
		{"new customer, no order", []ev{{registered(d(0)), d(0)}}, d(0).AddDate(0, 5, 0), 6, false},
		{"old customer, never ordered", []ev{{registered(d(0)), d(0)}}, d(0).AddDate(0, 7, 0), 6, true},
		{"last order cancelled", []ev{{registered(d(0)), d(0)}, {placed(1, d(10), "1"), d(10)}, {placed(2, d(200), "1"), d(200)},
			{domain.OrderCancelled{OrderID: oid(2), CustomerID: cust}, d(201)}}, d(220), 6, true},
		{"order after now ignored", []ev{{registered(d(0)), d(0)}, {placed(1, d(300), "1"), d(300)}}, d(250), 6, true},
		{"3-month rule", []ev{{registered(d(0)), d(0)}, {placed(1, d(10), "1"), d(10)}}, d(10).AddDate(0, 4, 0), 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := Rule(apply(tt.evs...), tt.now, tt.months)
			if got != tt.want {
				t.Fatalf("Rule = %v, want %v", got, tt.want)
			}
			if got && (why.Signal != SignalRule || !strings.Contains(why.Detail, "no order for")) {
				t.Errorf("reason %+v", why)
			}
		})
	}
}

func TestChurnSignals(t *testing.T) {
	r := Score(regular(3, 10, "20"), t0.AddDate(0, 0, 300))
	cs := ChurnSignals(r.Reasons)
	if len(cs) != len(r.Reasons) || cs[0].Signal != r.Reasons[0].Signal || cs[0].Detail != r.Reasons[0].Detail {
		t.Errorf("%+v", cs)
	}
}

// TestScoreOrderMonths: orders spread over more calendar months lower the
// risk, with the same number of order days over the same span.
func TestScoreOrderMonths(t *testing.T) {
	spread := regular(6, 30, "100") // 6 months, last order t0+150d
	now := t0.AddDate(0, 0, 160)
	burst := apply(ev{registered(t0), t0})
	for i, d := range []int{0, 1, 2, 3, 4, 150} {
		at := t0.AddDate(0, 0, d)
		burst.Apply(placed(i, at, "100"), at)
	}
	a, b := Score(spread, now), Score(burst, now)
	ra, ok := reason(a, SignalMonths)
	if !ok || !strings.Contains(ra.Detail, "orders in 6 calendar months of the last 365 days") || ra.Contribution >= 0 {
		t.Fatalf("spread: %+v", a.Reasons)
	}
	// (The burst's 2 months are the pivot: no order_months reason, 0 points.)
	if rb, _ := reason(b, SignalMonths); rb.Contribution <= ra.Contribution || b.Value <= a.Value {
		t.Fatalf("burst %v (%+v) not riskier than spread %v", b.Value, b.Reasons, a.Value)
	}
}
