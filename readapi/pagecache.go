package readapi

import (
	"container/list"
	"encoding/json"
	"sync"
)

// DefaultPageCacheBytes bounds the rendered page bodies a query API keeps
// (see Config.PageCacheBytes).
const DefaultPageCacheBytes = 32 << 20

// pageCache keeps rendered page bodies in memory, each under the page it
// renders (endpoint and parameters) together with the version of the data
// it was rendered from. A body is handed out only to a request that read
// the same version, so a change of the data (a new version) is never
// answered with an older body. Versions must be read before the data a
// body is rendered from: a body is then never older than its version says.
//
// It is bounded by the total bytes of keys and bodies; the least recently
// used entries go first. Safe for concurrent use.
type pageCache struct {
	mu    sync.Mutex
	max   int // bytes; 0 = disabled
	size  int
	lru   *list.List // of *pageEntry, most recently used first
	pages map[string]*list.Element
}

type pageEntry struct {
	key, version string
	body         []byte
}

func (e *pageEntry) bytes() int { return len(e.key) + len(e.version) + len(e.body) + 64 }

// newPageCache returns a cache of at most limit bytes (limit <= 0: disabled).
func newPageCache(limit int) *pageCache {
	return &pageCache{max: max(limit, 0), lru: list.New(), pages: map[string]*list.Element{}}
}

// get returns the body of page key rendered at version, if kept. The body
// is shared: callers must not modify it.
func (c *pageCache) get(key, version string) ([]byte, bool) {
	if c.max == 0 || version == "" {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.pages[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*pageEntry)
	if e.version != version {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return e.body, true
}

// put keeps body as page key rendered at version, replacing whatever the
// page held (a body of another version is never served again anyway). A
// body larger than an eighth of the bound is not kept.
func (c *pageCache) put(key, version string, body []byte) {
	if c.max == 0 || version == "" {
		return
	}
	e := &pageEntry{key: key, version: version, body: body}
	if e.bytes() > c.max/8 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.pages[key]; ok {
		c.size -= el.Value.(*pageEntry).bytes()
		c.lru.Remove(el)
	}
	c.pages[key] = c.lru.PushFront(e)
	c.size += e.bytes()
	for c.size > c.max {
		old := c.lru.Back()
		oe := old.Value.(*pageEntry)
		c.lru.Remove(old)
		delete(c.pages, oe.key)
		c.size -= oe.bytes()
	}
}

// headMemo remembers the customerHead decoded from a customer document,
// keyed by the document's exact text: the same text always decodes to the
// same head, so an entry never goes stale, and a changed document is a new
// key. It saves decoding a whole customer document (contacts, KPIs) on
// every customer 360, timeline and orders request. Bounded by the bytes of
// the texts it holds; when full it starts over. Safe for concurrent use.
type headMemo struct {
	mu    sync.Mutex
	max   int // bytes; 0 = disabled
	size  int
	heads map[string]customerHead
}

// DefaultHeadMemoBytes bounds the customer documents whose decoded head a
// query API remembers.
const DefaultHeadMemoBytes = 8 << 20

func newHeadMemo(limit int) *headMemo {
	return &headMemo{max: max(limit, 0), heads: map[string]customerHead{}}
}

// decode returns the head of the customer document doc.
func (m *headMemo) decode(doc string) (customerHead, error) {
	if m.max > 0 {
		m.mu.Lock()
		h, ok := m.heads[doc]
		m.mu.Unlock()
		if ok {
			return h, nil
		}
	}
	var h customerHead
	if err := json.Unmarshal([]byte(doc), &h); err != nil {
		return h, err
	}
	if n := len(doc) + len(h.OwnerID) + len(h.Name) + 64; m.max > 0 && n <= m.max/8 {
		m.mu.Lock()
		if m.size+n > m.max {
			clear(m.heads)
			m.size = 0
		}
		if _, ok := m.heads[doc]; !ok {
			m.heads[doc] = h
			m.size += n
		}
		m.mu.Unlock()
	}
	return h, nil
}
