package projections

import "sync"

// DocCache keeps decoded read-model documents of a projection beside the
// exact string that was written for them, so a handler can skip decoding a
// document it wrote itself. A cached value is handed out only when the Tx
// returns that very string, so the cache never changes what a handler sees
// (a rolled-back batch, another writer or a rebuild simply miss). Take takes
// the value out (the handler then owns and may modify it); Put puts the value
// that was encoded back. It is bounded: when full it is emptied. It is safe
// for concurrent use; a nil *DocCache caches nothing.
type DocCache[T any] struct {
	mu  sync.Mutex
	m   map[string]docEntry[T]
	max int
}

type docEntry[T any] struct {
	raw string
	v   T
}

// NewDocCache returns a cache of at most max entries.
func NewDocCache[T any](max int) *DocCache[T] {
	return &DocCache[T]{m: make(map[string]docEntry[T]), max: max}
}

// Take removes key's entry and returns its value when it was cached for
// exactly raw.
func (c *DocCache[T]) Take(key, raw string) (v T, ok bool) {
	if c == nil {
		return v, false
	}
	c.mu.Lock()
	e, hit := c.m[key]
	if hit {
		delete(c.m, key)
	}
	c.mu.Unlock()
	if !hit || e.raw != raw {
		return v, false
	}
	return e.v, true
}

// Put caches v as the decoded form of raw, the string written at key.
func (c *DocCache[T]) Put(key, raw string, v T) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[key] = docEntry[T]{raw: raw, v: v}
	c.mu.Unlock()
}

// Len returns the number of cached entries.
func (c *DocCache[T]) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
