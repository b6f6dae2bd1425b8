package readapi_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

// FuzzQueryParams sends arbitrary query strings and headers to the query
// endpoints: every answer is 200, 304, 400, 403, 404 or 503 (a
// read-your-writes wait that timed out), never a 500 or a panic, and
// every problem is problem+json.
func FuzzQueryParams(f *testing.F) {
	e := newEnv(f)
	cid, reg := e.register("admin", "Fuzzed Foods", "sales", nil)
	e.fresh("/v1/customers/"+cid+"/timeline", "admin", reg)
	paths := []string{"/v1/customers", "/v1/customers/" + cid, "/v1/customers/" + cid + "/timeline", "/v1/customers/" + cid + "/orders",
		"/v1/opportunities", "/v1/service-requests", "/v1/churn/risks", "/v1/reports/contribution", "/v1/reports/composition",
		"/v1/reports/service", "/v1/reports/churn", "/v1/dashboards/pipeline", "/v1/dashboards/overview", "/v1/projections"}
	f.Add(uint8(0), "limit=0&cursor=abc", "", "")
	f.Add(uint8(2), "kinds=order,,churn&limit=200", "1", "0s")
	f.Add(uint8(6), "band=high&cursor="+url.QueryEscape("MXxjaHVybi1yaXNrc3wwfDAwMDA6eA"), "x", "1h")
	f.Add(uint8(7), "year=2011&q=%00&currency=GBP", "", "-1ms")
	f.Add(uint8(1), "minPosition=18446744073709551615", "", "0ms")
	f.Fuzz(func(t *testing.T, which uint8, query, minPos, wait string) {
		path := paths[int(which)%len(paths)]
		// Keep read-your-writes waits short, the default of 2 s included
		// (a minPosition in the query waits too); invalid waits stay.
		if d, err := time.ParseDuration(wait); wait == "" || err == nil && d > 10*time.Millisecond {
			wait = "10ms"
		}
		for i := 0; i < len(query); i++ {
			if c := query[i]; c <= ' ' || c >= 0x7f || c == '#' {
				return // not a request line a client can send (net/http answers 400 itself)
			}
		}
		req, err := http.NewRequest(http.MethodGet, e.srv.URL+path+"?"+query, nil)
		if err != nil {
			return // not a URL a client could send
		}
		req.Header.Set("Authorization", "Bearer "+keyOf("sales"))
		if minPos != "" && validHeader(minPos) {
			req.Header.Set("X-Min-Position", minPos)
		}
		if wait != "" && validHeader(wait) {
			req.Header.Set("X-Wait-Timeout", wait)
		}
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case 200, 304:
		case 400, 403, 404, 503:
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("%s?%s: %d with Content-Type %q", path, query, resp.StatusCode, ct)
			}
		default:
			t.Errorf("%s?%s (X-Min-Position %q, X-Wait-Timeout %q): %d", path, query, minPos, wait, resp.StatusCode)
		}
	})
}

func validHeader(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}
