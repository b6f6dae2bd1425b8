package churn

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/crm-es/crm/domain"
)

// Evaluator runs the evaluation protocol of DESIGN §7 over a log of domain
// events fed in log order (Add): events that happened at or before the
// cutoff T build each customer's Signals exactly as the churn read model
// does; orders placed in (T, T+horizon] only make the labels. Report then
// scores every customer who had placed an order by T, at now = T, with the
// same Score and Rule the service runs.
type Evaluator struct {
	Cutoff     time.Time
	Horizon    time.Duration
	RuleMonths int // 0 = DefaultRuleMonths

	signals  map[string]*Signals
	returned map[string]bool // ordered in (T, T+horizon]
	events   int             // events applied (≤ T)
	later    int             // events after T
}

// NewEvaluator returns an evaluator for cutoff T and horizon.
func NewEvaluator(cutoff time.Time, horizon time.Duration, ruleMonths int) *Evaluator {
	return &Evaluator{
		Cutoff: cutoff.UTC(), Horizon: horizon, RuleMonths: ruleMonths,
		signals: map[string]*Signals{}, returned: map[string]bool{},
	}
}

// Add feeds one event of the log with its business time.
func (ev *Evaluator) Add(e domain.Event, occurredAt time.Time) {
	id, ok := CustomerOf(e)
	if !ok {
		return
	}
	key := id.String()
	if !occurredAt.After(ev.Cutoff) {
		s := ev.signals[key]
		if s == nil {
			s = &Signals{}
			ev.signals[key] = s
		}
		s.Apply(e, occurredAt)
		ev.events++
		return
	}
	ev.later++
	if _, ok := deref(e).(domain.OrderPlaced); ok && !occurredAt.After(ev.Cutoff.Add(ev.Horizon)) {
		ev.returned[key] = true
	}
}

// Scored is one evaluated customer.
type Scored struct {
	CustomerID  string  `json:"customerId"`
	ExternalRef string  `json:"externalRef,omitempty"`
	Churned     bool    `json:"churned"`
	Rule        bool    `json:"rule"`
	RuleReason  *Reason `json:"ruleReason,omitempty"`
	Result
}

// Report is the outcome of an evaluation.
type Report struct {
	Cutoff     time.Time
	Horizon    time.Duration
	RuleMonths int
	Events     int // events applied up to the cutoff
	Later      int // customer events after the cutoff (labels only)

	Customers int // scored: an order placed by the cutoff
	Churned   int // no order in (T, T+horizon]

	AUC             float64 // ROC AUC of Value (exact, ties count one half)
	AUCInt          float64 // ROC AUC of the rounded Score
	TopDecile       int     // customers in the top decile
	TopDecilePrec   float64 // churn rate among them
	TopDecileChurns int

	RuleFired     int
	RuleTP        int
	RulePrecision float64
	RuleRecall    float64
	RuleAUC       float64 // AUC of the rule as a 0/1 score = balanced accuracy
	// ModelPrecAtRule is the model's precision when it flags as many
	// customers as the rule does (its top RuleFired).
	ModelPrecAtRule   float64
	ModelRecallAtRule float64

	Bands map[Band][2]int // band → {customers, churned}

	Scored []Scored // by Value descending, then customer id
}

