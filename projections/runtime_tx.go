package projections

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// cacheLimit bounds the per-track cache of committed values (approximate
// bytes); it is dropped when it grows past this.
const cacheLimit = 12 << 20

// valueCache holds committed values of one generation (only its lease
// holder writes them, so they stay valid while the track runs).
type valueCache struct {
	m     map[string]cached
	bytes int
	// complete: the generation was empty when the track started, so every
	// key it holds was written by this track: a key that written (a Bloom
	// filter of every key committed, kept when values are dropped) has
	// never seen is missing, without asking Redis (fresh builds).
	complete bool
	written  bloom
	// types: the keys the track's commits left as sorted sets or sets
	// (bounded), so commits writing them again need not ask their type.
	types map[string]string
}

// typesLimit bounds valueCache.types (it is emptied when full).
const typesLimit = 1 << 16

func newValueCache() *valueCache {
	return &valueCache{m: map[string]cached{}, types: map[string]string{}}
}

// typeOf returns the Redis type of key when the track knows it ("" when
// not): remembered from its commits, or "none" for a key a fresh build
// never wrote.
func (c *valueCache) typeOf(key string) string {
	if t, ok := c.types[key]; ok {
		return t
	}
	if c.missing(key) {
		return "none"
	}
	return ""
}

// committedTypes remembers the types a commit left.
func (c *valueCache) committedTypes(final map[string]string) {
	if len(c.types)+len(final) > typesLimit {
		clear(c.types)
	}
	for k, t := range final {
		if t == "zset" || t == "set" {
			c.types[k] = t
		} else {
			delete(c.types, k)
		}
	}
}

// missing reports whether key is certainly absent from Redis (complete
// caches only; a false answer means "ask Redis").
func (c *valueCache) missing(key string) bool {
	return c.complete && !c.written.mayContain(key)
}

func (c *valueCache) put(k string, v cached) {
	if c.complete {
		c.written.add(k)
	}
	if c.bytes > cacheLimit {
		clear(c.m)
		c.bytes = 0
	}
	old, had := c.m[k]
	if had {
		c.bytes -= old.size()
	} else {
		c.bytes += len(k) + 48
	}
	c.bytes += v.size()
	c.m[k] = v
}

type cached struct {
	val string
	ok  bool
	dv  *docVal // a document stored with SetDoc (val unused then)
}

// value returns the stored string (encoding a document on first use, in
// scratch).
func (c cached) value(scratch *[]byte) (string, error) {
	if c.dv != nil {
		return c.dv.encode(scratch)
	}
	return c.val, nil
}

// size approximates the bytes the entry holds (a decoded document about
// twice its encoding).
func (c cached) size() int {
	if c.dv != nil {
		return 3 * len(c.dv.enc)
	}
	return len(c.val)
}

// docVal is a document stored with SetDoc and its encoding, made once, on
// first need (a Get of the key, or the commit).
type docVal struct {
	doc  Doc
	enc  string
	err  error
	done bool
}

// encode returns the document's encoding, made on the first call in
// scratch (a reusable buffer; nil allocates one) and copied once.
func (d *docVal) encode(scratch *[]byte) (string, error) {
	if !d.done {
		var buf []byte
		if scratch != nil {
			buf = (*scratch)[:0]
		}
		b, err := d.doc.AppendJSON(buf)
		d.enc, d.err, d.done = string(b), err, true
		if scratch != nil {
			*scratch = b[:0]
		}
	}
	return d.enc, d.err
}

// undoEntry restores one overlay key when an event's writes are rolled back.
type undoEntry struct {
	key    string
	prev   cached
	hadOld bool
}

// setUndo restores the SET coalescing state of one key on rollback: its
// previous live SET op (prev, had) and the op the change superseded
// (killed, -1 when none).
type setUndo struct {
	key    string
	prev   int
	had    bool
	killed int
}

// batchTx is the Tx of one batch: writes are buffered (as the commit
// script's flat op list) and mirrored in an overlay so that Get reads the
// batch's own writes; committed values are cached across batches (the lease
// holder is the only writer of its generation's keys).
type batchTx struct {
	rdb     redis.Cmdable
	prefix  string
	cache   *valueCache // committed values; shared by the track's batches
	overlay map[string]cached
	ops     []any // name, nargs, args... per op ("" name: superseded)
	nops    int
	undo    []undoEntry
	parked  []any // JSON entries for the dead-letter list
	// sets: key → index in ops of the last SET of the key when nothing
	// else touched the key since: a later SET supersedes it (hot
	// documents are written once per batch, not once per event).
	sets    map[string]int
	setUndo []setUndo
	scratch []byte   // encoding buffer of documents
	pb      planBufs // buffers of the commit plans
}

var _ DocTx = (*batchTx)(nil)

func newBatchTx(rdb redis.Cmdable, prefix string, cache *valueCache) *batchTx {
	return &batchTx{rdb: rdb, prefix: prefix, cache: cache, overlay: map[string]cached{}, sets: map[string]int{}}
}

// reset empties the batch, keeping its buffers' capacity.
func (b *batchTx) reset() {
	clear(b.ops)
	clear(b.undo)
	clear(b.parked)
	clear(b.setUndo)
	clear(b.overlay)
	clear(b.sets)
	b.ops, b.undo, b.parked, b.setUndo = b.ops[:0], b.undo[:0], b.parked[:0], b.setUndo[:0]
	b.nops = 0
}

