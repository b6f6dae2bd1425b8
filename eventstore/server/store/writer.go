package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
)

type opKind int

const (
	opAppend opKind = iota
	opDelete
	opTombstone
)

type writeReq struct {
	op     opKind
	stream string
	exp    Expected
	events []Proposed
	resp   chan writeResp
}

type writeResp struct {
	res AppendResult
	err error
}

// Group limits: one fsync covers at most this many requests or bytes.
const (
	maxGroupRequests = 4096
	maxGroupBytes    = 32 << 20
	// idempotencySearch bounds how far back an Any/StreamExists append looks
	// for its first event id (KurrentDB bounds this too; see the protocol
	// reference §4.2 step 3).
	idempotencySearch = 1 << 18
)

// Append appends events to a stream atomically, following KurrentDB's
// expected-revision and idempotency rules. It returns after the events are
// durable (fsynced) and readable.
func (s *Store) Append(ctx context.Context, stream string, exp Expected, events []Proposed) (AppendResult, error) {
	r, err := s.submit(ctx, &writeReq{op: opAppend, stream: stream, exp: exp, events: events})
	return r.res, err
}

// Delete soft-deletes a stream and returns the position of the metadata
// event written.
func (s *Store) Delete(ctx context.Context, stream string, exp Expected) (uint64, error) {
	r, err := s.submit(ctx, &writeReq{op: opDelete, stream: stream, exp: exp})
	return r.res.Position, err
}

// Tombstone hard-deletes a stream forever and returns the tombstone's position.
func (s *Store) Tombstone(ctx context.Context, stream string, exp Expected) (uint64, error) {
	r, err := s.submit(ctx, &writeReq{op: opTombstone, stream: stream, exp: exp})
	return r.res.Position, err
}

func (s *Store) submit(ctx context.Context, r *writeReq) (writeResp, error) {
	if p := s.failed.Load(); p != nil {
		return writeResp{}, fmt.Errorf("%w: %v", ErrFailed, *p)
	}
	r.resp = make(chan writeResp, 1)
	select {
	case s.reqs <- r:
	case <-s.closing:
		return writeResp{}, ErrClosed
	case <-ctx.Done():
		return writeResp{}, ctx.Err()
	}
	// Once queued, the write is decided and made durable whatever the
	// caller does; wait for the outcome so a reply never lies.
	select {
	case resp := <-r.resp:
		return resp, resp.err
	case <-s.done:
		select {
		case resp := <-r.resp:
			return resp, resp.err
		default:
			return writeResp{}, ErrClosed
		}
	}
}

func (s *Store) writer() {
	defer close(s.done)
	var recent groupSizes
	for {
		var first *writeReq
		select {
		case first = <-s.reqs:
		case <-s.closing:
			for {
				select {
				case r := <-s.reqs:
					r.resp <- writeResp{err: ErrClosed}
				default:
					return
				}
			}
		}
		group := []*writeReq{first}
		size := reqSize(first)
		take := func(r *writeReq) {
			group = append(group, r)
			size += reqSize(r)
		}
	drain:
		for len(group) < maxGroupRequests && size < maxGroupBytes {
			select {
			case r := <-s.reqs:
				take(r)
			default:
				break drain
			}
		}
		// Commit delay (as PostgreSQL's commit_delay/commit_siblings): when
		// recent groups were larger, other writers are busy turning their
		// last reply into their next append; wait up to half an fsync time
		// for them so one fsync covers them too. A lone writer never waits.
		if want := recent.want(); len(group) < want && size < maxGroupBytes {
			timer := time.NewTimer(min(s.fsyncAvg()/2, maxCommitDelay))
		wait:
			for len(group) < want && size < maxGroupBytes {
				select {
				case r := <-s.reqs:
					take(r)
				case <-timer.C:
					break wait
				case <-s.closing:
					break wait
				}
			}
			timer.Stop()
		}
		recent.add(len(group))
		start := time.Now()
		if s.commitGroup(group) {
			s.noteFsync(time.Since(start))
		}
	}
}

// maxCommitDelay bounds how long a group waits for more writers.
const maxCommitDelay = time.Millisecond

// groupSizes remembers the sizes of the last groups.
type groupSizes struct {
	sizes [16]int
	next  int
}

func (g *groupSizes) add(n int) {
	g.sizes[g.next%len(g.sizes)] = n
	g.next++
}

// want is how many requests a group should wait for: none beyond what is
// queued while writers are alone, else somewhat more than the recent
// largest group, so the group size can grow toward the number of writers.
func (g *groupSizes) want() int {
	m := 0
	for _, n := range g.sizes {
		m = max(m, n)
	}
	if m <= 1 {
		return 0
	}
	return m + m/2
}

// noteFsync folds one group's write+fsync time into a moving average.
func (s *Store) noteFsync(d time.Duration) {
	old := time.Duration(s.fsyncEWMA.Load())
	if old == 0 {
		old = d
	}
	s.fsyncEWMA.Store(int64(old + (d-old)/8))
}

func (s *Store) fsyncAvg() time.Duration { return time.Duration(s.fsyncEWMA.Load()) }

