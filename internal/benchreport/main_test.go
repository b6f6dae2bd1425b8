package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	in := `goos: linux
pkg: github.com/crm-es/crm/eventstore/server
BenchmarkCeilingDiskFsync-2   	     500	   1608455 ns/op	       621.7 fsyncs/s
BenchmarkAppendSingle/writers=64-2         	2026/11/22 16:34:37 [info] discovery attempt 1/10
    3000	    269412 ns/op	        22.96 events/fsync	      3722 events/s
BenchmarkNoMetrics
pkg: github.com/crm-es/crm/readapi
BenchmarkQueryLoad/max/customer360-2   	       1	      1635 bytes	        64.72 pct-of-bare	     15863 req/s
PASS
`
	got := parse(strings.NewReader(in))
	want := []result{
		{pkg: "github.com/crm-es/crm/eventstore/server", name: "CeilingDiskFsync", iters: "500",
			metrics: map[string]float64{"ns/op": 1608455, "fsyncs/s": 621.7}, order: []string{"ns/op", "fsyncs/s"}},
		{pkg: "github.com/crm-es/crm/eventstore/server", name: "AppendSingle/writers=64", iters: "3000",
			metrics: map[string]float64{"ns/op": 269412, "events/fsync": 22.96, "events/s": 3722}, order: []string{"ns/op", "events/fsync", "events/s"}},
		// b.ReportMetric(0, "ns/op") drops ns/op from the line.
		{pkg: "github.com/crm-es/crm/readapi", name: "QueryLoad/max/customer360", iters: "1",
			metrics: map[string]float64{"bytes": 1635, "pct-of-bare": 64.72, "req/s": 15863}, order: []string{"bytes", "pct-of-bare", "req/s"}},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(result{})); diff != "" {
		t.Fatalf("parse (-want +got):\n%s", diff)
	}
}

func TestHuman(t *testing.T) {
	for v, want := range map[float64]string{1234567.4: "1,234,567", 22.96: "23.0", 3.14159: "3.14", 100: "100"} {
		if got := human(v); got != want {
			t.Errorf("human(%v) = %q, want %q", v, got, want)
		}
	}
}
