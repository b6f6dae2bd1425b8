package readmodels

import (
	"context"
	"encoding/json"
	"reflect"
	"sync"

	"github.com/crm-es/crm/projections"
)

// docCache spares a projection the JSON decoding of the documents it wrote
// itself: it keeps, per key, the decoded value together with the exact
// string written. A load through the Tx still happens every time, and the
// cached value is used only when the Tx returns that very string, so the
// cache can never change what a handler sees (a rolled-back batch, another
// writer or a rebuild simply miss). A load takes the value out of the
// cache (the handler owns and may modify it); a store puts the value that
// was encoded back. The cache is bounded: when full it is emptied.
//
// A nil *docCache caches nothing.
type docCache struct {
	mu  sync.Mutex
	m   map[string]cachedDoc
	max int
}

type cachedDoc struct {
	raw string
	v   any // a pointer to the decoded value
}

// DefaultCacheEntries bounds each projection's document cache (the hot
// documents are the per-customer ones and the reports; per-order documents
// are not cached).
const DefaultCacheEntries = 20_000

func newDocCache(max int) *docCache {
	return &docCache{m: make(map[string]cachedDoc), max: max}
}

// getDoc loads the JSON document at key into v (a pointer); found is false
// when the key is missing. Invalid JSON is a permanent failure.
func getDoc(ctx context.Context, tx projections.Tx, c *docCache, key string, v any) (found bool, err error) {
	raw, ok, err := tx.Get(ctx, key)
	if err != nil || !ok {
		return false, err
	}
	if c != nil {
		c.mu.Lock()
		d, hit := c.m[key]
		if hit {
			delete(c.m, key)
		}
		c.mu.Unlock()
		if hit && d.raw == raw {
			dst, src := reflect.ValueOf(v), reflect.ValueOf(d.v)
			if dst.Kind() == reflect.Pointer && dst.Type() == src.Type() {
				dst.Elem().Set(src.Elem())
				return true, nil
			}
		}
	}
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		return false, permanent("read model key %s holds invalid JSON: %v", key, err)
	}
	return true, nil
}

// setDoc stores v (a pointer) as a JSON document. The caller must not
// modify *v afterwards.
func setDoc(tx projections.Tx, c *docCache, key string, v any) error {
	var b []byte
	ok := false
	if a, is := v.(jsonAppender); is {
		b, ok = a.appendJSON(make([]byte, 0, 1024))
	}
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			return permanent("encode read model key %s: %v", key, err)
		}
	}
	raw := string(b)
	tx.Set(key, raw)
	if c != nil && reflect.ValueOf(v).Kind() == reflect.Pointer {
		c.mu.Lock()
		if len(c.m) >= c.max {
			clear(c.m)
		}
		c.m[key] = cachedDoc{raw: raw, v: v}
		c.mu.Unlock()
	}
	return nil
}
