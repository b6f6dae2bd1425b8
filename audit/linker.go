package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/crm-es/crm/eventstore"
)

// CheckpointStream holds the linker's checkpoint: events of type
// CheckpointEventType whose data is {"commit":N,"prepare":N}, the $all
// position up to which every customer event has been linked. Its type starts
// with '$', so $all subscriptions that exclude system events (the
// projections', the linker's own) never see it.
const (
	CheckpointStream    = "crm-audit-linker-checkpoint"
	CheckpointEventType = "$crm-linker-checkpoint"
)

// LinkerConfig configures a Linker.
type LinkerConfig struct {
	Store  Source
	Logger *slog.Logger
	// BatchSize is the most links held before they are appended (0 = 1000).
	BatchSize int
	// FlushInterval is how long a link may wait for its batch to fill
	// (0 = 50 ms): held links are appended, and a moved checkpoint written
	// (at most every CheckpointInterval), at this pace also while $all is
	// quiet.
	FlushInterval time.Duration
	// CheckpointInterval is the least time between two checkpoint writes
	// (0 = 1 s).
	CheckpointInterval time.Duration
	// RetryMin and RetryMax bound the pause before the linker restarts from
	// its checkpoint after a failure (0 = 200 ms and 10 s).
	RetryMin, RetryMax time.Duration
	// Concurrency is how many link streams a flush appends to at once
	// (0 = 256), so that the store can group-commit them.
	Concurrency int
}

// Linker maintains the per-customer link streams from $all (see the
// package doc). Run it in one goroutine; its other methods are safe for
// concurrent use. Several linker processes may run at once: they write the
// same links with the same ids and expected revisions, so the store keeps
// one copy.
type Linker struct {
	cfg LinkerConfig
	log *slog.Logger

	saved   atomic.Uint64 // commit position of the last checkpoint written
	live    atomic.Bool
	linked  atomic.Int64 // links appended by this process
	skipped atomic.Int64 // events that could not be attributed (logged)

	// work guards the batch below: the subscription's handler and the
	// flush ticker take turns.
	work sync.Mutex
	// streams is also used by flush's workers, under streamsMu.
	streamsMu sync.Mutex
	streams   map[uuid.UUID]*linkState
	pending   map[uuid.UUID][]pendingLink
	order     []uuid.UUID
	nPending  int
	last      eventstore.Checkpoint
	lastSave  time.Time
	limited   bool // $maxCount set on the checkpoint stream

	mu      sync.Mutex
	lastErr error
}

// linkState is what the linker knows of one link stream.
type linkState struct {
	rev        int64  // last revision (-1 = no stream)
	lastSource uint64 // $all position of the last linked event
}

type pendingLink struct {
	stream   string
	revision uint64
	position uint64
	eventID  uuid.UUID
}

// maxCachedStreams bounds the linker's memory of link streams; past it the
// cache is dropped and states are read again from the store as needed.
const maxCachedStreams = 100_000

// NewLinker returns a linker; Run starts it.
func NewLinker(cfg LinkerConfig) (*Linker, error) {
	if cfg.Store == nil {
		return nil, errors.New("audit: LinkerConfig.Store is required")
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = time.Second
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = 50 * time.Millisecond
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 256
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 200 * time.Millisecond
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(10*time.Second, cfg.RetryMin)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Linker{cfg: cfg, log: logger.With("component", "audit-linker")}, nil
}

// Saved returns the checkpoint the linker last wrote (zero before the first).
func (l *Linker) Saved() eventstore.Checkpoint { return eventstore.CheckpointAt(l.saved.Load()) }

// Live reports whether the linker has caught up with $all.
func (l *Linker) Live() bool { return l.live.Load() }

// Linked returns the number of links whose append this process had
// acknowledged (an idempotent repeat of another linker's append counts too).
func (l *Linker) Linked() int64 { return l.linked.Load() }

// Unattributed returns the number of events of aggregate streams that could
// not be given to a customer (each one is logged as a warning).
func (l *Linker) Unattributed() int64 { return l.skipped.Load() }

// Err returns the last failure that made the linker restart (nil if none).
func (l *Linker) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastErr
}

