package audit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/internal/eventcodec"
)

// Log answers audit questions from the event log alone. It is safe for
// concurrent use.
type Log struct {
	src      Source
	codec    *eventstore.Codec
	log      *slog.Logger
	pageSize int
}

// LogConfig configures a Log.
type LogConfig struct {
	Store  Source
	Logger *slog.Logger
	// PageSize is how many events one read fetches (0 = 256): the memory a
	// streamed history needs is about one page.
	PageSize int
}

// NewLog returns a Log over the store.
func NewLog(cfg LogConfig) *Log {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 256
	}
	return &Log{src: cfg.Store, codec: eventcodec.New(), log: logger.With("component", "audit"), pageSize: cfg.PageSize}
}

// Cursor is where a history page ends: the next revision of the link
// stream to read and the $all position of the last event returned. The zero
// Cursor is the start.
type Cursor struct {
	LinkRevision uint64
	After        uint64
}

// IsZero reports whether c is the start.
func (c Cursor) IsZero() bool { return c == Cursor{} }

// String returns the opaque text form used in nextCursor.
func (c Cursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte("h1:" + strconv.FormatUint(c.LinkRevision, 10) + ":" + strconv.FormatUint(c.After, 10)))
}

// ErrBadCursor is wrapped by ParseCursor's errors.
var ErrBadCursor = errors.New("audit: malformed cursor")

// ParseCursor parses the text form of a Cursor ("" is the start). It never
// panics.
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, fmt.Errorf("%w: not a cursor of this API", ErrBadCursor)
	}
	parts := strings.Split(string(raw), ":")
	if len(parts) != 3 || parts[0] != "h1" {
		return Cursor{}, fmt.Errorf("%w: not a cursor of this API", ErrBadCursor)
	}
	rev, err1 := strconv.ParseUint(parts[1], 10, 64)
	after, err2 := strconv.ParseUint(parts[2], 10, 64)
	if err1 != nil || err2 != nil {
		return Cursor{}, fmt.Errorf("%w: not a cursor of this API", ErrBadCursor)
	}
	return Cursor{LinkRevision: rev, After: after}, nil
}

// ErrStop, returned by a History callback, ends the walk without error.
var ErrStop = errors.New("audit: stop")

// NotFound is the error for an unknown customer.
func notFound(cid uuid.UUID) error {
	return domain.Errorf(domain.KindNotFound, "no customer %s in the event log", cid)
}

// unavailable wraps a store failure for the HTTP layer.
func unavailable(err error) error {
	if errors.Is(err, eventstore.ErrUnavailable) || errors.Is(err, eventstore.ErrClosed) {
		return domain.Wrap(domain.KindUnavailable, err, "the event store is not available")
	}
	return err
}

// CustomerExists reports whether customer-<id> has at least one event.
func (l *Log) CustomerExists(ctx context.Context, cid uuid.UUID) (bool, error) {
	evs, err := readStream(ctx, l.src, domain.CustomerStream(cid), esdb.Forwards, esdb.Start{}, 1, false)
	if errors.Is(err, errStreamNotFound) {
		return false, nil
	}
	if err != nil {
		return false, unavailable(err)
	}
	return len(evs) > 0, nil
}

// History calls fn, in $all order, for every event of the customer's
// history after the cursor, with the cursor that resumes after that event.
// It reads page by page, so memory stays bounded whatever the history's
// length. fn may return ErrStop to end the walk (History then returns nil).
// An unknown customer is a KindNotFound *domain.Error.
//
// Completeness: the head of $all and the linker's checkpoint are read
// first, then the link stream to its end (links resolved), then $all from
// the later of the last linked position and the checkpoint up to that head.
// Every event of the customer at or before the head is therefore returned
// exactly once, however far the linker lags (or if it never ran).
func (l *Log) History(ctx context.Context, cid uuid.UUID, from Cursor, fn func(Event, Cursor) error) error {
	ok, err := l.CustomerExists(ctx, cid)
	if err != nil {
		return err
	}
	if !ok {
		return notFound(cid)
	}
	err = l.history(ctx, cid, from, fn)
	if errors.Is(err, ErrStop) {
		return nil
	}
	return unavailable(err)
}

