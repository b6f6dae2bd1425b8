package projections_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/crm-es/crm/commands"
	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/importer"
	"github.com/crm-es/crm/internal/dataset"
	"github.com/crm-es/crm/internal/redistest"
	"github.com/crm-es/crm/projections"
	"github.com/crm-es/crm/projections/readmodels"
)

// BenchmarkRebuildMillion builds a store of at least 1,000,000 events (the
// Online Retail import, replicated with fresh ids: every UUID in stream
// names, data and metadata is mapped to a new one per replica, one
// customer's events appended in their original order), then measures in
// the same run:
//
//   - raw-all-events/s, raw-all-cpu-us/event: a plain $all read through the
//     client (the ceiling) and the CPU it costs this process (event store
//     and client);
//   - read-decode-events/s, read-decode-cpu-us/event: the same read with
//     every event decoded by the projector's codec, what any rebuild must
//     do whatever its read models;
//   - redis-set/s: redis-benchmark -P 16 -t set against the same redis-server;
//   - rebuild-events/s: every read model built together from the start of
//     $all into an empty Redis by the Runtime, running in a child process
//     (TestRebuildChildProjector) that reads the store over gRPC, until
//     every projection is live with no lag (process start included);
//   - peak-rss-MB: VmHWM of that projector process (its whole life), which
//     runs with the garbage collector settings of crm project (GOGC=400,
//     GOMEMLIMIT=400MiB unless the environment sets them);
//   - cpu-us/event, store-cpu-us/event, redis-cpu-us/event: CPU time of the
//     projector process, of this process (the embedded event store serving
//     the reads) and of the redis-server during the rebuild;
//   - cpu-bound-events/s: the machine's cores divided by the CPU one event
//     of the rebuild costs in all three processes together, the rate the
//     rebuild could reach if it kept every core busy; read-decode-bound-events/s:
//     the same for reading and decoding alone.
//
// CRM_BENCH_EVENTS overrides the event count (default 1,000,000);
// CRM_BENCH_ONLINE_RETAIL names the source file; CRM_BENCH_REBUILD_PROFILE
// writes a CPU profile of the projector process, CRM_BENCH_BLOCK_PROFILE a
// blocking profile of it (where its goroutines wait), CRM_BENCH_HEAP_PROFILE a
// heap profile of it halfway, CRM_BENCH_RAW_PROFILE a CPU profile of the
// raw read, CRM_BENCH_STORE_PROFILE one of this process (the event store)
// during the rebuild.
func BenchmarkRebuildMillion(b *testing.B) {
	path, err := dataset.OnlineRetail(os.Getenv(dataset.OnlineRetailEnv))
	if err != nil {
		b.Skip(err)
	}
	want := 1_000_000
	if s := os.Getenv("CRM_BENCH_EVENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("CRM_BENCH_EVENTS=%q: want a positive event count", s)
		}
		want = n
	}
	ctx := context.Background()
	store, err := eventstore.Open(ctx, eventstore.Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()

	start := time.Now()
	total, bytes := buildReplicatedStore(b, ctx, store, path, want)
	head, err := store.Head(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("store: %d events (%.0f MB of data and metadata) built in %s", total, float64(bytes)/1e6, time.Since(start).Round(time.Second))

	// (a) Raw $all read through the client.
	stop := cpuProfile(b, "CRM_BENCH_RAW_PROFILE")
	raw, rawCPU := rawReadRate(b, ctx, store, total, nil)
	stop()
	// (a') The same read with every event decoded as the projector decodes
	// it: what the rebuild cannot do without, whatever its read models.
	decRate, decCPU := rawReadRate(b, ctx, store, total, commands.NewCodec())

	r := redistest.Start(b)
	// (b) redis-benchmark SET rate against the same redis-server.
	setRate, setOK := redisSetRate(b, r.Addr())
	r.FlushAll()

	storeURL := embeddedStoreURL(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.FlushAll()
		rcpu0 := redisCPU(b, r)
		scpu0 := processCPU(b)
		_ = r.Client.ConfigResetStat(context.Background()).Err()
		stopStore := cpuProfile(b, "CRM_BENCH_STORE_PROFILE")
		res := runChildProjector(b, storeURL, r.Addr(), head)
		stopStore()
		scpu, rcpu := processCPU(b)-scpu0, redisCPU(b, r)-rcpu0
		logCommandStats(b, r, total)
		rate := float64(total) / res.elapsed.Seconds()
		b.ReportMetric(rate, "rebuild-events/s")
		b.ReportMetric(raw, "raw-all-events/s")
		b.ReportMetric(rawCPU, "raw-all-cpu-us/event")
		b.ReportMetric(decRate, "read-decode-events/s")
		b.ReportMetric(decCPU, "read-decode-cpu-us/event")
		// CPU-bound ceilings on this machine: its cores divided by the CPU
		// one event costs, all processes together (projector, redis-server,
		// event store), and by what reading and decoding alone cost.
		cores := float64(runtime.NumCPU())
		perEvent := (res.cpu + scpu + rcpu).Seconds() * 1e6 / float64(total)
		b.ReportMetric(cores*1e6/perEvent, "cpu-bound-events/s")
		b.ReportMetric(cores*1e6/decCPU, "read-decode-bound-events/s")
		if setOK {
			b.ReportMetric(setRate, "redis-set/s")
		}
		b.ReportMetric(res.peakRSS/1e6, "peak-rss-MB")
		// CPU per event: robust to other load on the machine.
		b.ReportMetric(res.cpu.Seconds()*1e6/float64(total), "cpu-us/event")
		b.ReportMetric(rcpu.Seconds()*1e6/float64(total), "redis-cpu-us/event")
		b.ReportMetric(scpu.Seconds()*1e6/float64(total), "store-cpu-us/event")
		b.Logf("rebuild of %d projections over %d events: %s (%.0f events/s, %.2f× the raw read); projector process: peak RSS %.0f MB, CPU %.0f µs/event; event store (this process) %.0f µs/event; redis-server %.0f µs/event",
			len(readmodels.All()), total, res.elapsed.Round(time.Millisecond), rate, rate/raw, res.peakRSS/1e6,
			res.cpu.Seconds()*1e6/float64(total), scpu.Seconds()*1e6/float64(total), rcpu.Seconds()*1e6/float64(total))
	}
}

// The projector runs in a child process (this test binary, running
// TestRebuildChildProjector) so that its peak RSS and CPU are its own, not
// the embedded event store's, which stays in the benchmark process and is
// reached over gRPC as a KurrentDB node would be.
const (
	childStoreEnv = "CRM_REBUILD_CHILD_STORE"
	childRedisEnv = "CRM_REBUILD_CHILD_REDIS"
	childHeadEnv  = "CRM_REBUILD_CHILD_HEAD"
)

// The projector's garbage collector settings: those of crm project
// (projectorGCPercent and projectorMemoryLimit in cmd/crm/project.go).
const (
	childGCPercent   = 400
	childMemoryLimit = 400 << 20
)

type childResult struct {
	elapsed time.Duration
	peakRSS float64 // bytes
	cpu     time.Duration
}

var childLine = regexp.MustCompile(`REBUILD-CHILD elapsed=(\d+) peak-rss=(\d+) cpu=(\d+)`)

func runChildProjector(b *testing.B, storeURL, redisAddr string, head eventstore.Checkpoint) childResult {
	b.Helper()
	args := []string{"-test.run=^TestRebuildChildProjector$", "-test.v", "-test.count=1"}
	if p := os.Getenv("CRM_BENCH_REBUILD_PROFILE"); p != "" {
		args = append(args, "-test.cpuprofile="+p)
	}
	if p := os.Getenv("CRM_BENCH_BLOCK_PROFILE"); p != "" {
		args = append(args, "-test.blockprofile="+p)
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), childStoreEnv+"="+storeURL, childRedisEnv+"="+redisAddr,
		childHeadEnv+"="+strconv.FormatUint(head.Commit, 10))
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("projector child process: %v\n%s", err, out)
	}
	m := childLine.FindSubmatch(out)
	if m == nil {
		b.Fatalf("projector child process printed no result:\n%s", out)
	}
	el, _ := strconv.ParseInt(string(m[1]), 10, 64)
	rss, _ := strconv.ParseFloat(string(m[2]), 64)
	cpu, _ := strconv.ParseInt(string(m[3]), 10, 64)
	return childResult{elapsed: time.Duration(el), peakRSS: rss, cpu: time.Duration(cpu)}
}