func reqSize(r *writeReq) int {
	n := 64
	for i := range r.events {
		n += len(r.events[i].Data) + len(r.events[i].Metadata) + 64
	}
	return n
}

// commitGroup decides every request of the group against the in-memory
// state (which then includes the group's earlier decisions), writes all the
// resulting records with one write and one fdatasync, and only then makes
// them readable and replies.
func (s *Store) commitGroup(group []*writeReq) (synced bool) {
	resps := make([]writeResp, len(group))
	if p := s.failed.Load(); p != nil {
		for i := range group {
			group[i].resp <- writeResp{err: fmt.Errorf("%w: %v", ErrFailed, *p)}
		}
		return false
	}
	if s.tailSize >= s.chunkN {
		if err := s.rotate(); err != nil {
			s.fail(err, group)
			return
		}
	}
	now := ticks(s.now())
	var buf []byte
	written := 0
	s.mu.Lock()
	chunk := uint32(len(s.chunks) - 1)
	for i, r := range group {
		resp, events := s.decide(r, now)
		resps[i] = resp
		if len(events) == 0 {
			continue
		}
		recStart := s.tailSize + int64(len(buf))
		payload := binary.AppendUvarint(nil, uint64(len(events)))
		offs := make([]int, len(events))
		lens := make([]int, len(events))
		var ev []byte
		for k := range events {
			ev = encodeEvent(ev[:0], &events[k])
			payload = binary.AppendUvarint(payload, uint64(len(ev)))
			offs[k], lens[k] = len(payload), len(ev)
			payload = append(payload, ev...)
		}
		h := recordFrame(payload)
		buf = append(buf, h[:]...)
		buf = append(buf, payload...)
		for k := range events {
			l := loc{chunk: chunk, off: uint32(recStart + recordHeader + int64(offs[k])), n: uint32(lens[k])}
			if err := s.indexEvent(&events[k], l); err != nil {
				// decide never produces such an event; refuse to go on.
				s.mu.Unlock()
				s.fail(fmt.Errorf("index: %w", err), group)
				return
			}
		}
		written += len(events)
	}
	head := uint64(len(s.locs))
	f := s.chunks[chunk]
	s.mu.Unlock()

	if len(buf) > 0 {
		if _, err := f.WriteAt(buf, s.tailSize); err != nil {
			s.fail(fmt.Errorf("write %s: %w", f.Name(), err), group)
			return
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			s.fail(fmt.Errorf("fdatasync %s: %w", f.Name(), err), group)
			return
		}
		s.tailSize += int64(len(buf))
		s.fsyncs.Add(1)
		s.eventsSynced.Add(uint64(written))
		s.publish(head)
		synced = true
	}
	for i, r := range group {
		r.resp <- resps[i]
	}
	return synced
}

// fail marks the store failed: the in-memory index may now be ahead of the
// disk, but nothing past the readable head is ever shown, and every later
// write is refused until the store is reopened from the log.
func (s *Store) fail(err error, group []*writeReq) {
	s.failed.CompareAndSwap(nil, &err)
	s.log.Error("event store write failed; refusing writes until restart", "err", err)
	for _, r := range group {
		r.resp <- writeResp{err: fmt.Errorf("%w: %v", ErrFailed, err)}
	}
}

func (s *Store) rotate() error {
	s.mu.RLock()
	n := len(s.chunks)
	s.mu.RUnlock()
	return s.newChunk(n)
}

// tombstoned reports whether name, or the stream whose metastream name is,
// has a tombstone (including undurable ones: the writer's view).
func (s *Store) tombstoned(name string) bool {
	if st := s.streams[name]; st != nil && st.tombPos != 0 {
		return true
	}
	if base, ok := strings.CutPrefix(name, "$$"); ok {
		if st := s.streams[base]; st != nil && st.tombPos != 0 {
			return true
		}
	}
	return false
}

// writerMeta is the newest metadata of a stream in the writer's view.
func (s *Store) writerMeta(name string) (*Meta, bool) {
	if strings.HasPrefix(name, "$$") {
		return nil, false
	}
	ms := s.streams["$$"+name]
	if ms == nil || len(ms.metas) == 0 {
		return nil, false
	}
	return ms.metas[len(ms.metas)-1], true
}

