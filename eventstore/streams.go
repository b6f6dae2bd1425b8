package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
)

// StreamLoader loads whole streams (aggregates, audit).
type StreamLoader interface {
	LoadStream(ctx context.Context, stream string) (events []Recorded, lastRevision int64, err error)
}

// Appender appends events with an expected revision.
type Appender interface {
	Append(ctx context.Context, stream string, expectedRevision int64, events []Pending) (AppendResult, error)
}

// AllReader reads $all in pages (export, audit across streams) and its head.
type AllReader interface {
	ReadAll(ctx context.Context, after Checkpoint, limit int) ([]Recorded, error)
	Head(ctx context.Context) (Checkpoint, error)
}

// AllSubscriber runs a resilient catch-up subscription to $all.
type AllSubscriber interface {
	SubscribeAll(ctx context.Context, from Checkpoint, filter *Filter, handler Handler) error
}

// Pinger reports whether the event store answers (readiness).
type Pinger interface {
	Ping(ctx context.Context) error
}

// EventStore is everything the layers above need; *Store implements it.
// Depend on the smallest of these interfaces that does the job, so tests
// can substitute a fake (or use the real embedded store: Open with a
// t.TempDir() DataDir starts in milliseconds).
type EventStore interface {
	StreamLoader
	Appender
	AllReader
	AllSubscriber
	Pinger
}

var _ EventStore = (*Store)(nil)

// NoStream is the expected revision of a stream that must not exist yet.
const NoStream int64 = -1

// LoadStream reads a whole stream forwards, in pages. A stream that does not
// exist (or is soft-deleted) yields no events and lastRevision -1; a
// tombstoned one ErrStreamDeleted.
func (s *Store) LoadStream(ctx context.Context, stream string) (events []Recorded, lastRevision int64, err error) {
	if stream == "" {
		return nil, -1, fmt.Errorf("%w: empty stream name", ErrInvalidArgument)
	}
	c, opCtx, release, err := s.begin(ctx)
	if err != nil {
		return nil, -1, err
	}
	defer release()

	var next uint64
	for {
		page, err := s.readStream(opCtx, c, stream, esdb.Forwards, esdb.Revision(next), s.pageSize)
		if errors.Is(err, ErrStreamNotFound) {
			if len(events) == 0 {
				return nil, -1, nil
			}
			// Deleted between two pages: what was read is a consistent prefix.
			break
		}
		if err != nil {
			return nil, -1, err
		}
		events = append(events, page...)
		if uint64(len(page)) < s.pageSize {
			break
		}
		next = page[len(page)-1].Revision + 1
	}
	if len(events) == 0 {
		return nil, -1, nil
	}
	return events, int64(events[len(events)-1].Revision), nil
}

// readStream reads up to count events of a stream.
func (s *Store) readStream(ctx context.Context, c *esdb.Client, stream string, dir esdb.Direction, from esdb.StreamPosition, count uint64) ([]Recorded, error) {
	rs, err := c.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: dir, From: from}, count)
	if err != nil {
		s.noteErr(c, err)
		return nil, s.wrapErr(ctx, "read", stream, err)
	}
	defer rs.Close()
	var out []Recorded
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			s.noteErr(c, err)
			return nil, s.wrapErr(ctx, "read", stream, err)
		}
		out = append(out, fromESDB(ev))
	}
}

// fromESDB converts a client event. Links are not resolved by this package's
// reads, so Event is the record itself.
func fromESDB(ev *esdb.ResolvedEvent) Recorded {
	e := ev.Event
	if e == nil {
		e = ev.Link
	}
	return RecordedFromESDB(e)
}

// RecordedFromESDB converts one record of the official client (an event or
// a link record) into a Recorded, decoding its metadata.
func RecordedFromESDB(e *esdb.RecordedEvent) Recorded {
	r := Recorded{
		Stream:      e.StreamID,
		Revision:    e.EventNumber,
		Position:    e.Position.Commit,
		EventID:     e.EventID,
		Type:        e.EventType,
		JSON:        e.ContentType == "application/json",
		Data:        e.Data,
		RecordedAt:  e.CreatedDate.UTC(),
		RawMetadata: e.UserMetadata,
	}
	r.Metadata, r.MetadataErr = DecodeMetadata(e.UserMetadata)
	return r
}

