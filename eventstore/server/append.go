package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/crm-es/crm/eventstore/server/store"
)

type streamsService struct {
	streams.UnimplementedStreamsServer
	srv *Server
}

// rpcError is a gRPC status plus the KurrentDB trailers the client reads.
type rpcError struct {
	code     codes.Code
	msg      string
	trailers []string
}

func (e *rpcError) Error() string { return e.msg }

// send sets the trailers on the call and returns the status error.
func (e *rpcError) send(setTrailer func(metadata.MD)) error {
	if len(e.trailers) > 0 {
		setTrailer(metadata.Pairs(e.trailers...))
	}
	return status.Error(e.code, e.msg)
}

func unaryTrailer(ctx context.Context) func(metadata.MD) {
	return func(md metadata.MD) { _ = grpc.SetTrailer(ctx, md) }
}

func streamDeleted(name string) *rpcError {
	return &rpcError{codes.FailedPrecondition, fmt.Sprintf("Event stream '%s' is deleted.", name),
		[]string{"exception", "stream-deleted", "stream-name", name}}
}

func invalid(msg string, trailers ...string) *rpcError {
	return &rpcError{codes.InvalidArgument, msg, trailers}
}

// storeError maps a storage error to the wire error.
func (s *Server) storeError(err error) *rpcError {
	var del *store.StreamDeletedError
	var wev *store.WrongExpectedVersionError
	switch {
	case errors.As(err, &del):
		return streamDeleted(del.Stream)
	case errors.As(err, &wev):
		return &rpcError{codes.FailedPrecondition,
			fmt.Sprintf("Append failed due to WrongExpectedVersion. Stream: %s, Expected version: %d, Actual version: %d", wev.Stream, expectedNumber(wev.Expected), wev.Current),
			[]string{"exception", "wrong-expected-version", "stream-name", wev.Stream,
				"expected-version", strconv.FormatInt(expectedNumber(wev.Expected), 10),
				"actual-version", strconv.FormatInt(wev.Current, 10)}}
	case errors.Is(err, store.ErrClosed), errors.Is(err, store.ErrFailed):
		s.log.Error("event store unavailable", "err", err)
		return &rpcError{codes.Unavailable, "Server Is Not Ready", nil}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &rpcError{codes.Aborted, "Operation timed out", nil}
	default:
		s.log.Error("event store internal error", "err", err)
		return &rpcError{codes.Internal, "internal error", nil}
	}
}

// expectedNumber is KurrentDB's numeric form of an expected version.
func expectedNumber(e store.Expected) int64 {
	switch e.Kind {
	case store.ExpectNoStream:
		return -1
	case store.ExpectStreamExists:
		return -4
	case store.ExpectRevision:
		if e.Revision > math.MaxInt64 {
			return math.MaxInt64
		}
		return int64(e.Revision)
	default:
		return -2
	}
}

type expectedOption interface {
	GetRevision() uint64
	GetNoStream() *shared.Empty
	GetAny() *shared.Empty
	GetStreamExists() *shared.Empty
}

func expectedFrom(o expectedOption) (store.Expected, bool) {
	switch {
	case o.GetNoStream() != nil:
		return store.Expected{Kind: store.ExpectNoStream}, true
	case o.GetAny() != nil:
		return store.Expected{Kind: store.ExpectAny}, true
	case o.GetStreamExists() != nil:
		return store.Expected{Kind: store.ExpectStreamExists}, true
	}
	return store.Expected{}, false
}

func parseUUID(u *shared.UUID) (uuid.UUID, error) {
	switch v := u.GetValue().(type) {
	case *shared.UUID_Structured_:
		var id uuid.UUID
		putInt64(id[:8], v.Structured.GetMostSignificantBits())
		putInt64(id[8:], v.Structured.GetLeastSignificantBits())
		return id, nil
	case *shared.UUID_String_:
		return uuid.Parse(v.String_)
	default:
		return uuid.Nil, errors.New("missing id")
	}
}

