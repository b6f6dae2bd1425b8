package readapi_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
)

// paramsFixture is two customers of sales with interactions and orders in
// two years (EUR) and in GBP (2011), for the tests of query parameters.
type paramsFixture struct {
	e    *env
	a, b string // customers
}

func newParamsFixture(t *testing.T) *paramsFixture {
	t.Helper()
	e := newEnv(t)
	f := &paramsFixture{e: e}
	f.a, _ = e.register("admin", "Param Alpha", "sales", nil)
	f.b, _ = e.register("admin", "Param Beta", "sales", nil)
	var last reply
	for i, c := range []string{f.a, f.b, f.a, f.b} {
		e.cmd(http.MethodPost, "/v1/customers/"+c+"/interactions", "sales", map[string]any{
			"channel": "call", "occurredAt": fmt.Sprintf("2011-05-0%dT09:00:00Z", i+1), "summary": fmt.Sprintf("call %d", i)})
		for j, year := range []string{"2010", "2011"} {
			last = e.cmd(http.MethodPost, "/v1/orders", "admin", map[string]any{
				"customerId": c, "orderNo": fmt.Sprintf("P-%d-%d", i, j), "orderedAt": year + fmt.Sprintf("-06-0%dT10:00:00Z", i+1),
				"currency": "EUR", "lines": []map[string]any{{"sku": "X", "quantity": i + 1, "unitPrice": "10.00"}}})
		}
	}
	for i, c := range []string{f.a, f.b} {
		last = e.cmd(http.MethodPost, "/v1/orders", "admin", map[string]any{
			"customerId": c, "orderNo": fmt.Sprintf("G-%d", i), "orderedAt": "2011-07-01T10:00:00Z",
			"currency": "GBP", "lines": []map[string]any{{"sku": "G", "quantity": i + 1, "unitPrice": "5.00"}}})
	}
	for _, p := range []string{"/v1/customers/" + f.a + "/timeline", "/v1/customers/" + f.a + "/orders", "/v1/reports/contribution"} {
		e.fresh(p, "admin", last)
	}
	return f
}

// wantProblem requires r to be a 400 problem naming exactly fields.
func wantProblem(t *testing.T, r reply, fields ...string) {
	t.Helper()
	if r.status != http.StatusBadRequest || !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("%d %s %s, want a 400 problem", r.status, r.header.Get("Content-Type"), r.raw)
	}
	if diff := gocmp.Diff(fields, r.fields()); diff != "" {
		t.Errorf("problem fields (-want +got):\n%s\n%s", diff, r.raw)
	}
}

// kindsOf returns the kind of every item of a timeline answer.
func kindsOf(r reply) []string {
	var out []string
	for _, it := range r.items() {
		k, _ := it["kind"].(string)
		out = append(out, k)
	}
	return out
}

// TestRepeatedQueryParameters: a repeated kinds adds its kinds (the
// union); any other repeated parameter is a 400 naming it, never the
// first value silently.
func TestRepeatedQueryParameters(t *testing.T) {
	f := newParamsFixture(t)
	e := f.e
	tl := "/v1/customers/" + f.a + "/timeline?limit=200"

	t.Run("kinds union", func(t *testing.T) {
		one := e.get(tl+"&kinds=interaction,order", "admin")
		if one.status != http.StatusOK {
			t.Fatalf("%d %s", one.status, one.raw)
		}
		kinds := kindsOf(one)
		if !slices.Contains(kinds, "interaction") || !slices.Contains(kinds, "order") || slices.Contains(kinds, "profile") {
			t.Fatalf("kinds=interaction,order gave kinds %v", kinds)
		}
		for _, q := range []string{"&kinds=interaction&kinds=order", "&kinds=order&kinds=interaction", "&kinds=interaction&kinds=order,interaction&kinds="} {
			r := e.get(tl+q, "admin")
			if r.status != http.StatusOK {
				t.Fatalf("%s: %d %s", q, r.status, r.raw)
			}
			if diff := gocmp.Diff(one.items(), r.items()); diff != "" {
				t.Errorf("%s differs from kinds=interaction,order (-want +got):\n%s", q, diff)
			}
		}
		only := e.get(tl+"&kinds=order", "admin")
		if len(only.items()) == 0 || len(only.items()) >= len(one.items()) {
			t.Errorf("kinds=order gave %d items, the union %d", len(only.items()), len(one.items()))
		}
		wantProblem(t, e.get(tl+"&kinds=interaction&kinds=bogus", "admin"), "kinds")
	})

	tests := []struct {
		path  string
		field string
	}{
		{"/v1/customers?limit=1&limit=2", "limit"},
		{"/v1/customers?cursor=a&cursor=b", "cursor"},
		{"/v1/customers?q=alpha&q=beta", "q"},
		{"/v1/customers?level=1&level=2", "level"},
		{"/v1/customers?level=2&level=2", "level"},
		{"/v1/customers?region=North&region=South", "region"},
		{"/v1/customers?owner=sales&owner=sales2", "owner"},
		{"/v1/customers?status=active&status=lost", "status"},
		{"/v1/customers/" + f.a + "/timeline?limit=1&limit=1", "limit"},
		{"/v1/customers/" + f.a + "/orders?limit=5&limit=10", "limit"},
		{"/v1/opportunities?status=won&status=lost", "status"},
		{"/v1/opportunities?assignee=sales&assignee=sales2", "assignee"},
		{"/v1/service-requests?type=complaint&type=suggestion", "type"},
		{"/v1/service-requests?status=created&status=handled", "status"},
		{"/v1/reports/contribution?year=2010&year=2011", "year"},
		{"/v1/reports/contribution?currency=EUR&currency=GBP", "currency"},
		{"/v1/reports/contribution?cursor=a&cursor=b", "cursor"},
		{"/v1/reports/composition?by=level&by=region", "by"},
		{"/v1/reports/service?year=2010&year=2011", "year"},
		{"/v1/churn/risks?band=high&band=low", "band"},
		{"/v1/customers?minPosition=1&minPosition=2", "minPosition"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := e.get(tt.path, "admin")
			wantProblem(t, r, tt.field)
			if !strings.Contains(string(r.raw), "given once") {
				t.Errorf("the problem does not say what to fix: %s", r.raw)
			}
		})
	}
	// Each single-valued parameter once is fine.
	for _, p := range []string{"/v1/customers?level=2&limit=1", "/v1/reports/contribution?year=2011&currency=GBP", "/v1/reports/composition?by=level"} {
		if r := e.get(p, "admin"); r.status != http.StatusOK {
			t.Errorf("GET %s: %d %s", p, r.status, r.raw)
		}
	}
}
