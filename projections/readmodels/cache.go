package readmodels

import (
	"context"
	"encoding/json"
	"reflect"

	"github.com/crm-es/crm/projections"
)

// docCache holds a projection's decoded documents (see projections.DocCache);
// the values are pointers to the decoded documents.
type docCache = projections.DocCache[any]

// DefaultCacheEntries bounds each projection's document cache (the hot
// documents are the per-customer ones and the reports; per-order documents
// are not cached).
const DefaultCacheEntries = 20_000

func newDocCache(max int) *docCache { return projections.NewDocCache[any](max) }

// getDoc loads the JSON document at key into v (a pointer); found is false
// when the key is missing. Invalid JSON is a permanent failure.
func getDoc(ctx context.Context, tx projections.Tx, c *docCache, key string, v any) (found bool, err error) {
	if dt, ok := tx.(projections.DocTx); ok {
		// The runtime keeps the documents it was given decoded: copy.
		if d, ok := dt.Doc(key); ok {
			if jd, ok := d.(jsonDoc); ok && deepCopyInto(v, jd.v) {
				return true, nil
			}
		}
	}
	raw, ok, err := tx.Get(ctx, key)
	if err != nil || !ok {
		return false, err
	}
	if cached, hit := c.Take(key, raw); hit {
		dst, src := reflect.ValueOf(v), reflect.ValueOf(cached)
		if dst.Kind() == reflect.Pointer && dst.Type() == src.Type() {
			dst.Elem().Set(src.Elem())
			return true, nil
		}
	}
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		return false, permanent("read model key %s holds invalid JSON: %v", key, err)
	}
	return true, nil
}

// setDoc stores v (a pointer) as a JSON document. The caller must not
// modify *v afterwards. A DocTx keeps v itself and encodes it at commit.
func setDoc(tx projections.Tx, c *docCache, key string, v any) error {
	if dt, ok := tx.(projections.DocTx); ok {
		dt.SetDoc(key, jsonDoc{v})
		return nil
	}
	b, err := encodeDoc(v)
	if err != nil {
		return permanent("encode read model key %s: %v", key, err)
	}
	raw := string(b)
	tx.Set(key, raw)
	if reflect.ValueOf(v).Kind() == reflect.Pointer {
		c.Put(key, raw, v)
	}
	return nil
}

// jsonDoc is a document handed to a DocTx: v, encoded as setDoc encodes.
type jsonDoc struct{ v any }

// AppendJSON implements projections.Doc.
func (d jsonDoc) AppendJSON(dst []byte) ([]byte, error) {
	if a, is := d.v.(jsonAppender); is {
		if b, ok := a.appendJSON(dst); ok {
			return b, nil
		}
	}
	b, err := json.Marshal(d.v)
	return append(dst, b...), err
}

// encodeDoc encodes a document: its hand encoder when it has one,
// encoding/json otherwise.
func encodeDoc(v any) ([]byte, error) { return jsonDoc{v}.AppendJSON(make([]byte, 0, 1024)) }
