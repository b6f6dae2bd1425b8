// Command benchreport turns `go test -bench` output into the Markdown tables
// of BENCHMARKS.md: every result, and each figure beside the ceiling measured
// in the same run (raw disk fsync, raw storage iteration, ...) with the ratio
// and the target it must meet.
//
//	go run ./internal/benchreport < .bench/raw.txt
//
// It imports only the standard library.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// result is one benchmark line: name without the -GOMAXPROCS suffix.
type result struct {
	pkg, name string
	iters     string
	metrics   map[string]float64
	order     []string
}

// comparison puts a figure beside its ceiling. Target, when set, is checked
// against Metric of Bench (Min: at least; otherwise at most).
type comparison struct {
	what          string
	bench, metric string
	ceiling, cmet string // optional ceiling benchmark and metric
	target        float64
	atMost        bool
	zeroTarget    bool // target is 0 (with atMost: "no errors")
	note          string
}

var comparisons = []comparison{
	{what: "single-event appends, 1 writer", bench: "AppendSingle/writers=1", metric: "events/s", ceiling: "CeilingDiskFsync", cmet: "fsyncs/s",
		note: "each append waits for its own fsync"},
	{what: "single-event appends, 16 writers", bench: "AppendSingle/writers=16", metric: "events/s", ceiling: "CeilingDiskFsync", cmet: "fsyncs/s",
		note: "group commit: ratio > 1 means appends share fsyncs"},
	{what: "single-event appends, 64 writers", bench: "AppendSingle/writers=64", metric: "events/s", ceiling: "CeilingDiskFsync", cmet: "fsyncs/s"},
	{what: "events per fsync, 64 writers", bench: "AppendSingle/writers=64", metric: "events/fsync", target: 20,
		note: "target ≥ 20"},
	{what: "100-event batch appends", bench: "AppendBatch100", metric: "batches/s", ceiling: "CeilingDiskFsync", cmet: "fsyncs/s",
		note: "one fsync per batch at most"},
	{what: "100-event batch appends (events)", bench: "AppendBatch100", metric: "events/s"},
	{what: "$all read through the official client", bench: "ReadAllClient", metric: "events/s", ceiling: "CeilingStoreIterate", cmet: "events/s", target: 100_000,
		note: "target ≥ 100,000 events/s (KurrentDB's published gRPC catch-up: ~77,000)"},
	{what: "$all catch-up subscription through the official client", bench: "SubscribeAllClient", metric: "events/s", ceiling: "CeilingStoreIterate", cmet: "events/s"},
	{what: "rebuild of all read models over the Online Retail history", bench: "RebuildOnlineRetail", metric: "rebuild-events/s",
		ceiling: "RebuildOnlineRetail", cmet: "raw-all-events/s", target: 50_000, note: "target ≥ 50,000 events/s (issue 4)"},
	{what: "rebuild of all read models over ≥ 1,000,000 events (Online Retail replicated with fresh ids)", bench: "RebuildMillion", metric: "rebuild-events/s",
		ceiling: "RebuildMillion", cmet: "raw-all-events/s", target: 50_000, note: "target ≥ 50,000 events/s (issue 4; Marten's published rebuild sample: ~8,700); ceiling: raw $all read through the client, same run"},
	{what: "same rebuild beside Redis's own SET rate", bench: "RebuildMillion", metric: "rebuild-events/s",
		ceiling: "RebuildMillion", cmet: "redis-set/s", note: "ceiling: redis-benchmark -P 16 -t set against the same redis-server, same run"},
	{what: "same rebuild beside the rate its CPU cost allows on this machine: cores ÷ CPU per event of the projector, redis-server and event store together", bench: "RebuildMillion", metric: "rebuild-events/s",
		ceiling: "RebuildMillion", cmet: "cpu-bound-events/s", note: "ratio near 1: the rebuild keeps every core busy, only less CPU per event makes it faster"},
	{what: "reading and decoding the log alone, no read models: event store + client + the projector's codec, CPU per event", bench: "RebuildMillion", metric: "read-decode-cpu-us/event",
		ceiling: "RebuildMillion", cmet: "raw-all-cpu-us/event", note: "ceiling: the same read without decoding; 50,000 events/s allows cores × 20 µs of CPU per event for everything (40 µs on 2 cores)"},
	{what: "reading and decoding the log alone: rate, beside the rate its CPU cost allows (cores ÷ CPU per event)", bench: "RebuildMillion", metric: "read-decode-events/s",
		ceiling: "RebuildMillion", cmet: "read-decode-bound-events/s", note: "no rebuild, however cheap its read models, runs faster than the bound"},
	{what: "projector peak RSS during that rebuild (VmHWM of the projector process; the event store runs in another)", bench: "RebuildMillion", metric: "peak-rss-MB", target: 500, atMost: true,
		note: "target ≤ 500 MB (issue 4)"},
	{what: "CPU per event of that rebuild: projector process / redis-server", bench: "RebuildMillion", metric: "cpu-us/event",
		ceiling: "RebuildMillion", cmet: "redis-cpu-us/event", note: "CPU time is robust to other load on the machine; ratio = projector ÷ redis"},
	{what: "CPU per event of that rebuild: projector process / event store serving the reads", bench: "RebuildMillion", metric: "cpu-us/event",
		ceiling: "RebuildMillion", cmet: "store-cpu-us/event", note: "ratio = projector ÷ store"},
	{what: "live lag, append to visible in the read model, p99 at ~1,000 events/s", bench: "LiveLag", metric: "p99-ms", target: 100, atMost: true,
		note: "target ≤ 100 ms (issue 4)"},
	{what: "HTTP command (log interaction), 1 client", bench: "CommandHTTP/clients=1", metric: "commands/s", ceiling: "AppendSingle/writers=1", cmet: "events/s",
		note: "ceiling: a bare append through the client at the same concurrency"},
	{what: "HTTP command, 16 clients", bench: "CommandHTTP/clients=16", metric: "commands/s", ceiling: "AppendSingle/writers=16", cmet: "events/s"},
	{what: "HTTP command, 64 clients", bench: "CommandHTTP/clients=64", metric: "commands/s", ceiling: "AppendSingle/writers=64", cmet: "events/s"},
	{what: "query load: bare Gin handler doing one Redis GET (the ceiling of the query rows)", bench: "QueryLoad/max/bare", metric: "req/s"},
	{what: "query max throughput, customer 360", bench: "QueryLoad/max/customer360", metric: "req/s", ceiling: "QueryLoad/max/bare-before-customer360", cmet: "req/s",
		note: "ceiling: the bare handler measured right before it (issue 5 target ≥ 50 %)"},
	{what: "query max throughput, customer 360, % of the bare handler", bench: "QueryLoad/max/customer360", metric: "pct-of-bare", target: 50},
	{what: "query max throughput, customer 360, beside a bare GET of a value as large as the answer", bench: "QueryLoad/max/customer360", metric: "req/s", ceiling: "QueryLoad/max/sized-customer360", cmet: "req/s",
		note: "context: how much of the gap is payload"},
	{what: "query at 1,000 requests/s for 60 s, customer 360: p99", bench: "QueryLoad/rate/customer360", metric: "p99-ms", target: 10, atMost: true, note: "target ≤ 10 ms (issue 5)"},
	{what: "query at 1,000 requests/s for 60 s, customer 360: errors", bench: "QueryLoad/rate/customer360", metric: "errors", atMost: true, zeroTarget: true, note: "target: none"},
	{what: "query max throughput, timeline page of 50 items", bench: "QueryLoad/max/timeline50", metric: "req/s", ceiling: "QueryLoad/max/bare-before-timeline50", cmet: "req/s",
		note: "ceiling: the bare handler measured right before it (issue 5 target ≥ 50 %)"},
	{what: "query max throughput, timeline page of 50 items, % of the bare handler", bench: "QueryLoad/max/timeline50", metric: "pct-of-bare", target: 50},
	{what: "query max throughput, timeline page of 50 items, beside a bare GET of a value as large as the answer", bench: "QueryLoad/max/timeline50", metric: "req/s", ceiling: "QueryLoad/max/sized-timeline50", cmet: "req/s",
		note: "context: how much of the gap is payload"},
	{what: "query at 1,000 requests/s for 60 s, timeline page of 50 items: p99", bench: "QueryLoad/rate/timeline50", metric: "p99-ms", target: 10, atMost: true, note: "target ≤ 10 ms (issue 5)"},
	{what: "query at 1,000 requests/s for 60 s, timeline page of 50 items: errors", bench: "QueryLoad/rate/timeline50", metric: "errors", atMost: true, zeroTarget: true, note: "target: none"},
	{what: "query max throughput, churn-risk list (50 items)", bench: "QueryLoad/max/churnRisks", metric: "req/s", ceiling: "QueryLoad/max/bare-before-churnRisks", cmet: "req/s",
		note: "ceiling: the bare handler measured right before it (issue 5 target ≥ 50 %)"},
	{what: "query max throughput, churn-risk list (50 items), % of the bare handler", bench: "QueryLoad/max/churnRisks", metric: "pct-of-bare", target: 50},
	{what: "query max throughput, churn-risk list (50 items), beside a bare GET of a value as large as the answer", bench: "QueryLoad/max/churnRisks", metric: "req/s", ceiling: "QueryLoad/max/sized-churnRisks", cmet: "req/s",
		note: "context: how much of the gap is payload"},
	{what: "query at 1,000 requests/s for 60 s, churn-risk list (50 items): p99", bench: "QueryLoad/rate/churnRisks", metric: "p99-ms", target: 10, atMost: true, note: "target ≤ 10 ms (issue 5)"},
	{what: "query at 1,000 requests/s for 60 s, churn-risk list (50 items): errors", bench: "QueryLoad/rate/churnRisks", metric: "errors", atMost: true, zeroTarget: true, note: "target: none"},
	{what: "query max throughput, timeline page, page cache off (first view, or right after a write)", bench: "QueryLoad/max/uncached-timeline50", metric: "req/s", ceiling: "QueryLoad/max/bare", cmet: "req/s"},
	{what: "query max throughput, churn-risk list, page cache off (first view, or right after a write)", bench: "QueryLoad/max/uncached-churnRisks", metric: "req/s", ceiling: "QueryLoad/max/bare", cmet: "req/s"},
	{what: "full Online Retail import", bench: "ImportOnlineRetail", metric: "s/import", target: 30, atMost: true,
		note: "target ≤ 30 s (issue 3)"},
}