// TestRebuildChildProjector is the projector process of
// BenchmarkRebuildMillion (skipped unless started by it): it rebuilds every
// read model from the store at CRM_REBUILD_CHILD_STORE into the Redis at
// CRM_REBUILD_CHILD_REDIS until they are live at CRM_REBUILD_CHILD_HEAD,
// then prints its elapsed time, peak RSS (VmHWM) and CPU time.
func TestRebuildChildProjector(t *testing.T) {
	url, addr, headStr := os.Getenv(childStoreEnv), os.Getenv(childRedisEnv), os.Getenv(childHeadEnv)
	if url == "" || addr == "" || headStr == "" {
		t.Skip("the projector child process of BenchmarkRebuildMillion")
	}
	head, err := strconv.ParseUint(headStr, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", childHeadEnv, headStr, err)
	}
	// The garbage collector settings crm project runs with (cmd/crm
	// project.go, applyProjectorGC), unless the environment sets them.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(childGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(childMemoryLimit)
	}
	ctx := context.Background()
	store, err := eventstore.Open(ctx, eventstore.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	cpu0 := processCPU(t)
	el := rebuildAll(t, ctx, store, rdb, eventstore.CheckpointAt(head))
	cpu := processCPU(t) - cpu0
	fmt.Printf("REBUILD-CHILD elapsed=%d peak-rss=%.0f cpu=%d\n", el, procStatus(t, "VmHWM:"), cpu)
}

