package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"
)

// metricSamples parses Prometheus text into sample line → value (comments
// skipped).
func metricSamples(t *testing.T, body string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("metrics line without a value: %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func TestMetricsHTTPHistogram(t *testing.T) {
	slow := func(c *gin.Context) { time.Sleep(30 * time.Millisecond); c.Status(http.StatusOK) }
	r := newRouterWithMetrics(discardLogger(), nil, []metricsSource{
		func(_ context.Context, w io.Writer) error {
			_, err := io.WriteString(w, "crm_extra_gauge 7\n")
			return err
		},
		func(context.Context, io.Writer) error { return errors.New("redis down") },
	}, func(r *gin.Engine) {
		r.GET("/v1/things/:id", func(c *gin.Context) { c.Status(http.StatusOK) })
		r.POST("/v1/things/:id", func(c *gin.Context) { c.Status(http.StatusConflict) })
		r.GET("/slow", slow)
		r.GET("/boom", func(*gin.Context) { panic("boom") })
	})
	requests := []struct{ method, path string }{
		{"GET", "/v1/things/1"}, {"GET", "/v1/things/2"}, {"GET", "/v1/things/3"},
		{"POST", "/v1/things/1"},
		{"GET", "/slow"},
		{"GET", "/boom"},
		{"GET", "/no/such/path"}, {"GET", "/another/missing"},
		{"PUT", "/healthz"}, // 405
	}
	for _, rq := range requests {
		get(t, r, rq.method, rq.path)
	}
	rec := get(t, r, http.MethodGet, "/metrics")
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics = %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type = %q", ct)
	}
	body := rec.Body.String()
	got := metricSamples(t, body)

	want := map[string]float64{
		`crm_http_requests_total{route="/v1/things/:id",method="GET",status="2xx"}`:                            3,
		`crm_http_requests_total{route="/v1/things/:id",method="POST",status="4xx"}`:                           1,
		`crm_http_requests_total{route="/slow",method="GET",status="2xx"}`:                                     1,
		`crm_http_requests_total{route="/boom",method="GET",status="5xx"}`:                                     1,
		`crm_http_requests_total{route="unmatched",method="GET",status="4xx"}`:                                 2,
		`crm_http_requests_total{route="unmatched",method="PUT",status="4xx"}`:                                 1,
		`crm_http_request_duration_seconds_count{route="/v1/things/:id",method="GET",status="2xx"}`:            3,
		`crm_http_request_duration_seconds_bucket{route="/v1/things/:id",method="GET",status="2xx",le="+Inf"}`: 3,
		`crm_http_request_duration_seconds_bucket{route="/slow",method="GET",status="2xx",le="0.025"}`:         0,
		`crm_http_request_duration_seconds_bucket{route="/slow",method="GET",status="2xx",le="+Inf"}`:          1,
		`crm_http_requests_in_flight`: 1, // the /metrics request itself
		`crm_extra_gauge`:             7,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if sum := got[`crm_http_request_duration_seconds_sum{route="/slow",method="GET",status="2xx"}`]; sum < 0.03 || sum > 5 {
		t.Errorf("/slow latency sum = %v s, want about 0.03", sum)
	}
	// Buckets are cumulative and end at the count.
	for k, count := range got {
		if !strings.HasPrefix(k, "crm_http_request_duration_seconds_count{") {
			continue
		}
		labels := strings.TrimSuffix(strings.TrimPrefix(k, "crm_http_request_duration_seconds_count{"), "}")
		prev := -1.0
		for _, le := range append(bucketLabels(), "+Inf") {
			b, ok := got[`crm_http_request_duration_seconds_bucket{`+labels+`,le="`+le+`"}`]
			if !ok || b < prev {
				t.Errorf("%s: bucket le=%s = %v (present %v) after %v", labels, le, b, ok, prev)
			}
			prev = b
		}
		if prev != count {
			t.Errorf("%s: +Inf bucket %v != count %v", labels, prev, count)
		}
	}
	if strings.Contains(body, "/no/such/path") {
		t.Error("raw unmatched path appears as a label")
	}
	if !strings.Contains(body, "# incomplete: redis down\n") {
		t.Errorf("failing source not reported:\n%s", body)
	}

	// The projector's status gauges come through the source unchanged.
	second := metricSamples(t, get(t, r, http.MethodGet, "/metrics").Body.String())
	if diff := cmp.Diff(1.0, second[`crm_http_requests_total{route="/metrics",method="GET",status="2xx"}`]); diff != "" {
		t.Errorf("/metrics counts itself (-want +got):\n%s", diff)
	}
}

func bucketLabels() []string {
	out := make([]string, len(latencyBuckets))
	for i, b := range latencyBuckets {
		out[i] = strconv.FormatFloat(b, 'g', -1, 64)
	}
	return out
}

func TestStatusClassAndQuoting(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   string
	}{{200, "2xx"}, {204, "2xx"}, {304, "3xx"}, {404, "4xx"}, {503, "5xx"}, {0, "other"}, {99, "other"}, {600, "other"}} {
		if got := statusClass(tc.status); got != tc.want {
			t.Errorf("statusClass(%d) = %q, want %q", tc.status, got, tc.want)
		}
	}
	if got, want := quoteLabel("a\"b\\c\nd"), `"a\"b\\c\nd"`; got != want {
		t.Errorf("quoteLabel = %s, want %s", got, want)
	}
}

// TestMetricsServe: the /metrics of crm serve carries the HTTP metrics of
// the requests it answered and the projectors' status and lag gauges.
func TestMetricsServe(t *testing.T) {
	srv := startCRM(t, "crm_metrics_test_key_0123456789abcdefghij")
	for range 3 {
		if answer := srv.sendJSON(http.MethodPost, "/v1/customers", map[string]any{"name": "Metrics Ltd"}); !strings.HasPrefix(answer, "201 ") {
			t.Fatalf("register: %s", answer)
		}
	}
	resp, err := http.Get("http://" + srv.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	got := metricSamples(t, string(body))
	for _, name := range []string{
		`crm_http_requests_total{route="/v1/customers",method="POST",status="2xx"}`,
		`crm_http_request_duration_seconds_count{route="/v1/customers",method="POST",status="2xx"}`,
		`crm_http_request_duration_seconds_bucket{route="/v1/customers",method="POST",status="2xx",le="+Inf"}`,
	} {
		if got[name] != 3 {
			t.Errorf("%s = %v, want 3", name, got[name])
		}
	}
	for _, p := range allProjections() {
		for _, g := range []string{"crm_projection_lag_events", "crm_projection_checkpoint", "crm_projection_serving"} {
			if _, ok := got[g+`{projection="`+p.Name()+`"}`]; !ok {
				t.Errorf("no %s for projection %s", g, p.Name())
			}
		}
	}
}
