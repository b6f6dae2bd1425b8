package server

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"

	"github.com/crm-es/crm/eventstore/server/store"
)

const (
	readPage   = 256 // events per storage read
	liveBuffer = 32  // a live subscription this far behind falls back to catch-up
	maxUint64  = ^uint64(0)
)

// reader carries the per-call read options.
type reader struct {
	srv        *Server
	call       streams.Streams_ReadServer
	structured bool
	resolve    bool
	pool       mem.BufferPool
	// page is the memory of the $all reads: each event is encoded for the
	// wire (sendEvent) before the next page is read.
	page store.Page
}

// Read serves plain reads and subscriptions of one stream or of $all.
func (ss *streamsService) Read(req *streams.ReadReq, call streams.Streams_ReadServer) error {
	o := req.GetOptions()
	if o == nil {
		return status.Error(codes.InvalidArgument, "read options are required")
	}
	if o.GetUuidOption() == nil {
		return status.Error(codes.InvalidArgument, "uuid option is required")
	}
	r := &reader{srv: ss.srv, call: call, structured: o.GetUuidOption().GetStructured() != nil, resolve: o.GetResolveLinks(), pool: mem.DefaultBufferPool()}
	backwards := o.GetReadDirection() == streams.ReadReq_Options_Backwards
	switch c := o.GetCountOption().(type) {
	case *streams.ReadReq_Options_Count:
		switch {
		case o.GetStream() != nil:
			return r.readStream(o.GetStream(), backwards, c.Count)
		case o.GetAll() != nil:
			return r.readAll(o.GetAll(), backwards, c.Count)
		}
	case *streams.ReadReq_Options_Subscription:
		if backwards {
			return status.Error(codes.InvalidArgument, "subscriptions read forwards only")
		}
		switch {
		case o.GetStream() != nil:
			return r.subscribeStream(o.GetStream())
		case o.GetAll() != nil:
			f, err := newFilter(o.GetFilter())
			if err != nil {
				return err
			}
			return r.subscribeAll(o.GetAll(), f)
		}
	}
	return status.Error(codes.InvalidArgument, "read options need a stream or $all and a count or subscription")
}

func (r *reader) sendEvent(e *store.Event) error {
	target, link := e, (*store.Event)(nil)
	if r.resolve && e.Type == "$>" {
		target, link = nil, e
		if t, ok := r.srv.resolveLink(e.Data); ok {
			target = &t
		}
	}
	return r.call.SendMsg(encodeReadEvent(r.pool, target, link, e.Position, r.structured))
}

// window is the readable revision range of a stream under its metadata.
type window struct {
	lo, hi int64 // inclusive; hi = last revision
	minAge int64 // events created before these ticks are hidden (0: none)
}

func (s *Server) window(name string, info store.StreamInfo) window {
	w := window{lo: 0, hi: info.LastRevision}
	maxCount := int64(-1)
	if strings.HasPrefix(name, "$$") {
		maxCount = 1 // metastreams keep only their newest event
	}
	if m := info.Meta; m != nil {
		if m.TruncateBefore != nil && *m.TruncateBefore > w.lo {
			w.lo = *m.TruncateBefore
		}
		if m.MaxCount != nil && *m.MaxCount >= 0 {
			maxCount = *m.MaxCount
		}
		if m.MaxAge != nil && *m.MaxAge > 0 {
			w.minAge = time.Now().Add(-time.Duration(*m.MaxAge)*time.Second).UnixNano() / 100
		}
	}
	if maxCount >= 0 && w.hi-maxCount+1 > w.lo {
		w.lo = w.hi - maxCount + 1
	}
	return w
}

func (w window) visible(e *store.Event) bool {
	return int64(e.Revision) >= w.lo && e.Created >= w.minAge
}

// resolveLink reads the target of a "$>" event ("<revision>@<stream>").
func (s *Server) resolveLink(data []byte) (store.Event, bool) {
	revStr, name, ok := strings.Cut(string(data), "@")
	if !ok {
		return store.Event{}, false
	}
	rev, err := strconv.ParseUint(revStr, 10, 64)
	if err != nil {
		return store.Event{}, false
	}
	info := s.store.Info(name)
	if info.Tombstoned || info.SoftDeleted() || int64(rev) > info.LastRevision {
		return store.Event{}, false
	}
	w := s.window(name, info)
	ps := s.store.StreamPositions(name, rev, rev)
	if len(ps) != 1 {
		return store.Event{}, false
	}
	evs, err := s.store.Read(ps)
	if err != nil || len(evs) != 1 || !w.visible(&evs[0]) {
		return store.Event{}, false
	}
	return evs[0], true
}