// Run links until ctx is done (it then returns ctx.Err()) or the store is
// closed (eventstore.ErrClosed). After any other failure it logs, waits
// (capped exponential backoff) and restarts from its stored checkpoint.
func (l *Linker) Run(ctx context.Context) error {
	delay := l.cfg.RetryMin
	for {
		began := time.Now()
		err := l.runOnce(ctx)
		if time.Since(began) > time.Minute {
			delay = l.cfg.RetryMin // it had been working: start the backoff afresh
		}
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, eventstore.ErrClosed):
			return err
		}
		l.mu.Lock()
		l.lastErr = err
		l.mu.Unlock()
		l.live.Store(false)
		l.log.Warn("audit linker failed; restarting from its checkpoint", "err", err, "retry_in", delay)
		if err := sleep(ctx, delay); err != nil {
			return err
		}
		delay = min(delay*2, l.cfg.RetryMax)
	}
}

func (l *Linker) runOnce(ctx context.Context) error {
	from, err := LoadCheckpoint(ctx, l.cfg.Store)
	if err != nil {
		return err
	}
	l.saved.Store(from.Commit)
	l.streamsMu.Lock()
	l.streams = map[uuid.UUID]*linkState{}
	l.streamsMu.Unlock()
	l.pending = map[uuid.UUID][]pendingLink{}
	l.order, l.nPending = nil, 0
	l.last, l.lastSave = from, time.Now()
	l.log.Info("audit linker starting", "after", from.String())

	// The ticker appends what the handler holds and writes the checkpoint;
	// a failure there ends the subscription through the context's cause.
	sctx, cancel := context.WithCancelCause(ctx)
	ticker := time.NewTicker(l.cfg.FlushInterval)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer ticker.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-ticker.C:
			}
			l.work.Lock()
			err := l.flush(sctx)
			if err == nil {
				err = l.maybeSave(sctx, false)
			}
			l.work.Unlock()
			if err != nil && sctx.Err() == nil {
				cancel(err)
				return
			}
		}
	})
	err = l.subscribe(sctx, from, l.handle)
	cause := context.Cause(sctx)
	cancel(nil)
	wg.Wait()
	if ctx.Err() != nil {
		l.finalSave()
	}
	if ctx.Err() == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// finalSave appends what is held and writes the checkpoint when the linker
// is stopped, within a short time: a linker that is not stopped cleanly
// just redoes that work (idempotently) on its next start.
func (l *Linker) finalSave() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.work.Lock()
	defer l.work.Unlock()
	err := l.flush(ctx)
	if err == nil {
		err = l.maybeSave(ctx, true)
	}
	if err != nil {
		l.log.Info("audit linker stopped without its final checkpoint (the next start redoes that part)", "err", err)
	}
}

func (l *Linker) handle(ctx context.Context, d eventstore.Delivery) error {
	l.work.Lock()
	defer l.work.Unlock()
	switch d.Kind {
	case eventstore.DeliveryEvent:
		cid, ok, err := customerOfRecorded(d.Event)
		if err != nil {
			l.skipped.Add(1)
			l.log.Warn("event not linked to any customer: cannot tell its customer",
				"stream", d.Event.Stream, "revision", d.Event.Revision, "position", d.Event.Position, "err", err)
		} else if ok {
			if _, seen := l.pending[cid]; !seen {
				l.order = append(l.order, cid)
			}
			l.pending[cid] = append(l.pending[cid], pendingLink{stream: d.Event.Stream, revision: d.Event.Revision,
				position: d.Event.Position, eventID: d.Event.EventID})
			l.nPending++
		}
		l.last = d.Checkpoint
		if l.nPending >= l.cfg.BatchSize {
			return l.flush(ctx)
		}
	case eventstore.DeliveryCheckpoint:
		l.last = d.Checkpoint
	case eventstore.DeliveryCaughtUp:
		if err := l.flush(ctx); err != nil {
			return err
		}
		if err := l.maybeSave(ctx, true); err != nil {
			return err
		}
		if !l.live.Swap(true) {
			l.log.Info("audit linker caught up", "at", l.last.String())
		}
	}
	return nil
}

