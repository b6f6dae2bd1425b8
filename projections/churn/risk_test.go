package churn

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crm-es/crm/domain"
)

func TestRankMemberOrdersByScoreThenID(t *testing.T) {
	a, b := "00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b"
	ordered := []string{RankMember(100, a), RankMember(99.9, a), RankMember(99.9, b), RankMember(40, a), RankMember(0, b)}
	for i := 1; i < len(ordered); i++ {
		if ordered[i-1] >= ordered[i] {
			t.Errorf("%q sorts at or after %q", ordered[i-1], ordered[i])
		}
	}
	for _, m := range ordered {
		if got, err := ParseCursor(m); err != nil || got != m {
			t.Errorf("ParseCursor(%q) = %q, %v", m, got, err)
		}
	}
	if got := RankMember(-3, a); got != RankMember(0, a) {
		t.Errorf("negative value: %q", got)
	}
}

func TestParseCursorRejects(t *testing.T) {
	for _, c := range []string{"", "x", "0500", "0500:", "0500:not-a-uuid", "1001:00000000-0000-0000-0000-00000000000a",
		"-001:00000000-0000-0000-0000-00000000000a", "+500:00000000-0000-0000-0000-00000000000a",
		"0500:{00000000-0000-0000-0000-00000000000a}", "500:00000000-0000-0000-0000-00000000000a"} {
		_, err := ParseCursor(c)
		var de *domain.Error
		if !errors.As(err, &de) || de.Kind != domain.KindInvalid || len(de.Fields) != 1 || de.Fields[0].Field != "cursor" {
			t.Errorf("ParseCursor(%q): %v, want an invalid cursor field error", c, err)
		}
	}
}

func FuzzParseCursor(f *testing.F) {
	f.Add("0500:00000000-0000-0000-0000-00000000000a")
	f.Add("1000:00000000-0000-0000-0000-00000000000a")
	f.Add("garbage")
	f.Add("0500:urn:uuid:00000000-0000-0000-0000-00000000000a")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseCursor(s)
		if err != nil {
			var de *domain.Error
			if !errors.As(err, &de) || de.Kind != domain.KindInvalid {
				t.Fatalf("error of the wrong kind: %v", err)
			}
			return
		}
		again, err := ParseCursor(got)
		if err != nil || again != got || len(got) != 41 {
			t.Fatalf("normalised %q → %q, re-parsed %q, %v", s, got, again, err)
		}
	})
}

func TestWarning(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	reasons := []Reason{{Signal: SignalRecency, Contribution: 40, Detail: "no order for 300 days"}}
	risk := func(status domain.CustomerStatus, band Band, fires bool) Risk {
		return Risk{Status: status, Band: band, Score: map[Band]int{BandLow: 10, BandMedium: 50, BandHigh: 80}[band], Reasons: reasons,
			Rule: RuleResult{Months: 6, Fires: fires, Detail: "no order for 200 days, more than 6 months"}, ScoredAt: now}
	}
	score := 80
	withRule := append(ChurnSignals(reasons), domain.ChurnSignal{Signal: SignalRule, Detail: "no order for 200 days, more than 6 months"})
	for _, tc := range []struct {
		name string
		r    Risk
		prev *Risk
		want *domain.ChurnWarning
	}{
		{"first score high", risk(domain.CustomerStatusActive, BandHigh, false), nil,
			&domain.ChurnWarning{Why: domain.ChurnWhyScore, Score: &score, Signals: ChurnSignals(reasons)}},
		{"crossing from medium", risk(domain.CustomerStatusActive, BandHigh, false), ptr(risk(domain.CustomerStatusActive, BandMedium, false)),
			&domain.ChurnWarning{Why: domain.ChurnWhyScore, Score: &score, Signals: ChurnSignals(reasons)}},
		{"crossing with the rule", risk(domain.CustomerStatusActive, BandHigh, true), ptr(risk(domain.CustomerStatusActive, BandMedium, false)),
			&domain.ChurnWarning{Why: domain.ChurnWhyScore, Score: &score, Signals: withRule}},
		{"staying high", risk(domain.CustomerStatusActive, BandHigh, false), ptr(risk(domain.CustomerStatusActive, BandHigh, false)), nil},
		{"rule only", risk(domain.CustomerStatusActive, BandMedium, true), ptr(risk(domain.CustomerStatusActive, BandMedium, false)),
			&domain.ChurnWarning{Why: domain.ChurnWhyRule, Signals: withRule}},
		{"rule while high", risk(domain.CustomerStatusActive, BandHigh, true), ptr(risk(domain.CustomerStatusActive, BandHigh, true)),
			&domain.ChurnWarning{Why: domain.ChurnWhyRule, Signals: withRule}},
		{"at risk", risk(domain.CustomerStatusAtRisk, BandHigh, true), nil, nil},
		{"lost", risk(domain.CustomerStatusLost, BandHigh, true), nil, nil},
		{"never registered", risk("", BandHigh, true), nil, nil},
		{"medium", risk(domain.CustomerStatusActive, BandMedium, false), nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, ok := Warning(tc.r, tc.prev)
			var got *domain.ChurnWarning
			if ok {
				got = &w
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestClearing(t *testing.T) {
	risk := func(status domain.CustomerStatus, band Band, fires bool) Risk {
		return Risk{Status: status, Band: band, Score: map[Band]int{BandLow: 12, BandMedium: 50, BandHigh: 80}[band],
			Rule: RuleResult{Months: 6, Fires: fires}}
	}
	for _, tc := range []struct {
		name string
		r    Risk
		want string // "" = no clearing
	}{
		{"at risk, low, rule silent", risk(domain.CustomerStatusAtRisk, BandLow, false),
			"churn risk gone: score 12 (band low) and the 6-month rule no longer fires"},
		{"at risk, low, rule fires", risk(domain.CustomerStatusAtRisk, BandLow, true), ""},
		{"at risk, medium", risk(domain.CustomerStatusAtRisk, BandMedium, false), ""},
		{"at risk, high", risk(domain.CustomerStatusAtRisk, BandHigh, false), ""},
		{"active, low", risk(domain.CustomerStatusActive, BandLow, false), ""},
		{"lost, low", risk(domain.CustomerStatusLost, BandLow, false), ""},
		{"never registered, low", risk("", BandLow, false), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reason, ok := Clearing(tc.r)
			if ok != (tc.want != "") || reason != tc.want {
				t.Errorf("Clearing = %q, %v; want %q", reason, ok, tc.want)
			}
		})
	}
}
