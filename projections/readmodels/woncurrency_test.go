package readmodels

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/crm-es/crm/domain"
)

// TestWonAmountKeepsItsCurrency: an opportunity won in another currency
// than its expected value shows both, each with its own currency
// (expected 1000 EUR, won 900 GBP: expectedValue 1000 EUR, amount 900
// wonCurrency GBP), and the pipeline counts the won amount in its currency
// and the open ones' expected values in theirs, after any redelivery.
func TestWonAmountKeepsItsCurrency(t *testing.T) {
	var b builder
	created, won := day0(2011, 1, 1), day0(2011, 1, 11)
	cust := id("won-currency customer")
	type opp struct {
		name      string
		expected  string
		currency  string
		amount    string // "" = won without an amount; "-" = not won
		wonIn     string // the win's currency ("" = none given)
		wantValue *domain.Decimal
		wantCur   string // wonCurrency
	}
	opps := []opp{
		{"other currency", "1000", "EUR", "900", "GBP", decp("900"), "GBP"},
		{"no currency on the win", "500", "EUR", "450", "", decp("450"), "EUR"},
		{"no amount on the win", "200", "GBP", "", "", nil, ""},
		{"open", "300", "EUR", "-", "", nil, ""},
	}
	for _, o := range opps {
		oid := id("won-currency " + o.name)
		s := domain.OpportunityStream(oid)
		b.add(s, created, domain.OpportunityCreated{OpportunityID: oid, CustomerID: &cust, Title: o.name,
			ExpectedValue: decp(o.expected), Currency: o.currency, CreatedBy: "u-sales1", CreatedAt: created})
		b.add(s, created, domain.OpportunityAssigned{OpportunityID: oid, CustomerID: &cust, AssigneeID: "u-sales1", AssignedAt: created})
		if o.amount == "-" {
			continue
		}
		w := domain.OpportunityWon{OpportunityID: oid, CustomerID: cust, Currency: o.wonIn, AssigneeID: "u-sales1", WonAt: won}
		if o.amount != "" {
			w.Amount = decp(o.amount)
		}
		b.add(s, won, w)
	}
	events := b.events

	check := func(t *testing.T, s *store, how string) {
		t.Helper()
		for _, o := range opps {
			var got Opportunity
			s.doc(t, Opportunities{}, OpportunityKey(id("won-currency "+o.name).String()), &got)
			want := []any{dec(o.expected).String(), o.currency, o.wantValue, o.wantCur}
			if diff := cmp.Diff(want, []any{got.ExpectedValue.String(), got.Currency, got.Amount, got.WonCurrency}); diff != "" {
				t.Errorf("%s: %s: [expectedValue currency amount wonCurrency] (-want +got):\n%s", how, o.name, diff)
			}
		}
		var pl Pipeline
		s.doc(t, Opportunities{}, PipelineKey, &pl)
		wonBucket := Bucket{Count: 3, Value: Amounts{{Amount: dec("450"), Currency: "EUR"}, {Amount: dec("1100"), Currency: "GBP"}}}
		openBucket := Bucket{Count: 1, Value: Amounts{{Amount: dec("300"), Currency: "EUR"}}}
		want := Pipeline{
			ByStatus:   map[string]Bucket{"won": wonBucket, "assigned": openBucket},
			ByAssignee: map[string]map[string]Bucket{"u-sales1": {"won": wonBucket, "assigned": openBucket}},
			Won:        3, WinRate: 1, TimeToWinSeconds: 3 * int64(won.Sub(created)/time.Second), AvgDaysToWin: 10,
		}
		if diff := cmp.Diff(want, pl, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: pipeline (-want +got):\n%s", how, diff)
		}
	}
	clean := newStore()
	clean.apply(t, events)
	check(t, clean, "one pass")
	for k := 0; k <= len(events); k++ {
		s := newStore().withDocs(t)
		s.apply(t, events[:k])
		s.apply(t, events)
		s.checkDocs()
		check(t, s, fmt.Sprintf("prefix %d redelivered", k))
	}

	// A won document written before wonCurrency existed (the won amount's
	// currency in currency) still counts in that currency.
	legacy := Opportunity{Status: string(domain.OpportunityStatusWon), ExpectedValue: decp("1000"), Amount: decp("900"), Currency: "GBP"}
	if v, cur := legacy.value(); v.String() != "900" || cur != "GBP" {
		t.Errorf("legacy won document counts %v %s, want 900 GBP", v, cur)
	}
}
