package readapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/crm-es/crm/internal/memredis"
	"github.com/crm-es/crm/internal/redistest"
)

// pageBodies follows nextCursor from path (which has a query) as user and
// returns every page's body.
func (e *env) pageBodies(path, user string) []string {
	e.t.Helper()
	var out []string
	for _, r := range e.pages(path, user, func() {}) {
		out = append(out, string(r.raw))
	}
	return out
}

// TestPagedQueriesOnEmbeddedStore serves the same event log from a
// redis-server and from the embedded read store of `crm serve` (whose Lua
// runs the query API's rangeGetLua too) and requires the same pages, page
// by page, body for body, and the right items on the embedded store.
func TestPagedQueriesOnEmbeddedStore(t *testing.T) {
	clock := &testClock{}
	store := openStore(t)
	real := redistest.Start(t)
	mem, err := memredis.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mem.Close() })
	onReal := newEnvOn(t, store, real.Client, real, clock.now)
	onMem := newEnvOn(t, store, mem.Client, nil, clock.now)

	d := seedTies(t, onReal, clock)
	// A second customer, with orders in another year and currency, so the
	// contribution ranking has more than one entry.
	clock.set(time.Date(2012, 1, 1, 0, 0, 0, 0, time.UTC))
	other, _ := onReal.register("admin", "Tie Brothers", "sales2", nil)
	for i, cur := range []string{"EUR", "GBP", "EUR"} {
		d.last = onReal.cmd(http.MethodPost, "/v1/orders", "admin", map[string]any{
			"customerId": other, "orderNo": fmt.Sprintf("B-%d", i), "orderedAt": fmt.Sprintf("201%d-04-0%dT09:00:00Z", 1-i%2, i+1),
			"currency": cur, "lines": []map[string]any{{"sku": "B", "quantity": i + 1, "unitPrice": "10.00"}}})
	}
	paths := []string{"/v1/customers?q=tie", "/v1/customers/" + d.customer + "/timeline?kinds=order,interaction",
		"/v1/reports/contribution?year=2011&currency=EUR"}
	for _, l := range tieLists(d) {
		paths = append(paths, l.path)
	}
	for _, e := range []*env{onReal, onMem} {
		for _, p := range paths {
			e.fresh(p, "admin", d.last)
		}
	}

	// The right items, in the right order, on the embedded store too.
	for _, l := range tieLists(d) {
		got, _ := onMem.pageAll(withLimit(l.path, 2), "admin", l.key, func() {})
		if diff := gocmp.Diff(l.want, got); diff != "" {
			t.Errorf("%s on the embedded store (-want +got):\n%s", l.name, diff)
		}
	}

	tests := []struct {
		path  string
		items int // on all pages
	}{
		{"/v1/customers/" + d.customer + "/timeline", 37}, // 9 each of 4 kinds, 1 profile
		{"/v1/customers/" + d.customer + "/timeline?kinds=interaction", 9},
		{"/v1/customers/" + d.customer + "/timeline?kinds=order,interaction", 18},
		{"/v1/customers/" + d.customer + "/orders", 9},
		{"/v1/customers/" + other + "/orders", 3},
		{"/v1/customers?q=tie", 2},
		{"/v1/opportunities", 9},
		{"/v1/opportunities?status=unassigned", 9},
		{"/v1/service-requests?type=consultation", 9},
		{"/v1/reports/contribution?year=2011&currency=EUR", 2},
		{"/v1/reports/contribution?year=2010&currency=GBP", 1},
	}
	for _, tt := range tests {
		for _, limit := range []int{1, 4, 200} {
			path := withLimit(tt.path, limit)
			t.Run(path, func(t *testing.T) {
				want := onReal.pageBodies(path, "admin")
				got := onMem.pageBodies(path, "admin")
				if diff := gocmp.Diff(want, got); diff != "" {
					t.Errorf("pages differ (-redis-server +embedded):\n%s", diff)
				}
				n := 0
				for _, b := range got {
					var r reply
					if err := json.Unmarshal([]byte(b), &r.body); err != nil {
						t.Fatal(err)
					}
					n += len(r.items())
				}
				if n != tt.items {
					t.Errorf("%d items on %d pages, want %d", n, len(got), tt.items)
				}
			})
		}
	}
}
