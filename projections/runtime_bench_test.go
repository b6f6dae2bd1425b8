package projections

import (
	"context"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"
)

// BenchmarkLiveLag appends 1,000 events/s for 5 s to the counter projection
// and reports the p50/p99 time from the append's return to the commit
// that makes it visible (checkpoint polled every 0.5 ms).
func BenchmarkLiveLag(b *testing.B) {
	for range b.N {
		liveLag(b)
	}
}

func liveLag(b *testing.B) {
	e := newEnv(b)
	rt, err := NewRuntime(RuntimeConfig{Store: e.store, Redis: e.redis.Client, Codec: e.codec,
		Projections: []Projection{newCounter()}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = rt.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for rt.Ready(ctx) != nil {
		time.Sleep(10 * time.Millisecond)
	}

	type sent struct {
		pos uint64
		at  time.Time
	}
	var (
		mu      sync.Mutex
		pending []sent
		lags    []time.Duration
	)
	stop := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		rdb := e.redis.Client
		for {
			select {
			case <-stop:
				return
			default:
			}
			gen := rdb.Get(ctx, AliasKey("counter")).Val()
			cp, err := parseCheckpoint(rdb.Get(ctx, genMetaKey("counter", gen, "checkpoint")).Val())
			now := time.Now()
			if err == nil {
				mu.Lock()
				i := 0
				for ; i < len(pending) && pending[i].pos <= cp.Commit; i++ {
					lags = append(lags, now.Sub(pending[i].at))
				}
				pending = pending[i:]
				mu.Unlock()
			}
			time.Sleep(500 * time.Microsecond)
		}
	}()
	b.ResetTimer()
	tick := time.NewTicker(time.Millisecond)
	for i := 0; i < 5000; i++ {
		<-tick.C
		pos := e.append("s-"+strconv.Itoa(i%50), ping{N: i})
		mu.Lock()
		pending = append(pending, sent{pos, time.Now()})
		mu.Unlock()
	}
	tick.Stop()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	<-polled
	b.StopTimer()
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	if len(lags) < 4900 {
		b.Fatalf("only %d of 5000 events became visible", len(lags))
	}
	q := func(p float64) time.Duration { return lags[int(p*float64(len(lags)-1))] }
	b.ReportMetric(float64(q(0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(q(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(slices.Max(lags).Microseconds())/1000, "max-ms")
}
