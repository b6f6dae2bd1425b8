package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
	"github.com/redis/go-redis/v9"
)

// track feeds one generation of a projection from its own $all
// subscription, committing batches with the checkpoint.
type track struct {
	w     *worker
	gen   string
	build bool // building blue/green: switch the alias once caught up
	epoch int64

	prefix    string
	cache     *valueCache
	batch     *batchTx
	committed eventstore.Checkpoint // last committed checkpoint
	pending   eventstore.Checkpoint // checkpoint of what the batch holds
	expect    bool                  // a checkpoint is stored: it must still be there
	n         int                   // events in the batch
	live      atomic.Bool
}

func (w *worker) newTrack(gen string, build bool, epoch int64) *track {
	return &track{w: w, gen: gen, build: build, epoch: epoch, prefix: GenerationPrefix(w.name, gen), cache: newValueCache()}
}

func (t *track) isLive() bool { return t.live.Load() }

func (t *track) rdb() redis.UniversalClient { return t.w.rt.cfg.Redis }

// newBatch starts an empty batch, reusing the previous one's buffers (a
// committed batch's ops are not referenced once its commit returned).
func (t *track) newBatch() {
	if t.batch != nil {
		t.batch.reset()
	} else {
		t.batch = newBatchTx(t.rdb(), t.prefix, t.cache)
	}
	t.n = 0
}

func (t *track) run(ctx context.Context) error {
	cfg := &t.w.rt.cfg
	s, err := t.rdb().Get(ctx, genMetaKey(t.w.name, t.gen, "checkpoint")).Result()
	switch {
	case errors.Is(err, redis.Nil):
	case err != nil:
		return err
	default:
		if t.committed, err = parseCheckpoint(s); err != nil {
			return err
		}
		t.expect = true
	}
	t.pending = t.committed
	// A build that has committed nothing starts from an empty generation
	// (keys are only ever written together with a checkpoint).
	t.cache.complete = t.build && !t.expect
	t.newBatch()
	t.w.log.Debug("track starting", "generation", t.gen, "build", t.build, "from", t.committed.String())
	if err := t.catchUpPages(ctx); err != nil {
		return err
	}

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The subscription goroutine decodes, so decoding overlaps handling.
	ch := make(chan delivery, 2*cfg.BatchSize)
	subErr := make(chan error, 1)
	go func() {
		subErr <- cfg.Store.SubscribeAll(sctx, t.committed, t.w.filter, func(c context.Context, d eventstore.Delivery) error {
			select {
			case ch <- t.decode(d):
				return nil
			case <-c.Done():
				return c.Err()
			}
		})
	}()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-subErr:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("subscription: %w", err)
		case <-timer.C:
			armed = false
			if err := t.flush(ctx); err != nil {
				return err
			}
		case dd := <-ch:
			d := dd.Delivery
			switch d.Kind {
			case eventstore.DeliveryEvent:
				if err := t.apply(ctx, dd); err != nil {
					return err
				}
				t.pending = d.Checkpoint
				t.n++
			case eventstore.DeliveryCheckpoint:
				t.pending = d.Checkpoint
			case eventstore.DeliveryCaughtUp:
				if err := t.flush(ctx); err != nil {
					return err
				}
				if t.build {
					return t.switchAlias(ctx)
				}
				if !t.live.Swap(true) {
					t.w.log.Info("caught up; live", "generation", t.gen, "checkpoint", t.committed.String())
					t.w.setState(StateLive, "")
				}
				continue
			}
			if t.n >= cfg.BatchSize {
				if err := t.flush(ctx); err != nil {
					return err
				}
			} else if !armed {
				timer.Reset(cfg.BatchWait)
				armed = true
			}
		}
	}
}

// catchUpPages brings the track close to the head through the shared
// catch-up pages (see catchUp): one commit per catchUpCommitEvents handled
// events or catchUpCommitPages pages, and at the head. It returns once a
// page reached the head; the subscription then continues from the
// committed checkpoint.
// Catch-up commit sizes: a commit holds the pages read since the last one,
// at least catchUpCommitEvents handled events (or catchUpCommitPages
// pages for a projection that handles few of them).
const (
	catchUpCommitEvents = 2048
	catchUpCommitPages  = 16
)

func (t *track) catchUpPages(ctx context.Context) error {
	r := t.w.rt.catchUp.join(t.committed)
	defer r.leave()
	pages := 0 // pages since the last commit
	for {
		pg, err := r.next(ctx)
		if err != nil {
			return err
		}
		for i := range pg.events {
			pe := &pg.events[i]
			rec := pe.rec
			if rec.IsSystem() || !t.w.p.Handles(rec.Type) {
				continue
			}
			cp := rec.Checkpoint()
			d := delivery{Delivery: eventstore.Delivery{Kind: eventstore.DeliveryEvent, Event: rec, Checkpoint: cp},
				handled: true, value: pe.value, err: pe.err}
			if err := t.apply(ctx, d); err != nil {
				return err
			}
			t.pending = cp
			t.n++
		}
		if pg.end.Commit > t.pending.Commit {
			t.pending = pg.end
		}
		pages++
		// One commit per few pages: fewer round trips, and documents that
		// many events change are encoded once per commit. A track with
		// nothing to write still commits its checkpoint now and then.
		if pg.head || t.n >= catchUpCommitEvents || pages >= catchUpCommitPages {
			if err := t.flush(ctx); err != nil {
				return err
			}
			pages = 0
		}
		if pg.head {
			return nil
		}
	}
}

