package readapi_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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
