package churn

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/crm-es/crm/domain"
)

// Band is a score's risk band.
type Band string

// Bands: low below MediumFrom, high from HighFrom.
const (
	BandLow    Band = "low"
	BandMedium Band = "medium"
	BandHigh   Band = "high"

	MediumFrom = 40
	HighFrom   = 70
)

// Signal names of the reasons.
const (
	SignalBaseline      = "baseline"
	SignalRecency       = "recency"
	SignalFrequency     = "frequency"
	SignalMonetary      = "monetary"
	SignalTrend         = "monetary_trend"
	SignalMonths        = "order_months"
	SignalInteraction   = "interaction_recency"
	SignalComplaintOpen = "open_complaints"
	SignalComplaints    = "recent_complaints"
	SignalSatisfaction  = "low_satisfaction"
	SignalLostOpps      = "lost_opportunities"
	SignalRule          = "rule"
)

// Reason is one signal's contribution to a score, in points (negative
// contributions lower the risk), with a human detail.
type Reason struct {
	Signal       string  `json:"signal"`
	Contribution float64 `json:"contribution"`
	Detail       string  `json:"detail"`
}

// Result is a customer's churn risk at a moment.
type Result struct {
	// Score is Value rounded, 0–100.
	Score int `json:"score"`
	// Value is the exact clamped sum of the contributions (for ranking).
	Value float64 `json:"value"`
	Band  Band    `json:"band"`
	// Reasons, the largest contribution first; they sum to Value before
	// clamping to [0, 100].
	Reasons []Reason `json:"reasons"`
}

// The model's fixed weights. The order signals are those of a logistic
// model of "no order in the next 90 days" on three RFM features, in points
// (pointsPerLogit points per unit of log-odds, around a neutral 50):
//
//   - frequency: F = −ln(E), E = 90·n/(span+prior) the customer's expected
//     number of order days in 90 days, from its n distinct order days in the
//     last 365 days spread over span days (the first to the last of them),
//     shrunk by a prior of rhythmPriorDays (a new customer's single order is
//     not yet a rhythm);
//   - recency relative to that history: R = ln((span+silence+prior) /
//     (span+prior)): silence weighs more for a customer whose orders are
//     close together, less after a long regular history;
//   - monetary: M = ln(1+net spend in 365 days) − ln(1+monetaryPivot), net
//     of cancellations and returns;
//   - monetary trend: the fall of net spend in the last 90 days against the
//     customer's spend per 90 days over the 275 days before (0–1);
//   - order months: O = −ln((m+0.5)/(monthsPivot+0.5)), m the number of
//     distinct calendar months with an order in the last 365 days (a steady
//     habit spread over the year, rather than a burst of order days).
//
// The weights were fitted once (plain logistic regression on the pooled
// cutoffs 2011-03-01 and 2011-06-01, horizon 90 days, labels up to
// 2011-08-30, then rounded) and then fixed; the reported evaluation at
// 2011-09-01 was never used to choose the features or the weights. The CRM
// signals the data set lacks (interactions, complaints, satisfaction, lost
// opportunities) carry fixed expert weights. See README "Churn risk".
const (
	pointsPerLogit  = 15.0
	baseline        = 50 + pointsPerLogit*-0.44 // the fit's intercept
	frequencyW      = 1.44                      // per unit of F
	recencyW        = 0.35                      // per unit of R
	monetaryW       = -0.33                     // per unit of M
	trendW          = 0.47                      // at a fall to nothing
	monthsW         = 0.47                      // per unit of O
	rhythmPriorDays = 120.0
	monetaryPivot   = 402.4 // e^6 − 1: about the median customer's yearly net spend
	monthsPivot     = 2.0   // order months in a year scoring 0 points
	window          = 365 * day
	trendWindow     = 90 * day

	// CRM signals, in points.
	interactionDays = 90.0 // silence beyond this adds points
	interactionW    = 8.0  // at twice interactionDays
	openComplaintW  = 8.0  // per open complaint, at most 2
	complaintW      = 5.0  // per complaint in the last 90 days, at most 3
	lowSatW         = 10.0 // latest feedback (180 days) or rating ≤ 2
	lostOppW        = 5.0  // per opportunity lost in the last 180 days, at most 2
)

