package readapi_test

import (
	"net/http"
	"net/url"
	"testing"
)

// TestCursorOfAnotherList: a cursor names the list it was given for with
// the parameters that choose the list (the customer of a timeline or an
// order list, the year and currency of a contribution ranking); given to
// another list it is a 400 problem naming cursor, not a page of the wrong
// list.
func TestCursorOfAnotherList(t *testing.T) {
	f := newParamsFixture(t)
	e := f.e
	cursorOf := func(path string) string {
		t.Helper()
		r := e.get(path, "admin")
		next, _ := r.body["nextCursor"].(string)
		if r.status != http.StatusOK || next == "" {
			t.Fatalf("GET %s: %d, no nextCursor: %s", path, r.status, r.raw)
		}
		return url.QueryEscape(next)
	}
	tlA := cursorOf("/v1/customers/" + f.a + "/timeline?limit=1")
	ordA := cursorOf("/v1/customers/" + f.a + "/orders?limit=1")
	c2011 := cursorOf("/v1/reports/contribution?year=2011&currency=EUR&limit=1")
	cDefault := cursorOf("/v1/reports/contribution?limit=1") // the latest year (2011) and its first currency (EUR)
	c2010 := cursorOf("/v1/reports/contribution?year=2010&currency=EUR&limit=1")

	tests := []struct {
		name string
		path string
		ok   bool
	}{
		{"timeline of the same customer", "/v1/customers/" + f.a + "/timeline?limit=1&cursor=" + tlA, true},
		{"timeline of the same customer, other kinds", "/v1/customers/" + f.a + "/timeline?kinds=order&cursor=" + tlA, true},
		{"timeline of another customer", "/v1/customers/" + f.b + "/timeline?limit=1&cursor=" + tlA, false},
		{"orders with a timeline cursor", "/v1/customers/" + f.a + "/orders?cursor=" + tlA, false},
		{"orders of the same customer", "/v1/customers/" + f.a + "/orders?limit=1&cursor=" + ordA, true},
		{"orders of another customer", "/v1/customers/" + f.b + "/orders?limit=1&cursor=" + ordA, false},
		{"timeline with an orders cursor", "/v1/customers/" + f.a + "/timeline?cursor=" + ordA, false},
		{"customers with an orders cursor", "/v1/customers?cursor=" + ordA, false},
		{"contribution of the same year", "/v1/reports/contribution?year=2011&currency=EUR&limit=1&cursor=" + c2011, true},
		{"contribution, default year and currency", "/v1/reports/contribution?limit=1&cursor=" + c2011, true},
		{"contribution, explicit defaults", "/v1/reports/contribution?year=2011&currency=EUR&cursor=" + cDefault, true},
		{"contribution of another year", "/v1/reports/contribution?year=2010&currency=EUR&cursor=" + c2011, false},
		{"contribution of another year, the other way", "/v1/reports/contribution?year=2011&currency=EUR&cursor=" + c2010, false},
		{"contribution of the default year", "/v1/reports/contribution?cursor=" + c2010, false},
		{"contribution in another currency", "/v1/reports/contribution?year=2011&currency=GBP&cursor=" + c2011, false},
		{"opportunities with a contribution cursor", "/v1/opportunities?cursor=" + c2011, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.get(tt.path, "admin")
			if tt.ok {
				if r.status != http.StatusOK || len(r.items()) == 0 {
					t.Errorf("%d, %d items: %s", r.status, len(r.items()), r.raw)
				}
				return
			}
			wantProblem(t, r, "cursor")
		})
	}
}
