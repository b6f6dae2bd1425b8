package commands

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/internal/eventcodec"
	"github.com/google/uuid"
)

// Config configures the command handlers.
type Config struct {
	// Store is the event store (required).
	Store Store
	// Now is the clock giving commands their "at" (nil = time.Now).
	Now func() time.Time
	// NewID makes fresh ids for aggregates and commands (nil = uuid.New).
	NewID func() uuid.UUID
	// Logger (nil = discard).
	Logger *slog.Logger
	// MaxRetries bounds the re-decisions after concurrency conflicts
	// (0 = DefaultMaxRetries; negative = none).
	MaxRetries int
	// NoStreamLocks turns off the in-process serialisation of commands on
	// the same stream, leaving only optimistic concurrency (tests of the
	// conflict paths).
	NoStreamLocks bool
	// CacheStreams is how many streams' decoded events are kept between
	// commands (0 = DefaultCacheStreams, negative = none; needs the stream
	// locks). A cached stream is trusted only for the append, whose
	// expected revision proves it current; a conflict, a refusal, a no-op or
	// an If-Match mismatch is re-checked on a fresh load, so other writers
	// (other processes) are safe.
	CacheStreams int
}

// Handlers runs the commands of DESIGN §8. It is safe for concurrent use.
type Handlers struct {
	c *core
}

// NewCodec returns the event codec of the domain's event types (the one
// table every reader and writer of the log uses: internal/eventcodec).
func NewCodec() *eventstore.Codec { return eventcodec.New() }

