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

// TestCachedPagesFollowWrites: the timeline and churn-risk pages the API
// keeps in memory are answered again while their data is unchanged and
// never once it changed: a new interaction shows on the next timeline page
// read with its position, a rescoring shows on the next churn-risk page.
func TestCachedPagesFollowWrites(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cid, last := e.register("admin", "Cached Ltd", "sales", nil)
	at := time.Date(2011, 6, 1, 12, 0, 0, 0, time.UTC)
	for i := range 4 {
		last = e.cmd(http.MethodPost, "/v1/customers/"+cid+"/interactions", "sales", map[string]any{
			"channel": "call", "occurredAt": at.Add(time.Duration(i) * time.Hour).Format(time.RFC3339), "summary": fmt.Sprintf("call %d", i)})
	}
	summaries := func(r reply) []string {
		t.Helper()
		var out []string
		for _, it := range r.items() {
			s, _ := it["summary"].(string)
			out = append(out, s)
		}
		return out
	}

	reg := "Customer Cached Ltd registered (level 2)"
	pages := []struct {
		path            string
		want, wantAfter []string
	}{
		{"/v1/customers/" + cid + "/timeline?limit=3", []string{reg, "call: call 3", "call: call 2"}, []string{reg, "email: call new", "call: call 3"}},
		{"/v1/customers/" + cid + "/timeline?limit=2&kinds=interaction", []string{"call: call 3", "call: call 2"}, []string{"email: call new", "call: call 3"}},
		{"/v1/customers/" + cid + "/timeline?limit=2&kinds=interaction,order", []string{"call: call 3", "call: call 2"}, []string{"email: call new", "call: call 3"}},
	}
	before := map[string]reply{}
	for _, p := range pages {
		first := e.fresh(p.path, "sales", last)
		again := e.get(p.path, "sales")
		if first.status != http.StatusOK || string(first.raw) != string(again.raw) {
			t.Fatalf("%s: unchanged data answered differently:\n%s\n%s", p.path, first.raw, again.raw)
		}
		if diff := cmp.Diff(p.want, summaries(first)); diff != "" {
			t.Fatalf("%s (-want +got):\n%s", p.path, diff)
		}
		before[p.path] = first
	}
	// The second page (a cursor) is cached too, and follows as well.
	second := "/v1/customers/" + cid + "/timeline?limit=2&kinds=interaction&cursor=" + before[pages[1].path].str("nextCursor")
	if got := summaries(e.get(second, "sales")); !cmp.Equal(got, []string{"call: call 1", "call: call 0"}) {
		t.Fatalf("second page: %v", got)
	}

	added := e.cmd(http.MethodPost, "/v1/customers/"+cid+"/interactions", "sales", map[string]any{
		"channel": "email", "occurredAt": at.Add(10 * time.Hour).Format(time.RFC3339), "summary": "call new"})
	for _, p := range pages {
		r := e.fresh(p.path, "sales", added)
		if diff := cmp.Diff(p.wantAfter, summaries(r)); diff != "" {
			t.Errorf("%s after a new interaction (-want +got):\n%s", p.path, diff)
		}
	}
	if got := summaries(e.get(second, "sales")); !cmp.Equal(got, []string{"call: call 1", "call: call 0"}) {
		t.Errorf("second page (the cursor names a position, not an offset): %v", got)
	}

	// Churn risks: scored at now, then rescored at a later now.
	for i := range 6 {
		id, _ := e.register("admin", fmt.Sprintf("Risk %d", i), []string{"sales", "sales2"}[i%2], nil)
		last = e.cmd(http.MethodPost, "/v1/orders", "admin", map[string]any{"customerId": id, "currency": "GBP",
			"orderedAt": at.AddDate(0, -i, 0).Format(time.RFC3339), "lines": []map[string]any{{"sku": "X", "quantity": 1 + i, "unitPrice": "10"}}})
	}
	e.fresh("/v1/churn/risks", "admin", last)
	e.fresh("/v1/churn/risks", "admin", added)
	score := func(now time.Time) {
		t.Helper()
		sc, err := churn.NewScorer(churn.ScorerConfig{Redis: e.redis.Client, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		if st, ok, err := sc.ScoreAll(ctx); err != nil || !ok || st.Scored != 7 {
			t.Fatalf("scoring at %s: %+v %v %v", now, st, ok, err)
		}
	}
	// stored is what the risk documents say: customer id and score, in rank order.
	stored := func(owner string) []string {
		t.Helper()
		risks, _, err := churn.ListRisks(ctx, e.redis.Client, "", owner, "", 200)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range risks {
			out = append(out, fmt.Sprintf("%s %d %s", r.CustomerID, r.Score, r.ScoredAt.Format(time.RFC3339)))
		}
		return out
	}
	served := func(path, user string) []string {
		t.Helper()
		r := e.get(path, user)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", path, r.status, r.raw)
		}
		var out []string
		for _, it := range r.items() {
			out = append(out, fmt.Sprintf("%s %v %s", it["customerId"], it["score"], it["scoredAt"]))
		}
		return out
	}
	lists := []struct{ path, user, owner string }{
		{"/v1/churn/risks?limit=200", "admin", ""},
		{"/v1/churn/risks?limit=200", "sales", "sales"},
		{"/v1/churn/risks?limit=200&owner=sales2", "manager", "sales2"},
	}
	for _, now := range []time.Time{at.AddDate(0, 1, 0), at.AddDate(0, 9, 0), at.AddDate(2, 0, 0)} {
		score(now)
		for _, l := range lists {
			want := stored(l.owner)
			for range 2 { // the second answer is the kept page
				if diff := cmp.Diff(want, served(l.path, l.user)); diff != "" {
					t.Errorf("%s as %s scored at %s (-stored +served):\n%s", l.path, l.user, now.Format(time.DateOnly), diff)
				}
			}
		}
	}
}