// flush appends every pending link, to up to Concurrency link streams at
// once. Each link stream is written by one worker, in order.
func (l *Linker) flush(ctx context.Context) error {
	if len(l.order) == 1 || l.cfg.Concurrency == 1 {
		for _, cid := range l.order {
			if err := l.appendLinks(ctx, cid, l.pending[cid]); err != nil {
				return err
			}
		}
	} else if len(l.order) > 1 {
		var (
			wg      sync.WaitGroup
			errOnce sync.Once
			first   error
			next    atomic.Int64
		)
		for range min(l.cfg.Concurrency, len(l.order)) {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= len(l.order) {
						return
					}
					cid := l.order[i]
					if err := l.appendLinks(ctx, cid, l.pending[cid]); err != nil {
						errOnce.Do(func() { first = err })
						return
					}
				}
			})
		}
		wg.Wait()
		if first != nil {
			return first
		}
	}
	clear(l.pending)
	l.order, l.nPending = l.order[:0], 0
	return nil
}

// maybeSave writes the checkpoint when it moved and the interval has passed
// (or force). Every link up to l.last has been appended by then.
func (l *Linker) maybeSave(ctx context.Context, force bool) error {
	if l.nPending > 0 || l.last.Commit <= l.saved.Load() {
		return nil
	}
	if !force && time.Since(l.lastSave) < l.cfg.CheckpointInterval {
		return nil
	}
	if !l.limited {
		// Once per process, and only when there is something to write: on
		// an empty store the linker writes nothing at all (crm serve --demo
		// loads the demo only into an empty store).
		if err := l.limitCheckpointStream(ctx); err != nil {
			l.log.Warn("cannot set $maxCount on the checkpoint stream (it keeps growing)", "stream", CheckpointStream, "err", err)
		}
		l.limited = true
	}
	if err := SaveCheckpoint(ctx, l.cfg.Store, l.last); err != nil {
		return err
	}
	l.saved.Store(l.last.Commit)
	l.lastSave = time.Now()
	return nil
}

// appendLinks appends links to one customer's link stream, skipping those
// already there (after a restart or another linker), with the stream's
// expected revision. A wrong expected version (another linker was faster)
// re-reads the stream's end and tries again.
func (l *Linker) appendLinks(ctx context.Context, cid uuid.UUID, links []pendingLink) error {
	stream := HistoryStream(cid)
	for attempt := 0; ; attempt++ {
		st, err := l.state(ctx, cid)
		if err != nil {
			return err
		}
		todo := links
		for len(todo) > 0 && todo[0].position <= st.lastSource {
			todo = todo[1:]
		}
		if len(todo) == 0 {
			return nil
		}
		events := make([]esdb.EventData, len(todo))
		for i, k := range todo {
			meta, _ := json.Marshal(linkMeta{SourcePosition: k.position, SourceEventID: k.eventID.String()})
			events[i] = esdb.EventData{EventID: linkEventID(k.stream, k.revision), EventType: LinkEventType,
				ContentType: esdb.ContentTypeBinary, Data: LinkData(k.stream, k.revision), Metadata: meta}
		}
		var expected esdb.ExpectedRevision = esdb.NoStream{}
		if st.rev >= 0 {
			expected = esdb.Revision(uint64(st.rev))
		}
		res, err := bounded(ctx, func() (*esdb.WriteResult, error) {
			return l.cfg.Store.Client().AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: expected}, events...)
		}, nil)
		if err == nil {
			want := st.rev + int64(len(todo))
			if int64(res.NextExpectedVersion) == want {
				l.streamsMu.Lock()
				st.rev, st.lastSource = want, todo[len(todo)-1].position
				l.streamsMu.Unlock()
				l.linked.Add(int64(len(todo)))
			} else {
				// An idempotent repeat reports the original write: read
				// the stream's end again next time.
				l.forget(cid)
			}
			return nil
		}
		err = storeErr("append links to", stream, err)
		l.forget(cid)
		if errors.Is(err, eventstore.ErrWrongExpectedVersion) && attempt < 5 {
			continue
		}
		return err
	}
}

