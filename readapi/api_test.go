package readapi_test

import (
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

// fixture is a small CRM: two customers of sales, one of sales2, each
// with an opportunity, a service request and an order.
type fixture struct {
	e                  *env
	own, own2, other   string // customer ids (own, own2: of "sales"; other: of "sales2")
	opp, otherOpp      string
	sr, otherSR, order string
	last               reply // the last command
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	e := newEnv(t)
	f := &fixture{e: e}
	f.own, _ = e.register("admin", "Acme Widgets Ltd", "sales", map[string]any{"level": 3, "region": "North"})
	f.own2, _ = e.register("admin", "Bolt Brothers", "sales", map[string]any{"level": 1, "region": "South"})
	f.other, _ = e.register("admin", "Acme Rivals", "sales2", map[string]any{"level": 3, "region": "North"})
	opp := func(cid, title string) string {
		return e.cmd(http.MethodPost, "/v1/opportunities", "admin", map[string]any{
			"title": title, "customerId": cid, "expectedValue": "1200.00", "currency": "GBP", "successRate": 40}).str("id")
	}
	f.opp, f.otherOpp = opp(f.own, "Widgets for 2027"), opp(f.other, "Rival deal")
	e.cmd(http.MethodPost, "/v1/opportunities/"+f.opp+"/assign", "admin", map[string]any{"assigneeId": "sales"})
	sr := func(cid string) string {
		return e.cmd(http.MethodPost, "/v1/service-requests", "admin", map[string]any{
			"customerId": cid, "type": "complaint", "title": "Late delivery", "request": "Where is it?", "channel": "call"}).str("id")
	}
	f.sr, f.otherSR = sr(f.own), sr(f.other)
	f.order = e.cmd(http.MethodPost, "/v1/orders", "admin", map[string]any{
		"customerId": f.own, "orderNo": "A-1", "orderedAt": "2011-05-03T10:00:00Z", "currency": "GBP",
		"lines": []map[string]any{{"sku": "W1", "quantity": 3, "unitPrice": "2.50"}}}).str("id")
	e.cmd(http.MethodPost, "/v1/customers/"+f.own+"/interactions", "sales", map[string]any{
		"channel": "call", "occurredAt": "2011-05-04T09:00:00Z", "summary": "Follow-up call"})
	f.last = e.cmd(http.MethodPost, "/v1/orders", "admin", map[string]any{
		"customerId": f.other, "orderNo": "B-1", "orderedAt": "2011-06-03T10:00:00Z", "currency": "GBP",
		"lines": []map[string]any{{"sku": "W2", "quantity": 1, "unitPrice": "99.00"}}})
	// Wait until everything above is projected.
	e.fresh("/v1/projections", "admin", f.last)
	for _, p := range []string{"/v1/customers", "/v1/opportunities", "/v1/service-requests", "/v1/reports/contribution", "/v1/customers/" + f.own + "/timeline"} {
		e.fresh(p, "admin", f.last)
	}
	return f
}

func ids(items []map[string]any, field string) []string {
	var out []string
	for _, it := range items {
		s, _ := it[field].(string)
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

func TestQueryEndpoints(t *testing.T) {
	f := newFixture(t)
	e := f.e
	missing := uuid.NewString()
	tests := []struct {
		name      string
		path      string
		check     func(t *testing.T, r reply) // happy path as admin
		bad       string                      // a query string with bad parameters
		badFields []string
		denied    string // a user whose role may not read it
		notFound  string // a path that answers 404
	}{
		{name: "customer list", path: "/v1/customers?level=3&region=north&status=active&q=acm",
			check: func(t *testing.T, r reply) {
				if diff := cmp.Diff(sorted(f.own, f.other), ids(r.items(), "id")); diff != "" {
					t.Error(diff)
				}
			},
			bad: "?limit=0&level=9&status=gone&cursor=xyz&q=%21%21", badFields: []string{"limit", "cursor", "q", "level", "status"}, denied: "executive"},
		{name: "customer list by owner", path: "/v1/customers?owner=sales",
			check: func(t *testing.T, r reply) {
				if diff := cmp.Diff(sorted(f.own, f.own2), ids(r.items(), "id")); diff != "" {
					t.Error(diff)
				}
			},
			bad: "?limit=201", badFields: []string{"limit"}, denied: "analyst"},
		{name: "customer 360", path: "/v1/customers/" + f.own,
			check: func(t *testing.T, r reply) {
				kpis, _ := r.body["kpis"].(map[string]any)
				if r.str("name") != "Acme Widgets Ltd" || kpis["orders"] != float64(1) || kpis["openOpportunities"] != float64(1) ||
					kpis["complaints"] != float64(1) || kpis["interactions"] != float64(1) {
					t.Errorf("360: %s", r.raw)
				}
				if _, ok := r.body["churnRisk"]; !ok {
					t.Errorf("360 has no churnRisk: %s", r.raw)
				}
				if r.header.Get("ETag") == "" {
					t.Error("no ETag")
				}
			},
			bad: "/../not-a-uuid", badFields: []string{"id"}, denied: "executive", notFound: "/v1/customers/" + missing},
		{name: "timeline", path: "/v1/customers/" + f.own + "/timeline?limit=10",
			check: func(t *testing.T, r reply) {
				var kinds []string
				for _, it := range r.items() {
					kinds = append(kinds, it["kind"].(string))
					for _, k := range []string{"type", "occurredAt", "recordedAt", "stream", "revision", "position", "summary"} {
						if _, ok := it[k]; !ok {
							t.Errorf("timeline item without %s: %v", k, it)
						}
					}
				}
				if diff := cmp.Diff([]string{"service", "opportunity", "opportunity", "profile", "interaction", "order"}, kinds); diff != "" {
					t.Errorf("kinds newest first (-want +got):\n%s\n%s", diff, r.raw)
				}
			},
			bad: "?kinds=interaction,bogus&limit=x", badFields: []string{"limit", "kinds"}, denied: "analyst", notFound: "/v1/customers/" + missing + "/timeline"},
		{name: "timeline by kinds", path: "/v1/customers/" + f.own + "/timeline?kinds=order,interaction",
			check: func(t *testing.T, r reply) {
				if len(r.items()) != 2 || r.items()[0]["kind"] != "interaction" || r.items()[1]["refId"] != f.order {
					t.Errorf("timeline by kinds: %s", r.raw)
				}
			},
			bad: "?kinds=,", badFields: []string{"kinds"}, denied: "executive"},
		{name: "customer orders", path: "/v1/customers/" + f.own + "/orders",
			check: func(t *testing.T, r reply) {
				if diff := cmp.Diff([]string{f.order}, ids(r.items(), "id")); diff != "" {
					t.Error(diff)
				}
			},
			bad: "?cursor=abc!", badFields: []string{"cursor"}, denied: "executive", notFound: "/v1/customers/" + missing + "/orders"},
		{name: "opportunities", path: "/v1/opportunities?status=assigned&assignee=sales",
			check: func(t *testing.T, r reply) {
				if diff := cmp.Diff([]string{f.opp}, ids(r.items(), "id")); diff != "" {
					t.Error(diff)
				}
			},
			bad: "?status=open&limit=-1", badFields: []string{"limit", "status"}, denied: "service"},
		{name: "opportunity", path: "/v1/opportunities/" + f.opp,
			check: func(t *testing.T, r reply) {
				if r.str("title") != "Widgets for 2027" || r.str("status") != "assigned" {
					t.Errorf("opportunity: %s", r.raw)
				}
			},
			bad: "/../x", badFields: []string{"id"}, denied: "service", notFound: "/v1/opportunities/" + missing},
		{name: "service requests", path: "/v1/service-requests?type=complaint&status=created",
			check: func(t *testing.T, r reply) {
				if diff := cmp.Diff(sorted(f.sr, f.otherSR), ids(r.items(), "id")); diff != "" {
					t.Error(diff)
				}
			},
			bad: "?type=praise&status=done", badFields: []string{"status", "type"}, denied: "executive"},
		{name: "service request", path: "/v1/service-requests/" + f.sr,
			check: func(t *testing.T, r reply) {
				if r.str("customerId") != f.own || r.str("type") != "complaint" {
					t.Errorf("service request: %s", r.raw)
				}
			},
			denied: "analyst", notFound: "/v1/service-requests/" + missing},
		{name: "churn risks", path: "/v1/churn/risks?band=high",
			check: func(t *testing.T, r reply) {
				if _, ok := r.body["items"].([]any); !ok {
					t.Errorf("churn risks: %s", r.raw)
				}
			},
			bad: "?band=extreme&cursor=nope", badFields: []string{"cursor", "band"}, denied: "service"},
		{name: "contribution", path: "/v1/reports/contribution?year=2011&q=acme",
			check: func(t *testing.T, r reply) {
				its := r.items()
				if len(its) != 2 || its[0]["customerId"] != f.other || its[0]["name"] != "Acme Rivals" || its[1]["customerId"] != f.own ||
					r.str("currency") != "GBP" || r.str("year") != "2011" {
					t.Errorf("contribution: %s", r.raw)
				}
			},
			bad: "?year=11&currency=pounds", badFields: []string{"year", "currency"}, denied: "sales"},
		{name: "composition", path: "/v1/reports/composition?by=level",
			check: func(t *testing.T, r reply) {
				if r.body["total"] != float64(3) || len(r.body["buckets"].([]any)) != 2 {
					t.Errorf("composition: %s", r.raw)
				}
			},
			bad: "?by=colour", badFields: []string{"by"}, denied: "sales"},
		{name: "service report", path: "/v1/reports/service",
			check: func(t *testing.T, r reply) {
				if r.body["total"] != float64(2) {
					t.Errorf("service report: %s", r.raw)
				}
			},
			bad: "?year=twenty", badFields: []string{"year"}, denied: "service"},
		{name: "churn report", path: "/v1/reports/churn",
			check: func(t *testing.T, r reply) {
				if _, ok := r.body["warnings"].(map[string]any); !ok {
					t.Errorf("churn report: %s", r.raw)
				}
			},
			bad: "?minPosition=abc", badFields: []string{"minPosition"}, denied: "sales"},
		{name: "pipeline", path: "/v1/dashboards/pipeline",
			check: func(t *testing.T, r reply) {
				by, _ := r.body["byStatus"].(map[string]any)
				if len(by) != 2 {
					t.Errorf("pipeline: %s", r.raw)
				}
			},
			denied: "sales"},
		{name: "overview", path: "/v1/dashboards/overview",
			check: func(t *testing.T, r reply) {
				if r.body["customers"] != float64(3) || r.body["orders"] != float64(2) {
					t.Errorf("overview: %s", r.raw)
				}
			},
			denied: "service"},
		{name: "projections", path: "/v1/projections",
			check: func(t *testing.T, r reply) {
				ps, _ := r.body["projections"].([]any)
				if len(ps) != len(allProjections()) {
					t.Errorf("projections: %s", r.raw)
				}
			},
			denied: "sales"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.get(tt.path, "admin")
			if r.status != http.StatusOK {
				t.Fatalf("GET %s: %d %s", tt.path, r.status, r.raw)
			}
			position(t, r)
			tt.check(t, r)

			if r := e.get(tt.path, ""); r.status != http.StatusUnauthorized || r.header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("without a key: %d %s", r.status, r.raw)
			}
			if r := e.get(tt.path, tt.denied); r.status != http.StatusForbidden || r.body["status"] != float64(403) {
				t.Errorf("as %s: %d %s", tt.denied, r.status, r.raw)
			}
			if tt.bad != "" {
				path, _, _ := strings.Cut(tt.path, "?")
				path += tt.bad
				if strings.HasPrefix(tt.bad, "/../") {
					path = tt.path[:strings.LastIndex(tt.path, "/")] + "/" + strings.TrimPrefix(tt.bad, "/../")
				}
				r := e.get(path, "admin")
				if r.status != http.StatusBadRequest || r.header.Get("Content-Type") != "application/problem+json" {
					t.Errorf("GET %s: %d %s", path, r.status, r.raw)
				} else if tt.badFields != nil {
					if diff := cmp.Diff(sorted(tt.badFields...), sorted(r.fields()...)); diff != "" {
						t.Errorf("GET %s: fields (-want +got):\n%s", path, diff)
					}
				}
			}
			if tt.notFound != "" {
				if r := e.get(tt.notFound, "admin"); r.status != http.StatusNotFound || r.body["status"] != float64(404) {
					t.Errorf("GET %s: %d %s", tt.notFound, r.status, r.raw)
				}
			}
		})
	}
}

// TestOwnScope: sales reps see their own customers (and what belongs to
// them) unless manager.
func TestOwnScope(t *testing.T) {
	f := newFixture(t)
	e := f.e
	tests := []struct {
		path   string
		user   string
		status int
		ids    []string // for lists
	}{
		{"/v1/customers", "sales", 200, sorted(f.own, f.own2)},
		{"/v1/customers", "sales2", 200, []string{f.other}},
		{"/v1/customers", "manager", 200, sorted(f.own, f.own2, f.other)},
		{"/v1/customers?owner=sales2", "sales", 403, nil},
		{"/v1/customers/" + f.own, "sales", 200, nil},
		{"/v1/customers/" + f.other, "sales", 403, nil},
		{"/v1/customers/" + f.other, "manager", 200, nil},
		{"/v1/customers/" + f.other + "/timeline", "sales", 403, nil},
		{"/v1/customers/" + f.other + "/orders", "sales", 403, nil},
		{"/v1/opportunities", "sales", 200, []string{f.opp}},
		{"/v1/opportunities", "sales2", 200, []string{f.otherOpp}},
		{"/v1/opportunities/" + f.otherOpp, "sales", 403, nil},
		{"/v1/opportunities/" + f.opp, "sales", 200, nil},
		{"/v1/service-requests", "sales", 200, []string{f.sr}},
		{"/v1/service-requests", "service", 200, sorted(f.sr, f.otherSR)},
		{"/v1/service-requests/" + f.otherSR, "sales", 403, nil},
		{"/v1/churn/risks?owner=sales2", "sales", 403, nil},
		{"/v1/churn/risks", "sales", 200, nil},
		{"/v1/reports/contribution", "executive", 200, nil},
	}
	for _, tt := range tests {
		t.Run(tt.user+" "+tt.path, func(t *testing.T) {
			r := e.get(tt.path, tt.user)
			if r.status != tt.status {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			if tt.ids != nil {
				if diff := cmp.Diff(tt.ids, ids(r.items(), "id")); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestRebuildEndpoint(t *testing.T) {
	f := newFixture(t)
	e := f.e
	tests := []struct {
		user, name string
		status     int
	}{
		{"admin", "customers", http.StatusAccepted},
		{"analyst", "timeline", http.StatusAccepted},
		{"manager", "customers", http.StatusForbidden},
		{"auditor", "customers", http.StatusForbidden},
		{"executive", "customers", http.StatusForbidden},
		{"", "customers", http.StatusUnauthorized},
		{"admin", "nope", http.StatusNotFound},
	}
	for _, tt := range tests {
		r := e.do(http.MethodPost, "/v1/projections/"+tt.name+"/rebuild", tt.user, nil)
		if r.status != tt.status {
			t.Errorf("%s rebuild %s: %d %s", tt.user, tt.name, r.status, r.raw)
		}
	}
}