func (b *batchTx) empty() bool { return b.nops == 0 && len(b.parked) == 0 }

// touch records that an op other than SET writes key: an earlier SET of
// it may no longer be superseded (the commit plan checks key types in
// op order).
func (b *batchTx) touch(key string) {
	if prev, had := b.sets[key]; had {
		b.setUndo = append(b.setUndo, setUndo{key: key, prev: prev, had: true, killed: -1})
		delete(b.sets, key)
	}
}

// Get implements Tx.
func (b *batchTx) Get(ctx context.Context, key string) (string, bool, error) {
	c, ok := b.overlay[key]
	if !ok {
		c, ok = b.cache.m[key]
	}
	if ok {
		v, err := c.value(&b.scratch)
		if err != nil {
			return "", false, fmt.Errorf("%w: encode read model key %s: %v", ErrPermanent, key, err)
		}
		return v, c.ok, nil
	}
	if b.cache.missing(key) {
		return "", false, nil
	}
	v, err := b.rdb.Get(ctx, b.prefix+key).Result()
	if errors.Is(err, redis.Nil) {
		b.cache.put(key, cached{})
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	b.cache.put(key, cached{val: v, ok: true})
	return v, true, nil
}

func (b *batchTx) remember(key string, c cached) {
	old, had := b.overlay[key]
	b.undo = append(b.undo, undoEntry{key: key, prev: old, hadOld: had})
	b.overlay[key] = c
}

func (b *batchTx) op(name string, args ...string) {
	b.ops = append(b.ops, name, strconv.Itoa(len(args)))
	for _, a := range args {
		b.ops = append(b.ops, a)
	}
	b.nops++
}

// Doc implements DocTx.
func (b *batchTx) Doc(key string) (Doc, bool) {
	c, ok := b.overlay[key]
	if !ok {
		c, ok = b.cache.m[key]
	}
	if !ok || c.dv == nil {
		return nil, false
	}
	return c.dv.doc, true
}

// SetDoc implements DocTx: like Set, with the encoding left to the commit.
func (b *batchTx) SetDoc(key string, doc Doc) {
	dv := &docVal{doc: doc}
	b.set(key, cached{ok: true, dv: dv}, dv)
}

// Set implements Tx. A SET supersedes the batch's earlier SET of the key
// (when nothing else wrote the key in between): only the last is sent.
func (b *batchTx) Set(key, value string) { b.set(key, cached{val: value, ok: true}, value) }

// set records a SET whose value (a string or a *docVal) is v.
func (b *batchTx) set(key string, c cached, v any) {
	b.remember(key, c)
	prev, had := b.sets[key]
	u := setUndo{key: key, prev: prev, had: had, killed: -1}
	if had {
		b.ops[prev] = ""
		b.nops--
		u.killed = prev
	}
	b.setUndo = append(b.setUndo, u)
	b.sets[key] = len(b.ops)
	b.ops = append(b.ops, "SET", "2", b.prefix+key, v)
	b.nops++
}

// Del implements Tx.
func (b *batchTx) Del(keys ...string) {
	if len(keys) == 0 {
		return
	}
	args := make([]string, len(keys))
	for i, k := range keys {
		b.remember(k, cached{})
		b.touch(k)
		args[i] = b.prefix + k
	}
	b.op("DEL", args...)
}

// ZAdd implements Tx.
func (b *batchTx) ZAdd(key string, score float64, member string) {
	b.touch(key)
	b.op("ZADD", b.prefix+key, strconv.FormatFloat(score, 'g', -1, 64), member)
}

// ZRem implements Tx.
func (b *batchTx) ZRem(key string, members ...string) { b.members("ZREM", key, members) }

// SAdd implements Tx.
func (b *batchTx) SAdd(key string, members ...string) { b.members("SADD", key, members) }

// SRem implements Tx.
func (b *batchTx) SRem(key string, members ...string) { b.members("SREM", key, members) }

func (b *batchTx) members(name, key string, members []string) {
	if len(members) == 0 {
		return
	}
	b.touch(key)
	b.op(name, append([]string{b.prefix + key}, members...)...)
}

// txMark is a savepoint: the writes of one event are rolled back when its
// handler fails.
type txMark struct{ ops, nops, undo, parked, setUndo int }

func (b *batchTx) mark() txMark {
	return txMark{ops: len(b.ops), nops: b.nops, undo: len(b.undo), parked: len(b.parked), setUndo: len(b.setUndo)}
}

func (b *batchTx) rollback(m txMark) {
	for i := len(b.undo) - 1; i >= m.undo; i-- {
		u := b.undo[i]
		if u.hadOld {
			b.overlay[u.key] = u.prev
		} else {
			delete(b.overlay, u.key)
		}
	}
	for i := len(b.setUndo) - 1; i >= m.setUndo; i-- {
		u := b.setUndo[i]
		if u.killed >= 0 {
			b.ops[u.killed] = "SET"
		}
		if u.had {
			b.sets[u.key] = u.prev
		} else {
			delete(b.sets, u.key)
		}
	}
	clear(b.ops[m.ops:])
	b.ops, b.nops, b.undo, b.parked = b.ops[:m.ops], m.nops, b.undo[:m.undo], b.parked[:m.parked]
	b.setUndo = b.setUndo[:m.setUndo]
}

// committed moves the overlay into the cache after a successful commit.
func (b *batchTx) committed() {
	for k, v := range b.overlay {
		b.cache.put(k, v)
	}
}
