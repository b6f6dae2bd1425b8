package churn

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/crm-es/crm/domain"
)

func TestAUC(t *testing.T) {
	tests := []struct {
		name   string
		scores []float64
		pos    []bool
		want   float64
	}{
		{"perfect", []float64{0.9, 0.8, 0.2, 0.1}, []bool{true, true, false, false}, 1},
		{"inverted", []float64{0.9, 0.8, 0.2, 0.1}, []bool{false, false, true, true}, 0},
		// Pairs (pos, neg): (0.8,0.7) win, (0.8,0.2) win, (0.4,0.7) loss, (0.4,0.2) win → 3/4.
		{"one swap", []float64{0.8, 0.7, 0.4, 0.2}, []bool{true, false, true, false}, 0.75},
		{"all tied", []float64{1, 1, 1, 1}, []bool{true, false, true, false}, 0.5},
		// pos {2, 1}, neg {1, 0}: (2,1) 1, (2,0) 1, (1,1) ½, (1,0) 1 → 3.5/4.
		{"a tie across classes", []float64{2, 1, 1, 0}, []bool{true, true, false, false}, 0.875},
		// Binary score (the rule): TPR 2/3, FPR 1/2 → (1 + TPR − FPR)/2 = 7/12.
		{"binary = balanced accuracy", []float64{1, 1, 0, 1, 0}, []bool{true, true, true, false, false}, 7.0 / 12},
		{"one class only", []float64{1, 2}, []bool{true, true}, 0.5},
		{"empty", nil, nil, 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AUC(tt.scores, tt.pos); math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("AUC = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestAUCBruteForce compares with the pairwise definition.
func TestAUCBruteForce(t *testing.T) {
	scores := []float64{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3}
	pos := []bool{true, false, true, false, true, true, false, false, true, false, false, true, true, false, true, true}
	var num, den float64
	for i := range scores {
		for j := range scores {
			if !pos[i] || pos[j] {
				continue
			}
			den++
			switch {
			case scores[i] > scores[j]:
				num++
			case scores[i] == scores[j]:
				num += 0.5
			}
		}
	}
	if got, want := AUC(scores, pos), num/den; math.Abs(got-want) > 1e-12 {
		t.Errorf("AUC = %v, pairwise %v", got, want)
	}
}

// TestEvaluator runs the protocol on a handful of synthetic customers.
func TestEvaluator(t *testing.T) {
	T := time.Date(2011, 9, 1, 0, 0, 0, 0, time.UTC)
	d := func(n int) time.Time { return T.AddDate(0, 0, n) }
	ev := NewEvaluator(T, 90*24*time.Hour, 6)
	id := func(n int) uuid.UUID { return uuid.NewSHA1(uuid.NameSpaceDNS, []byte{byte(n)}) }
	order := 0
	place := func(c int, at time.Time) {
		order++
		ev.Add(domain.OrderPlaced{OrderID: oid(order), CustomerID: id(c), OrderedAt: at, Total: dec("100")}, at)
	}
	reg := func(c int, at time.Time) {
		ev.Add(domain.CustomerRegistered{CustomerID: id(c), ExternalRef: "ref", RegisteredAt: at}, at)
	}
	// 1: loyal, orders every 2 weeks and again after T: not churned, low score.
	reg(1, d(-280))
	for n := -280; n < 0; n += 14 {
		place(1, d(n))
	}
	place(1, d(10))
	// 2: one order 8 months ago, none after: churned, the rule fires.
	reg(2, d(-245))
	place(2, d(-245))
	// 3: ordered 2 months ago, next order after the horizon: churned.
	reg(3, d(-60))
	place(3, d(-60))
	place(3, d(100))
	// 4: registered but never ordered by T: not scored.
	reg(4, d(-100))
	place(4, d(5))
	// 5: registered after T: not scored.
	reg(5, d(1))
	place(5, d(2))
	// Not a customer event.
	ev.Add(domain.OrderShipped{}, d(-1))

	r := ev.Report()
	if r.Customers != 3 || r.Churned != 2 {
		t.Fatalf("customers %d churned %d", r.Customers, r.Churned)
	}
	byID := map[string]Scored{}
	for _, s := range r.Scored {
		byID[s.CustomerID] = s
		if len(s.Reasons) == 0 {
			t.Errorf("%s: no reasons", s.CustomerID)
		}
	}
	c1, c2, c3 := byID[id(1).String()], byID[id(2).String()], byID[id(3).String()]
	if c1.Churned || !c2.Churned || !c3.Churned {
		t.Errorf("labels %v %v %v", c1.Churned, c2.Churned, c3.Churned)
	}
	if c1.Rule || !c2.Rule || c3.Rule || c2.RuleReason == nil {
		t.Errorf("rule %v %v %v", c1.Rule, c2.Rule, c3.Rule)
	}
	if !(c1.Value < c3.Value && c3.Value < c2.Value) {
		t.Errorf("scores %v %v %v", c1.Value, c3.Value, c2.Value)
	}
	if r.AUC != 1 || r.RuleFired != 1 || r.RuleTP != 1 || r.RulePrecision != 1 || r.RuleRecall != 0.5 || r.RuleAUC != 0.75 {
		t.Errorf("%+v", r)
	}
	if r.TopDecile != 1 || r.TopDecilePrec != 1 || r.Scored[0].CustomerID != c2.CustomerID {
		t.Errorf("top decile %d %v", r.TopDecile, r.TopDecilePrec)
	}
	var b bytes.Buffer
	r.WriteText(&b)
	for _, want := range []string{"customers scored            3", "6-month rule (fires for 1)", "band"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

// TestEvaluatorBoundaries: an event exactly at the cutoff T builds the
// signals (≤ T); one a nanosecond later only makes the label; an order
// exactly at T + horizon is a return, one a nanosecond later is not.
func TestEvaluatorBoundaries(t *testing.T) {
	T := time.Date(2011, 9, 1, 0, 0, 0, 0, time.UTC)
	H := 90 * 24 * time.Hour
	cust := uuid.NewSHA1(uuid.NameSpaceDNS, []byte("boundary"))
	for _, tc := range []struct {
		name   string
		orders []time.Time // besides one order 30 days before T
		// want
		customers, churned, events, later int
		value                             bool // the customer's recency counts an order at T
	}{
		{name: "order exactly at T", orders: []time.Time{T}, customers: 1, churned: 1, events: 3, later: 0, value: true},
		{name: "order just after T", orders: []time.Time{T.Add(time.Nanosecond)}, customers: 1, churned: 0, events: 2, later: 1},
		{name: "order exactly at T+horizon", orders: []time.Time{T.Add(H)}, customers: 1, churned: 0, events: 2, later: 1},
		{name: "order just after T+horizon", orders: []time.Time{T.Add(H + time.Nanosecond)}, customers: 1, churned: 1, events: 2, later: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := NewEvaluator(T, H, 6)
			first := T.AddDate(0, 0, -30)
			ev.Add(domain.CustomerRegistered{CustomerID: cust, RegisteredAt: first}, first)
			ev.Add(domain.OrderPlaced{OrderID: oid(1), CustomerID: cust, OrderedAt: first, Total: dec("100")}, first)
			for i, at := range tc.orders {
				ev.Add(domain.OrderPlaced{OrderID: oid(2 + i), CustomerID: cust, OrderedAt: at, Total: dec("100")}, at)
			}
			r := ev.Report()
			if r.Customers != tc.customers || r.Churned != tc.churned || r.Events != tc.events || r.Later != tc.later {
				t.Fatalf("customers %d churned %d events %d later %d; want %d %d %d %d",
					r.Customers, r.Churned, r.Events, r.Later, tc.customers, tc.churned, tc.events, tc.later)
			}
			// The scored signals are those of the events up to T, at now = T.
			var s Signals
			s.Apply(domain.CustomerRegistered{CustomerID: cust, RegisteredAt: first}, first)
			s.Apply(domain.OrderPlaced{OrderID: oid(1), CustomerID: cust, OrderedAt: first, Total: dec("100")}, first)
			if tc.value {
				s.Apply(domain.OrderPlaced{OrderID: oid(2), CustomerID: cust, OrderedAt: T, Total: dec("100")}, T)
			}
			if want := Score(s, T); r.Scored[0].Value != want.Value {
				t.Errorf("value %v, want %v (the order at T counted: %v)", r.Scored[0].Value, want.Value, tc.value)
			}
		})
	}
}
