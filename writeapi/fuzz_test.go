package writeapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzSetup starts one environment shared by the iterations of a fuzz
// target (a store per iteration would dominate the run time) with a
// customer to order for.
func fuzzSetup(f *testing.F) (*env, string) {
	e := newEnv(f, 0)
	return e, e.registerCustomer("admin", "sales")
}

// fuzzPost sends body straight to the handler (no network) and fails on a
// 500 or on anything but problem+json for an error. A panic fails the fuzz
// run by itself.
func fuzzPost(t *testing.T, e *env, path, body string, headers ...string) {
	req := httptest.NewRequest(http.MethodPost, "/v1"+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+keyOf("admin"))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	switch {
	case rec.Code >= 500:
		t.Fatalf("body %q: status %d: %s", body, rec.Code, rec.Body)
	case rec.Code >= 400 && rec.Header().Get("Content-Type") != "application/problem+json":
		t.Fatalf("body %q: status %d without problem+json: %s", body, rec.Code, rec.Body)
	case rec.Code < 400 && rec.Code != 201:
		t.Fatalf("body %q: status %d", body, rec.Code)
	}
}

func FuzzRegisterCustomerBody(f *testing.F) {
	for _, s := range []string{
		`{"name":"ACME"}`, `{}`, ``, `null`, `[]`, `{"name":1}`, `{"name":"x","level":6}`,
		`{"name":"x","level":2,"credit":3,"satisfaction":4,"ownerId":"u","region":"UK","website":"w"}`,
		`{"name":"x","id":"6ba7b810-9dad-11d1-80b4-00c04fd430c8"}`, `{"name":"x","id":"00000000-0000-0000-0000-000000000000"}`,
		`{"name":"\u0000"}`, `{"name":"x","registeredCapital":"1e9"}`, `{"name":"x","annualRevenue":"-1"}`,
		`{"name":"x","level":1e400}`, `{"name":"x"}{"name":"y"}`, `{"name":"` + strings.Repeat("ü", 300) + `"}`,
		"{\"name\":\"\xff\"}", `{"name":"x","unknown":true}`, `{"level":-9223372036854775808}`,
	} {
		f.Add(s)
	}
	e, _ := fuzzSetup(f)
	f.Fuzz(func(t *testing.T, body string) {
		fuzzPost(t, e, "/customers", body)
	})
}

func FuzzPlaceOrderBody(f *testing.F) {
	e, c := fuzzSetup(f)
	for _, s := range []string{
		`{"customerId":"` + c + `","currency":"EUR","lines":[{"sku":"A","quantity":"2","unitPrice":"1.50"}]}`,
		`{"customerId":"` + c + `","currency":"GBP","orderNo":"536365","orderedAt":"2010-12-01T08:26:00Z","lines":[{"sku":"85123A","description":"x","quantity":6,"unit":"pcs","unitPrice":2.55}],"shippingAddress":"a"}`,
		`{"customerId":"` + c + `","currency":"EUR","lines":[{"sku":"A","quantity":"99999999999999999","unitPrice":"99999999999999999"}]}`,
		`{"customerId":"` + c + `","currency":"EUR","lines":[{"sku":"A","quantity":"0.0000000000001","unitPrice":"1"}]}`,
		`{"customerId":"` + c + `","currency":"EUR","lines":[{"sku":"A","quantity":1e308,"unitPrice":-0}]}`,
		`{"customerId":"` + c + `","currency":"EUR","lines":[null,{}]}`,
		`{"customerId":"x","currency":"","lines":{}}`, `{"lines":[{"quantity":{}}]}`, `{}`, `[]`, `1`,
		`{"customerId":"` + c + `","currency":"EUR","orderedAt":"2010-13-01T00:00:00Z","lines":[{"sku":"A","quantity":"1","unitPrice":"1"}]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		fuzzPost(t, e, "/orders", body)
	})
}
