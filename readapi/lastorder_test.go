package readapi_test

import (
	"net/http"
	"testing"
)

// TestCustomer360LastOrderAtSkipsCancelled: the 360's kpis.lastOrderAt is
// the latest order not cancelled (what the churn rule counts), so the 360
// does not contradict its own churnRisk: cancelling the latest order moves
// it back, cancelling every order removes it.
func TestCustomer360LastOrderAtSkipsCancelled(t *testing.T) {
	e := newEnv(t)
	cid, _ := e.register("admin", "Cancel Prone Ltd", "sales", nil)
	order := func(at string) string {
		t.Helper()
		return e.cmd(http.MethodPost, "/v1/orders", "admin", map[string]any{"customerId": cid, "orderedAt": at, "currency": "GBP",
			"lines": []map[string]any{{"sku": "C", "quantity": 1, "unitPrice": "10.00"}}}).str("id")
	}
	older, newest := order("2011-02-01T10:00:00Z"), order("2011-09-01T10:00:00Z")
	middle := order("2011-05-01T10:00:00Z")
	kpis := func(after reply) map[string]any {
		t.Helper()
		r := e.fresh("/v1/customers/"+cid, "admin", after)
		k, _ := r.body["kpis"].(map[string]any)
		return k
	}
	steps := []struct {
		cancel string
		want   any // lastOrderAt (nil: absent)
	}{
		{"", "2011-09-01T10:00:00Z"},
		{newest, "2011-05-01T10:00:00Z"},
		{older, "2011-05-01T10:00:00Z"},
		{middle, nil},
	}
	last := e.get("/v1/customers/"+cid, "admin")
	for _, s := range steps {
		if s.cancel != "" {
			last = e.cmd(http.MethodPost, "/v1/orders/"+s.cancel+"/cancel", "admin", map[string]any{"reason": "test"})
		} else {
			last = e.cmd(http.MethodPost, "/v1/customers/"+cid+"/interactions", "sales", map[string]any{
				"channel": "call", "occurredAt": "2011-10-01T10:00:00Z", "summary": "checking"})
		}
		k := kpis(last)
		if got := k["lastOrderAt"]; got != s.want {
			t.Errorf("after cancelling %q: lastOrderAt %v, want %v (kpis %v)", s.cancel, got, s.want, k)
		}
	}
	if k := kpis(last); k["orders"] != float64(3) || k["cancelledOrders"] != float64(3) {
		t.Errorf("kpis %v, want 3 orders, 3 cancelled", k)
	}
}
