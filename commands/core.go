package commands

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
	"github.com/google/uuid"
)

// Store is what the command handlers need of the event store.
type Store interface {
	eventstore.StreamLoader
	eventstore.Appender
}

// DefaultMaxRetries is how often a command is decided again on fresh state
// after a concurrency conflict (without If-Match) before it answers
// KindConflict.
const DefaultMaxRetries = 8

// Actor is who runs a command.
type Actor struct {
	// UserID is recorded as the metadata's actor.
	UserID string
	// Roles are the actor's roles (informational; recorded in logs).
	Roles []string
	// OwnCustomersOnly restricts the command to customers the actor owns
	// (for opportunities, orders and service requests: those of such
	// customers; for an opportunity with a prospect: those the actor
	// created or is assigned to). The HTTP layer sets it from the role
	// matrix (a sales rep without manager role); a violation is
	// KindForbidden.
	OwnCustomersOnly bool
}

// Options are the per-request parameters of a command.
type Options struct {
	Actor Actor
	// IdempotencyKey identifies the command across retries: its events get
	// the ids eventstore.EventID(key, i), a retry returns the first result
	// and appends nothing, and a create without an explicit id gets an id
	// derived from the key. Empty = a fresh command id.
	IdempotencyKey string
	// CorrelationID groups the events of one request or saga (default:
	// the command id); CausationID is what caused the command (default:
	// the command id).
	CorrelationID string
	CausationID   string
	// IfMatch, when set, makes the command conditional: it runs only if the
	// stream's last revision is *IfMatch (-1 = the stream must not exist);
	// otherwise it fails with a *PreconditionError, and a concurrent write
	// is not retried.
	IfMatch *int64
}

// Result is the outcome of a command (the API's reply body).
type Result struct {
	// ID is the id of what the command created: the new aggregate, or the
	// new contact, interaction or plan item; else the aggregate's id.
	ID string `json:"id"`
	// Stream is the aggregate's stream.
	Stream string `json:"stream"`
	// Revision is the stream's last revision after the command (0-based;
	// unchanged when the command changed nothing).
	Revision int64 `json:"revision"`
	// Position is the $all commit position of the last event written
	// (of the stream's last event when nothing was written).
	Position uint64 `json:"position,string"`
	// Replayed is true when the command was a retry (same idempotency key)
	// of one already recorded: nothing was appended and Revision and
	// Position are the first run's.
	Replayed bool `json:"-"`
	// Changed is false when the command recorded nothing.
	Changed bool `json:"-"`
}

// ErrPreconditionFailed is matched (errors.Is) by the error of a command
// whose If-Match revision was not the stream's current one. The error is
// also a *domain.Error of KindConflict; the HTTP layer answers 412 for it
// instead of 409.
var ErrPreconditionFailed = errors.New("precondition failed")

// ErrTooLarge is matched (errors.Is) by the error of a command whose
// events exceed the event store's append size limit (a KindInvalid error;
// the HTTP layer answers 413).
var ErrTooLarge = errors.New("command too large")

// PreconditionError says that an If-Match revision did not match.
type PreconditionError struct {
	Stream   string
	Expected int64
	Current  int64 // -1 = no stream
}

func (e *PreconditionError) Error() string {
	return fmt.Sprintf("%s is at revision %d, not %d", e.Stream, e.Current, e.Expected)
}

// Is reports ErrPreconditionFailed.
func (e *PreconditionError) Is(target error) bool { return target == ErrPreconditionFailed }

func preconditionFailed(stream string, expected, current int64) error {
	pe := &PreconditionError{Stream: stream, Expected: expected, Current: current}
	return &domain.Error{Kind: domain.KindConflict,
		Message: fmt.Sprintf("precondition failed: the stream is at revision %d, not %d", current, expected), Err: pe}
}

// change is one event a decision records, with its business time.
type change struct {
	event      any
	occurredAt time.Time
}

// decideFunc rebuilds the aggregate from its (decoded) history and decides;
// it returns the events to append. It is called again on fresh state after a
// concurrency conflict, so it must not have side effects.
type decideFunc func(ctx context.Context, history []any, now time.Time) ([]change, error)

