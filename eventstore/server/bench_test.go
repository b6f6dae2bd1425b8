package server_test

// Benchmarks of the embedded event store, each beside the ceiling measured in
// the same run: the disk's fsync rate for appends, the storage engine's raw
// iteration rate for $all reads. `make bench` turns the output into
// BENCHMARKS.md.

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/crm-es/crm/eventstore/server"
	"github.com/crm-es/crm/eventstore/server/store"
)

// benchPayload is the size and shape of a typical CRM event.
var benchPayload = []byte(`{"customerId":"3f0d7c1e-8a4b-4d8e-9c51-2b7f0e6a9d10","channel":"call","occurredAt":"2026-11-20T10:15:00Z","summary":"Quarterly review call","detail":"Discussed renewal terms and the open complaint about late deliveries; follow-up visit planned.","contactId":"a1b2c3d4-0000-4000-8000-000000000001"}`)

func benchServer(b *testing.B) (*server.Server, *esdb.Client) {
	b.Helper()
	srv, err := server.Start(server.Config{Dir: b.TempDir()}, "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := esdb.ParseConnectionString(srv.ConnectionString())
	if err != nil {
		b.Fatal(err)
	}
	cfg.Logger = esdb.NoopLogging()
	c, err := esdb.NewClient(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(); srv.Close() })
	return srv, c
}

// BenchmarkCeilingDiskFsync measures the ceiling for durable appends: how
// many small write+fdatasync pairs per second the data directory's disk does.
func BenchmarkCeilingDiskFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "fsync-probe"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 512)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "fsyncs/s")
}

// BenchmarkAppendSingle appends one event per call through the official
// client with 1, 16 and 64 concurrent writers, each on its own stream with an
// exact expected revision (fsync on, as always).
func BenchmarkAppendSingle(b *testing.B) {
	for _, writers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			srv, c := benchServer(b)
			ctx := context.Background()
			var wg sync.WaitGroup
			per := (b.N + writers - 1) / writers
			before := srv.Store().Stats()
			b.ResetTimer()
			start := time.Now()
			errs := make(chan error, writers)
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					stream := fmt.Sprintf("bench-%d-%s", w, uuid.NewString())
					for i := 0; i < per; i++ {
						var exp esdb.ExpectedRevision = esdb.NoStream{}
						if i > 0 {
							exp = esdb.Revision(uint64(i - 1))
						}
						if _, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: exp},
							esdb.EventData{EventType: "InteractionLogged", ContentType: esdb.ContentTypeJson, Data: benchPayload}); err != nil {
							errs <- err
							return
						}
					}
				}(w)
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			after := srv.Store().Stats()
			events := float64(per * writers)
			b.ReportMetric(events/elapsed.Seconds(), "events/s")
			if fs := after.Fsyncs - before.Fsyncs; fs > 0 {
				b.ReportMetric(float64(after.EventsSynced-before.EventsSynced)/float64(fs), "events/fsync")
			}
		})
	}
}

// BenchmarkAppendBatch100 appends 100-event batches from one writer.
func BenchmarkAppendBatch100(b *testing.B) {
	_, c := benchServer(b)
	ctx := context.Background()
	batch := make([]esdb.EventData, 100)
	for i := range batch {
		batch[i] = esdb.EventData{EventType: "OrderLineAdded", ContentType: esdb.ContentTypeJson, Data: benchPayload}
	}
	stream := "batch-" + uuid.NewString()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		var exp esdb.ExpectedRevision = esdb.NoStream{}
		if i > 0 {
			exp = esdb.Revision(uint64(i*100 - 1))
		}
		for k := range batch {
			batch[k].EventID = uuid.Nil // the client generates fresh ids
		}
		if _, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: exp}, batch...); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "batches/s")
	b.ReportMetric(float64(b.N*100)/elapsed.Seconds(), "events/s")
}

const readBenchEvents = 200_000

// fillStore writes n events straight into the storage engine (1,000 per
// commit over 500 streams), which is much faster than a realistic client
// load and irrelevant to what the read benchmarks measure.
func fillStore(b *testing.B, st *store.Store, n int) {
	b.Helper()
	ctx := context.Background()
	for written := 0; written < n; {
		k := min(1000, n-written)
		evs := make([]store.Proposed, k)
		for i := range evs {
			evs[i] = store.Proposed{ID: uuid.New(), Type: "InteractionLogged", JSON: true, Data: benchPayload, Metadata: []byte(`{"actor":"u1"}`)}
		}
		if _, err := st.Append(ctx, fmt.Sprintf("customer-%d", written/1000%500), store.Expected{Kind: store.ExpectAny}, evs); err != nil {
			b.Fatal(err)
		}
		written += k
	}
}

// BenchmarkCeilingStoreIterate measures the storage engine's raw iteration
// rate over $all, the ceiling for reads through gRPC.
func BenchmarkCeilingStoreIterate(b *testing.B) {
	srv, _ := benchServer(b)
	st := srv.Store()
	fillStore(b, st, readBenchEvents)
	b.ResetTimer()
	start := time.Now()
	total := 0
	for i := 0; i < b.N; i++ {
		for p := uint64(1); p <= st.Head(); p += 256 {
			evs, err := st.ReadRange(p, p+255)
			if err != nil {
				b.Fatal(err)
			}
			total += len(evs)
		}
	}
	b.ReportMetric(float64(total)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkReadAllClient reads the whole of $all through the official client.
func BenchmarkReadAllClient(b *testing.B) {
	srv, c := benchServer(b)
	fillStore(b, srv.Store(), readBenchEvents)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	total := 0
	for i := 0; i < b.N; i++ {
		rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{From: esdb.Start{}}, readBenchEvents)
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := rs.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			total++
		}
		rs.Close()
	}
	if total != b.N*readBenchEvents {
		b.Fatalf("read %d events, want %d", total, b.N*readBenchEvents)
	}
	b.ReportMetric(float64(total)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkSubscribeAllClient catches up a $all subscription (filtered to
// exclude system events) through the official client: the projector's path.
func BenchmarkSubscribeAllClient(b *testing.B) {
	srv, c := benchServer(b)
	fillStore(b, srv.Store(), readBenchEvents)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	total := 0
	for i := 0; i < b.N; i++ {
		sub, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.Start{}, Filter: esdb.ExcludeSystemEventsFilter()})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for n < readBenchEvents {
			ev := sub.Recv()
			if ev.SubscriptionDropped != nil {
				b.Fatal(ev.SubscriptionDropped.Error)
			}
			if ev.EventAppeared != nil {
				n++
			}
		}
		sub.Close()
		total += n
	}
	b.ReportMetric(float64(total)/time.Since(start).Seconds(), "events/s")
}
