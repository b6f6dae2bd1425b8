package readapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/crm-es/crm/commands"
	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/projections/churn"
)

// TestChurnRisks: the ranked churn-risk list (scored by the real Scorer)
// with reasons, band and owner filters, own scope, cursor paging, the
// customer 360's churnRisk and the churn report's band counts.
func TestChurnRisks(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	var last reply
	owners := map[string]string{}
	for i := range 24 {
		owner := []string{"sales", "sales2"}[i%2]
		id, _ := e.register("admin", fmt.Sprintf("Risky %02d", i), owner, nil)
		owners[id] = owner
		for j := range i % 5 {
			last = e.cmd(http.MethodPost, "/v1/orders", "admin", map[string]any{"customerId": id, "currency": "GBP",
				"orderedAt": now.AddDate(0, -(i%12)-j, 0).Format(time.RFC3339), "lines": []map[string]any{{"sku": "X", "quantity": 1, "unitPrice": "10"}}})
		}
	}
	e.fresh("/v1/churn/risks", "admin", last)
	sc, err := churn.NewScorer(churn.ScorerConfig{Redis: e.redis.Client, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if st, ok, err := sc.ScoreAll(context.Background()); err != nil || !ok || st.Scored != 24 {
		t.Fatalf("scoring: %+v %v %v", st, ok, err)
	}

	all := e.get("/v1/churn/risks?limit=200", "admin")
	items := all.items()
	if len(items) != 24 {
		t.Fatalf("%d risks: %s", len(items), all.raw)
	}
	bands := map[string]int{}
	for i, it := range items {
		for _, k := range []string{"customerId", "name", "ownerId", "score", "band", "reasons"} {
			if _, ok := it[k]; !ok {
				t.Fatalf("risk item without %s: %v", k, it)
			}
		}
		reasons, _ := it["reasons"].([]any)
		if len(reasons) == 0 {
			t.Errorf("no reasons: %v", it)
		}
		for _, r := range reasons {
			m := r.(map[string]any)
			if _, ok := m["signal"].(string); !ok {
				t.Errorf("reason without signal: %v", m)
			}
			if _, ok := m["contribution"].(float64); !ok {
				t.Errorf("reason without contribution: %v", m)
			}
		}
		if i > 0 && it["score"].(float64) > items[i-1]["score"].(float64) {
			t.Errorf("not ranked: %v after %v", it["score"], items[i-1]["score"])
		}
		if owners[it["customerId"].(string)] != it["ownerId"] {
			t.Errorf("owner of %v", it)
		}
		bands[it["band"].(string)]++
	}

	t.Logf("bands: %v", bands)
	// Paging by 5 gives the same ranking.
	paged, pages := e.pageAll("/v1/churn/risks?limit=5", "admin", "customerId", func() {})
	var want []string
	for _, it := range items {
		want = append(want, it["customerId"].(string))
	}
	if diff := cmp.Diff(want, paged); diff != "" || pages != 5 {
		t.Errorf("paged by 5 in %d pages (-all +paged):\n%s", pages, diff)
	}

	// Filters and scope.
	for band, n := range bands {
		r := e.get("/v1/churn/risks?limit=200&band="+band, "manager")
		if len(r.items()) != n {
			t.Errorf("band %s: %d items, want %d", band, len(r.items()), n)
		}
		for _, it := range r.items() {
			if it["band"] != band {
				t.Errorf("band %s: %v", band, it)
			}
		}
	}
	for _, tt := range []struct{ user, query string }{{"sales", ""}, {"sales", "?owner=sales"}, {"executive", "?owner=sales"}} {
		r := e.get("/v1/churn/risks"+tt.query, tt.user)
		if len(r.items()) != 12 {
			t.Errorf("%s %s: %d items", tt.user, tt.query, len(r.items()))
		}
		for _, it := range r.items() {
			if it["ownerId"] != "sales" {
				t.Errorf("%s %s: %v", tt.user, tt.query, it)
			}
		}
	}

	// The customer 360 carries the same risk; the churn report counts it.
	top := items[0]
	c360 := e.get("/v1/customers/"+top["customerId"].(string), "admin")
	if diff := cmp.Diff(top, c360.body["churnRisk"]); diff != "" {
		t.Errorf("360 churnRisk (-list +360):\n%s", diff)
	}
	rep := e.get("/v1/reports/churn", "executive")
	got := rep.body["bands"].(map[string]any)
	for _, b := range []string{"low", "medium", "high"} {
		if got[b] != float64(bands[b]) {
			t.Errorf("report band %s: %v, want %d", b, got[b], bands[b])
		}
	}
}

// TestChurnRisksActiveAndAtRiskOnly: a lost customer (here the highest
// score: no order for two years) is in neither /v1/churn/risks nor the
// churn report's counts, but the customer 360 keeps its churn risk; once
// reactivated it is ranked and counted again.
func TestChurnRisksActiveAndAtRiskOnly(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	order := func(id string, at time.Time) reply {
		t.Helper()
		return e.cmd(http.MethodPost, "/v1/orders", "admin", map[string]any{"customerId": id, "currency": "GBP",
			"orderedAt": at.Format(time.RFC3339), "lines": []map[string]any{{"sku": "X", "quantity": 1, "unitPrice": "10"}}})
	}
	steady, _ := e.register("admin", "Steady", "sales", nil)
	for m := range 6 {
		order(steady, now.AddDate(0, -m, -1))
	}
	gone, _ := e.register("admin", "Gone", "sales", nil)
	order(gone, now.AddDate(-2, 0, 0))
	last := e.cmd(http.MethodPost, "/v1/customers/"+gone+"/churn/confirm", "admin", map[string]any{"reason": "closed the shop"})
	sc, err := churn.NewScorer(churn.ScorerConfig{Redis: e.redis.Client, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	score := func(last reply) {
		t.Helper()
		e.fresh("/v1/churn/risks", "admin", last)
		if _, ok, err := sc.ScoreAll(context.Background()); err != nil || !ok {
			t.Fatalf("scoring: %v %v", ok, err)
		}
	}
	score(last)
	c360 := e.get("/v1/customers/"+gone, "admin")
	risk, _ := c360.body["churnRisk"].(map[string]any)
	if risk["status"] != "lost" || risk["band"] != "high" {
		t.Fatalf("the lost customer's 360 churnRisk (status lost, band high expected): %v", c360.body["churnRisk"])
	}

	for _, tc := range []struct {
		name  string
		act   func() reply // nil: the state as set up
		want  []string     // /v1/churn/risks' customer ids, in order
		high  float64      // the report's band high count
		rule  float64      // the report's rule firing count
		total float64      // the report's scored count
	}{
		{name: "lost", want: []string{steady}, high: 0, rule: 0, total: 1},
		{name: "reactivated", act: func() reply {
			return e.cmd(http.MethodPost, "/v1/customers/"+gone+"/reactivate", "admin", map[string]any{"reason": "new contract"})
		}, want: []string{gone, steady}, high: 1, rule: 1, total: 2},
		{name: "lost again", act: func() reply {
			return e.cmd(http.MethodPost, "/v1/customers/"+gone+"/churn/confirm", "admin", map[string]any{"reason": "closed for good"})
		}, want: []string{steady}, high: 0, rule: 0, total: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.act != nil {
				score(tc.act())
			}
			var got []string
			for _, it := range e.get("/v1/churn/risks?limit=200", "admin").items() {
				got = append(got, it["customerId"].(string))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("/v1/churn/risks (-want +got):\n%s", diff)
			}
			high := e.get("/v1/churn/risks?band=high", "admin").items()
			if len(high) != int(tc.high) {
				t.Errorf("band high: %d items, want %v", len(high), tc.high)
			}
			rep := e.get("/v1/reports/churn", "executive").body
			bands := rep["bands"].(map[string]any)
			rule := rep["rule"].(map[string]any)
			if rep["scored"] != tc.total || bands["high"] != tc.high || bands["low"].(float64)+bands["medium"].(float64)+bands["high"].(float64) != tc.total ||
				rule["firing"] != tc.rule {
				t.Errorf("report: scored %v, bands %v, rule %v; want scored %v, high %v, firing %v", rep["scored"], bands, rule, tc.total, tc.high, tc.rule)
			}
			if r, _ := e.get("/v1/customers/"+gone, "admin").body["churnRisk"].(map[string]any); r == nil || r["band"] != "high" {
				t.Errorf("the 360 lost its churn risk: %v", r)
			}
		})
	}
}

// commandWarner is cmd/crm's adapter: the scorer's warnings and clearings
// through the real command handlers.
type commandWarner struct{ h *commands.Handlers }

func (w commandWarner) WarnChurn(ctx context.Context, id uuid.UUID, cw domain.ChurnWarning, key string) (bool, error) {
	res, err := w.h.WarnChurn(ctx, commands.Options{Actor: commands.Actor{UserID: "churn-scorer"}, IdempotencyKey: key}, id, cw)
	return res.Changed && !res.Replayed, err
}

func (w commandWarner) ClearChurn(ctx context.Context, id uuid.UUID, reason, key string) (bool, error) {
	res, err := w.h.ClearChurn(ctx, commands.Options{Actor: commands.Actor{UserID: "churn-scorer"}, IdempotencyKey: key}, id, reason)
	return res.Changed && !res.Replayed, err
}

// TestChurnWarningClearedEverywhere: a customer the scorer warned (high:
// no order for two years) who orders again every month is cleared by the
// scorer, and the query API follows: the status filter, the 360 and the
// churn report's atRisk and cleared.
func TestChurnWarningClearedEverywhere(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now().UTC()
	order := func(id string, at time.Time) reply {
		t.Helper()
		return e.cmd(http.MethodPost, "/v1/orders", "admin", map[string]any{"customerId": id, "currency": "GBP",
			"orderedAt": at.Format(time.RFC3339), "lines": []map[string]any{{"sku": "X", "quantity": 1, "unitPrice": "10"}}})
	}
	id, _ := e.register("admin", "Returning", "sales", nil)
	last := order(id, now.AddDate(-2, 0, 0))
	sc, err := churn.NewScorer(churn.ScorerConfig{Redis: e.redis.Client, Warner: commandWarner{commands.New(commands.Config{Store: e.store})},
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	// score scores everyone after the projections have last, and returns
	// a query that waits for what the scorer recorded.
	score := func(last reply) (churn.PassStats, func(path, user string) reply) {
		t.Helper()
		e.fresh("/v1/churn/risks", "admin", last)
		st, ok, err := sc.ScoreAll(ctx)
		if err != nil || !ok {
			t.Fatalf("scoring: %v %v", ok, err)
		}
		head, err := e.store.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st, func(path, user string) reply {
			t.Helper()
			r := e.get(path, user, "X-Min-Position", strconv.FormatUint(head.Commit, 10), "X-Wait-Timeout", "10s")
			if r.status != http.StatusOK {
				t.Fatalf("GET %s: %d %s", path, r.status, r.raw)
			}
			return r
		}
	}
	ids := func(r reply) []string {
		out := []string{}
		for _, it := range r.items() {
			out = append(out, it["id"].(string))
		}
		return out
	}
	check := func(t *testing.T, get func(path, user string) reply, status string, atRisk, cleared float64) {
		t.Helper()
		for _, s := range []string{"active", "at_risk"} {
			want := []string{}
			if s == status {
				want = []string{id}
			}
			if diff := cmp.Diff(want, ids(get("/v1/customers?status="+s, "admin"))); diff != "" {
				t.Errorf("/v1/customers?status=%s (-want +got):\n%s", s, diff)
			}
		}
		if got := get("/v1/customers/"+id, "admin").body["status"]; got != status {
			t.Errorf("360 status %v, want %s", got, status)
		}
		w, _ := get("/v1/reports/churn", "executive").body["warnings"].(map[string]any)
		if w["atRisk"] != atRisk || w["cleared"] != cleared {
			t.Errorf("churn report warnings: atRisk %v cleared %v, want %v %v", w["atRisk"], w["cleared"], atRisk, cleared)
		}
	}

	st, get := score(last)
	if st.Warned != 1 {
		t.Fatalf("warning pass: %+v", st)
	}
	t.Run("warned", func(t *testing.T) { check(t, get, "at_risk", 1, 0) })

	for m := 5; m >= 0; m-- {
		last = order(id, now.AddDate(0, -m, -1))
	}
	st, get = score(last)
	if st.Cleared != 1 {
		t.Fatalf("clearing pass: %+v (risk %s)", st, get("/v1/customers/"+id, "admin").raw)
	}
	t.Run("cleared", func(t *testing.T) { check(t, get, "active", 0, 1) })
}