// Report scores every customer active by the cutoff at now = cutoff.
func (ev *Evaluator) Report() *Report {
	r := &Report{Cutoff: ev.Cutoff, Horizon: ev.Horizon, RuleMonths: cmp.Or(ev.RuleMonths, DefaultRuleMonths),
		Events: ev.events, Later: ev.later, Bands: map[Band][2]int{}}
	for id, s := range ev.signals {
		if s.OrdersPlaced == 0 {
			continue
		}
		res := Score(*s, ev.Cutoff)
		fired, why := Rule(*s, ev.Cutoff, r.RuleMonths)
		sc := Scored{CustomerID: id, ExternalRef: s.ExternalRef, Churned: !ev.returned[id], Rule: fired, Result: res}
		if fired {
			sc.RuleReason = &why
		}
		r.Scored = append(r.Scored, sc)
	}
	slices.SortFunc(r.Scored, func(a, b Scored) int {
		if c := cmp.Compare(b.Value, a.Value); c != 0 {
			return c
		}
		return cmp.Compare(a.CustomerID, b.CustomerID)
	})
	r.Customers = len(r.Scored)
	var (
		value, score, rule []float64
		labels             []bool
	)
	for _, s := range r.Scored {
		value = append(value, s.Value)
		score = append(score, float64(s.Score))
		labels = append(labels, s.Churned)
		rv := 0.0
		if s.Rule {
			rv = 1
			r.RuleFired++
			if s.Churned {
				r.RuleTP++
			}
		}
		rule = append(rule, rv)
		b := r.Bands[s.Band]
		b[0]++
		if s.Churned {
			r.Churned++
			b[1]++
		}
		r.Bands[s.Band] = b
	}
	r.AUC = AUC(value, labels)
	r.AUCInt = AUC(score, labels)
	r.RuleAUC = AUC(rule, labels)
	r.TopDecile = (r.Customers + 9) / 10
	for _, s := range r.Scored[:r.TopDecile] {
		if s.Churned {
			r.TopDecileChurns++
		}
	}
	r.TopDecilePrec = ratio(r.TopDecileChurns, r.TopDecile)
	r.RulePrecision = ratio(r.RuleTP, r.RuleFired)
	r.RuleRecall = ratio(r.RuleTP, r.Churned)
	tp := 0
	for _, s := range r.Scored[:r.RuleFired] {
		if s.Churned {
			tp++
		}
	}
	r.ModelPrecAtRule = ratio(tp, r.RuleFired)
	r.ModelRecallAtRule = ratio(tp, r.Churned)
	return r
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// AUC is the exact ROC AUC of scores for the positive labels (true): the
// probability that a random positive scores higher than a random negative,
// ties counting one half (the Mann–Whitney U statistic with mid-ranks). It
// is 0.5 when either class is empty.
func AUC(scores []float64, positive []bool) float64 {
	n := len(scores)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(scores[a], scores[b]) })
	var pos, neg int
	rankSum := 0.0 // sum of the positives' mid-ranks (1-based)
	for i := 0; i < n; {
		j := i
		for j < n && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		mid := float64(i+1+j) / 2 // mean of ranks i+1..j
		for k := i; k < j; k++ {
			if positive[idx[k]] {
				pos++
				rankSum += mid
			} else {
				neg++
			}
		}
		i = j
	}
	if pos == 0 || neg == 0 {
		return 0.5
	}
	u := rankSum - float64(pos)*float64(pos+1)/2
	return u / (float64(pos) * float64(neg))
}

// WriteText prints the report as a table.
func (r *Report) WriteText(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	h := r.Horizon.Hours() / 24
	p("Churn evaluation (DESIGN §7) at T = %s, horizon %.0f days", r.Cutoff.Format(time.RFC3339), h)
	p("  events applied (≤ T)        %d (and %d customer events after T, used for the labels only)", r.Events, r.Later)
	p("  customers scored            %d (an order placed by T)", r.Customers)
	p("  churned                     %d (%.1f%%: no order in (T, T+%.0fd])", r.Churned, 100*ratio(r.Churned, r.Customers), h)
	p("")
	p("  %-34s %8s %10s %8s", "", "AUC", "precision", "recall")
	p("  %-34s %8.4f %10s %8s", "score (0-100, exact value)", r.AUC, "", "")
	p("  %-34s %8.4f %10s %8s", "score (rounded)", r.AUCInt, "", "")
	p("  %-34s %8s %9.1f%% %7.1f%%", fmt.Sprintf("score, top decile (%d)", r.TopDecile), "", 100*r.TopDecilePrec, 100*ratio(r.TopDecileChurns, r.Churned))
	p("  %-34s %8.4f %9.1f%% %7.1f%%", fmt.Sprintf("%d-month rule (fires for %d)", r.RuleMonths, r.RuleFired), r.RuleAUC, 100*r.RulePrecision, 100*r.RuleRecall)
	p("  %-34s %8s %9.1f%% %7.1f%%", fmt.Sprintf("score, top %d (as many as the rule)", r.RuleFired), "", 100*r.ModelPrecAtRule, 100*r.ModelRecallAtRule)
	p("  (the rule's AUC is that of a 0/1 score: its balanced accuracy)")
	p("")
	p("  %-8s %10s %10s %11s", "band", "customers", "churned", "churn rate")
	for _, b := range []Band{BandHigh, BandMedium, BandLow} {
		c := r.Bands[b]
		p("  %-8s %10d %10d %10.1f%%", b, c[0], c[1], 100*ratio(c[1], c[0]))
	}
}