func putInt64(b []byte, v int64) {
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

func protoUUID(id uuid.UUID) *shared.UUID {
	var hi, lo int64
	for i := 0; i < 8; i++ {
		hi = hi<<8 | int64(id[i])
		lo = lo<<8 | int64(id[8+i])
	}
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{MostSignificantBits: hi, LeastSignificantBits: lo}}}
}

// Append reads the whole request stream (the client only sees trailers
// after it half-closes), validates it and appends atomically.
func (ss *streamsService) Append(call streams.Streams_AppendServer) error {
	s := ss.srv
	first, err := call.Recv()
	if err != nil {
		if err == io.EOF {
			return status.Error(codes.InvalidArgument, "empty append request")
		}
		return err
	}
	var bad *rpcError
	opts := first.GetOptions()
	var name string
	var exp store.Expected
	if opts == nil {
		bad = &rpcError{codes.Unknown, "first append message must be options", nil}
	} else {
		name = string(opts.GetStreamIdentifier().GetStreamName())
		if r, ok := opts.GetExpectedStreamRevision().(*streams.AppendReq_Options_Revision); ok {
			exp = store.Expected{Kind: store.ExpectRevision, Revision: r.Revision}
		} else if e, ok := expectedFrom(opts); ok {
			exp = e
		} else {
			bad = invalid("expected stream revision is required")
		}
		if bad == nil && name == "" {
			bad = invalid("stream name is required")
		}
	}
	var events []store.Proposed
	size := 0
	for {
		m, err := call.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if bad != nil {
			continue // keep draining
		}
		pm := m.GetProposedMessage()
		if pm == nil {
			bad = &rpcError{codes.Unknown, "expected a proposed message", nil}
			continue
		}
		size += len(pm.GetData())
		if size > s.cfg.MaxAppendSize {
			bad = invalid(fmt.Sprintf("Maximum Append Size of %d Exceeded.", s.cfg.MaxAppendSize),
				"exception", "maximum-append-size-exceeded", "maximum-append-size", strconv.Itoa(s.cfg.MaxAppendSize))
			events = nil
			continue
		}
		id, err := parseUUID(pm.GetId())
		if err != nil {
			bad = invalid(fmt.Sprintf("invalid event id: %v", err))
			continue
		}
		md := pm.GetMetadata()
		typ, okType := md["type"]
		ct, okCT := md["content-type"]
		if !okType || typ == "" {
			bad = invalid("Required Metadata Property 'type' is missing",
				"exception", "missing-required-metadata-property", "required-metadata-properties", "type")
			continue
		}
		if !okCT {
			bad = invalid("Required Metadata Property 'content-type' is missing",
				"exception", "missing-required-metadata-property", "required-metadata-properties", "content-type")
			continue
		}
		events = append(events, store.Proposed{
			ID: id, Type: typ, JSON: ct == "application/json",
			Data: nonNil(pm.GetData()), Metadata: nonNil(pm.GetCustomMetadata()),
		})
	}
	if bad != nil {
		return bad.send(call.SetTrailer)
	}
	res, err := s.store.Append(call.Context(), name, exp, events)
	if err != nil {
		return s.storeError(err).send(call.SetTrailer)
	}
	if res.WrongExpectedVersion {
		return call.SendAndClose(&streams.AppendResp{Result: &streams.AppendResp_WrongExpectedVersion_{
			WrongExpectedVersion: wrongExpectedVersion(exp, res.Current)}})
	}
	ok := &streams.AppendResp_Success{}
	if res.Revision >= 0 {
		ok.CurrentRevisionOption = &streams.AppendResp_Success_CurrentRevision{CurrentRevision: uint64(res.Revision)}
	} else {
		ok.CurrentRevisionOption = &streams.AppendResp_Success_NoStream{NoStream: &shared.Empty{}}
	}
	if res.Position > 0 {
		ok.PositionOption = &streams.AppendResp_Success_Position{Position: &streams.AppendResp_Position{CommitPosition: res.Position, PreparePosition: res.Position}}
	} else {
		ok.PositionOption = &streams.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}}
	}
	return call.SendAndClose(&streams.AppendResp{Result: &streams.AppendResp_Success_{Success: ok}})
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func wrongExpectedVersion(exp store.Expected, cur int64) *streams.AppendResp_WrongExpectedVersion {
	w := &streams.AppendResp_WrongExpectedVersion{}
	empty := &shared.Empty{}
	if cur >= 0 {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(cur)}
		w.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: uint64(cur)}
	} else {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: empty}
		w.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: empty}
	}
	switch exp.Kind {
	case store.ExpectRevision:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: exp.Revision}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: exp.Revision}
	case store.ExpectNoStream:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: empty}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: math.MaxUint64}
	case store.ExpectStreamExists:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: empty}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_StreamExists_20_6_0{StreamExists_20_6_0: empty}
	default:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: empty}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_Any_20_6_0{Any_20_6_0: empty}
	}
	return w
}