const day = 24 * time.Hour

// Score computes the churn risk of a customer at now from its signals. It
// is a pure function of (s, now): only what happened at or before now
// counts, so the same signals can be scored at any moment.
func Score(s Signals, now time.Time) Result {
	now = now.UTC()
	var reasons []Reason
	add := func(signal string, points float64, format string, args ...any) {
		if round1(points) == 0 {
			return
		}
		reasons = append(reasons, Reason{Signal: signal, Contribution: round1(points), Detail: fmt.Sprintf(format, args...)})
	}
	add(SignalBaseline, baseline, "baseline")

	// Orders of the last 365 days up to now, by distinct day.
	var (
		days          []time.Time // distinct order days, ascending
		spend         float64     // net, 365 days
		recent, prior float64     // net spend in the last 90 days, and in the 275 before
		lastOrder     time.Time
		months        = map[string]bool{} // "2006-01" with an order, 365 days
	)
	for _, o := range s.Orders {
		if o.At.After(now) || o.Cancelled {
			continue
		}
		lastOrder = o.At
		age := now.Sub(o.At)
		if age >= window {
			continue
		}
		if d := o.At.Truncate(day); len(days) == 0 || !days[len(days)-1].Equal(d) {
			days = append(days, d)
		}
		months[o.At.Format("2006-01")] = true
		net := toFloat(o.Net)
		spend += net
		if age < trendWindow {
			recent += net
		} else {
			prior += net
		}
	}

	// Frequency and recency.
	n, span := float64(len(days)), 0.0
	if len(days) > 0 {
		span = days[len(days)-1].Sub(days[0]).Hours() / 24
	} else {
		n = 0.5 // nothing in a year: half an order, not zero
	}
	expected := 90 * n / (span + rhythmPriorDays)
	add(SignalFrequency, pointsPerLogit*frequencyW*-math.Log(expected),
		"%d order %s in the last 365 days (about %.1f expected per 90 days)", len(days), plural(len(days), "day"), expected)
	ref, what := lastOrder, "no order for"
	if ref.IsZero() {
		ref, what = s.Since(), "no order yet; a customer for"
		if s.OrdersPlaced > 0 {
			what = "no order kept (all cancelled); a customer for"
		}
	}
	if !ref.IsZero() && !ref.After(now) {
		silence := now.Sub(ref).Hours() / 24
		r := math.Log((span + min(silence, 365) + rhythmPriorDays) / (span + rhythmPriorDays))
		rhythm := "a single order day in the last 365 days"
		if len(days) > 1 {
			rhythm = fmt.Sprintf("after %d order days over %.0f days", len(days), span)
		} else if len(days) == 0 {
			rhythm = "none in the last 365 days"
		}
		add(SignalRecency, pointsPerLogit*recencyW*r, "%s %.0f days (%s)", what, math.Floor(silence), rhythm)
	}

	// Order months: a habit spread over the year.
	add(SignalMonths, pointsPerLogit*monthsW*-math.Log((float64(len(months))+0.5)/(monthsPivot+0.5)),
		"orders in %d calendar %s of the last 365 days", len(months), plural(len(months), "month"))

	// Monetary value and trend.
	m := math.Log1p(max(spend, 0)) - math.Log1p(monetaryPivot)
	add(SignalMonetary, pointsPerLogit*monetaryW*m, "net spend %.2f in the last 365 days", spend)
	// The earlier 275 days' spend per 90 days: an order ageing inside the
	// window does not change it, so the score keeps rising with silence.
	prior *= float64(trendWindow) / float64(window-trendWindow)
	if prior > 0 && recent < prior {
		fall := 1 - max(recent, 0)/prior
		add(SignalTrend, pointsPerLogit*trendW*fall, "net spend %.2f in the last 90 days vs %.2f per 90 days over the 275 days before (-%.0f%%)", recent, prior, fall*100)
	}

	// Interactions.
	if !s.LastInteractionAt.IsZero() && !s.LastInteractionAt.After(now) {
		silence := now.Sub(s.LastInteractionAt).Hours() / 24
		if silence > interactionDays {
			add(SignalInteraction, interactionW*min(1, (silence-interactionDays)/interactionDays), "no interaction for %.0f days", math.Floor(silence))
		}
	}

	// Complaints.
	open, recentC := 0, 0
	for _, c := range s.Complaints {
		if c.OpenedAt.After(now) {
			continue
		}
		if c.Open || c.ClosedAt.After(now) {
			open++
		}
		if now.Sub(c.OpenedAt) <= 90*day {
			recentC++
		}
	}
	if open > 0 {
		add(SignalComplaintOpen, openComplaintW*float64(min(open, 2)), "%d open %s", open, plural(open, "complaint"))
	}
	if recentC > 0 {
		add(SignalComplaints, complaintW*float64(min(recentC, 3)), "%d %s in 90 days", recentC, plural(recentC, "complaint"))
	}

	// Satisfaction: the latest service feedback of the last 180 days, else
	// the customer's rating.
	sat, satWhat := 0, ""
	for i := len(s.Feedback) - 1; i >= 0; i-- {
		f := s.Feedback[i]
		if f.At.After(now) {
			continue
		}
		if now.Sub(f.At) <= 180*day {
			sat, satWhat = f.Satisfaction, "service feedback of "+f.At.Format(time.DateOnly)
		}
		break
	}
	if sat == 0 && s.Satisfaction > 0 {
		sat, satWhat = s.Satisfaction, "customer rating"
	}
	if sat > 0 && sat <= 2 {
		add(SignalSatisfaction, lowSatW, "satisfaction %d/5 (%s)", sat, satWhat)
	}

	// Lost opportunities.
	lost := 0
	for _, t := range s.LostOpportunities {
		if !t.After(now) && now.Sub(t) <= 180*day {
			lost++
		}
	}
	if lost > 0 {
		add(SignalLostOpps, lostOppW*float64(min(lost, 2)), "%d %s lost in 180 days", lost, plural(lost, "opportunity"))
	}

	sum := 0.0
	for _, r := range reasons {
		sum += r.Contribution
	}
	value := round1(min(max(sum, 0), 100))
	slices.SortStableFunc(reasons, func(a, b Reason) int {
		if c := cmp.Compare(math.Abs(b.Contribution), math.Abs(a.Contribution)); c != 0 {
			return c
		}
		return cmp.Compare(a.Signal, b.Signal)
	})
	score := int(math.Round(value))
	return Result{Score: score, Value: value, Band: BandOf(score), Reasons: reasons}
}

