package readapi_test

import (
	"net/http"
	"testing"
)

// TestReadStoreDown: with Redis gone every query answers 503 problem+json
// with Retry-After, never a 500; it answers again once Redis is back and
// the projections have rebuilt their read models.
func TestReadStoreDown(t *testing.T) {
	e := newEnv(t)
	cid, reg := e.register("admin", "Outage Ltd", "sales", nil)
	e.fresh("/v1/customers/"+cid, "admin", reg)
	e.redis.Kill()
	for _, p := range []string{"/v1/customers", "/v1/customers/" + cid, "/v1/customers/" + cid + "/timeline", "/v1/churn/risks",
		"/v1/reports/contribution", "/v1/dashboards/overview", "/v1/projections"} {
		r := e.get(p, "admin")
		if r.status != http.StatusServiceUnavailable || r.header.Get("Content-Type") != "application/problem+json" || r.header.Get("Retry-After") == "" {
			t.Errorf("GET %s with Redis down: %d %v %s", p, r.status, r.header, r.raw)
		}
	}
	e.redis.Restart()
	e.waitReady()
	r := e.fresh("/v1/customers/"+cid, "admin", reg)
	if r.str("name") != "Outage Ltd" {
		t.Errorf("after the restart: %s", r.raw)
	}
}
