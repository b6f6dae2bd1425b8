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