// apply runs the handler for one event into the batch. A transient
// failure commits what precedes the event and retries it with backoff; a
// permanent one parks it.
// delivery is a subscription delivery with its event decoded (when the
// projection handles its type).
type delivery struct {
	eventstore.Delivery
	handled bool
	value   any
	err     error
}

func (t *track) decode(d eventstore.Delivery) delivery {
	dd := delivery{Delivery: d}
	if d.Kind == eventstore.DeliveryEvent && t.w.p.Handles(d.Event.Type) {
		dd.handled = true
		dd.value, dd.err = t.w.rt.decoded.get(d.Event, t.w.rt.cfg.Codec.DecodeRecorded)
	}
	return dd
}

func (t *track) apply(ctx context.Context, dd delivery) error {
	p := t.w.p
	rec := dd.Event
	if !dd.handled {
		return nil
	}
	v, err := dd.value, dd.err
	if errors.Is(err, eventstore.ErrUnknownEventType) {
		t.w.log.Warn("skipping an event of an unknown type", "type", rec.Type, "stream", rec.Stream, "revision", rec.Revision)
		return nil
	}
	if err != nil {
		t.park(rec, fmt.Errorf("%w: undecodable event: %v", ErrPermanent, err))
		return nil
	}
	de, ok := v.(domain.Event)
	if !ok {
		t.park(rec, fmt.Errorf("%w: decoded %T is not a domain.Event", ErrPermanent, v))
		return nil
	}
	ev := Event{Position: rec.Position, Stream: rec.Stream, Revision: rec.Revision, Type: rec.Type,
		RecordedAt: rec.RecordedAt, Meta: rec.Metadata, Data: de}
	bo := backoff{min: t.w.rt.cfg.RetryMin, max: t.w.rt.cfg.RetryMax}
	for attempt := 1; ; attempt++ {
		m := t.batch.mark()
		err := safeHandle(ctx, p, t.batch, ev)
		if err == nil {
			if attempt > 1 {
				t.w.log.Info("event handled after retries", "stream", rec.Stream, "revision", rec.Revision, "attempts", attempt)
				t.w.setState(t.w.stateAfterRecovery(t), "")
			}
			return nil
		}
		t.batch.rollback(m)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrPermanent) {
			t.park(rec, err)
			return nil
		}
		// Transient: commit the events before this one, then retry it.
		if err := t.flush(ctx); err != nil {
			return err
		}
		d := bo.next()
		t.w.log.Warn("projection handler failed; retrying", "stream", rec.Stream, "revision", rec.Revision,
			"type", rec.Type, "attempt", attempt, "retry_in", d, "err", err)
		if attempt >= 3 {
			t.w.setState(StateFailed, err.Error())
		}
		if !t.w.sleep(ctx, d) {
			return ctx.Err()
		}
	}
}

func (w *worker) stateAfterRecovery(t *track) string {
	switch {
	case t.build:
		return StateRebuilding
	case t.isLive():
		return StateLive
	}
	return StateCatchingUp
}

func safeHandle(ctx context.Context, p Projection, tx Tx, ev Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: handler panicked: %v", ErrPermanent, r)
		}
	}()
	return p.Handle(ctx, tx, ev)
}

// ParkedEvent is one entry of a projection's dead-letter list.
type ParkedEvent struct {
	Position uint64 `json:"position"`
	Stream   string `json:"stream"`
	Revision uint64 `json:"revision"`
	Type     string `json:"type"`
	Error    string `json:"error"`
}

func (t *track) park(rec eventstore.Recorded, err error) {
	t.w.log.Error("parking an event that cannot be projected", "generation", t.gen, "stream", rec.Stream,
		"revision", rec.Revision, "type", rec.Type, "position", rec.Position, "err", err)
	b, _ := json.Marshal(ParkedEvent{Position: rec.Position, Stream: rec.Stream, Revision: rec.Revision, Type: rec.Type, Error: err.Error()})
	t.batch.parked = append(t.batch.parked, string(b))
}

