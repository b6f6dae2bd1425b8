package projections

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestBatchTxCoalescesSets checks that a batch sends only the last SET of a
// key (unless another op wrote the key in between), that rolled-back
// events restore the superseded SETs, and that reads see the latest value.
func TestBatchTxCoalescesSets(t *testing.T) {
	type step func(b *batchTx)
	set := func(k, v string) step { return func(b *batchTx) { b.Set(k, v) } }
	zadd := func(k, m string) step { return func(b *batchTx) { b.ZAdd(k, 1, m) } }
	del := func(k string) step { return func(b *batchTx) { b.Del(k) } }
	sadd := func(k, m string) step { return func(b *batchTx) { b.SAdd(k, m) } }
	tests := []struct {
		name     string
		kept     []step // committed part of the batch
		rolled   []step // an event's writes, rolled back
		want     []any
		wantNops int
	}{
		{"last set wins", []step{set("a", "1"), set("b", "x"), set("a", "2"), set("a", "3")}, nil,
			[]any{"SET", "2", "p:b", "x", "SET", "2", "p:a", "3"}, 2},
		{"zadd between keeps both sets", []step{set("a", "1"), zadd("a", "m"), set("a", "2")}, nil,
			[]any{"SET", "2", "p:a", "1", "ZADD", "3", "p:a", "1", "m", "SET", "2", "p:a", "2"}, 3},
		{"del between keeps both sets", []step{set("a", "1"), del("a"), set("a", "2"), set("a", "3")}, nil,
			[]any{"SET", "2", "p:a", "1", "DEL", "1", "p:a", "SET", "2", "p:a", "3"}, 3},
		{"sadd on another key", []step{set("a", "1"), sadd("s", "m"), set("a", "2")}, nil,
			[]any{"SADD", "2", "p:s", "m", "SET", "2", "p:a", "2"}, 2},
		{"rollback revives the superseded set", []step{set("a", "1"), set("b", "x")}, []step{set("a", "2"), set("a", "3"), zadd("b", "m")},
			[]any{"SET", "2", "p:a", "1", "SET", "2", "p:b", "x"}, 2},
		{"set after rollback supersedes again", []step{set("a", "1")}, []step{set("a", "2"), del("a")},
			[]any{"SET", "2", "p:a", "1"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBatchTx(nil, "p:", newValueCache())
			b.cache.complete = true
			for _, s := range tt.kept {
				s(b)
			}
			m := b.mark()
			for _, s := range tt.rolled {
				s(b)
			}
			b.rollback(m)
			if diff := cmp.Diff(tt.want, b.args(nil)); diff != "" {
				t.Errorf("ops (-want +got):\n%s", diff)
			}
			if b.nops != tt.wantNops {
				t.Errorf("nops = %d, want %d", b.nops, tt.wantNops)
			}
		})
	}
	t.Run("after rollback a new set supersedes the kept one", func(t *testing.T) {
		b := newBatchTx(nil, "p:", newValueCache())
		b.cache.complete = true
		b.Set("a", "1")
		m := b.mark()
		b.Set("a", "2")
		b.rollback(m)
		if v, ok, err := b.Get(context.Background(), "a"); err != nil || !ok || v != "1" {
			t.Fatalf("Get after rollback = %q %v %v, want 1", v, ok, err)
		}
		b.Set("a", "3")
		if diff := cmp.Diff([]any{"SET", "2", "p:a", "3"}, b.args(nil)); diff != "" {
			t.Errorf("ops (-want +got):\n%s", diff)
		}
	})
}

// TestValueCacheKeepsCompletenessWhenDropped checks that a fresh build's
// cache still knows which keys were never written after its values are
// dropped for size: written keys always go to Redis, most unwritten ones
// do not.
func TestValueCacheKeepsCompletenessWhenDropped(t *testing.T) {
	c := newValueCache()
	c.complete = true
	big := strings.Repeat("x", 1<<20)
	var written []string
	for i := range 40 { // 40 MiB of values: past cacheLimit, so dropped
		k := "doc:" + strconv.Itoa(i)
		c.put(k, cached{val: big, ok: true})
		written = append(written, k)
	}
	for i := range 20_000 {
		k := "small:" + strconv.Itoa(i)
		c.put(k, cached{val: "v", ok: true})
		written = append(written, k)
	}
	if c.bytes > cacheLimit+len(big)+100 {
		t.Fatalf("cache holds %d bytes, limit %d", c.bytes, cacheLimit)
	}
	for _, k := range written {
		if c.missing(k) {
			t.Fatalf("written key %s reported missing", k)
		}
	}
	fp := 0
	for i := range 20_000 {
		if !c.missing("never:" + strconv.Itoa(i)) {
			fp++
		}
	}
	if fp > 200 {
		t.Errorf("%d of 20000 unwritten keys not known missing (false positives), want ≤ 1%%", fp)
	}
	if inc := newValueCache(); inc.missing("x") {
		t.Error("an incomplete cache reported a key missing")
	}
}

