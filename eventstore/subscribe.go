package eventstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

// Filter is the server-side filter of a $all subscription. At most one of
// EventTypePrefixes, EventTypeRegex, StreamPrefixes, StreamRegex may be set;
// with none, or with a nil *Filter, events whose type starts with '$' are
// excluded (the standard "exclude system events" filter, ^[^\$].*).
//
// Prefixes match if the name starts with any of them; a regex is an
// unanchored search (anchor it with ^ and $ as needed). Unless
// IncludeSystemEvents is set, $-typed events that pass a stream filter
// (e.g. $streamDeleted) are dropped on the client side as well.
type Filter struct {
	EventTypePrefixes []string
	EventTypeRegex    string
	StreamPrefixes    []string
	StreamRegex       string
	// IncludeSystemEvents delivers $-typed events too. With no expression
	// set it subscribes to everything.
	IncludeSystemEvents bool
	// MaxSearchWindow is how many events the server scans per batch (0 = 32).
	MaxSearchWindow int
	// CheckpointInterval: the server sends a checkpoint every
	// CheckpointInterval × MaxSearchWindow scanned events (0 = 1).
	CheckpointInterval int
}

func (f *Filter) options() (esdb.SubscribeToAllOptions, bool, error) {
	var opts esdb.SubscribeToAllOptions
	if f == nil {
		f = &Filter{}
	}
	set := 0
	sf := &esdb.SubscriptionFilter{}
	if len(f.EventTypePrefixes) > 0 {
		set++
		sf.Type, sf.Prefixes = esdb.EventFilterType, f.EventTypePrefixes
	}
	if f.EventTypeRegex != "" {
		set++
		sf.Type, sf.Regex = esdb.EventFilterType, f.EventTypeRegex
	}
	if len(f.StreamPrefixes) > 0 {
		set++
		sf.Type, sf.Prefixes = esdb.StreamFilterType, f.StreamPrefixes
	}
	if f.StreamRegex != "" {
		set++
		sf.Type, sf.Regex = esdb.StreamFilterType, f.StreamRegex
	}
	switch {
	case set > 1:
		return opts, false, fmt.Errorf("%w: subscription filter: set only one of EventTypePrefixes, EventTypeRegex, StreamPrefixes, StreamRegex", ErrInvalidArgument)
	case set == 0 && f.IncludeSystemEvents:
		sf = &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Regex: ".*"}
	case set == 0:
		sf = esdb.ExcludeSystemEventsFilter()
	}
	if f.MaxSearchWindow < 0 || f.CheckpointInterval < 0 {
		return opts, false, fmt.Errorf("%w: subscription filter: negative MaxSearchWindow or CheckpointInterval", ErrInvalidArgument)
	}
	opts.Filter = sf
	opts.MaxSearchWindow = f.MaxSearchWindow
	if opts.MaxSearchWindow == 0 {
		opts.MaxSearchWindow = 32
	}
	opts.CheckpointInterval = f.CheckpointInterval
	if opts.CheckpointInterval == 0 {
		opts.CheckpointInterval = 1
	}
	return opts, f.IncludeSystemEvents, nil
}

// DeliveryKind says what a Delivery carries.
type DeliveryKind int

const (
	// DeliveryEvent: an event (Delivery.Event), in $all order.
	DeliveryEvent DeliveryKind = iota + 1
	// DeliveryCheckpoint: the server scanned $all up to Delivery.Checkpoint
	// without finding more matching events. Store it like an event's
	// position so sparse subscriptions do not rescan history on restart.
	DeliveryCheckpoint
	// DeliveryCaughtUp: the subscription reached the head of $all and is now
	// live (sent again after every resubscription that catches up).
	DeliveryCaughtUp
)

func (k DeliveryKind) String() string {
	switch k {
	case DeliveryEvent:
		return "event"
	case DeliveryCheckpoint:
		return "checkpoint"
	case DeliveryCaughtUp:
		return "caught-up"
	}
	return fmt.Sprintf("DeliveryKind(%d)", int(k))
}

// Delivery is one message of a subscription.
type Delivery struct {
	Kind DeliveryKind
	// Event is set for DeliveryEvent.
	Event Recorded
	// Checkpoint is where the subscription resumes after this delivery: the
	// event's position, the server's checkpoint, or (caught-up) the last one.
	// Deliveries' checkpoints never go backwards.
	Checkpoint Checkpoint
}

// Handler processes deliveries one at a time. Returning an error stops the
// subscription: SubscribeAll returns it (wrapped); the delivery counts as not
// processed.
type Handler func(ctx context.Context, d Delivery) error

// handlerError marks an error returned by the Handler.
type handlerError struct{ err error }

func (e *handlerError) Error() string { return "eventstore: subscription handler: " + e.err.Error() }
func (e *handlerError) Unwrap() error { return e.err }