// Append appends events atomically to stream, always with an explicit
// expected revision: expectedRevision is the stream's current last revision,
// or -1 (NoStream) for a stream that must not exist yet.
//
// Each event gets the deterministic id EventID(key, i) (key =
// IdempotencyKey, else Metadata.CommandID; i = index in events) unless ID is
// set, a hash-chained envelope (see CanonicalBytes), schemaVersion ≥ 1 and,
// if zero, occurredAt = now. The chain starts from events[0].Metadata.PrevHash
// when the caller gives it (the hash of the event at expectedRevision, from
// LoadStream), else from GenesisHash for NoStream, else from the event at
// expectedRevision, which Append reads first.
//
// A retry of the same command with the same key and the same
// expectedRevision is recognised by the store: it appends nothing and
// returns the original revision and position. Errors: *ConflictError
// (errors.Is ErrConflict) with the current revision, ErrStreamDeleted,
// ErrUnavailable (retry with the same arguments), ErrInvalidArgument.
func (s *Store) Append(ctx context.Context, stream string, expectedRevision int64, events []Pending) (AppendResult, error) {
	if stream == "" {
		return AppendResult{}, fmt.Errorf("%w: empty stream name", ErrInvalidArgument)
	}
	if expectedRevision < -1 {
		return AppendResult{}, fmt.Errorf("%w: expected revision %d (use -1 for a new stream)", ErrInvalidArgument, expectedRevision)
	}
	if len(events) == 0 {
		return AppendResult{}, fmt.Errorf("%w: append to %q: no events", ErrInvalidArgument, stream)
	}
	if err := checkPending(events); err != nil {
		return AppendResult{}, fmt.Errorf("append to %q: %w", stream, err)
	}

	c, opCtx, release, err := s.begin(ctx)
	if err != nil {
		return AppendResult{}, err
	}
	defer release()

	prevHash := events[0].Metadata.PrevHash
	if prevHash == "" {
		prevHash, err = s.hashAt(opCtx, c, stream, expectedRevision)
		if err != nil {
			return AppendResult{}, err
		}
	}
	sealed, err := sealBatch(stream, prevHash, events, s.now())
	if err != nil {
		return AppendResult{}, fmt.Errorf("append to %q: %w", stream, err)
	}
	data := make([]esdb.EventData, len(sealed))
	for i, ev := range sealed {
		data[i] = esdb.EventData{EventID: ev.ID, EventType: ev.Type, ContentType: esdb.ContentTypeJson, Data: ev.Data, Metadata: ev.MetadataJSON}
	}

	var expected esdb.ExpectedRevision = esdb.NoStream{}
	if expectedRevision >= 0 {
		expected = esdb.Revision(uint64(expectedRevision))
	}
	res, err := c.AppendToStream(opCtx, stream, esdb.AppendToStreamOptions{ExpectedRevision: expected}, data...)
	if err != nil {
		s.noteErr(c, err)
		if code, ok := esdbCode(err); ok && code == esdb.ErrorCodeWrongExpectedVersion {
			return AppendResult{}, s.conflict(opCtx, c, stream, expectedRevision, err)
		}
		return AppendResult{}, s.wrapErr(opCtx, "append", stream, err)
	}
	return AppendResult{Revision: res.NextExpectedVersion, Position: res.CommitPosition}, nil
}

// conflict builds the *ConflictError, taking the current revision from the
// client's message or, failing that, from a read.
func (s *Store) conflict(ctx context.Context, c *esdb.Client, stream string, expected int64, err error) error {
	cur, ok := parseCurrentRevision(err)
	if !ok {
		cur = -1
		last, rerr := s.readStream(ctx, c, stream, esdb.Backwards, esdb.End{}, 1)
		if rerr == nil && len(last) == 1 {
			cur = int64(last[0].Revision)
		}
	}
	return &ConflictError{Stream: stream, Expected: expected, Current: cur, Err: err}
}

// hashAt returns the hash the next event after revision rev must chain
// from: GenesisHash for -1, else the hash of the event at rev. If there is no
// event at rev the append cannot succeed; that is reported as a conflict
// with the current revision, without writing.
func (s *Store) hashAt(ctx context.Context, c *esdb.Client, stream string, rev int64) (string, error) {
	if rev < 0 {
		return GenesisHash, nil
	}
	evs, err := s.readStream(ctx, c, stream, esdb.Backwards, esdb.Revision(uint64(rev)), 1)
	switch {
	case errors.Is(err, ErrStreamNotFound):
		return "", &ConflictError{Stream: stream, Expected: rev, Current: -1}
	case err != nil:
		return "", err
	case len(evs) == 0:
		return "", &ConflictError{Stream: stream, Expected: rev, Current: -1}
	case int64(evs[0].Revision) != rev:
		return "", &ConflictError{Stream: stream, Expected: rev, Current: int64(evs[0].Revision)}
	}
	prev := evs[0]
	if _, err := decodeHash(prev.Metadata.Hash); err != nil || prev.MetadataErr != nil {
		// An event written without this package's envelope: the chain
		// restarts here; VerifyChain will point at that event.
		s.log.Warn("previous event has no valid hash; chaining from the genesis hash",
			"stream", stream, "revision", prev.Revision)
		return GenesisHash, nil
	}
	return prev.Metadata.Hash, nil
}

