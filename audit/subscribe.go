package audit

import (
	"context"
	"errors"
	"math"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/crm-es/crm/eventstore"
)

// The linker subscribes to $all through the official client directly
// rather than through eventstore.Store.SubscribeAll, and bounds every client
// call by its context: when the event store goes away, the client's
// connection handling ignores contexts and may block a caller for good (a
// call queued while the client gives up on node discovery). A blocked call
// is abandoned when the linker stops, so it never holds up the process's
// shutdown or the Store's Close.

// bounded runs f and returns its result, or ctx.Err() as soon as ctx is done
// (f is then left to finish on its own; cleanup, if not nil, receives its
// late result).
func bounded[T any](ctx context.Context, f func() (T, error), cleanup func(T)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		if cleanup != nil {
			go func() {
				if r := <-ch; r.err == nil {
					cleanup(r.v)
				}
			}()
		}
		var zero T
		return zero, ctx.Err()
	}
}

// handlerError marks an error of the delivery handler.
type handlerError struct{ err error }

func (e *handlerError) Error() string { return e.err.Error() }
func (e *handlerError) Unwrap() error { return e.err }

// subscribe runs a catch-up subscription to $all, excluding $-typed events,
// strictly after from, calling handle for each event, each checkpoint that
// moves forward and each catch-up; it resubscribes after drops with capped
// exponential backoff. It returns ctx.Err() when ctx is done, or the
// handler's error.
func (l *Linker) subscribe(ctx context.Context, from eventstore.Checkpoint, handle eventstore.Handler) error {
	last := from
	delay := l.cfg.RetryMin
	for {
		progressed, err := l.subscribeOnce(ctx, &last, handle)
		var herr *handlerError
		switch {
		case errors.As(err, &herr):
			return herr.err
		case ctx.Err() != nil:
			return ctx.Err()
		}
		if progressed {
			delay = l.cfg.RetryMin
		}
		l.log.Warn("audit linker subscription dropped; resubscribing", "after", last.String(), "retry_in", delay, "err", err)
		if err := sleep(ctx, delay); err != nil {
			return err
		}
		delay = min(delay*2, l.cfg.RetryMax)
	}
}

func (l *Linker) subscribeOnce(ctx context.Context, last *eventstore.Checkpoint, handle eventstore.Handler) (progressed bool, err error) {
	opts := esdb.SubscribeToAllOptions{Filter: esdb.ExcludeSystemEventsFilter(), MaxSearchWindow: 32, CheckpointInterval: 1}
	if last.IsZero() {
		opts.From = esdb.Start{}
	} else {
		opts.From = esdb.Position{Commit: last.Commit, Prepare: last.Prepare}
	}
	sub, err := bounded(ctx, func() (*esdb.Subscription, error) {
		return l.cfg.Store.Client().SubscribeToAll(ctx, opts)
	}, func(s *esdb.Subscription) { _ = s.Close() })
	if err != nil {
		return false, storeErr("subscribe to", "$all", err)
	}
	defer sub.Close()
	stop := context.AfterFunc(ctx, func() { _ = sub.Close() })
	defer stop()
	for {
		msg := sub.Recv()
		switch {
		case msg.SubscriptionDropped != nil:
			if ctx.Err() != nil {
				return progressed, ctx.Err()
			}
			return progressed, storeErr("subscription to", "$all", msg.SubscriptionDropped.Error)
		case msg.EventAppeared != nil:
			progressed = true
			e := msg.EventAppeared.OriginalEvent()
			if e == nil {
				continue
			}
			cp := eventstore.Checkpoint{Commit: e.Position.Commit, Prepare: e.Position.Prepare}
			if !last.IsZero() && cp.Commit <= last.Commit {
				continue
			}
			if strings.HasPrefix(e.EventType, "$") {
				*last = cp
				continue
			}
			if err := handle(ctx, eventstore.Delivery{Kind: eventstore.DeliveryEvent, Event: eventstore.RecordedFromESDB(e), Checkpoint: cp}); err != nil {
				return progressed, &handlerError{err}
			}
			*last = cp
		case msg.CheckPointReached != nil:
			progressed = true
			cp := eventstore.Checkpoint{Commit: msg.CheckPointReached.Commit, Prepare: msg.CheckPointReached.Prepare}
			if cp.Commit == math.MaxUint64 || cp.Commit <= last.Commit {
				continue
			}
			if err := handle(ctx, eventstore.Delivery{Kind: eventstore.DeliveryCheckpoint, Checkpoint: cp}); err != nil {
				return progressed, &handlerError{err}
			}
			*last = cp
		case msg.CaughtUp != nil:
			progressed = true
			if err := handle(ctx, eventstore.Delivery{Kind: eventstore.DeliveryCaughtUp, Checkpoint: *last}); err != nil {
				return progressed, &handlerError{err}
			}
		}
	}
}