// state returns (a copy of) what is known of a customer's link stream,
// reading its last link when not cached. The cached entry is changed only
// by the worker that appends to that stream.
func (l *Linker) state(ctx context.Context, cid uuid.UUID) (*linkState, error) {
	l.streamsMu.Lock()
	st, ok := l.streams[cid]
	l.streamsMu.Unlock()
	if ok {
		return st, nil
	}
	st, err := readLinkState(ctx, l.cfg.Store, HistoryStream(cid))
	if err != nil {
		return nil, err
	}
	l.streamsMu.Lock()
	if len(l.streams) >= maxCachedStreams {
		clear(l.streams)
	}
	l.streams[cid] = st
	l.streamsMu.Unlock()
	return st, nil
}

// forget drops a link stream's cached state (read again when needed).
func (l *Linker) forget(cid uuid.UUID) {
	l.streamsMu.Lock()
	delete(l.streams, cid)
	l.streamsMu.Unlock()
}

// readLinkState reads the last link of a link stream: its revision and the
// $all position of its target (from the link's metadata, or by resolving it).
func readLinkState(ctx context.Context, src Source, stream string) (*linkState, error) {
	evs, err := readStream(ctx, src, stream, esdb.Backwards, esdb.End{}, 1, true)
	if errors.Is(err, errStreamNotFound) {
		return &linkState{rev: -1}, nil
	}
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		return &linkState{rev: -1}, nil
	}
	ev := evs[0]
	rec := ev.OriginalEvent()
	st := &linkState{rev: int64(rec.EventNumber)}
	var m linkMeta
	if err := json.Unmarshal(rec.UserMetadata, &m); err == nil && m.SourcePosition > 0 {
		st.lastSource = m.SourcePosition
		return st, nil
	}
	if ev.Link != nil && ev.Event != nil {
		st.lastSource = ev.Event.Position.Commit
		return st, nil
	}
	return nil, fmt.Errorf("audit: the last event of %s (revision %d) is neither a link with metadata nor a resolvable link", stream, rec.EventNumber)
}

// limitCheckpointStream keeps only the newest checkpoints.
func (l *Linker) limitCheckpointStream(ctx context.Context) error {
	var m esdb.StreamMetadata
	m.SetMaxCount(16)
	_, err := bounded(ctx, func() (*esdb.WriteResult, error) {
		return l.cfg.Store.Client().SetStreamMetadata(ctx, CheckpointStream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, m)
	}, nil)
	return err
}

type checkpointData struct {
	Commit  uint64 `json:"commit"`
	Prepare uint64 `json:"prepare"`
}

// LoadCheckpoint returns the linker's stored checkpoint (zero if none).
func LoadCheckpoint(ctx context.Context, src Source) (eventstore.Checkpoint, error) {
	evs, err := readStream(ctx, src, CheckpointStream, esdb.Backwards, esdb.End{}, 1, false)
	if errors.Is(err, errStreamNotFound) || (err == nil && len(evs) == 0) {
		return eventstore.Checkpoint{}, nil
	}
	if err != nil {
		return eventstore.Checkpoint{}, err
	}
	rec := evs[0].OriginalEvent()
	var cp checkpointData
	if err := json.Unmarshal(rec.Data, &cp); err != nil || rec.EventType != CheckpointEventType {
		return eventstore.Checkpoint{}, fmt.Errorf("audit: %s@%d is not a linker checkpoint (type %q): %v", CheckpointStream, rec.EventNumber, rec.EventType, err)
	}
	return eventstore.Checkpoint{Commit: cp.Commit, Prepare: cp.Prepare}, nil
}

// SaveCheckpoint appends a linker checkpoint.
func SaveCheckpoint(ctx context.Context, src Source, cp eventstore.Checkpoint) error {
	data, _ := json.Marshal(checkpointData{Commit: cp.Commit, Prepare: cp.Prepare})
	_, err := bounded(ctx, func() (*esdb.WriteResult, error) {
		return src.Client().AppendToStream(ctx, CheckpointStream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}},
			esdb.EventData{EventID: uuid.New(), EventType: CheckpointEventType, ContentType: esdb.ContentTypeJson, Data: data})
	}, nil)
	if err != nil {
		return storeErr("append to", CheckpointStream, err)
	}
	return nil
}

// sleep waits d, or returns ctx's error when ctx ends first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
