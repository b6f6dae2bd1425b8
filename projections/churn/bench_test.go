package churn

import "testing"

// BenchmarkScore scores a customer with a year of weekly orders.
func BenchmarkScore(b *testing.B) {
	s := regular(52, 7, "120.50")
	now := t0.AddDate(1, 0, 30)
	b.ReportAllocs()
	for b.Loop() {
		_ = Score(s, now)
	}
}

// BenchmarkApply folds a year of weekly orders, each with a return.
func BenchmarkApply(b *testing.B) {
	var evs []ev
	for i := range 52 {
		at := t0.AddDate(0, 0, 7*i)
		evs = append(evs, ev{placed(i, at, "120.50"), at})
	}
	b.ReportAllocs()
	for b.Loop() {
		var s Signals
		for _, e := range evs {
			s.Apply(e.e, e.at)
		}
	}
}