func (s *Store) decide(r *writeReq, now int64) (writeResp, []Event) {
	if s.tombstoned(r.stream) {
		return writeResp{err: &StreamDeletedError{Stream: r.stream}}, nil
	}
	st := s.streams[r.stream]
	cur := int64(-1)
	if st != nil {
		cur = st.cur()
	}
	meta, metaExists := s.writerMeta(r.stream)
	softDeleted := meta != nil && meta.TruncateBefore != nil && *meta.TruncateBefore == DeletedRevision
	exists := cur >= 0 || metaExists

	switch r.op {
	case opDelete:
		if !exists || !expectedHolds(r.exp, cur, exists) {
			return writeResp{err: &WrongExpectedVersionError{Stream: r.stream, Expected: r.exp, Current: cur}}, nil
		}
		ev := s.metaEvent(r.stream, []byte(`{"$tb":9223372036854775807}`), now)
		return writeResp{res: AppendResult{Revision: cur, Position: ev.Position}}, []Event{ev}
	case opTombstone:
		if !expectedHolds(r.exp, cur, exists) {
			return writeResp{err: &WrongExpectedVersionError{Stream: r.stream, Expected: r.exp, Current: cur}}, nil
		}
		ev := Event{
			ID: uuid.New(), Stream: r.stream, Revision: DeletedRevision, Position: uint64(len(s.locs)) + 1,
			Type: "$streamDeleted", Created: now, Data: []byte{}, Metadata: []byte{},
		}
		return writeResp{res: AppendResult{Revision: cur, Position: ev.Position}}, []Event{ev}
	}

	wev := writeResp{res: AppendResult{WrongExpectedVersion: true, Current: cur}}
	ids := make([]uuid.UUID, len(r.events))
	for i := range r.events {
		ids[i] = r.events[i].ID
	}
	// matchFrom reports whether ids equal the stream's ids from revision
	// from on; all must exist.
	matchFrom := func(from int64) bool {
		if st == nil || from < 0 || from+int64(len(ids))-1 > cur {
			return false
		}
		for i, id := range ids {
			if st.ids[from+int64(i)] != id {
				return false
			}
		}
		return true
	}
	idempotent := func(from int64) writeResp {
		last := from + int64(len(ids)) - 1
		return writeResp{res: AppendResult{Revision: last, Position: st.positions[last]}}
	}

	switch r.exp.Kind {
	case ExpectAny, ExpectStreamExists:
		if r.exp.Kind == ExpectStreamExists {
			if softDeleted {
				return writeResp{err: &StreamDeletedError{Stream: r.stream}}, nil
			}
			if !exists {
				return wev, nil
			}
		}
		if len(ids) > 0 && st != nil {
			if at := findID(st.ids, ids[0]); at >= 0 {
				if matchFrom(at) {
					return idempotent(at), nil
				}
				return wev, nil
			}
		}
	case ExpectNoStream, ExpectRevision:
		e := int64(-1)
		if r.exp.Kind == ExpectRevision {
			if r.exp.Revision > math.MaxInt64-1 {
				return wev, nil
			}
			e = int64(r.exp.Revision)
		}
		if e < cur {
			if len(ids) == 0 {
				return wev, nil
			}
			if st.ids[e+1] != ids[0] {
				if !(r.exp.Kind == ExpectNoStream && softDeleted) {
					return wev, nil
				}
				break // recreation of a soft-deleted stream
			}
			if matchFrom(e + 1) {
				return idempotent(e + 1), nil
			}
			return wev, nil
		}
		if e > cur {
			return wev, nil
		}
	}

	// Write at cur+1.
	if len(r.events) == 0 {
		return writeResp{res: AppendResult{Revision: cur}}, nil
	}
	next := uint64(len(s.locs)) + 1
	out := make([]Event, 0, len(r.events)+1)
	for i := range r.events {
		p := &r.events[i]
		out = append(out, Event{
			ID: p.ID, Stream: r.stream, Revision: uint64(cur + 1 + int64(i)), Position: next + uint64(i),
			Type: p.Type, JSON: p.JSON, Created: now, Data: p.Data, Metadata: p.Metadata,
		})
	}
	last := out[len(out)-1]
	if softDeleted {
		// Undelete: keep the metadata but truncate before the new events.
		raw := map[string]json.RawMessage{}
		_ = json.Unmarshal(meta.Raw, &raw)
		raw["$tb"] = json.RawMessage(strconv.FormatInt(cur+1, 10))
		data, _ := json.Marshal(raw)
		ev := s.metaEvent(r.stream, data, now)
		ev.Position = next + uint64(len(out))
		out = append(out, ev)
	}
	return writeResp{res: AppendResult{Revision: int64(last.Revision), Position: last.Position}}, out
}

// metaEvent builds the next $metadata event of name's metastream at the next
// free position (the caller adjusts the position when it writes several).
func (s *Store) metaEvent(name string, data []byte, now int64) Event {
	ms := s.streams["$$"+name]
	rev := uint64(0)
	if ms != nil {
		rev = uint64(len(ms.positions))
	}
	return Event{
		ID: uuid.New(), Stream: "$$" + name, Revision: rev, Position: uint64(len(s.locs)) + 1,
		Type: "$metadata", JSON: true, Created: now, Data: data, Metadata: []byte{},
	}
}

func expectedHolds(exp Expected, cur int64, exists bool) bool {
	switch exp.Kind {
	case ExpectNoStream:
		return cur == -1
	case ExpectStreamExists:
		return exists
	case ExpectRevision:
		return exp.Revision <= math.MaxInt64 && int64(exp.Revision) == cur
	default:
		return true
	}
}

func findID(ids []uuid.UUID, id uuid.UUID) int64 {
	stop := len(ids) - idempotencySearch
	for i := len(ids) - 1; i >= 0 && i >= stop; i-- {
		if ids[i] == id {
			return int64(i)
		}
	}
	return -1
}
