package audit

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/crm-es/crm/eventstore"
)

// Source is what this package needs of the event store: paged $all reads
// and its head, and the official client for what the eventstore package
// does not wrap (the linker's subscription, reads that resolve links, raw
// link appends). *eventstore.Store implements it.
type Source interface {
	eventstore.AllReader
	Client() *esdb.Client
}

var _ Source = (*eventstore.Store)(nil)

// errStreamNotFound is returned by readStream for a stream that does not exist.
var errStreamNotFound = eventstore.ErrStreamNotFound

// storeErr wraps a client error with what was being done, keeping the
// eventstore package's kinds where they can be told from the client's code.
func storeErr(op, stream string, err error) error {
	var e *esdb.Error
	if errors.As(err, &e) {
		switch e.Code() {
		case esdb.ErrorCodeResourceNotFound:
			return fmt.Errorf("audit: %s %s: %w", op, stream, errStreamNotFound)
		case esdb.ErrorCodeStreamDeleted:
			return fmt.Errorf("audit: %s %s: %w: %v", op, stream, eventstore.ErrStreamDeleted, err)
		case esdb.ErrorCodeWrongExpectedVersion:
			return fmt.Errorf("audit: %s %s: %w: %v", op, stream, eventstore.ErrWrongExpectedVersion, err)
		case esdb.ErrorCodeDeadlineExceeded, esdb.ErrorCodeConnectionClosed, esdb.ErrorCodeNotLeader:
			return fmt.Errorf("audit: %s %s: %w: %v", op, stream, eventstore.ErrUnavailable, err)
		}
	}
	return fmt.Errorf("audit: %s %s: %w", op, stream, err)
}

// readStream reads up to count records of stream from a revision, forwards
// or backwards, resolving links when resolve is set. A missing stream
// returns errStreamNotFound.
func readStream(ctx context.Context, src Source, stream string, dir esdb.Direction, from esdb.StreamPosition, count uint64, resolve bool) ([]*esdb.ResolvedEvent, error) {
	rs, err := bounded(ctx, func() (*esdb.ReadStream, error) {
		return src.Client().ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: dir, From: from, ResolveLinkTos: resolve}, count)
	}, func(rs *esdb.ReadStream) { rs.Close() })
	if err != nil {
		return nil, storeErr("read", stream, err)
	}
	defer rs.Close()
	var out []*esdb.ResolvedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, storeErr("read", stream, err)
		}
		out = append(out, ev)
	}
}

// readRecords reads up to count events of a stream forwards from revision
// from (no link resolution), in the eventstore package's form.
func readRecords(ctx context.Context, src Source, stream string, from, count uint64) ([]eventstore.Recorded, error) {
	evs, err := readStream(ctx, src, stream, esdb.Forwards, esdb.Revision(from), count, false)
	if err != nil {
		return nil, err
	}
	out := make([]eventstore.Recorded, 0, len(evs))
	for _, ev := range evs {
		out = append(out, eventstore.RecordedFromESDB(ev.OriginalEvent()))
	}
	return out, nil
}