// New returns the command handlers.
func New(cfg Config) *Handlers {
	c := &core{store: cfg.Store, codec: NewCodec(), now: cfg.Now, newID: cfg.NewID, log: cfg.Logger,
		maxRetries: cfg.MaxRetries, sleep: backoff}
	if !cfg.NoStreamLocks {
		c.locks = &streamLocks{}
		switch {
		case cfg.CacheStreams == 0:
			c.cache = newStateCache(DefaultCacheStreams)
		case cfg.CacheStreams > 0:
			c.cache = newStateCache(cfg.CacheStreams)
		}
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.newID == nil {
		c.newID = uuid.New
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("component", "commands")
	switch {
	case c.maxRetries == 0:
		c.maxRetries = DefaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	return &Handlers{c: c}
}

// aggregate is what the handlers need of a domain aggregate.
type aggregate interface {
	Apply(domain.Event)
	Changes() []domain.Event
}

// target says which aggregate a command addresses.
type target struct {
	id     uuid.UUID
	stream string
	what   string
	create bool
	// resultID overrides the Result's id (the new contact, interaction or
	// plan item); empty = id.
	resultID string
	// keySuffix distinguishes the event ids of a second stream written by
	// the same command (win: the derived customer).
	keySuffix string
}

// execute runs one command on one aggregate: rebuild with Apply, check
// (ownership), act (the domain method), append Changes().
func execute[A aggregate](ctx context.Context, c *core, opts Options, t target, newAgg func() A,
	check func(context.Context, A) error, act func(A, time.Time) error) (Result, error) {
	return executeWith(ctx, c, opts, t, newAgg, check, act, nil)
}

// executeWith is execute with a hook that runs before each append.
func executeWith[A aggregate](ctx context.Context, c *core, opts Options, t target, newAgg func() A,
	check func(context.Context, A) error, act func(A, time.Time) error, beforeAppend func(ctx context.Context, commandID, key string) error) (Result, error) {
	commandID := c.commandID(opts)
	key := opts.IdempotencyKey
	if key == "" {
		key = commandID
	}
	key += t.keySuffix
	r := request{id: t.id.String(), stream: t.stream, what: t.what, create: t.create, opts: opts, key: key, commandID: commandID}
	r.decide = func(ctx context.Context, history []any, now time.Time) ([]change, error) {
		a := newAgg()
		for _, e := range history {
			if ev, ok := e.(domain.Event); ok {
				a.Apply(ev)
			}
		}
		if check != nil {
			if err := check(ctx, a); err != nil {
				return nil, err
			}
		}
		if err := act(a, now); err != nil {
			return nil, err
		}
		evs := a.Changes()
		out := make([]change, len(evs))
		for i, e := range evs {
			out[i] = change{event: e, occurredAt: occurredAt(e, now)}
		}
		return out, nil
	}
	if beforeAppend != nil {
		r.beforeAppend = func(ctx context.Context) error { return beforeAppend(ctx, commandID, key) }
	}
	res, err := c.run(ctx, r)
	if t.resultID != "" {
		res.ID = t.resultID
	}
	return res, err
}

// occurredAt is an event's business time for the metadata: the time the
// event says it happened when it carries one that may differ from the record
// time (a visit logged the next day, an imported invoice), else now.
func occurredAt(e domain.Event, now time.Time) time.Time {
	switch e := e.(type) {
	case domain.InteractionLogged:
		if !e.OccurredAt.IsZero() {
			return e.OccurredAt
		}
	case domain.OrderPlaced:
		if !e.OrderedAt.IsZero() {
			return e.OrderedAt
		}
	case domain.OrderDelivered:
		if !e.DeliveredAt.IsZero() {
			return e.DeliveredAt
		}
	}
	return now
}

// subID returns the id of an entity a command creates inside an aggregate
// (contact, interaction, plan item): the client's choice, else derived from
// the idempotency key, else fresh.
func (c *core) subID(kind, chosen string, opts Options) (uuid.UUID, error) {
	return c.newAggregateID(kind, chosen, opts) // a bad choice is reported as the body's "id"
}

// forbidden is the error of an actor acting on someone else's customer.
func forbidden(what string) error {
	return domain.Errorf(domain.KindForbidden, "you may act only on your own customers; this %s belongs to another user's customer", what)
}

// loadCustomer rebuilds a customer (not found: a customer that does not
// exist, with ok false).
func (c *core) loadCustomer(ctx context.Context, id uuid.UUID) (*domain.Customer, bool, error) {
	recorded, _, err := c.store.LoadStream(ctx, domain.CustomerStream(id))
	if err != nil {
		return nil, false, storeError(err, "customer")
	}
	history, err := c.decodeAll(recorded)
	if err != nil {
		return nil, false, err
	}
	cust := domain.NewCustomer()
	for _, e := range history {
		if ev, ok := e.(domain.Event); ok {
			cust.Apply(ev)
		}
	}
	return cust, cust.Exists(), nil
}

// referencedCustomer checks a customer named in a request body (field):
// it must exist (KindInvalid otherwise) and, for an actor restricted to own
// customers, be theirs (KindForbidden).
func (c *core) referencedCustomer(ctx context.Context, opts Options, field string, id uuid.UUID) error {
	cust, ok, err := c.loadCustomer(ctx, id)
	if err != nil {
		return err
	}
	if !ok {
		return domain.Invalid(domain.FieldError{Field: field, Message: "no such customer"})
	}
	if opts.Actor.OwnCustomersOnly && cust.OwnerID() != opts.Actor.UserID {
		return domain.Errorf(domain.KindForbidden, "you may act only on your own customers; customer %s belongs to another user", id)
	}
	return nil
}

// ownedCustomer checks, for an actor restricted to own customers, that the
// existing customer id is theirs.
func (c *core) ownedCustomer(ctx context.Context, opts Options, id uuid.UUID, what string) error {
	if !opts.Actor.OwnCustomersOnly {
		return nil
	}
	cust, ok, err := c.loadCustomer(ctx, id)
	if err != nil {
		return err
	}
	if !ok || cust.OwnerID() != opts.Actor.UserID {
		return forbidden(what)
	}
	return nil
}

// withCustomerCheck runs the domain's creation method, then checks the
// customer the body references, so one answer lists every bad field: the
// domain's and "customerId: no such customer" together. A forbidden
// customer wins over validation errors.
func withCustomerCheck(err, cerr error) error {
	if cerr == nil {
		return err
	}
	if err == nil || domain.KindOf(cerr) != domain.KindInvalid {
		return cerr
	}
	var de, ce *domain.Error
	if domain.KindOf(err) == domain.KindInvalid && errors.As(err, &de) && errors.As(cerr, &ce) {
		return domain.Invalid(append(slices.Clone(de.Fields), ce.Fields...)...)
	}
	return err
}