// countingDoc is a Doc that counts its encodings.
type countingDoc struct {
	s string
	n *int
}

func (d countingDoc) AppendJSON(dst []byte) ([]byte, error) {
	*d.n++
	return strconv.AppendQuote(dst, d.s), nil
}

// TestBatchTxDocs checks the DocTx side of a batch: a document stored with
// SetDoc is handed back by Doc (this batch and, after the commit, the
// next), encoded once however often it is replaced or read, superseded
// documents never encoded, and rollbacks and plain writes restore or
// replace it.
func TestBatchTxDocs(t *testing.T) {
	ctx := context.Background()
	n := 0
	doc := func(s string) countingDoc { return countingDoc{s: s, n: &n} }
	c := newValueCache()
	c.complete = true
	b := newBatchTx(nil, "p:", c)
	for i := range 100 {
		b.SetDoc("hot", doc("v"+strconv.Itoa(i)))
	}
	if d, ok := b.Doc("hot"); !ok || d.(countingDoc).s != "v99" {
		t.Fatalf("Doc(hot) = %v, %v; want v99", d, ok)
	}
	if n != 0 {
		t.Fatalf("%d encodings before anything needed one", n)
	}
	m := b.mark()
	b.SetDoc("hot", doc("rolled back"))
	b.Set("plain", "x")
	b.rollback(m)
	if v, ok, err := b.Get(ctx, "hot"); err != nil || !ok || v != `"v99"` {
		t.Fatalf("Get(hot) = %q %v %v, want the encoding of v99", v, ok, err)
	}
	p, err := b.plan(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]any{{"MSET", "p:hot", `"v99"`}}, p.cmds); diff != "" {
		t.Fatalf("commands (-want +got):\n%s", diff)
	}
	if n != 1 {
		t.Fatalf("%d encodings, want 1 (Get and the commit share it)", n)
	}
	b.committed()
	next := newBatchTx(nil, "p:", c)
	if d, ok := next.Doc("hot"); !ok || d.(countingDoc).s != "v99" {
		t.Fatalf("next batch: Doc(hot) = %v, %v; want the committed v99", d, ok)
	}
	next.Set("hot", "plain now")
	if _, ok := next.Doc("hot"); ok {
		t.Fatal("Doc handed back a document replaced by a plain SET")
	}
	next.SetDoc("gone", doc("x"))
	next.Del("gone")
	if _, ok := next.Doc("gone"); ok {
		t.Fatal("Doc handed back a deleted document")
	}
	if _, ok := next.Doc("never"); ok {
		t.Fatal("Doc invented a document")
	}
}

type failingDoc struct{}

func (failingDoc) AppendJSON([]byte) ([]byte, error) { return nil, errors.New("NaN in a float field") }

// TestBatchTxDocEncodeFailure: a document that cannot be encoded fails the
// commit plan (nothing is sent), and a Get of it is a permanent failure.
func TestBatchTxDocEncodeFailure(t *testing.T) {
	b := newBatchTx(nil, "p:", newValueCache())
	b.SetDoc("bad", failingDoc{})
	if _, _, err := b.Get(context.Background(), "bad"); !errors.Is(err, ErrPermanent) {
		t.Fatalf("Get = %v, want ErrPermanent", err)
	}
	if _, err := b.plan(func(string) string { return "" }); !errors.Is(err, errEncode) || !strings.Contains(err.Error(), "NaN") {
		t.Fatalf("plan = %v, want errEncode naming the cause", err)
	}
}

// args appends the batch's live ops (superseded SETs left out) to dst, as
// name, nargs, args... (documents encoded): what the tests inspect.
func (b *batchTx) args(dst []any) []any {
	for i := 0; i < len(b.ops); {
		n, _ := strconv.Atoi(b.ops[i+1].(string))
		if b.ops[i].(string) != "" {
			for _, a := range b.ops[i : i+2+n] {
				if dv, ok := a.(*docVal); ok {
					a, _ = dv.encode(nil)
				}
				dst = append(dst, a)
			}
		}
		i += 2 + n
	}
	return dst
}