// core is the load → decide → append loop shared by every handler.
type core struct {
	store      Store
	codec      *eventstore.Codec
	now        func() time.Time
	newID      func() uuid.UUID
	log        *slog.Logger
	maxRetries int
	sleep      func(ctx context.Context, attempt int) error
	// locks serialises this process's commands per stream (nil: none).
	locks *streamLocks
	// cache keeps recently used streams' states (nil: none; only used
	// together with locks).
	cache *stateCache
}

// commandID returns the id recorded as the metadata's commandId: derived
// from the idempotency key when there is one (so a retry carries the same
// metadata), else fresh.
func (c *core) commandID(opts Options) string {
	if opts.IdempotencyKey != "" {
		return uuid.NewSHA1(eventstore.EventIDNamespace(), []byte("command:"+opts.IdempotencyKey)).String()
	}
	return c.newID().String()
}

// newAggregateID returns the id of an aggregate a command creates: the
// client's choice, else one derived from the idempotency key (so a retried
// create addresses the same stream), else a fresh one.
func (c *core) newAggregateID(kind, chosen string, opts Options) (uuid.UUID, error) {
	if chosen != "" {
		id, err := uuid.Parse(chosen)
		if err != nil || id == uuid.Nil || len(chosen) != 36 {
			return uuid.Nil, domain.Invalid(domain.FieldError{Field: "id", Message: "must be a UUID"})
		}
		return id, nil
	}
	if opts.IdempotencyKey != "" {
		return uuid.NewSHA1(eventstore.EventIDNamespace(), []byte(kind+":"+opts.IdempotencyKey)), nil
	}
	return c.newID(), nil
}

// request is one run of the loop on one stream.
type request struct {
	id     string // aggregate id for the Result
	stream string
	// what names the aggregate in "not found" messages ("customer").
	what string
	// create: the command creates the stream (it need not exist).
	create bool
	opts   Options
	// key is the idempotency key of this stream's events (the command's
	// key, or its command id when the request has no key).
	key       string
	commandID string
	decide    decideFunc
	// beforeAppend, when set, runs after a decision that records events
	// and before they are appended (win: register the derived customer).
	beforeAppend func(ctx context.Context) error
}

// run loads the stream, replays an already recorded command, checks
// If-Match, decides and appends, retrying on conflicts.
func (c *core) run(ctx context.Context, r request) (Result, error) {
	res := Result{ID: r.id, Stream: r.stream}
	if c.locks != nil {
		unlock, err := c.locks.lock(ctx, r.stream)
		if err != nil {
			return res, domain.Wrap(domain.KindUnavailable, err, "request cancelled or timed out")
		}
		defer unlock()
	}
	st := c.cache.get(r.stream)
	for attempt := 0; ; attempt++ {
		if st == nil {
			var err error
			if st, err = c.load(ctx, r.stream, r.what); err != nil {
				return res, err
			}
		}
		if r.opts.IdempotencyKey != "" {
			if rev, pos, ok := st.find(r.key); ok {
				res.Revision, res.Position, res.Replayed, res.Changed = rev, pos, true, true
				c.cache.put(r.stream, st)
				return res, nil
			}
		}
		if r.opts.IfMatch != nil && *r.opts.IfMatch != st.rev {
			if !st.fresh {
				st = nil // the cached state may be stale: check a fresh one
				continue
			}
			return res, preconditionFailed(r.stream, *r.opts.IfMatch, st.rev)
		}
		if st.rev < 0 && !r.create {
			return res, domain.Errorf(domain.KindNotFound, "%s %s not found", r.what, r.id)
		}
		changes, err := r.decide(ctx, st.history, c.now())
		if err != nil {
			if !st.fresh {
				st = nil // refused on a possibly stale state: decide again on a fresh one
				continue
			}
			return res, err
		}
		if len(changes) == 0 {
			if !st.fresh {
				st = nil
				continue
			}
			res.Revision, res.Position = st.rev, st.lastPosition()
			c.cache.put(r.stream, st)
			return res, nil
		}
		pending, err := c.pending(r, changes, st.lastHash)
		if err != nil {
			return res, err
		}
		if r.beforeAppend != nil {
			if err := r.beforeAppend(ctx); err != nil {
				return res, err
			}
		}
		ar, err := c.store.Append(ctx, r.stream, st.rev, pending)
		if err == nil {
			res.Revision, res.Position, res.Changed = int64(ar.Revision), ar.Position, true
			if c.cache != nil && c.extend(st, pending, ar) {
				c.cache.put(r.stream, st)
			} else {
				c.cache.drop(r.stream)
			}
			return res, nil
		}
		c.cache.drop(r.stream)
		st = nil
		var ce *eventstore.ConflictError
		if !errors.As(err, &ce) {
			return res, storeError(err, r.what)
		}
		if r.opts.IfMatch != nil {
			return res, preconditionFailed(r.stream, *r.opts.IfMatch, ce.Current)
		}
		if attempt >= c.maxRetries {
			return res, domain.Wrap(domain.KindConflict, err,
				fmt.Sprintf("%s %s is being changed concurrently; try again", r.what, r.id))
		}
		c.log.DebugContext(ctx, "concurrency conflict, deciding again", "stream", r.stream, "attempt", attempt+1, "current", ce.Current)
		if err := c.sleep(ctx, attempt); err != nil {
			return res, domain.Wrap(domain.KindUnavailable, err, "request cancelled")
		}
	}
}