func (r *reader) readStream(o *streams.ReadReq_Options_StreamOptions, backwards bool, count uint64) error {
	name := string(o.GetStreamIdentifier().GetStreamName())
	info := r.srv.store.Info(name)
	if info.Tombstoned {
		return streamDeleted(name).send(r.call.SetTrailer)
	}
	if info.LastRevision < 0 || info.SoftDeleted() {
		return r.call.Send(&streams.ReadResp{Content: &streams.ReadResp_StreamNotFound_{StreamNotFound: &streams.ReadResp_StreamNotFound{
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(name)}}}})
	}
	w := r.srv.window(name, info)
	var next int64
	switch ro := o.GetRevisionOption().(type) {
	case *streams.ReadReq_Options_StreamOptions_Revision:
		next = clampRev(ro.Revision)
	case *streams.ReadReq_Options_StreamOptions_End:
		if backwards {
			next = w.hi
		} else {
			next = w.hi + 1
		}
	default: // Start
		next = 0
	}
	sent := uint64(0)
	for sent < count {
		var from, to int64
		if backwards {
			to = min(next, w.hi)
			from = max(to-readPage+1, w.lo)
			if to < from {
				return nil
			}
		} else {
			from = max(next, w.lo)
			if from > w.hi {
				return nil
			}
			to = from + min(readPage-1, w.hi-from)
		}
		evs, err := r.srv.store.Read(r.srv.store.StreamPositions(name, uint64(from), uint64(to)))
		if err != nil {
			return r.srv.storeError(err).send(r.call.SetTrailer)
		}
		for i := range evs {
			e := &evs[i]
			if backwards {
				e = &evs[len(evs)-1-i]
			}
			if !w.visible(e) {
				continue
			}
			if err := r.sendEvent(e); err != nil {
				return err
			}
			if sent++; sent >= count {
				return nil
			}
		}
		if backwards {
			next = from - 1
		} else {
			next = to + 1
		}
	}
	return nil
}

func clampRev(v uint64) int64 {
	if v > uint64(store.DeletedRevision) {
		return store.DeletedRevision
	}
	return int64(v)
}

func (r *reader) readAll(o *streams.ReadReq_Options_AllOptions, backwards bool, count uint64) error {
	head := r.srv.store.Head()
	var next uint64 // forwards: first position to read; backwards: last
	switch ao := o.GetAllOption().(type) {
	case *streams.ReadReq_Options_AllOptions_Position:
		p := ao.Position.GetCommitPosition()
		if backwards {
			if p == 0 {
				return nil
			}
			next = p - 1 // exclusive
		} else {
			next = max(p, 1) // inclusive
		}
	case *streams.ReadReq_Options_AllOptions_End:
		if !backwards {
			return nil
		}
		next = head
	default: // Start
		if backwards {
			return nil
		}
		next = 1
	}
	sent := uint64(0)
	for sent < count {
		var from, to uint64
		if backwards {
			to = min(next, head)
			if to == 0 {
				return nil
			}
			from = 1
			if to > readPage {
				from = to - readPage + 1
			}
		} else {
			from = next
			if from > head {
				return nil
			}
			to = min(from+readPage-1, head)
		}
		if n := to - from + 1; n > count-sent {
			if backwards {
				from = to - (count - sent) + 1
			} else {
				to = from + (count - sent) - 1
			}
		}
		evs, err := r.srv.store.ReadRangeInto(&r.page, from, to)
		if err != nil {
			return r.srv.storeError(err).send(r.call.SetTrailer)
		}
		for i := range evs {
			e := &evs[i]
			if backwards {
				e = &evs[len(evs)-1-i]
			}
			if err := r.sendEvent(e); err != nil {
				return err
			}
			sent++
		}
		if backwards {
			next = from - 1
		} else {
			next = to + 1
		}
	}
	return nil
}

func (r *reader) confirm() error {
	return r.call.Send(&streams.ReadResp{Content: &streams.ReadResp_Confirmation{
		Confirmation: &streams.ReadResp_SubscriptionConfirmation{SubscriptionId: uuid.NewString()}}})
}

func (r *reader) caughtUp() error {
	return r.call.Send(&streams.ReadResp{Content: &streams.ReadResp_CaughtUp_{CaughtUp: &streams.ReadResp_CaughtUp{}}})
}

// wait blocks until the head passes after, the call ends or the server stops.
func (r *reader) wait(after uint64) error {
	ctx := r.call.Context()
	for {
		ch := r.srv.store.Changed()
		if r.srv.store.Head() > after {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-r.srv.quit:
			return status.Error(codes.Unavailable, "server is shutting down")
		}
	}
}