// embeddedStoreURL finds the connection string of the embedded event
// store of this process: its only listening TCP socket on 127.0.0.1.
func embeddedStoreURL(b *testing.B) string {
	b.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		b.Fatalf("embedded store address: %v", err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink("/proc/self/fd/" + fd.Name())
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	data, err := os.ReadFile("/proc/self/net/tcp")
	if err != nil {
		b.Fatalf("embedded store address: %v", err)
	}
	var ports []int64
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		// sl local_address rem_address st tx:rx tr:tm retrnsmt uid timeout inode
		if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] {
			continue
		}
		ip, port, ok := strings.Cut(f[1], ":")
		if !ok || ip != "0100007F" {
			continue
		}
		p, err := strconv.ParseInt(port, 16, 64)
		if err == nil {
			ports = append(ports, p)
		}
	}
	if len(ports) != 1 {
		b.Fatalf("embedded store address: want one listening socket on 127.0.0.1, found ports %v", ports)
	}
	return fmt.Sprintf("esdb://127.0.0.1:%d?tls=false", ports[0])
}

func writeHeapProfile(b testing.TB, path string) {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}

// processCPU is the user+system CPU time this process has used.
func processCPU(b testing.TB) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisCPU is the user+system CPU time the redis-server has used (INFO cpu).
func redisCPU(b *testing.B, r *redistest.Server) time.Duration {
	b.Helper()
	info, err := r.Client.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatalf("redis INFO cpu: %v", err)
	}
	var total float64
	for line := range strings.Lines(info) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatalf("redis INFO cpu: %q: %v", line, err)
			}
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

