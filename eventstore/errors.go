package eventstore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error kinds. Match them with errors.Is; every error returned by this
// package that stems from the event store wraps one of them (or none, for an
// unclassified failure) and also wraps the client's original error, so
// errors.As(err, new(*esdb.Error)) keeps working.
var (
	// ErrWrongExpectedVersion: an append's expected revision did not match
	// the stream. The error is a *ConflictError carrying the current revision.
	ErrWrongExpectedVersion = errors.New("eventstore: wrong expected version")
	// ErrConflict is the same kind as ErrWrongExpectedVersion.
	ErrConflict = ErrWrongExpectedVersion
	// ErrStreamNotFound: the stream has never been written (or is soft-deleted).
	ErrStreamNotFound = errors.New("eventstore: stream not found")
	// ErrStreamDeleted: the stream is tombstoned; it can never be written again.
	ErrStreamDeleted = errors.New("eventstore: stream deleted")
	// ErrUnavailable: the event store cannot be reached or timed out; the
	// operation may be retried (appends are idempotent thanks to
	// deterministic event ids and explicit expected revisions).
	ErrUnavailable = errors.New("eventstore: unavailable")
	// ErrAccessDenied: authentication or authorisation failed.
	ErrAccessDenied = errors.New("eventstore: access denied")
	// ErrClosed: the Store has been closed.
	ErrClosed = errors.New("eventstore: store closed")
	// ErrInvalidArgument: the caller passed something this package or the
	// server refuses (empty stream name, no events, missing idempotency
	// key, ...).
	ErrInvalidArgument = errors.New("eventstore: invalid argument")
	// ErrTooLarge: an append exceeds the server's maximum append size
	// (KurrentDB default: 1 MiB of event data per append).
	ErrTooLarge = errors.New("eventstore: append too large")
)

// ConflictError is returned when an append's expected revision does not
// match the stream. errors.Is(err, ErrConflict) and
// errors.Is(err, ErrWrongExpectedVersion) both hold.
type ConflictError struct {
	Stream string
	// Expected is the revision the caller expected (-1 = no stream).
	Expected int64
	// Current is the stream's current last revision (-1 = no stream).
	Current int64
	// Err is the client's original error, if any.
	Err error
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("eventstore: wrong expected version on stream %q: expected %s, current %s",
		e.Stream, revString(e.Expected), revString(e.Current))
}

// Is reports ErrWrongExpectedVersion (= ErrConflict).
func (e *ConflictError) Is(target error) bool { return target == ErrWrongExpectedVersion }

// Unwrap returns the client's original error.
func (e *ConflictError) Unwrap() error { return e.Err }

func revString(r int64) string {
	if r < 0 {
		return "no stream"
	}
	return strconv.FormatInt(r, 10)
}

// OpError describes a failed event-store operation.
type OpError struct {
	Op     string // "append", "read", "subscribe", "ping", ...
	Stream string // stream name, "$all" or empty
	Kind   error  // one of the Err* kinds above, or nil if unclassified
	Err    error  // the underlying error
}

func (e *OpError) Error() string {
	msg := "eventstore: " + e.Op
	if e.Stream != "" {
		msg += " " + strconv.Quote(e.Stream)
	}
	if e.Kind != nil && !errors.Is(e.Err, e.Kind) {
		msg += ": " + trimPrefix(e.Kind.Error())
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the kind and the underlying error.
func (e *OpError) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

func trimPrefix(s string) string {
	const p = "eventstore: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// esdbCode extracts the client's error code from err, looking through
// wrapping (the client wraps its *esdb.Error with fmt.Errorf("...%w")).
func esdbCode(err error) (esdb.ErrorCode, bool) {
	var e *esdb.Error
	if errors.As(err, &e) {
		return e.Code(), true
	}
	return 0, false
}

// classify maps an error from the official client (or a raw gRPC status, as
// delivered by a dropped subscription) to one of this package's kinds.
func classify(err error) error {
	if code, ok := esdbCode(err); ok {
		switch code {
		case esdb.ErrorCodeWrongExpectedVersion:
			return ErrWrongExpectedVersion
		case esdb.ErrorCodeResourceNotFound:
			return ErrStreamNotFound
		case esdb.ErrorCodeStreamDeleted:
			return ErrStreamDeleted
		case esdb.ErrorUnavailable, esdb.ErrorCodeConnectionClosed, esdb.ErrorCodeDeadlineExceeded,
			esdb.ErrorAborted, esdb.ErrorCodeNotLeader:
			return ErrUnavailable
		case esdb.ErrorCodeUnauthenticated, esdb.ErrorCodeAccessDenied:
			return ErrAccessDenied
		}
		// ErrorCodeUnknown wraps the raw gRPC error; look at it below.
	}
	if st, ok := status.FromError(unwrapStatus(err)); ok {
		switch st.Code() {
		case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.ResourceExhausted:
			return ErrUnavailable
		case codes.Unauthenticated, codes.PermissionDenied:
			return ErrAccessDenied
		case codes.InvalidArgument:
			if strings.Contains(st.Message(), "Maximum Append Size") {
				return ErrTooLarge
			}
			return ErrInvalidArgument
		}
	}
	return nil
}

// unwrapStatus finds the innermost error carrying a gRPC status.
func unwrapStatus(err error) error {
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return se.(error)
	}
	return err
}

// wrapErr turns a client error into an *OpError. When the operation's
// context ended (and the error says nothing more definite), the kind is the
// context's error, so errors.Is(err, context.Canceled) holds for cancelled
// operations, or ErrClosed when the Store is closing.
func (s *Store) wrapErr(ctx context.Context, op, stream string, err error) error {
	if err == nil {
		return nil
	}
	kind := classify(err)
	if ctx.Err() != nil && (kind == nil || kind == ErrUnavailable) {
		if s != nil && s.ctx.Err() != nil && errors.Is(context.Cause(ctx), errStoreClosing) {
			kind = ErrClosed
		} else {
			kind = ctx.Err()
		}
	}
	return &OpError{Op: op, Stream: stream, Kind: kind, Err: err}
}

var wevCurrent = regexp.MustCompile(`but got '([^']*)'`)

// parseCurrentRevision extracts the current revision from the client's
// wrong-expected-version error text ("... expecting 'X' but got 'Y'"),
// the only place the client exposes it.
func parseCurrentRevision(err error) (int64, bool) {
	m := wevCurrent.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, false
	}
	if m[1] == "no_stream" {
		return -1, true
	}
	n, perr := strconv.ParseInt(m[1], 10, 64)
	if perr != nil || n < 0 {
		return 0, false
	}
	return n, true
}