func (r *reader) subscribeStream(o *streams.ReadReq_Options_StreamOptions) error {
	name := string(o.GetStreamIdentifier().GetStreamName())
	st := r.srv.store
	info := st.Info(name)
	if info.Tombstoned {
		return streamDeleted(name).send(r.call.SetTrailer)
	}
	var next int64
	switch ro := o.GetRevisionOption().(type) {
	case *streams.ReadReq_Options_StreamOptions_Revision:
		next = clampRev(ro.Revision) + 1
	case *streams.ReadReq_Options_StreamOptions_End:
		next = info.LastRevision + 1
	default:
		next = 0
	}
	if err := r.confirm(); err != nil {
		return err
	}
	live := false
	for {
		if err := r.call.Context().Err(); err != nil {
			return status.FromContextError(err).Err()
		}
		head := st.Head()
		info := st.Info(name)
		if info.LastRevision >= next {
			if live && info.LastRevision-next+1 > liveBuffer {
				live = false // fell behind: catch up again, then say so
			}
			var w window
			if live {
				w = window{lo: next, hi: info.LastRevision}
			} else {
				w = r.srv.window(name, info)
			}
			from := max(next, w.lo)
			if from > w.hi { // everything up to the end is truncated
				next = w.hi + 1
				continue
			}
			to := from + min(readPage-1, w.hi-from)
			evs, err := st.Read(st.StreamPositions(name, uint64(from), uint64(to)))
			if err != nil {
				return r.srv.storeError(err).send(r.call.SetTrailer)
			}
			for i := range evs {
				if !live && !w.visible(&evs[i]) {
					continue
				}
				if err := r.sendEvent(&evs[i]); err != nil {
					return err
				}
			}
			next = max(to+1, next)
			continue
		}
		if info.Tombstoned {
			if p := st.TombstonePosition(name); p != 0 {
				evs, err := st.Read([]uint64{p})
				if err == nil && len(evs) == 1 {
					if err := r.sendEvent(&evs[0]); err != nil {
						return err
					}
				}
			}
			return streamDeleted(name).send(r.call.SetTrailer)
		}
		if !live {
			if err := r.caughtUp(); err != nil {
				return err
			}
			live = true
		}
		if err := r.wait(head); err != nil {
			return err
		}
	}
}

// filter is a server-side $all subscription filter.
type filter struct {
	byType   bool
	re       *regexp.Regexp
	prefixes []string
	interval uint64 // checkpoint every this many scanned events
}

func newFilter(fo *streams.ReadReq_Options_FilterOptions) (*filter, error) {
	if fo == nil {
		return nil, nil
	}
	f := &filter{}
	var expr *streams.ReadReq_Options_FilterOptions_Expression
	switch {
	case fo.GetEventType() != nil:
		f.byType, expr = true, fo.GetEventType()
	case fo.GetStreamIdentifier() != nil:
		expr = fo.GetStreamIdentifier()
	default:
		return nil, status.Error(codes.InvalidArgument, "filter needs an event type or stream identifier expression")
	}
	if expr.GetRegex() != "" {
		re, err := regexp.Compile(expr.GetRegex())
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, fmt.Sprintf("invalid filter regex %q: %v", expr.GetRegex(), err))
		}
		f.re = re
	} else {
		f.prefixes = expr.GetPrefix()
	}
	window := uint64(32)
	if m, ok := fo.GetWindow().(*streams.ReadReq_Options_FilterOptions_Max); ok && m.Max > 0 {
		window = uint64(m.Max)
	}
	mult := uint64(fo.GetCheckpointIntervalMultiplier())
	if mult == 0 {
		return nil, status.Error(codes.InvalidArgument, "checkpoint interval multiplier must be greater than zero")
	}
	f.interval = window * mult
	return f, nil
}

func (f *filter) match(e *store.Event) bool {
	s := e.Stream
	if f.byType {
		s = e.Type
	}
	if f.re != nil {
		return f.re.MatchString(s)
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func (r *reader) checkpoint(p uint64) error {
	return r.call.Send(&streams.ReadResp{Content: &streams.ReadResp_Checkpoint_{
		Checkpoint: &streams.ReadResp_Checkpoint{CommitPosition: p, PreparePosition: p}}})
}

func (r *reader) subscribeAll(o *streams.ReadReq_Options_AllOptions, f *filter) error {
	st := r.srv.store
	var next uint64
	switch ao := o.GetAllOption().(type) {
	case *streams.ReadReq_Options_AllOptions_Position:
		next = ao.Position.GetCommitPosition() + 1 // exclusive
	case *streams.ReadReq_Options_AllOptions_End:
		next = st.Head() + 1
	default:
		next = 1
	}
	if err := r.confirm(); err != nil {
		return err
	}
	live := false
	var scanned, lastDelivered, lastCheckpoint uint64
	for {
		head := st.Head()
		if next <= head {
			if live && head-next+1 > liveBuffer {
				live = false
			}
			to := min(next+readPage-1, head)
			evs, err := st.ReadRangeInto(&r.page, next, to)
			if err != nil {
				return r.srv.storeError(err).send(r.call.SetTrailer)
			}
			for i := range evs {
				e := &evs[i]
				if f == nil || f.match(e) {
					if err := r.sendEvent(e); err != nil {
						return err
					}
					lastDelivered = e.Position
				}
				if f != nil {
					if scanned++; scanned >= f.interval {
						scanned = 0
						if err := r.checkpoint(e.Position); err != nil {
							return err
						}
						lastCheckpoint = e.Position
					}
				}
			}
			next = to + 1
			continue
		}
		if !live {
			if f != nil && lastDelivered > lastCheckpoint {
				if err := r.checkpoint(lastDelivered); err != nil {
					return err
				}
				lastCheckpoint = lastDelivered
			}
			if err := r.caughtUp(); err != nil {
				return err
			}
			live = true
		}
		if err := r.wait(head); err != nil {
			return err
		}
	}
}
