// Package store is the durable storage engine of the embedded event store: an
// append-only log of CRC-framed commit records in chunk files, an in-memory
// index rebuilt from the log at open, and a single writer goroutine that
// group-commits concurrent appends with one fsync per group.
//
// It implements the KurrentDB write rules (expected revisions, idempotent
// retries, soft delete and recreation, tombstones, stream metadata) so that
// the gRPC layer above only translates. It imports only the standard library
// and google/uuid.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
)

// DeletedRevision is the revision of a tombstone event and the "$tb" value of
// a soft-deleted stream (EventNumber.DeletedStream in KurrentDB).
const DeletedRevision = math.MaxInt64

// ExpectedKind says what an append expects of the stream.
type ExpectedKind int

const (
	ExpectAny ExpectedKind = iota
	ExpectNoStream
	ExpectStreamExists
	ExpectRevision
)

// Expected is an append's expected stream revision.
type Expected struct {
	Kind     ExpectedKind
	Revision uint64 // with ExpectRevision
}

// Proposed is an event to append.
type Proposed struct {
	ID       uuid.UUID
	Type     string
	JSON     bool
	Data     []byte
	Metadata []byte
}

// Event is a stored event.
type Event struct {
	ID       uuid.UUID
	Stream   string
	Revision uint64
	Position uint64
	Type     string
	JSON     bool
	Created  int64 // .NET ticks (100 ns) since the Unix epoch, UTC
	Data     []byte
	Metadata []byte
}

// AppendResult is the outcome of an append that did not fail.
type AppendResult struct {
	// WrongExpectedVersion is set when the expectation did not hold; then
	// Current is the stream's current revision (-1: no stream).
	WrongExpectedVersion bool
	Current              int64
	// On success: the last revision written (or, for an idempotent retry,
	// of the original write; -1 when nothing exists) and the position of
	// that event (0 when nothing was written).
	Revision int64
	Position uint64
}

// StreamDeletedError reports an operation on a tombstoned stream (or on a
// soft-deleted one where KurrentDB refuses it).
type StreamDeletedError struct{ Stream string }

func (e *StreamDeletedError) Error() string {
	return fmt.Sprintf("event stream '%s' is deleted", e.Stream)
}

// WrongExpectedVersionError is returned by Delete and Tombstone.
type WrongExpectedVersionError struct {
	Stream   string
	Expected Expected
	Current  int64
}

func (e *WrongExpectedVersionError) Error() string {
	return fmt.Sprintf("wrong expected version for stream '%s': current %d", e.Stream, e.Current)
}

// ErrClosed is returned after Close; ErrFailed wraps a write or fsync failure
// after which the store refuses writes until reopened.
var (
	ErrClosed = errors.New("event store closed")
	ErrFailed = errors.New("event store failed")
)

// Options configure a Store.
type Options struct {
	Logger *slog.Logger
	// ChunkSize is the size after which a new chunk file starts (default 256 MiB).
	ChunkSize int64
	// Now returns the current time (default time.Now); tests inject a clock.
	Now func() time.Time
}

// Meta is a stream's parsed metadata.
type Meta struct {
	TruncateBefore *int64 // $tb
	MaxCount       *int64 // $maxCount
	MaxAge         *int64 // $maxAge, seconds
	Raw            []byte
}

type loc struct {
	chunk uint32
	off   uint32
	n     uint32
}

type stream struct {
	positions []uint64
	ids       []uuid.UUID
	tombPos   uint64  // position of the $streamDeleted event, 0 if none
	metas     []*Meta // for "$$X" streams: parsed metadata per revision
}

func (st *stream) cur() int64 { return int64(len(st.positions)) - 1 }

// Store is an open event log.
type Store struct {
	dir    string
	log    *slog.Logger
	now    func() time.Time
	chunkN int64

	lockFile *os.File

	mu      sync.RWMutex // guards streams, locs, chunks
	streams map[string]*stream
	locs    []loc // index = position-1
	chunks  []*os.File

	visible atomic.Uint64 // highest durable, readable position

	notifyMu sync.Mutex
	notifyCh chan struct{}

	reqs     chan *writeReq
	closing  chan struct{}
	done     chan struct{}
	failed   atomic.Pointer[error]
	closeMu  sync.Once
	tailSize int64 // size of the last chunk (writer-owned after open)

	fsyncs       atomic.Uint64
	eventsSynced atomic.Uint64
	fsyncEWMA    atomic.Int64 // moving average of a group's write+fsync, ns
}

// Open opens or creates the log in dir, verifying every record. A torn tail
// (the incomplete last record left by a crash, never acknowledged) is moved
// aside into a ".torn" file and logged; any other damage fails with an error
// that names the file and offset.
func Open(dir string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = 256 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("event store: create data dir: %w", err)
	}
	lf, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("event store: %w", err)
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lf.Close()
		return nil, fmt.Errorf("event store: data dir %s is in use by another process (lock %s): %w", dir, lf.Name(), err)
	}
	s := &Store{
		dir:      dir,
		log:      opts.Logger,
		now:      opts.Now,
		chunkN:   opts.ChunkSize,
		lockFile: lf,
		streams:  make(map[string]*stream),
		notifyCh: make(chan struct{}),
		reqs:     make(chan *writeReq, 1024),
		closing:  make(chan struct{}),
		done:     make(chan struct{}),
	}
	if err := s.recover(); err != nil {
		s.closeFiles()
		return nil, err
	}
	go s.writer()
	return s, nil
}

