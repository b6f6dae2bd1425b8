package writeapi_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkCommandHTTP measures commands through the whole stack: HTTP
// (real loopback connections), auth, decoding, load + decide + append on the
// embedded event store through the official client (fsync per group
// commit). Each client logs interactions on its own customer, so the
// numbers show throughput and latency, not contention on one stream.
// Reported: p50-ms, p99-ms (per command) and commands/s.
func BenchmarkCommandHTTP(b *testing.B) {
	for _, clients := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) { benchCommands(b, clients, false) })
	}
}

// BenchmarkCommandHTTPSameCustomer: every client logs interactions on the
// same customer (one stream: the commands queue on it).
func BenchmarkCommandHTTPSameCustomer(b *testing.B) {
	for _, clients := range []int{16, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) { benchCommands(b, clients, true) })
	}
}

func benchCommands(b *testing.B, clients int, shared bool) {
	e := newEnv(b, 0)
	transport := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	client := &http.Client{Transport: transport}
	b.Cleanup(transport.CloseIdleConnections)
	customers := make([]string, clients)
	for i := range customers {
		if shared && i > 0 {
			customers[i] = customers[0]
		} else {
			customers[i] = e.registerCustomer("admin", "")
		}
	}
	body := []byte(`{"channel":"call","occurredAt":"2026-03-01T10:00:00Z","summary":"benchmark call","detail":"a few words about the call"}`)
	latencies := make([][]time.Duration, clients)
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for cl := range clients {
		wg.Go(func() {
			url := e.srv.URL + "/v1/customers/" + customers[cl] + "/interactions"
			for next.Add(1) <= int64(b.N) {
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+keyOf("admin"))
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				latencies[cl] = append(latencies[cl], time.Since(t0))
				if resp.StatusCode != http.StatusCreated {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d commands failed", n)
	}
	all := slices.Concat(latencies...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		i := min(len(all)-1, int(p*float64(len(all))))
		return float64(all[i].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "commands/s")
}