func (l *Log) history(ctx context.Context, cid uuid.UUID, from Cursor, fn func(Event, Cursor) error) error {
	head, err := l.src.Head(ctx)
	if err != nil {
		return err
	}
	cp, err := LoadCheckpoint(ctx, l.src)
	if err != nil {
		return err
	}
	stream := HistoryStream(cid)
	next, lastPos := from.LinkRevision, from.After
	for {
		page, err := readStream(ctx, l.src, stream, esdb.Forwards, esdb.Revision(next), uint64(l.pageSize), true)
		if errors.Is(err, errStreamNotFound) {
			break
		}
		if err != nil {
			return err
		}
		for _, ev := range page {
			link := ev.OriginalEvent()
			next = link.EventNumber + 1
			item, err := l.linkTarget(ev)
			if err != nil {
				return err
			}
			if uint64(item.Position) <= lastPos {
				continue
			}
			lastPos = uint64(item.Position)
			if err := fn(item, Cursor{LinkRevision: next, After: lastPos}); err != nil {
				return err
			}
		}
		if len(page) < l.pageSize {
			break
		}
	}
	// The rest: $all after what the link stream and the checkpoint cover.
	after := max(lastPos, cp.Commit)
	if after >= head.Commit {
		return nil
	}
	scanFrom := eventstore.CheckpointAt(after)
	for {
		page, err := l.src.ReadAll(ctx, scanFrom, l.pageSize)
		if err != nil {
			return err
		}
		for _, r := range page {
			if r.Position > head.Commit {
				return nil
			}
			scanFrom = r.Checkpoint()
			if r.IsSystem() || r.Position <= lastPos {
				continue
			}
			c, ok, err := customerOfRecorded(r)
			if err != nil {
				l.log.Debug("event without a customer skipped by the history scan (the linker reports it)",
					"stream", r.Stream, "revision", r.Revision, "err", err)
				continue
			}
			if !ok || c != cid {
				continue
			}
			lastPos = r.Position
			if err := fn(FromRecorded(r), Cursor{LinkRevision: next, After: lastPos}); err != nil {
				return err
			}
		}
		if len(page) < l.pageSize {
			return nil
		}
	}
}

// linkTarget turns a read link into the event it points at, or into an
// unresolved item when the target cannot be read any more.
func (l *Log) linkTarget(ev *esdb.ResolvedEvent) (Event, error) {
	if ev.Link != nil && ev.Event != nil {
		return FromRecorded(eventstore.RecordedFromESDB(ev.Event)), nil
	}
	rec := ev.OriginalEvent()
	if rec.EventType != LinkEventType {
		return Event{}, fmt.Errorf("audit: %s@%d is a %q event, not a link", rec.StreamID, rec.EventNumber, rec.EventType)
	}
	stream, revision, err := ParseLinkData(rec.Data)
	if err != nil {
		return Event{}, fmt.Errorf("audit: %s@%d: %w", rec.StreamID, rec.EventNumber, err)
	}
	var m linkMeta
	_ = json.Unmarshal(rec.UserMetadata, &m)
	text, _ := json.Marshal(string(rec.Data))
	return Event{Stream: stream, Revision: revision, Position: Position(m.SourcePosition), Type: LinkEventType,
		RecordedAt: rec.CreatedDate.UTC(), Data: text, Metadata: json.RawMessage(`{}`), Unresolved: true}, nil
}

// Streams returns the distinct streams of the customer's history, in order
// of first appearance (the customer stream, its opportunities, service
// requests and orders).
func (l *Log) Streams(ctx context.Context, cid uuid.UUID) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	err := l.History(ctx, cid, Cursor{}, func(e Event, _ Cursor) error {
		if !seen[e.Stream] {
			seen[e.Stream] = true
			out = append(out, e.Stream)
		}
		return nil
	})
	return out, err
}
