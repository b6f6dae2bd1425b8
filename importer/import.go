package importer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/internal/eventcodec"
)

// Actor is the metadata actor of every imported event.
const Actor = "import:online-retail"

// Currency of the data set's prices.
const Currency = "GBP"

// DefaultWorkers is the default number of concurrent writers.
const DefaultWorkers = 48

// Store is what an import needs of the event store: appends, the head of
// $all (to tell new events from ones an earlier import wrote) and stream
// loads (to resume a stream an earlier import left half-written).
type Store interface {
	eventstore.Appender
	eventstore.StreamLoader
	Head(ctx context.Context) (eventstore.Checkpoint, error)
}

// Options tune an import.
type Options struct {
	// Workers is the number of concurrent writers (0 = DefaultWorkers).
	// Customers are partitioned over them: one customer's events are all
	// written by one worker, in business-time order.
	Workers int
	// Logger (nil = discard).
	Logger *slog.Logger
	// Progress follows the writing of events (nil = none).
	Progress Progress
	// Location of the invoice dates (nil = RetailerTimeZone).
	Location *time.Location
	// MaxErrors is how many failed customers are listed in the Summary
	// (0 = 10).
	MaxErrors int
}

// Summary is the outcome of an import.
type Summary struct {
	// Read.
	Rows          int
	GuestLines    int
	GuestInvoices int
	Skipped       map[SkipReason]int

	// Planned.
	Customers             int
	Orders                int
	Cancellations         int // cancellation invoices of customers
	OrdersCancelled       int // recorded as OrderCancelled
	Returns               int // OrderReturned events
	Refunds               int // of which amount-only (goods on no earlier order)
	UnmatchedCancels      int // cancellation invoices with no earlier order
	UnmatchedLines        int // cancellation lines left unmatched
	MultiCountryCustomers int
	Events                int // events planned

	// Written.
	Appended        int // events appended by this run
	AlreadyImported int // events found already in the store (an earlier run)
	Appends         int // append calls
	FailedCustomers int
	Errors          []string // the first failures

	ReadDuration  time.Duration
	WriteDuration time.Duration
	Duration      time.Duration
}

// EventsPerSecond is the write rate over the whole import (appended and
// already-imported events alike).
func (s *Summary) EventsPerSecond() float64 {
	if s.Duration <= 0 {
		return 0
	}
	return float64(s.Appended+s.AlreadyImported) / s.Duration.Seconds()
}

// SkippedRows is the number of rows skipped, all reasons together.
func (s *Summary) SkippedRows() int {
	n := 0
	for _, v := range s.Skipped {
		n += v
	}
	return n
}

// WriteText writes the summary for people.
func (s *Summary) WriteText(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("Online Retail import (UCI Machine Learning Repository, Daqing Chen 2015, CC BY 4.0)")
	p("  rows read              %d", s.Rows)
	p("  guest lines            %d (in %d guest-only invoices; not imported: no customer)", s.GuestLines, s.GuestInvoices)
	p("  skipped rows           %d", s.SkippedRows())
	for _, r := range slices.Sorted(maps.Keys(s.Skipped)) {
		p("    %-60s %d", string(r)+":", s.Skipped[r])
	}
	p("  customers              %d (%d seen with several countries; region = the first)", s.Customers, s.MultiCountryCustomers)
	p("  orders                 %d", s.Orders)
	p("  cancellations          %d invoices: %d orders cancelled, %d returns (%d of them refunds of goods on no earlier order);",
		s.Cancellations, s.OrdersCancelled, s.Returns, s.Refunds)
	p("                         %d with no earlier order and %d lines unmatched (not imported)", s.UnmatchedCancels, s.UnmatchedLines)
	p("  events                 %d planned, %d appended, %d already imported (%d appends)", s.Events, s.Appended, s.AlreadyImported, s.Appends)
	if s.FailedCustomers > 0 {
		p("  FAILED customers       %d", s.FailedCustomers)
		for _, e := range s.Errors {
			p("    %s", e)
		}
	}
	p("  duration               %s (read %s, write %s), %.0f events/s",
		s.Duration.Round(time.Millisecond), s.ReadDuration.Round(time.Millisecond), s.WriteDuration.Round(time.Millisecond), s.EventsPerSecond())
}