// SubscribeAll runs a catch-up subscription to $all with a server-side
// filter (nil = exclude $-typed events), starting strictly after from (the
// zero Checkpoint = from the beginning). It calls handler, sequentially, for
// every event, every filtered-subscription checkpoint that moves forward,
// and every catch-up to live.
//
// After any drop (server restart, network failure, error) it resubscribes
// from the last position delivered (or skipped as a system event) with
// capped exponential backoff (100 ms doubling up to 5 s, with jitter, reset
// once a subscription delivers again). Events reach the handler exactly
// once and in order across resubscriptions: subscriptions resume strictly
// after the last position and anything at or before it is dropped.
//
// It runs until ctx is done (returns ctx.Err()), the Store is closed
// (ErrClosed), the handler fails (its error, wrapped) or the filter is
// invalid (ErrInvalidArgument).
func (s *Store) SubscribeAll(ctx context.Context, from Checkpoint, filter *Filter, handler Handler) error {
	if handler == nil {
		return fmt.Errorf("%w: nil subscription handler", ErrInvalidArgument)
	}
	opts, includeSystem, err := filter.options()
	if err != nil {
		return err
	}
	sub := &allSubscription{s: s, opts: opts, includeSystem: includeSystem, handler: handler, last: from}
	bo := backoff{min: s.backoffMin, max: s.backoffMax}
	for {
		progressed, err := sub.run(ctx)
		var herr *handlerError
		switch {
		case errors.As(err, &herr):
			return herr
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, ErrClosed) || s.ctx.Err() != nil:
			return ErrClosed
		case errors.Is(err, ErrInvalidArgument):
			return err
		}
		if progressed {
			bo.reset()
		}
		delay := bo.next()
		s.log.Warn("subscription to $all dropped; resubscribing",
			"after", sub.last.String(), "retry_in", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-s.ctx.Done():
			t.Stop()
			return ErrClosed
		case <-t.C:
		}
	}
}

type allSubscription struct {
	s             *Store
	opts          esdb.SubscribeToAllOptions
	includeSystem bool
	handler       Handler
	last          Checkpoint
}

// run subscribes once and pumps messages until the subscription drops. It
// reports whether anything was received.
func (a *allSubscription) run(ctx context.Context) (progressed bool, err error) {
	s := a.s
	c, opCtx, release, err := s.begin(ctx)
	if err != nil {
		return false, err
	}
	defer release()

	opts := a.opts
	if a.last.IsZero() {
		opts.From = esdb.Start{}
	} else {
		opts.From = esdb.Position{Commit: a.last.Commit, Prepare: a.last.Prepare}
	}
	sub, err := c.SubscribeToAll(opCtx, opts)
	if err != nil {
		s.noteErr(c, err)
		return false, s.wrapErr(opCtx, "subscribe", "$all", err)
	}
	defer sub.Close()
	s.log.Debug("subscribed to $all", "after", a.last.String(), "subscription", sub.Id())

	for {
		msg := sub.Recv()
		switch {
		case msg.SubscriptionDropped != nil:
			return progressed, s.wrapErr(opCtx, "subscribe", "$all", msg.SubscriptionDropped.Error)

		case msg.EventAppeared != nil:
			progressed = true
			e := msg.EventAppeared.OriginalEvent()
			if e == nil {
				continue
			}
			rec := fromESDB(msg.EventAppeared)
			cp := Checkpoint{Commit: e.Position.Commit, Prepare: e.Position.Prepare}
			if !a.last.IsZero() && cp.Commit <= a.last.Commit {
				s.log.Warn("subscription delivered an event at or before the last position; dropped",
					"position", cp.String(), "last", a.last.String(), "stream", rec.Stream, "revision", rec.Revision)
				continue
			}
			if !a.includeSystem && strings.HasPrefix(rec.Type, "$") {
				a.last = cp
				continue
			}
			if err := a.handler(opCtx, Delivery{Kind: DeliveryEvent, Event: rec, Checkpoint: cp}); err != nil {
				return progressed, &handlerError{err}
			}
			a.last = cp

		case msg.CheckPointReached != nil:
			progressed = true
			cp := Checkpoint{Commit: msg.CheckPointReached.Commit, Prepare: msg.CheckPointReached.Prepare}
			// (2^64-1, 2^64-1) is "no position"; some servers send it.
			if cp.Commit == math.MaxUint64 || cp.Commit <= a.last.Commit {
				continue
			}
			if err := a.handler(opCtx, Delivery{Kind: DeliveryCheckpoint, Checkpoint: cp}); err != nil {
				return progressed, &handlerError{err}
			}
			a.last = cp

		case msg.CaughtUp != nil:
			progressed = true
			if err := a.handler(opCtx, Delivery{Kind: DeliveryCaughtUp, Checkpoint: a.last}); err != nil {
				return progressed, &handlerError{err}
			}

		case msg.FellBehind != nil:
			progressed = true
			s.log.Debug("subscription to $all fell behind", "after", a.last.String())
		}
	}
}

// backoff is capped exponential backoff with "equal jitter": the n-th delay
// is uniformly random in [d/2, d] where d = min(max, min·2^n).
type backoff struct {
	min, max time.Duration
	n        int
}

func (b *backoff) reset() { b.n = 0 }

func (b *backoff) next() time.Duration {
	d := b.min
	for i := 0; i < b.n && d < b.max; i++ {
		d *= 2
	}
	if d > b.max {
		d = b.max
	}
	if d < b.max {
		b.n++
	}
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}