// decodeAll decodes a stream's events; unknown types are skipped with a
// warning, undecodable ones are an internal error.
func (c *core) decodeAll(recorded []eventstore.Recorded) ([]any, error) {
	out := make([]any, 0, len(recorded))
	for _, r := range recorded {
		if r.IsSystem() {
			continue
		}
		v, err := c.codec.DecodeRecorded(r)
		if errors.Is(err, eventstore.ErrUnknownEventType) {
			c.log.Warn("skipping event of unknown type", "stream", r.Stream, "revision", r.Revision, "type", r.Type)
			continue
		}
		if err != nil {
			return nil, domain.Wrap(domain.KindInternal, err, "internal error")
		}
		out = append(out, v)
	}
	return out, nil
}

// pending encodes changes with the metadata of DESIGN §4; the first event
// chains from the loaded stream's last hash (saving Append a read).
func (c *core) pending(r request, changes []change, prevHash string) ([]eventstore.Pending, error) {
	corr, cause := r.opts.CorrelationID, r.opts.CausationID
	if corr == "" {
		corr = r.commandID
	}
	if cause == "" {
		cause = r.commandID
	}
	out := make([]eventstore.Pending, len(changes))
	for i, ch := range changes {
		p, err := c.codec.NewPending(ch.event, eventstore.Metadata{
			CorrelationID: corr,
			CausationID:   cause,
			Actor:         r.opts.Actor.UserID,
			CommandID:     r.commandID,
			OccurredAt:    ch.occurredAt.UTC(),
		})
		if err != nil {
			return nil, domain.Wrap(domain.KindInternal, err, "internal error")
		}
		p.IdempotencyKey = r.key
		out[i] = p
	}
	if validHash(prevHash) {
		out[0].Metadata.PrevHash = prevHash
	}
	return out, nil
}

func validHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	b, err := hex.DecodeString(h)
	return err == nil && len(b) == 32 && hex.EncodeToString(b) == h
}

// storeError maps an event-store error to a domain error.
func storeError(err error, what string) error {
	switch {
	case errors.Is(err, eventstore.ErrUnavailable), errors.Is(err, eventstore.ErrClosed):
		return domain.Wrap(domain.KindUnavailable, err, "the event store is unavailable; try again")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return domain.Wrap(domain.KindUnavailable, err, "request cancelled or timed out")
	case errors.Is(err, eventstore.ErrStreamDeleted):
		return domain.Wrap(domain.KindNotFound, err, what+" was deleted")
	case errors.Is(err, eventstore.ErrTooLarge):
		return domain.Wrap(domain.KindInvalid, errors.Join(ErrTooLarge, err), "the command's events exceed the event store's size limit")
	case errors.Is(err, eventstore.ErrConflict):
		return domain.Wrap(domain.KindConflict, err, what+" was changed concurrently; try again")
	}
	return domain.Wrap(domain.KindInternal, err, "internal error")
}

// backoff sleeps a jittered, exponentially growing pause (1 ms · 2^attempt,
// capped at 50 ms) between conflict retries.
func backoff(ctx context.Context, attempt int) error {
	ceil := time.Millisecond << min(attempt, 6)
	ceil = min(ceil, 50*time.Millisecond)
	d := time.Duration(rand.Int64N(int64(ceil))) + 200*time.Microsecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
