package churn_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/crm-es/crm/commands"
	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/projections/churn"
)

// TestEvaluatorMatchesScorer: for one history, all of it at or before T,
// the evaluation protocol ("crm churn evaluate": $all replayed into an
// Evaluator, scored at now = T) and the service (the churn projection and
// the Scorer at now = T) give every customer the same value, score, band,
// reasons and rule verdict. The history exercises every signal: orders,
// a cancellation, a return, interactions, ratings, complaints open and
// closed with feedback, a lost opportunity, profile and owner changes
// (which only the projection sees) and churn status events.
func TestEvaluatorMatchesScorer(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rt, _, _ := e.project(t, e.r.Client)
	T := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	day := func(n int) time.Time { return T.AddDate(0, 0, n) }
	at := func(n int) { t.Helper(); e.setClock(day(n)) }
	must := func(_ commands.Result, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	place := func(id uuid.UUID, n int, amount int64) uuid.UUID {
		t.Helper()
		at(n)
		res, err := e.h.PlaceOrder(ctx, admin, commands.PlaceOrder{PlaceOrder: domain.PlaceOrder{
			CustomerID: id, OrderedAt: day(n), Currency: "GBP",
			Lines: []domain.OrderLine{{SKU: "SKU-1", Quantity: domain.DecimalFromInt(2), UnitPrice: domain.DecimalFromInt(amount)}}}})
		if err != nil {
			t.Fatal(err)
		}
		return uuid.MustParse(res.ID)
	}
	complaint := func(id uuid.UUID, n int) uuid.UUID {
		t.Helper()
		at(n)
		res, err := e.h.OpenServiceRequest(ctx, admin, commands.OpenServiceRequest{OpenServiceRequest: domain.OpenServiceRequest{
			CustomerID: id, Type: domain.ServiceComplaint, Title: "late", Request: "the parcel is late"}})
		if err != nil {
			t.Fatal(err)
		}
		return uuid.MustParse(res.ID)
	}

	at(-700)
	loyal := e.register(t, "Loyal", "rep-1")
	complainer := e.register(t, "Complainer", "rep-1")
	faded := e.register(t, "Faded", "rep-2")
	warned := e.register(t, "Warned", "rep-2")
	lost := e.register(t, "Lost", "")
	never := e.register(t, "Never ordered", "rep-1")

	// Loyal: an order a month for a year, one cancelled, one partly
	// returned; interactions; a poor rating.
	for m := 12; m >= 1; m-- {
		o := place(loyal, -30*m+3, 40+int64(m))
		switch m {
		case 5:
			at(-30*m + 4)
			must(e.h.CancelOrder(ctx, admin, o, "changed their mind"))
		case 3:
			at(-30*m + 10)
			must(e.h.ReturnOrder(ctx, admin, o, domain.ReturnOrder{Amount: ptr(domain.DecimalFromInt(30)), Reason: "broken"}))
		}
	}
	for _, n := range []int{-200, -95, -20} {
		at(n)
		must(e.h.LogInteraction(ctx, admin, loyal, "", domain.Interaction{Channel: "call", OccurredAt: day(n), Summary: "check-in"}))
	}
	at(-15)
	must(e.h.RateCustomerSatisfaction(ctx, admin, loyal, 2))

	// Complainer: a few orders, one complaint still open, one handled with
	// poor feedback, a lost opportunity.
	for _, n := range []int{-300, -160, -70, -40} {
		place(complainer, n, 120)
	}
	complaint(complainer, -30)
	sr := complaint(complainer, -60)
	at(-58)
	must(e.h.AssignServiceRequest(ctx, admin, sr, "agent-1"))
	must(e.h.HandleServiceRequest(ctx, admin, sr, "resent the parcel"))
	at(-50)
	must(e.h.RecordServiceFeedback(ctx, admin, sr, domain.Feedback{Result: "late again", Satisfaction: 1}))
	at(-45)
	res, err := e.h.CreateOpportunity(ctx, admin, commands.CreateOpportunity{CreateOpportunity: domain.CreateOpportunity{
		Title: "upsell", CustomerID: &complainer}})
	if err != nil {
		t.Fatal(err)
	}
	at(-25)
	must(e.h.LoseOpportunity(ctx, admin, uuid.MustParse(res.ID), "too expensive"))

	// Faded: orders long ago (the rule fires), then only a profile change
	// and a new owner just before T.
	for _, n := range []int{-400, -380, -350, -300} {
		place(faded, n, 300)
	}
	at(-2)
	must(e.h.ChangeCustomerProfile(ctx, admin, faded, domain.ProfileChange{Name: ptr("Faded Ltd")}))
	must(e.h.AssignCustomerOwner(ctx, admin, faded, "rep-3"))

	// Warned: orders, a warning and a deferral; Lost: orders, confirmed.
	for _, n := range []int{-250, -220, -190} {
		place(warned, n, 80)
		place(lost, n-5, 60)
	}
	at(-10)
	must(e.h.RaiseChurnWarning(ctx, admin, warned, domain.ChurnWarning{Why: domain.ChurnWhyRule}))
	must(e.h.DeferChurn(ctx, admin, warned, "a discount"))
	must(e.h.ConfirmChurn(ctx, admin, lost, "moved away"))
	at(0)
	place(loyal, 0, 45) // exactly at T
	e.caughtUp(t, rt)

	// The service at now = T.
	now := T
	scoreAll(t, e.scorer(t, &now, 6))

	// The evaluation protocol over the same log.
	ev := churn.NewEvaluator(T, 90*24*time.Hour, 6)
	if err := churn.Replay(context.Background(), e.store, ev, nil); err != nil {
		t.Fatal(err)
	}
	rep := ev.Report()
	if rep.Later != 0 {
		t.Fatalf("%d events after T: the history must end at T", rep.Later)
	}
	got := map[string]bool{}
	for _, s := range rep.Scored {
		got[s.CustomerID] = true
		r := readRisk(t, e.r.Client, uuid.MustParse(s.CustomerID))
		type view struct {
			Value   float64
			Score   int
			Band    churn.Band
			Reasons []churn.Reason
			Rule    bool
		}
		want := view{r.Value, r.Score, r.Band, r.Reasons, r.Rule.Fires}
		if diff := cmp.Diff(want, view{s.Value, s.Score, s.Band, s.Reasons, s.Rule}); diff != "" {
			t.Errorf("customer %s (%s): scorer (-) and evaluator (+) differ:\n%s", s.CustomerID, r.Name, diff)
		}
		if s.Rule && (s.RuleReason == nil || s.RuleReason.Detail != r.Rule.Detail) {
			t.Errorf("customer %s: rule detail %+v, scorer %q", r.Name, s.RuleReason, r.Rule.Detail)
		}
	}
	want := map[string]bool{loyal.String(): true, complainer.String(): true, faded.String(): true, warned.String(): true, lost.String(): true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("customers evaluated (-want +got):\n%s", diff)
	}
	if _, found, _ := churn.ReadRisk(ctx, e.r.Client, never.String()); !found {
		t.Errorf("the customer without orders was not scored by the service")
	}
	bands := map[churn.Band]bool{}
	for _, s := range rep.Scored {
		bands[s.Band] = true
	}
	if len(bands) < 2 || rep.RuleFired == 0 {
		t.Errorf("a history too uniform to compare: bands %v, rule fired %d", bands, rep.RuleFired)
	}
}