// Close stops the writer after the group in flight and closes the files.
func (s *Store) Close() error {
	s.closeMu.Do(func() {
		close(s.closing)
		<-s.done
		s.closeFiles()
	})
	return nil
}

func (s *Store) closeFiles() {
	s.mu.Lock()
	for _, f := range s.chunks {
		f.Close()
	}
	s.chunks = nil
	s.mu.Unlock()
	if s.lockFile != nil {
		syscall.Flock(int(s.lockFile.Fd()), syscall.LOCK_UN)
		s.lockFile.Close()
	}
}

// Head returns the highest readable position (0: empty log).
func (s *Store) Head() uint64 { return s.visible.Load() }

// Changed returns a channel closed the next time the head moves.
func (s *Store) Changed() <-chan struct{} {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	return s.notifyCh
}

func (s *Store) publish(head uint64) {
	s.visible.Store(head)
	s.notifyMu.Lock()
	close(s.notifyCh)
	s.notifyCh = make(chan struct{})
	s.notifyMu.Unlock()
}

// Stats reports write-path counters.
type Stats struct {
	Fsyncs       uint64
	EventsSynced uint64
}

// Stats returns the fsync counters since open.
func (s *Store) Stats() Stats {
	return Stats{Fsyncs: s.fsyncs.Load(), EventsSynced: s.eventsSynced.Load()}
}

// StreamInfo is what readers need to know about a stream, as of the
// readable head.
type StreamInfo struct {
	LastRevision int64 // -1: no events
	Tombstoned   bool
	Meta         *Meta // latest readable metadata, nil if none
	MetaExists   bool
}

// SoftDeleted reports whether the stream's metadata marks it deleted.
func (i StreamInfo) SoftDeleted() bool {
	return i.Meta != nil && i.Meta.TruncateBefore != nil && *i.Meta.TruncateBefore == DeletedRevision
}

// Info returns the readable state of a stream.
func (s *Store) Info(name string) StreamInfo {
	head := s.visible.Load()
	s.mu.RLock()
	defer s.mu.RUnlock()
	info := StreamInfo{LastRevision: -1}
	if st := s.streams[name]; st != nil {
		info.LastRevision = visibleCount(st.positions, head) - 1
		info.Tombstoned = st.tombPos != 0 && st.tombPos <= head
	}
	if base, ok := strings.CutPrefix(name, "$$"); ok {
		if st := s.streams[base]; st != nil && st.tombPos != 0 && st.tombPos <= head {
			info.Tombstoned = true
		}
		return info
	}
	if ms := s.streams["$$"+name]; ms != nil {
		n := visibleCount(ms.positions, head)
		if n > 0 {
			info.MetaExists = true
			info.Meta = ms.metas[n-1]
		}
	}
	return info
}

// visibleCount returns how many of the ascending positions are ≤ head.
func visibleCount(positions []uint64, head uint64) int64 {
	n := len(positions)
	for n > 0 && positions[n-1] > head {
		n--
	}
	return int64(n)
}

// StreamPositions returns the positions of a stream's readable events with
// revisions in [from, to] (inclusive), ascending.
func (s *Store) StreamPositions(name string, from, to uint64) []uint64 {
	head := s.visible.Load()
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := s.streams[name]
	if st == nil {
		return nil
	}
	n := uint64(visibleCount(st.positions, head))
	if from >= n || from > to {
		return nil
	}
	if to >= n {
		to = n - 1
	}
	return append([]uint64(nil), st.positions[from:to+1]...)
}

// TombstonePosition returns the readable position of a stream's tombstone, or 0.
func (s *Store) TombstonePosition(name string) uint64 {
	head := s.visible.Load()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if st := s.streams[name]; st != nil && st.tombPos != 0 && st.tombPos <= head {
		return st.tombPos
	}
	return 0
}

// ReadRange reads the events with positions in [from, to], ascending.
func (s *Store) ReadRange(from, to uint64) ([]Event, error) {
	return s.readRange(nil, from, to)
}

// Page holds the memory of range reads for a caller that reads page after
// page and is done with a page's events before it reads the next one (the
// $all readers, which encode each event for the wire as they go): its events
// and their Data and Metadata live in memory the next ReadRangeInto reuses.
// The zero Page is ready to use.
type Page struct {
	locs   []loc
	events []Event
	buf    []byte
}

// ReadRangeInto is ReadRange into p: the events it returns (and their Data
// and Metadata) are valid until the next call with p. Reusing the memory
// keeps a long catch-up read from producing garbage at the rate it reads.
func (s *Store) ReadRangeInto(p *Page, from, to uint64) ([]Event, error) {
	return s.readRange(p, from, to)
}