var lineRE = regexp.MustCompile(`^(Benchmark\S+)(.*)$`)
var numbersRE = regexp.MustCompile(`^\s*(\d+)\s+([-+0-9.eE]+\s+\S+.*)$`) // ns/op may be absent (b.ReportMetric(0, "ns/op"))

func parse(r io.Reader) []result {
	var out []result
	var pkg, pending string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	add := func(name, iters, rest string) {
		res := result{pkg: pkg, name: trimProcs(strings.TrimPrefix(name, "Benchmark")), iters: iters, metrics: map[string]float64{}}
		f := strings.Fields(rest)
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			res.metrics[f[i+1]] = v
			res.order = append(res.order, f[i+1])
		}
		out = append(out, res)
	}
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg, pending = strings.TrimSpace(p), ""
			continue
		}
		if m := lineRE.FindStringSubmatch(line); m != nil {
			if n := numbersRE.FindStringSubmatch(m[2]); n != nil {
				add(m[1], n[1], n[2])
				pending = ""
			} else {
				pending = m[1] // the numbers follow after log lines
			}
			continue
		}
		if pending != "" {
			if m := numbersRE.FindStringSubmatch(line); m != nil {
				add(pending, m[1], m[2])
				pending = ""
			}
		}
	}
	return out
}

// trimProcs drops the -N GOMAXPROCS suffix go test appends.
func trimProcs(name string) string {
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			return name[:i]
		}
	}
	return name
}