// LogAttrs returns the summary as log attributes.
func (s *Summary) LogAttrs() []any {
	skipped := make([]any, 0, len(s.Skipped))
	for _, r := range slices.Sorted(maps.Keys(s.Skipped)) {
		skipped = append(skipped, slog.Int(string(r), s.Skipped[r]))
	}
	return []any{
		"rows", s.Rows, "guestLines", s.GuestLines, "guestInvoices", s.GuestInvoices,
		slog.Group("skipped", skipped...),
		"customers", s.Customers, "orders", s.Orders, "cancellations", s.Cancellations,
		"ordersCancelled", s.OrdersCancelled, "returns", s.Returns, "refunds", s.Refunds,
		"unmatchedCancellations", s.UnmatchedCancels, "unmatchedLines", s.UnmatchedLines,
		"events", s.Events, "appended", s.Appended, "alreadyImported", s.AlreadyImported, "appends", s.Appends,
		"failedCustomers", s.FailedCustomers,
		"duration", s.Duration.Round(time.Millisecond).String(), "eventsPerSecond", int64(s.EventsPerSecond()),
	}
}

// ImportOnlineRetail imports an Online Retail file (CSV or gzip-compressed
// CSV) into store. It reads and plans the whole file first, so a malformed
// row stops it before anything is written; then it writes with
// opts.Workers concurrent writers. The returned Summary is non-nil whenever
// the file could be read, also when writing failed for some customers (the
// error then says how many).
func ImportOnlineRetail(ctx context.Context, store Store, file io.Reader, opts Options) (*Summary, error) {
	start := time.Now()
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "importer")
	loc := opts.Location
	if loc == nil {
		var err error
		if loc, err = LoadRetailerLocation(); err != nil {
			return nil, err
		}
	}

	r, err := NewReader(file, loc)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	ds, err := Collect(r)
	if err != nil {
		return nil, err
	}
	plan := NewPlan(ds)
	sum := &Summary{
		Rows: ds.Rows, GuestLines: ds.GuestLines, GuestInvoices: ds.GuestInvoices, Skipped: ds.Skipped,
		Customers: len(plan.Customers), Orders: plan.Orders, Cancellations: plan.Cancellations,
		OrdersCancelled: plan.OrdersCancelled, Returns: plan.Returns, Refunds: plan.AmountReturns,
		UnmatchedCancels: plan.UnmatchedCancels, UnmatchedLines: plan.UnmatchedLines,
		MultiCountryCustomers: plan.MultiCountryCustomers,
	}
	for _, c := range plan.Customers {
		sum.Events += 1 + len(c.Actions)
	}
	sum.ReadDuration = time.Since(start)
	log.Info("file read and planned", "rows", sum.Rows, "customers", sum.Customers, "orders", sum.Orders,
		"cancellations", sum.Cancellations, "events", sum.Events, "took", sum.ReadDuration.Round(time.Millisecond).String())

	writeStart := time.Now()
	err = write(ctx, store, plan, opts, sum, log)
	sum.WriteDuration = time.Since(writeStart)
	sum.Duration = time.Since(start)
	log.Info("import finished", sum.LogAttrs()...)
	return sum, err
}