// BandOf returns the band of a score.
func BandOf(score int) Band {
	switch {
	case score >= HighFrom:
		return BandHigh
	case score >= MediumFrom:
		return BandMedium
	}
	return BandLow
}

// DefaultRuleMonths is the classic rule's N.
const DefaultRuleMonths = 6

// Rule is the classic N-month rule at now: it fires when the customer has
// existed for more than N months and placed no (uncancelled) order in the
// last N months. The reason says why it fired.
func Rule(s Signals, now time.Time, months int) (bool, Reason) {
	now = now.UTC()
	if months <= 0 {
		months = DefaultRuleMonths
	}
	limit := now.AddDate(0, -months, 0)
	since := s.Since()
	if since.IsZero() || !since.Before(limit) {
		return false, Reason{}
	}
	last := time.Time{}
	for i := len(s.Orders) - 1; i >= 0; i-- {
		if o := s.Orders[i]; !o.Cancelled && !o.At.After(now) {
			last = o.At
			break
		}
	}
	if last.After(limit) {
		return false, Reason{}
	}
	detail := fmt.Sprintf("no order for %d months (a customer since %s)", months, since.Format(time.DateOnly))
	if !last.IsZero() {
		detail = fmt.Sprintf("no order for %.0f days, more than %d months", math.Floor(now.Sub(last).Hours()/24), months)
	}
	return true, Reason{Signal: SignalRule, Detail: detail}
}

// ChurnSignals converts reasons to the domain's form (for ChurnWarningRaised).
func ChurnSignals(reasons []Reason) []domain.ChurnSignal {
	out := make([]domain.ChurnSignal, 0, len(reasons))
	for _, r := range reasons {
		out = append(out, domain.ChurnSignal{Signal: r.Signal, Contribution: r.Contribution, Detail: r.Detail})
	}
	return out
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	if word == "opportunity" {
		return "opportunities"
	}
	return word + "s"
}