func checkPending(events []Pending) error {
	for i, ev := range events {
		switch {
		case ev.Type == "":
			return fmt.Errorf("%w: event %d has no type", ErrInvalidArgument, i)
		case ev.Data == nil:
			return fmt.Errorf("%w: event %d (%s) has no data", ErrInvalidArgument, i, ev.Type)
		case !json.Valid(ev.Data):
			return fmt.Errorf("%w: event %d (%s): data is not valid JSON", ErrInvalidArgument, i, ev.Type)
		case ev.ID == uuid.Nil && ev.IdempotencyKey == "" && ev.Metadata.CommandID == "":
			return fmt.Errorf("%w: event %d (%s) has neither an IdempotencyKey, a Metadata.CommandID nor an ID", ErrInvalidArgument, i, ev.Type)
		case i > 0 && ev.Metadata.PrevHash != "":
			return fmt.Errorf("%w: event %d (%s): only the first event of a batch may carry a prevHash", ErrInvalidArgument, i, ev.Type)
		}
	}
	if p := events[0].Metadata.PrevHash; p != "" {
		if _, err := decodeHash(p); err != nil {
			return fmt.Errorf("%w: prevHash: %v", ErrInvalidArgument, err)
		}
	}
	return nil
}

// sealedEvent is a Pending ready to be written.
type sealedEvent struct {
	ID           uuid.UUID
	Type         string
	Data         []byte
	Metadata     Metadata
	MetadataJSON []byte
}

// sealBatch fills ids, schema versions, business times and the hash chain
// of a batch. It is pure: the same input gives the same bytes.
func sealBatch(stream, prevHash string, events []Pending, now time.Time) ([]sealedEvent, error) {
	out := make([]sealedEvent, len(events))
	for i, ev := range events {
		id := ev.ID
		if id == uuid.Nil {
			key := ev.IdempotencyKey
			if key == "" {
				key = ev.Metadata.CommandID
			}
			id = EventID(key, i)
		}
		meta := ev.Metadata
		if meta.SchemaVersion == 0 {
			meta.SchemaVersion = 1
		}
		if meta.OccurredAt.IsZero() {
			meta.OccurredAt = now
		}
		meta.OccurredAt = meta.OccurredAt.UTC()
		meta.PrevHash = prevHash
		h, err := ComputeHash(stream, ev.Type, id, ev.Data, meta)
		if err != nil {
			return nil, err
		}
		meta.Hash = h
		mj, err := json.Marshal(meta)
		if err != nil {
			return nil, err
		}
		out[i] = sealedEvent{ID: id, Type: ev.Type, Data: ev.Data, Metadata: meta, MetadataJSON: mj}
		prevHash = h
	}
	return out, nil
}

// ReadAll reads up to limit events of $all strictly after the checkpoint
// (the zero Checkpoint = from the start), in log order, system events
// included (see Recorded.IsSystem). Page by passing the last event's
// Checkpoint().
func (s *Store) ReadAll(ctx context.Context, after Checkpoint, limit int) ([]Recorded, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("%w: ReadAll limit %d", ErrInvalidArgument, limit)
	}
	c, opCtx, release, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	var from esdb.AllPosition = esdb.Start{}
	count := uint64(limit)
	if !after.IsZero() {
		// Reads of $all are inclusive: ask for one more and drop what is
		// not strictly after the checkpoint.
		from = esdb.Position{Commit: after.Commit, Prepare: after.Prepare}
		count++
	}
	rs, err := c.ReadAll(opCtx, esdb.ReadAllOptions{Direction: esdb.Forwards, From: from}, count)
	if err != nil {
		s.noteErr(c, err)
		return nil, s.wrapErr(opCtx, "read", "$all", err)
	}
	defer rs.Close()
	var out []Recorded
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			s.noteErr(c, err)
			return nil, s.wrapErr(opCtx, "read", "$all", err)
		}
		r := fromESDB(ev)
		if !after.IsZero() && r.Position <= after.Commit {
			continue
		}
		out = append(out, r)
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Head returns the position of the last event in $all (zero when empty).
func (s *Store) Head(ctx context.Context) (Checkpoint, error) {
	c, opCtx, release, err := s.begin(ctx)
	if err != nil {
		return Checkpoint{}, err
	}
	defer release()
	rs, err := c.ReadAll(opCtx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil {
		s.noteErr(c, err)
		return Checkpoint{}, s.wrapErr(opCtx, "read", "$all", err)
	}
	defer rs.Close()
	var head Checkpoint
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return head, nil
		}
		if err != nil {
			s.noteErr(c, err)
			return Checkpoint{}, s.wrapErr(opCtx, "read", "$all", err)
		}
		e := ev.OriginalEvent()
		head = Checkpoint{Commit: e.Position.Commit, Prepare: e.Position.Prepare}
	}
}