func human(v float64) string {
	switch {
	case v >= 100:
		return commas(int64(v + 0.5))
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func main() {
	results := parse(os.Stdin)
	if mod := modulePath("go.mod"); mod != "" {
		for i := range results {
			results[i].pkg = strings.TrimPrefix(strings.TrimPrefix(results[i].pkg, mod), "/")
		}
	}
	find := func(name string) *result {
		for i := range results {
			if results[i].name == name {
				return &results[i]
			}
		}
		return nil
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()

	fmt.Fprintln(w, "## Against the ceilings")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| figure | value | ceiling (same run) | ratio | target | |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---|---|")
	for _, c := range comparisons {
		r := find(c.bench)
		if r == nil {
			continue
		}
		v, ok := r.metrics[c.metric]
		if !ok {
			continue
		}
		ceil, ratio := "—", "—"
		if c.ceiling != "" {
			if cr := find(c.ceiling); cr != nil {
				if cv, ok := cr.metrics[c.cmet]; ok && cv > 0 {
					ceil = human(cv) + " " + c.cmet + " (" + c.ceiling + ")"
					ratio = strconv.FormatFloat(v/cv, 'f', 2, 64) + "×"
				}
			}
		}
		target, verdict := "—", ""
		if c.target > 0 || c.zeroTarget {
			pass := v >= c.target
			cmp := "≥ "
			if c.atMost {
				pass, cmp = v <= c.target, "≤ "
			}
			target = cmp + human(c.target) + " " + c.metric
			verdict = "met"
			if !pass {
				verdict = "**missed**"
			}
		}
		what := c.what
		if c.note != "" {
			what += " — " + c.note
		}
		fmt.Fprintf(w, "| %s | %s %s | %s | %s | %s | %s |\n", what, human(v), c.metric, ceil, ratio, target, verdict)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "## All results")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| package | benchmark | iterations | ns/op | B/op | allocs/op | other metrics |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---|")
	for _, r := range results {
		var other []string
		for _, k := range r.order {
			if k == "ns/op" || k == "B/op" || k == "allocs/op" {
				continue
			}
			other = append(other, human(r.metrics[k])+" "+k)
		}
		get := func(k string) string {
			if v, ok := r.metrics[k]; ok {
				return human(v)
			}
			return "—"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", r.pkg, r.name, r.iters, get("ns/op"), get("B/op"), get("allocs/op"), strings.Join(other, ", "))
	}
}

// modulePath reads the module path from a go.mod file ("" if unreadable).
func modulePath(file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.TrimSpace(p)
		}
	}
	return ""
}