// flush commits the batch and the checkpoint in one fenced transaction,
// retrying transient Redis errors with backoff.
func (t *track) flush(ctx context.Context) error {
	b := t.batch
	if b.empty() && t.pending.Commit <= t.committed.Commit {
		return nil
	}
	name := t.w.name
	g := commitGuard{epochKey: metaKey(name, "epoch"), checkpointKey: genMetaKey(name, t.gen, "checkpoint"),
		parkedKey: genMetaKey(name, t.gen, "parked"), epoch: strconv.FormatInt(t.epoch, 10),
		checkpoint: formatCheckpoint(t.pending), expect: t.expect}
	if t.expect {
		g.prev = formatCheckpoint(t.committed)
	}
	cp := g.checkpoint
	plan, err := b.plan(t.cache.typeOf)
	if err != nil {
		return err // a handler bug: the round restarts from the checkpoint, with backoff
	}
	bo := backoff{min: t.w.rt.cfg.RetryMin, max: t.w.rt.cfg.RetryMax}
	for attempt := 1; ; attempt++ {
		err := commitBatch(ctx, t.rdb(), g, b.parked, plan)
		if errors.Is(err, errBackwards) {
			// A commit whose reply was lost leaves exactly our checkpoint.
			if s, gerr := t.rdb().Get(ctx, g.checkpointKey).Result(); gerr == nil && s == cp && attempt > 1 {
				err = nil
			}
		}
		if errors.Is(err, errExecPartial) {
			t.w.log.Error("a committed batch was partly refused by Redis (another writer changed a key's type); rebuilding the generation",
				"generation", t.gen, "err", err)
			if t.build {
				_ = abandonBuild(ctx, t.rdb(), name, t.gen)
			} else {
				_ = RequestRebuild(ctx, t.rdb(), name)
			}
			return fmt.Errorf("%w: %w", errReplan, err)
		}
		if err == nil {
			b.committed()
			t.cache.committedTypes(plan.final)
			t.committed, t.expect = t.pending, true
			t.newBatch()
			if attempt > 1 || t.w.snapshot().state == StateFailed {
				t.w.setState(t.w.stateAfterRecovery(t), "")
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch {
		case errors.Is(err, errFenced), errors.Is(err, errWrongType):
			return err // errWrongType: the round restarts from the checkpoint, with backoff
		case errors.Is(err, errBackwards):
			// Another holder moved on, or Redis lost writes we committed
			// (an AOF that lost its last second, a failover to a replica
			// that was behind): both resume from what Redis holds.
			t.w.log.Warn("the stored checkpoint is not the one this track committed; resuming from it", "generation", t.gen, "err", err)
			return fmt.Errorf("%w: %w", errReplan, err)
		case errors.Is(err, errLost):
			t.w.log.Warn("the generation's checkpoint vanished (read store flushed?); rebuilding", "generation", t.gen)
			_ = RequestRebuild(ctx, t.rdb(), name)
			return fmt.Errorf("%w: %w", errReplan, err)
		}
		d := bo.next()
		t.w.log.Warn("commit failed; retrying", "generation", t.gen, "attempt", attempt, "retry_in", d, "err", err)
		if attempt >= 3 {
			t.w.setState(StateFailed, err.Error())
		}
		if !t.w.sleep(ctx, d) {
			return ctx.Err()
		}
	}
}

// switchAlias makes the built generation the served one.
func (t *track) switchAlias(ctx context.Context) error {
	name := t.w.name
	old, err := t.w.rt.sc.swap.Run(ctx, t.rdb(), []string{metaKey(name, "epoch"), AliasKey(name), metaKey(name, "building"), metaKey(name, "garbage"), genMetaKey(name, t.gen, "checkpoint")},
		strconv.FormatInt(t.epoch, 10), t.gen, formatCheckpoint(eventstore.Checkpoint{})).Text()
	if err := scriptErr(err); err != nil {
		return err
	}
	t.w.log.Info("generation built; alias switched", "generation", t.gen, "previous", old, "checkpoint", t.committed.String())
	return errReplan
}

// decodeCache shares decoded events between the projections' tracks,
// which read the same $all at about the same pace during rebuilds: the
// last decodeCacheSize decoded events, by position. Decoded events are
// read-only for handlers (see Event).
type decodeCache struct {
	mu   sync.Mutex
	m    map[uint64]decodedEvent
	ring []uint64
	used []bool
	next int
}

const decodeCacheSize = 8192

type decodedEvent struct {
	v   any
	err error
}

func newDecodeCache() *decodeCache {
	return &decodeCache{m: make(map[uint64]decodedEvent, decodeCacheSize), ring: make([]uint64, decodeCacheSize), used: make([]bool, decodeCacheSize)}
}

func (c *decodeCache) get(rec eventstore.Recorded, decode func(eventstore.Recorded) (any, error)) (any, error) {
	c.mu.Lock()
	d, ok := c.m[rec.Position]
	c.mu.Unlock()
	if ok {
		return d.v, d.err
	}
	v, err := decode(rec)
	c.mu.Lock()
	if c.used[c.next] {
		delete(c.m, c.ring[c.next])
	}
	c.ring[c.next], c.used[c.next] = rec.Position, true
	c.next = (c.next + 1) % len(c.ring)
	c.m[rec.Position] = decodedEvent{v, err}
	c.mu.Unlock()
	return v, err
}