// logCommandStats logs where the redis-server spent its time during the
// rebuild (INFO commandstats: calls and µs per event, per command).
func logCommandStats(b *testing.B, r *redistest.Server, events int) {
	b.Helper()
	info, err := r.Client.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Logf("redis INFO commandstats: %v", err)
		return
	}
	var parts []string
	for line := range strings.Lines(info) {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		var calls, usec float64
		for f := range strings.SplitSeq(rest, ",") {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "calls":
				calls, _ = strconv.ParseFloat(v, 64)
			case "usec":
				usec, _ = strconv.ParseFloat(v, 64)
			}
		}
		if usec/float64(events) >= 0.05 {
			parts = append(parts, fmt.Sprintf("%s %.2f calls, %.2f µs", strings.TrimPrefix(name, "cmdstat_"), calls/float64(events), usec/float64(events)))
		}
	}
	b.Logf("redis per event: %s", strings.Join(parts, "; "))
}

// cpuProfile starts a CPU profile into the file named by the environment
// variable env (none when unset); the returned func stops it.
func cpuProfile(b *testing.B, env string) func() {
	b.Helper()
	p := os.Getenv(env)
	if p == "" {
		return func() {}
	}
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// rebuildAll runs the real read models from an empty Redis until every
// projection is served and has no lag at head.
func rebuildAll(b testing.TB, ctx context.Context, store *eventstore.Store, rdb *redis.Client, head eventstore.Checkpoint) time.Duration {
	b.Helper()
	rt, err := projections.NewRuntime(projections.RuntimeConfig{Store: store, Redis: rdb, Codec: commands.NewCodec(),
		Projections: readmodels.All(), Logger: benchLogger()})
	if err != nil {
		b.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	start := time.Now()
	go func() { defer close(done); _ = rt.Run(rctx) }()
	defer func() { cancel(); <-done }()
	// Status scans $all for the lag: asked only once every projection
	// serves (aliases switch when a build has caught up), then at most
	// twice a second, and every 5 s for the heap profile, written once half
	// the events are committed.
	heapAt := os.Getenv("CRM_BENCH_HEAP_PROFILE")
	lastHeapCheck, lastStatus := time.Now(), time.Time{}
	for {
		if heapAt != "" && time.Since(lastHeapCheck) > 5*time.Second {
			lastHeapCheck = time.Now()
			if sts, err := rt.Status(ctx); err == nil && len(sts) > 0 && max(sts[0].Checkpoint, sts[0].BuildCheckpoint) > head.Commit/2 {
				writeHeapProfile(b, heapAt)
				heapAt = ""
			}
		}
		if rt.Ready(ctx) == nil && time.Since(lastStatus) >= 500*time.Millisecond {
			lastStatus = time.Now()
			sts, err := rt.Status(ctx)
			ok := err == nil
			for _, s := range sts {
				ok = ok && s.LagEvents == 0 && s.Head >= head.Commit && s.Parked == 0
				if s.Parked > 0 {
					b.Fatalf("projection %s parked %d events: %s", s.Name, s.Parked, s.LastError)
				}
			}
			if ok {
				return time.Since(start)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func rawReadRate(b *testing.B, ctx context.Context, store *eventstore.Store, total int, codec *eventstore.Codec) (rate, cpuPerEvent float64) {
	b.Helper()
	cpu0 := processCPU(b)
	start := time.Now()
	var after eventstore.Checkpoint
	n := 0
	for {
		evs, err := store.ReadAll(ctx, after, 4096)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range evs {
			if e.IsSystem() {
				continue
			}
			n++
			if codec != nil {
				if _, err := codec.DecodeRecorded(e); err != nil {
					b.Fatalf("decode %s %s@%d: %v", e.Type, e.Stream, e.Revision, err)
				}
			}
		}
		if len(evs) < 4096 {
			break
		}
		after = evs[len(evs)-1].Checkpoint()
	}
	if n != total {
		b.Fatalf("raw read: %d events, want %d", n, total)
	}
	rate = float64(n) / time.Since(start).Seconds()
	cpuPerEvent = (processCPU(b) - cpu0).Seconds() * 1e6 / float64(n)
	what := "raw $all read through the client"
	if codec != nil {
		what += ", every event decoded"
	}
	b.Logf("%s: %d events at %.0f events/s, %.1f µs of CPU per event (event store and client)", what, n, rate, cpuPerEvent)
	return rate, cpuPerEvent
}

// redisSetRate runs redis-benchmark -P 16 -t set -n 1000000 -q against
// addr and returns its SET requests per second (false when the binary is
// missing: it ships with the redis-tools / redis-server packages).
func redisSetRate(b *testing.B, addr string) (float64, bool) {
	b.Helper()
	bin, err := exec.LookPath("redis-benchmark")
	if err != nil {
		b.Log("redis-benchmark is not installed (apt-get install redis-tools): the Redis SET ceiling is not reported")
		return 0, false
	}
	host, port, _ := strings.Cut(addr, ":")
	out, err := exec.Command(bin, "-h", host, "-p", port, "-P", "16", "-t", "set", "-n", "1000000", "-q").CombinedOutput()
	if err != nil {
		b.Fatalf("redis-benchmark: %v: %s", err, out)
	}
	rate, err := parseRedisBenchmark(out)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("redis-benchmark -P 16 -t set: %.0f SET/s", rate)
	return rate, true
}

var redisBenchSet = regexp.MustCompile(`SET: (?:.*\r)?\s*([0-9.]+) requests per second`)

// parseRedisBenchmark reads the SET rate out of redis-benchmark -q output
// ("SET: 1234567.50 requests per second, p50=0.567 msec"; progress lines
// end with \r).
func parseRedisBenchmark(out []byte) (float64, error) {
	var last []byte
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
			return i + 1, data[:i], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	for sc.Scan() {
		if m := redisBenchSet.FindSubmatch(sc.Bytes()); m != nil {
			last = m[1]
		}
	}
	if last == nil {
		return 0, fmt.Errorf("redis-benchmark printed no SET rate: %q", out)
	}
	return strconv.ParseFloat(string(last), 64)
}

func TestParseRedisBenchmark(t *testing.T) {
	tests := []struct {
		name string
		out  string
		want float64
		ok   bool
	}{
		{"quiet", "SET: 1234567.50 requests per second, p50=0.567 msec\n", 1234567.5, true},
		{"progress then result", "SET: rps=100000.0 (overall: 99000.0) avg_msec=1.0 (overall: 1.0)\rSET: 812347.69 requests per second, p50=0.879 msec                    \n", 812347.69, true},
		{"old format", "SET: 450000.00 requests per second\n", 450000, true},
		{"error", "Could not connect to Redis at 127.0.0.1:1: Connection refused\n", 0, false},
		{"empty", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRedisBenchmark([]byte(tt.out))
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if got != tt.want {
				t.Errorf("rate = %v, want %v", got, tt.want)
			}
		})
	}
}

func FuzzParseRedisBenchmark(f *testing.F) {
	f.Add([]byte("SET: 1234567.50 requests per second, p50=0.567 msec\n"))
	f.Add([]byte("SET: rps=1\rSET: 2 requests per second\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		rate, err := parseRedisBenchmark(out)
		if err == nil && rate < 0 {
			t.Errorf("negative rate %v from %q", rate, out)
		}
	})
}

// procStatus reads a kB field of /proc/self/status (VmHWM: the peak RSS,
// VmRSS: the current one), in bytes.
func procStatus(b testing.TB, field string) float64 {
	b.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatalf("RSS: %v", err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			if err != nil {
				b.Fatalf("RSS: %q: %v", line, err)
			}
			return kb * 1024
		}
	}
	b.Fatalf("RSS: no %s in /proc/self/status", field)
	return 0
}

// buildReplicatedStore imports the Online Retail file, then appends fresh
// replicas of it until the store holds at least want events. It returns
// the event count and the bytes of data and metadata.
func buildReplicatedStore(b *testing.B, ctx context.Context, store *eventstore.Store, path string, want int) (int, int64) {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	_, err = importer.ImportOnlineRetail(ctx, store, f, importer.Options{})
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	var tmpl []eventstore.Recorded
	var after eventstore.Checkpoint
	for {
		evs, err := store.ReadAll(ctx, after, 4096)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range evs {
			if !e.IsSystem() {
				tmpl = append(tmpl, e)
			}
		}
		if len(evs) < 4096 {
			break
		}
		after = evs[len(evs)-1].Checkpoint()
	}
	if len(tmpl) == 0 {
		b.Fatal("the import wrote no events")
	}
	var size int64
	for _, e := range tmpl {
		size += int64(len(e.Data) + len(e.RawMetadata))
	}
	replicas := (want + len(tmpl) - 1) / len(tmpl)
	runs := replicaRuns(b, tmpl)
	for r := 1; r < replicas; r++ {
		appendReplica(b, ctx, store, runs, r)
	}
	return replicas * len(tmpl), int64(replicas) * size
}

// run is consecutive events of one stream (appended together), with the
// customer it belongs to.
type run struct {
	stream   string
	customer string
	events   []eventstore.Recorded
}

var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// replicaRuns groups the template into runs of one stream, each tagged
// with its customer (the customer stream's id, or the customerId of an
// order's data).
func replicaRuns(b *testing.B, tmpl []eventstore.Recorded) []run {
	b.Helper()
	var runs []run
	owner := map[string]string{}
	for _, e := range tmpl {
		if n := len(runs); n > 0 && runs[n-1].stream == e.Stream {
			runs[n-1].events = append(runs[n-1].events, e)
			continue
		}
		cust, ok := owner[e.Stream]
		if !ok {
			var d struct {
				CustomerID string `json:"customerId"`
			}
			_ = json.Unmarshal(e.Data, &d)
			cust = d.CustomerID
			if cust == "" {
				cust = e.Stream
			}
			owner[e.Stream] = cust
		}
		runs = append(runs, run{stream: e.Stream, customer: cust, events: []eventstore.Recorded{e}})
	}
	return runs
}

var replicaNS = uuid.MustParse("6f0d6c55-2d1c-4d64-9a57-2f1b0c9e7a10")

// appendReplica appends replica r of the runs: every UUID mapped to a new
// one, each customer's runs in order on one of 64 concurrent writers.
func appendReplica(b *testing.B, ctx context.Context, store *eventstore.Store, runs []run, r int) {
	b.Helper()
	tag := []byte("replica-" + strconv.Itoa(r) + ":")
	fresh := func(s []byte) []byte {
		return uuidRE.ReplaceAllFunc(s, func(u []byte) []byte {
			return []byte(uuid.NewSHA1(replicaNS, append(tag[:len(tag):len(tag)], u...)).String())
		})
	}
	const writers = 64
	queues := make([][]int, writers)
	for i, rn := range runs {
		h := fnv.New32a()
		h.Write([]byte(rn.customer))
		q := h.Sum32() % writers
		queues[q] = append(queues[q], i)
	}
	var wg sync.WaitGroup
	errc := make(chan error, writers)
	for _, q := range queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			revs := map[string]int64{}
			for _, i := range q {
				rn := runs[i]
				stream := string(fresh([]byte(rn.stream)))
				pend := make([]eventstore.Pending, len(rn.events))
				for j, e := range rn.events {
					var meta eventstore.Metadata
					if err := json.Unmarshal(fresh(e.RawMetadata), &meta); err != nil {
						errc <- fmt.Errorf("metadata of %s@%d: %w", e.Stream, e.Revision, err)
						return
					}
					meta.Hash, meta.PrevHash = "", ""
					pend[j] = eventstore.Pending{Type: e.Type, Data: fresh(e.Data), Metadata: meta,
						ID: uuid.NewSHA1(replicaNS, append(tag[:len(tag):len(tag)], e.EventID.String()...))}
				}
				exp, ok := revs[stream]
				if !ok {
					exp = eventstore.NoStream
				}
				res, err := store.Append(ctx, stream, exp, pend)
				if err != nil {
					errc <- fmt.Errorf("append replica %d of %s: %w", r, rn.stream, err)
					return
				}
				revs[stream] = int64(res.Revision)
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
}