// write appends the plan's events with a pool of workers.
func write(ctx context.Context, store Store, plan *Plan, opts Options, sum *Summary, log *slog.Logger) error {
	head, err := store.Head(ctx)
	if err != nil {
		return fmt.Errorf("importer: read the event store's head: %w", err)
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = DefaultWorkers
	}
	maxErrors := cmp.Or(opts.MaxErrors, 10)
	progress := opts.Progress
	if progress == nil {
		progress = NoProgress{}
	}

	// Biggest customers first, so that no long history starts last.
	queue := slices.Clone(plan.Customers)
	slices.SortStableFunc(queue, func(a, b *Customer) int { return cmp.Compare(len(b.Actions), len(a.Actions)) })

	w := &writer{
		store:    store,
		codec:    eventcodec.New(),
		head:     head,
		progress: progress,
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan *Customer)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed int
		errs   []string
		fatal  error
	)
	progress.Start("writing events", sum.Events)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range jobs {
				err := w.customer(ctx, c)
				if err == nil {
					continue
				}
				mu.Lock()
				if ctx.Err() != nil || isFatal(err) {
					if fatal == nil {
						fatal = err
					}
					cancel()
				} else {
					failed++
					if len(errs) < maxErrors {
						errs = append(errs, fmt.Sprintf("customer %s: %v", c.SourceID, err))
					}
					log.Warn("customer not fully imported", "customerId", c.SourceID, "err", err)
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, c := range queue {
		select {
		case jobs <- c:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	progress.Done()

	if fatal == nil && parent.Err() != nil {
		fatal = context.Cause(parent) // interrupted before a worker noticed
	}
	sum.Appended = int(w.appended.Load())
	sum.AlreadyImported = int(w.already.Load())
	sum.Appends = int(w.appends.Load())
	sum.FailedCustomers = failed
	sum.Errors = errs
	switch {
	case fatal != nil:
		return fmt.Errorf("importer: import stopped: %w", fatal)
	case failed > 0:
		return fmt.Errorf("importer: %d customers not fully imported; first: %s", failed, errs[0])
	}
	return nil
}

// isFatal reports errors that stop the whole import: the store is gone.
func isFatal(err error) bool {
	return errors.Is(err, eventstore.ErrUnavailable) || errors.Is(err, eventstore.ErrClosed) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// writer turns customers' plans into appends.
type writer struct {
	store    Store
	codec    *eventstore.Codec
	head     eventstore.Checkpoint // $all head before the import
	progress Progress

	appended, already, appends atomic.Int64
}

// batch is events for one stream, appended together.
type batch struct {
	stream   string
	expected int64
	events   []eventstore.Pending
}

// custWriter writes one customer's events, in order.
type custWriter struct {
	w       *writer
	c       *Customer
	revs    map[string]int64         // stream → last revision written
	hashes  map[string]string        // stream → hash of its last event, when known
	orders  map[string]*domain.Order // invoice no → aggregate
	pending batch
}

// customer writes a customer: its registration, then its actions in
// business-time order. Consecutive events of one stream go in one append.
func (w *writer) customer(ctx context.Context, c *Customer) error {
	cw := &custWriter{w: w, c: c, revs: map[string]int64{}, hashes: map[string]string{}, orders: map[string]*domain.Order{}}
	cust := domain.NewCustomer()
	if err := cust.Register(c.ID, domain.RegisterCustomer{
		Profile:     domain.Profile{Name: "Online Retail customer " + c.SourceID, Region: c.Region},
		ExternalRef: "online-retail:" + c.SourceID,
	}, c.RegisteredAt); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	if err := cw.add(ctx, domain.CustomerStream(c.ID), customerKey(c.SourceID), c.RegisteredAt, cust.Changes()); err != nil {
		return err
	}
	for _, a := range c.Actions {
		if err := cw.action(ctx, a); err != nil {
			return err
		}
	}
	return cw.flush(ctx)
}

// Idempotency keys of the imported commands; the event ids are
// eventstore.EventID(key, i).
func customerKey(customerID string) string { return "import:online-retail:customer:" + customerID }
func invoiceKey(invoiceNo string) string   { return "import:online-retail:invoice:" + invoiceNo }
func returnKey(cancellationNo, orderNo string) string {
	return "import:online-retail:invoice:" + cancellationNo + ":order:" + orderNo
}

// correlationID groups every event of the data set's import.
var correlationID = uuid.NewSHA1(Namespace, []byte("online-retail:import")).String()

// add queues the events of one command (idempotency key key) for stream,
// flushing first when the queue holds another stream's events.
func (cw *custWriter) add(ctx context.Context, stream, key string, at time.Time, events []domain.Event) error {
	if len(events) == 0 {
		return nil
	}
	if cw.pending.stream != stream {
		if err := cw.flush(ctx); err != nil {
			return err
		}
		rev, ok := cw.revs[stream]
		if !ok {
			rev = eventstore.NoStream
		}
		cw.pending = batch{stream: stream, expected: rev}
	}
	commandID := uuid.NewSHA1(eventstore.EventIDNamespace(), []byte("command:"+key)).String()
	for i, e := range events {
		p, err := cw.w.codec.NewPending(e, eventstore.Metadata{
			CorrelationID: correlationID,
			CausationID:   commandID,
			Actor:         Actor,
			CommandID:     commandID,
			OccurredAt:    at.UTC(),
		})
		if err != nil {
			return fmt.Errorf("encode %s: %w", e.EventType(), err)
		}
		p.IdempotencyKey = key
		p.ID = eventstore.EventID(key, i) // fixed, whatever the batch
		cw.pending.events = append(cw.pending.events, p)
	}
	return nil
}

// flush appends the queued events.
func (cw *custWriter) flush(ctx context.Context) error {
	b := cw.pending
	cw.pending = batch{}
	if len(b.events) == 0 {
		return nil
	}
	// Chain the batch from the hash of the stream's last event when this
	// import wrote it, which saves Append a read; else Append reads it.
	prev := cw.hashes[b.stream]
	if b.expected < 0 {
		prev = eventstore.GenesisHash
	}
	last, err := chainHash(b, prev)
	if err != nil {
		return fmt.Errorf("append to %s: %w", b.stream, err)
	}
	if b.expected >= 0 {
		b.events[0].Metadata.PrevHash = prev
	}
	res, err := cw.w.store.Append(ctx, b.stream, b.expected, b.events)
	cw.w.appends.Add(1)
	if errors.Is(err, eventstore.ErrConflict) {
		b.events[0].Metadata.PrevHash = ""
		delete(cw.hashes, b.stream)
		return cw.resume(ctx, b)
	}
	if err != nil {
		return fmt.Errorf("append to %s: %w", b.stream, err)
	}
	n := int64(len(b.events))
	cw.revs[b.stream] = b.expected + n
	cw.hashes[b.stream] = last
	// An append that returns a position not after the head the import
	// started from wrote nothing: the store recognised the events' ids
	// (an earlier import) and answered with the original position.
	if !cw.w.head.IsZero() && res.Position <= cw.w.head.Commit {
		cw.w.already.Add(n)
	} else {
		cw.w.appended.Add(n)
	}
	cw.w.progress.Add(int(n))
	return nil
}

// chainHash returns the hash the last event of b will have when chained
// from prev ("" when prev is unknown), computed as Append seals events (see
// eventstore.CanonicalBytes).
func chainHash(b batch, prev string) (string, error) {
	if prev == "" {
		return "", nil
	}
	for _, p := range b.events {
		meta := p.Metadata
		if meta.SchemaVersion == 0 {
			meta.SchemaVersion = 1
		}
		meta.OccurredAt = meta.OccurredAt.UTC()
		meta.PrevHash = prev
		h, err := eventstore.ComputeHash(b.stream, p.Type, p.ID, p.Data, meta)
		if err != nil {
			return "", err
		}
		prev = h
	}
	return prev, nil
}

// resume handles a batch the store refused with a wrong expected revision:
// an earlier import that stopped half-way (or batched differently) wrote a
// prefix of it. The events already in the stream at the batch's revisions
// must be the batch's own (same ids): they are counted as already imported
// and the rest is appended after them. Anything else in the way is a
// conflict: the stream was changed by someone else.
func (cw *custWriter) resume(ctx context.Context, b batch) error {
	evs, last, err := cw.w.store.LoadStream(ctx, b.stream)
	if err != nil {
		return fmt.Errorf("load %s: %w", b.stream, err)
	}
	start := b.expected + 1
	k := 0
	for ; k < len(b.events) && start+int64(k) <= last; k++ {
		if evs[start+int64(k)].EventID != b.events[k].ID {
			return fmt.Errorf("append to %s: revision %d holds event %s (%s), not this import's %s: %w",
				b.stream, start+int64(k), evs[start+int64(k)].EventID, evs[start+int64(k)].Type, b.events[k].Type, eventstore.ErrConflict)
		}
	}
	if k == 0 {
		return fmt.Errorf("append to %s: expected revision %d, the stream is at %d: %w", b.stream, b.expected, last, eventstore.ErrConflict)
	}
	cw.w.already.Add(int64(k))
	cw.w.progress.Add(k)
	cw.revs[b.stream] = b.expected + int64(k)
	if k == len(b.events) {
		return nil
	}
	cw.pending = batch{stream: b.stream, expected: b.expected + int64(k), events: b.events[k:]}
	return cw.flush(ctx)
}