type deleteOptions interface {
	GetStreamIdentifier() *shared.StreamIdentifier
	expectedOption
}

func (ss *streamsService) deleteExpected(o deleteOptions, rev func() (uint64, bool)) (string, store.Expected, *rpcError) {
	name := string(o.GetStreamIdentifier().GetStreamName())
	if name == "" {
		return "", store.Expected{}, invalid("stream name is required")
	}
	if r, ok := rev(); ok {
		return name, store.Expected{Kind: store.ExpectRevision, Revision: r}, nil
	}
	exp, ok := expectedFrom(o)
	if !ok {
		return "", store.Expected{}, invalid("expected stream revision is required")
	}
	return name, exp, nil
}

// Delete soft-deletes a stream.
func (ss *streamsService) Delete(ctx context.Context, req *streams.DeleteReq) (*streams.DeleteResp, error) {
	o := req.GetOptions()
	if o == nil {
		return nil, status.Error(codes.InvalidArgument, "options are required")
	}
	name, exp, bad := ss.deleteExpected(o, func() (uint64, bool) {
		r, ok := o.GetExpectedStreamRevision().(*streams.DeleteReq_Options_Revision)
		if ok {
			return r.Revision, true
		}
		return 0, false
	})
	if bad != nil {
		return nil, bad.send(unaryTrailer(ctx))
	}
	pos, err := ss.srv.store.Delete(ctx, name, exp)
	if err != nil {
		return nil, ss.srv.storeError(err).send(unaryTrailer(ctx))
	}
	return &streams.DeleteResp{PositionOption: &streams.DeleteResp_Position_{
		Position: &streams.DeleteResp_Position{CommitPosition: pos, PreparePosition: pos}}}, nil
}

// Tombstone hard-deletes a stream.
func (ss *streamsService) Tombstone(ctx context.Context, req *streams.TombstoneReq) (*streams.TombstoneResp, error) {
	o := req.GetOptions()
	if o == nil {
		return nil, status.Error(codes.InvalidArgument, "options are required")
	}
	name, exp, bad := ss.deleteExpected(o, func() (uint64, bool) {
		r, ok := o.GetExpectedStreamRevision().(*streams.TombstoneReq_Options_Revision)
		if ok {
			return r.Revision, true
		}
		return 0, false
	})
	if bad != nil {
		return nil, bad.send(unaryTrailer(ctx))
	}
	pos, err := ss.srv.store.Tombstone(ctx, name, exp)
	if err != nil {
		return nil, ss.srv.storeError(err).send(unaryTrailer(ctx))
	}
	return &streams.TombstoneResp{PositionOption: &streams.TombstoneResp_Position_{
		Position: &streams.TombstoneResp_Position{CommitPosition: pos, PreparePosition: pos}}}, nil
}
