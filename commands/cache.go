package commands

import (
	"container/list"
	"context"
	"sync"

	"github.com/crm-es/crm/eventstore"
	"github.com/google/uuid"
)

// DefaultCacheStreams is how many streams' decoded histories a Handlers
// keeps by default.
const DefaultCacheStreams = 4096

// maxCachedEvents: longer streams are not cached (they are re-read by every
// command), which bounds the cache's memory.
const maxCachedEvents = 20000

// streamState is what a command needs of a stream: its last revision, its
// decoded events, and enough of the stored ones to recognise an already
// recorded command and answer its result.
type streamState struct {
	rev     int64
	history []any
	// ids maps every event id to its revision; positions holds the $all
	// position of each revision (0 when unknown: only the last event of a
	// batch this process appended is known, which is all a result needs).
	ids       map[uuid.UUID]int64
	positions []uint64
	// lastHash is the last event's hash ("" = unknown: Append reads it).
	lastHash string
	// fresh: loaded from the store for the current command. A state from
	// the cache may be stale when another process wrote the stream: only
	// the append (checked by its expected revision) may rely on it; errors,
	// no-ops and If-Match mismatches are re-checked on a fresh load.
	fresh bool
}

func (s *streamState) lastPosition() uint64 {
	if s.rev < 0 || int(s.rev) >= len(s.positions) {
		return 0
	}
	return s.positions[s.rev]
}

// find returns the revision and position of the last event of the command
// whose events have the ids EventID(key, 0), EventID(key, 1), ...
func (s *streamState) find(key string) (int64, uint64, bool) {
	first, ok := s.ids[eventstore.EventID(key, 0)]
	if !ok {
		return 0, 0, false
	}
	last := first
	for j := 1; ; j++ {
		r, ok := s.ids[eventstore.EventID(key, j)]
		if !ok || r != first+int64(j) {
			break
		}
		last = r
	}
	return last, s.positions[last], true
}

// load reads and decodes a whole stream.
func (c *core) load(ctx context.Context, stream, what string) (*streamState, error) {
	recorded, rev, err := c.store.LoadStream(ctx, stream)
	if err != nil {
		return nil, storeError(err, what)
	}
	history, err := c.decodeAll(recorded)
	if err != nil {
		return nil, err
	}
	st := &streamState{rev: rev, history: history, ids: make(map[uuid.UUID]int64, len(recorded)),
		positions: make([]uint64, rev+1), fresh: true}
	for _, ev := range recorded {
		if int64(ev.Revision) <= rev {
			st.ids[ev.EventID] = int64(ev.Revision)
			st.positions[ev.Revision] = ev.Position
		}
	}
	if n := len(recorded); n > 0 {
		if last := recorded[n-1]; last.MetadataErr == nil && validHash(last.Metadata.Hash) {
			st.lastHash = last.Metadata.Hash
		}
	}
	return st, nil
}

// extend adds a batch this process appended; false when the store's answer
// does not fit (the state is then dropped rather than trusted).
func (c *core) extend(st *streamState, pending []eventstore.Pending, ar eventstore.AppendResult) bool {
	if int64(ar.Revision) != st.rev+int64(len(pending)) {
		return false
	}
	for i, p := range pending {
		// Decode the stored bytes, so the cached history is exactly what a
		// fresh load would give.
		v, err := c.codec.Decode(p.Type, p.Metadata.SchemaVersion, p.Data)
		if err != nil {
			return false
		}
		st.history = append(st.history, v)
		rev := st.rev + 1 + int64(i)
		st.ids[eventstore.EventID(p.IdempotencyKey, i)] = rev
		st.positions = append(st.positions, 0)
	}
	st.rev = int64(ar.Revision)
	st.positions[st.rev] = ar.Position
	st.lastHash = ""
	return true
}

// stateCache keeps the states of recently used streams (LRU). Entries are
// read and changed only by the holder of the stream's lock.
type stateCache struct {
	mu  sync.Mutex
	max int
	m   map[string]*list.Element
	lru list.List // of *cacheEntry, most recent first
}

type cacheEntry struct {
	stream string
	st     *streamState
}

func newStateCache(max int) *stateCache {
	return &stateCache{max: max, m: map[string]*list.Element{}}
}

func (c *stateCache) get(stream string) *streamState {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[stream]
	if !ok {
		return nil
	}
	c.lru.MoveToFront(el)
	st := el.Value.(*cacheEntry).st
	st.fresh = false
	return st
}

func (c *stateCache) put(stream string, st *streamState) {
	if c == nil || st.rev < 0 {
		return
	}
	if len(st.positions) > maxCachedEvents {
		c.drop(stream)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[stream]; ok {
		el.Value.(*cacheEntry).st = st
		c.lru.MoveToFront(el)
		return
	}
	c.m[stream] = c.lru.PushFront(&cacheEntry{stream: stream, st: st})
	for c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.m, old.Value.(*cacheEntry).stream)
	}
}

func (c *stateCache) drop(stream string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[stream]; ok {
		c.lru.Remove(el)
		delete(c.m, stream)
	}
}