// readRange reads [from, to] into p, or into memory of its own when p is nil.
func (s *Store) readRange(p *Page, from, to uint64) ([]Event, error) {
	if head := s.visible.Load(); to > head {
		to = head
	}
	if from == 0 {
		from = 1
	}
	if from > to {
		return nil, nil
	}
	s.mu.RLock()
	if to > uint64(len(s.locs)) {
		s.mu.RUnlock()
		return nil, fmt.Errorf("event store: position %d out of range", to)
	}
	var locs []loc
	if p != nil {
		locs = p.locs[:0]
	}
	locs = append(locs, s.locs[from-1:to]...)
	files := s.chunks
	s.mu.RUnlock()
	if files == nil {
		return nil, ErrClosed
	}
	if p == nil {
		return s.readLocs(files, locs, make([]Event, 0, len(locs)), nil)
	}
	p.locs = locs
	evs, err := s.readLocs(files, locs, p.events[:0], &p.buf)
	if err == nil {
		p.events = evs
	}
	return evs, err
}

// Read reads the events at the given positions (each ≤ Head), in the given order.
func (s *Store) Read(positions []uint64) ([]Event, error) {
	if len(positions) == 0 {
		return nil, nil
	}
	s.mu.RLock()
	locs := make([]loc, len(positions))
	for i, p := range positions {
		if p == 0 || p > uint64(len(s.locs)) {
			s.mu.RUnlock()
			return nil, fmt.Errorf("event store: position %d out of range", p)
		}
		locs[i] = s.locs[p-1]
	}
	files := s.chunks
	s.mu.RUnlock()
	if files == nil {
		return nil, ErrClosed
	}
	return s.readLocs(files, locs, make([]Event, 0, len(positions)), nil)
}

// readLocs reads and decodes the events at locs, appending them to out.
// Runs of events in one chunk whose bytes lie close together are read
// with one read, into memory of their own, or, when buf is not nil, into
// *buf (grown as needed), which the events then alias.
func (s *Store) readLocs(files []*os.File, locs []loc, out []Event, buf *[]byte) ([]Event, error) {
	if buf != nil {
		*buf = (*buf)[:0]
	}
	for i := 0; i < len(locs); {
		j := i + 1
		start, end := int64(locs[i].off), int64(locs[i].off)+int64(locs[i].n)
		for j < len(locs) && locs[j].chunk == locs[i].chunk {
			o, e := int64(locs[j].off), int64(locs[j].off)+int64(locs[j].n)
			if o < end || o-end > 64 || e-start > 1<<20 {
				break
			}
			end = e
			j++
		}
		var b []byte
		if buf == nil {
			b = make([]byte, end-start)
		} else {
			// Earlier events of this read alias *buf: a buffer that must
			// grow moves to new memory and leaves them where they are.
			n := len(*buf)
			if cap(*buf)-n < int(end-start) {
				*buf = make([]byte, 0, max(2*cap(*buf), n+int(end-start), 1<<20))
				n = 0
			}
			*buf = (*buf)[:n+int(end-start)]
			b = (*buf)[n:]
		}
		if _, err := files[locs[i].chunk].ReadAt(b, start); err != nil {
			return nil, fmt.Errorf("event store: read %s at %d: %w", chunkName(int(locs[i].chunk)), start, err)
		}
		for k := i; k < j; k++ {
			o := int64(locs[k].off) - start
			e, err := decodeEvent(b[o : o+int64(locs[k].n)])
			if err != nil {
				return nil, fmt.Errorf("event store: decode %s at %d: %w", chunkName(int(locs[k].chunk)), locs[k].off, err)
			}
			out = append(out, e)
		}
		i = j
	}
	return out, nil
}

func chunkName(n int) string { return fmt.Sprintf("chunk-%06d.log", n) }

// parseMeta parses stream metadata; invalid JSON gives empty metadata.
func parseMeta(typ string, isJSON bool, data []byte) *Meta {
	m := &Meta{Raw: append([]byte(nil), data...)}
	if typ != "$metadata" || !isJSON {
		return m
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal(data, &raw) != nil {
		return m
	}
	num := func(key string) *int64 {
		v, ok := raw[key]
		if !ok {
			return nil
		}
		var n json.Number
		if json.Unmarshal(v, &n) != nil {
			return nil
		}
		i, err := n.Int64()
		if err != nil {
			return nil
		}
		return &i
	}
	m.TruncateBefore = num("$tb")
	m.MaxCount = num("$maxCount")
	m.MaxAge = num("$maxAge")
	return m
}

// ticks converts a time to .NET ticks since the Unix epoch.
func ticks(t time.Time) int64 { return t.UnixNano() / 100 }

// Wait blocks until the head passes after or ctx ends.
func (s *Store) Wait(ctx context.Context, after uint64) error {
	for {
		ch := s.Changed()
		if s.Head() > after {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closing:
			return ErrClosed
		}
	}
}

// Closing returns a channel closed when the store starts closing.
func (s *Store) Closing() <-chan struct{} { return s.closing }
