package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
)

// metricsSource writes more Prometheus text exposition to /metrics (the
// projectors' status gauges).
type metricsSource func(ctx context.Context, w io.Writer) error

// latencyBuckets are the upper bounds, in seconds, of the request latency
// histogram (Prometheus' default buckets).
var latencyBuckets = [...]float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// seriesKey names one labelled series of the HTTP metrics. Every label has
// a bounded set of values: the route template (never the raw path), a known
// method, a status class.
type seriesKey struct {
	route, method, status string
}

// series is one histogram: cumulative counts are computed when written.
type series struct {
	buckets [len(latencyBuckets) + 1]uint64 // per bucket, the last is +Inf
	count   uint64
	sum     float64
}

// httpMetrics counts the HTTP requests and their latency by route template,
// method and status class. It is safe for concurrent use.
type httpMetrics struct {
	mu       sync.Mutex
	series   map[seriesKey]*series
	inFlight atomic.Int64
}

func newHTTPMetrics() *httpMetrics {
	return &httpMetrics{series: map[seriesKey]*series{}}
}

// knownMethods are the methods reported by name; any other is "OTHER".
var knownMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions}

// observe records one finished request.
func (m *httpMetrics) observe(route, method string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched" // 404s: never the raw path (unbounded)
	}
	if !slices.Contains(knownMethods, method) {
		method = "OTHER"
	}
	k := seriesKey{route: route, method: method, status: statusClass(status)}
	secs := d.Seconds()
	i := len(latencyBuckets)
	for j, ub := range latencyBuckets {
		if secs <= ub {
			i = j
			break
		}
	}
	m.mu.Lock()
	s := m.series[k]
	if s == nil {
		s = &series{}
		m.series[k] = s
	}
	s.buckets[i]++
	s.count++
	s.sum += secs
	m.mu.Unlock()
}

// statusClass is "2xx", "4xx", … for a status code.
func statusClass(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status/100) + "xx"
}

// middleware observes every request that passes through the router.
func (m *httpMetrics) middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		m.inFlight.Add(1)
		defer m.inFlight.Add(-1)
		c.Next()
		m.observe(c.FullPath(), c.Request.Method, c.Writer.Status(), time.Since(start))
	}
}

// writeTo writes the metrics as Prometheus text exposition (version 0.0.4),
// series sorted by labels so that the output is stable.
func (m *httpMetrics) writeTo(w io.Writer) error {
	m.mu.Lock()
	keys := make([]seriesKey, 0, len(m.series))
	snap := make(map[seriesKey]series, len(m.series))
	for k, s := range m.series {
		keys = append(keys, k)
		snap[k] = *s
	}
	m.mu.Unlock()
	slices.SortFunc(keys, func(a, b seriesKey) int {
		return strings.Compare(a.route+"\x00"+a.method+"\x00"+a.status, b.route+"\x00"+b.method+"\x00"+b.status)
	})

	var b bytes.Buffer
	labels := func(k seriesKey) string {
		return fmt.Sprintf("route=%s,method=%s,status=%s", quoteLabel(k.route), quoteLabel(k.method), quoteLabel(k.status))
	}
	b.WriteString("# HELP crm_http_requests_total HTTP requests answered, by route template, method and status class.\n")
	b.WriteString("# TYPE crm_http_requests_total counter\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "crm_http_requests_total{%s} %d\n", labels(k), snap[k].count)
	}
	b.WriteString("# HELP crm_http_request_duration_seconds Time from receiving a request to the end of its handler, by route template, method and status class.\n")
	b.WriteString("# TYPE crm_http_request_duration_seconds histogram\n")
	for _, k := range keys {
		s := snap[k]
		l := labels(k)
		var cum uint64
		for i, ub := range latencyBuckets {
			cum += s.buckets[i]
			fmt.Fprintf(&b, "crm_http_request_duration_seconds_bucket{%s,le=\"%s\"} %d\n", l, strconv.FormatFloat(ub, 'g', -1, 64), cum)
		}
		cum += s.buckets[len(latencyBuckets)]
		fmt.Fprintf(&b, "crm_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %d\n", l, cum)
		fmt.Fprintf(&b, "crm_http_request_duration_seconds_sum{%s} %s\n", l, strconv.FormatFloat(s.sum, 'g', -1, 64))
		fmt.Fprintf(&b, "crm_http_request_duration_seconds_count{%s} %d\n", l, s.count)
	}
	b.WriteString("# HELP crm_http_requests_in_flight HTTP requests being handled now.\n")
	b.WriteString("# TYPE crm_http_requests_in_flight gauge\n")
	fmt.Fprintf(&b, "crm_http_requests_in_flight %d\n", m.inFlight.Load())
	_, err := w.Write(b.Bytes())
	return err
}

// quoteLabel quotes a label value as the text format wants it: backslash,
// double quote and newline escaped.
func quoteLabel(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(v) + `"`
}

// metricsHandler serves GET /metrics: the HTTP metrics, then each source's
// (a failing source is reported as a comment, the rest is still served).
func metricsHandler(m *httpMetrics, sources []metricsSource) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		c.Header("Cache-Control", "no-store")
		c.Status(http.StatusOK)
		_ = m.writeTo(c.Writer)
		if len(sources) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(c.Request.Context(), 5*time.Second)
		defer cancel()
		for _, src := range sources {
			if err := src(ctx, c.Writer); err != nil {
				fmt.Fprintf(c.Writer, "# incomplete: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
			}
		}
	}
}
