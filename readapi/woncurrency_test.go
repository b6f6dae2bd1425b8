package readapi_test

import (
	"net/http"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
)

// TestWonOpportunityCurrencies: expected 1000 EUR, won 900 GBP answers
// expectedValue 1000 EUR and amount 900 wonCurrency GBP, and the pipeline
// counts 900 GBP as won (no EUR).
func TestWonOpportunityCurrencies(t *testing.T) {
	e := newEnv(t)
	cid, _ := e.register("admin", "Currency Mix plc", "sales", nil)
	oid := e.cmd(http.MethodPost, "/v1/opportunities", "admin", map[string]any{
		"title": "Mixed", "customerId": cid, "expectedValue": "1000", "currency": "EUR"}).str("id")
	e.cmd(http.MethodPost, "/v1/opportunities/"+oid+"/assign", "admin", map[string]any{"assigneeId": "sales"})
	last := e.cmd(http.MethodPost, "/v1/opportunities/"+oid+"/win", "sales", map[string]any{"amount": "900", "currency": "GBP"})

	o := e.fresh("/v1/opportunities/"+oid, "admin", last)
	got := []any{o.body["status"], o.body["expectedValue"], o.body["currency"], o.body["amount"], o.body["wonCurrency"]}
	if diff := gocmp.Diff([]any{"won", "1000", "EUR", "900", "GBP"}, got); diff != "" {
		t.Errorf("[status expectedValue currency amount wonCurrency] (-want +got):\n%s\n%s", diff, o.raw)
	}
	pl := e.fresh("/v1/dashboards/pipeline", "admin", last)
	byStatus, _ := pl.body["byStatus"].(map[string]any)
	want := map[string]any{"won": map[string]any{"count": float64(1), "value": []any{map[string]any{"amount": "900", "currency": "GBP"}}}}
	if diff := gocmp.Diff(want, byStatus); diff != "" {
		t.Errorf("pipeline byStatus (-want +got):\n%s", diff)
	}
}
