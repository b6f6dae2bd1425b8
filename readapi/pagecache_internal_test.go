package readapi

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPageCache: a body is handed out only for the version it was kept
// under, the bound holds (least recently used go first), oversized bodies
// and unversioned pages are not kept, and a disabled cache keeps nothing.
func TestPageCache(t *testing.T) {
	type op struct {
		put          bool
		key, version string
		body         string // put: the body; get: the body expected ("" = a miss)
	}
	big := strings.Repeat("x", 200)
	tests := []struct {
		name  string
		limit int
		ops   []op
	}{
		{"same version hits", 4096, []op{
			{put: true, key: "a", version: "1", body: "A1"},
			{key: "a", version: "1", body: "A1"},
			{key: "b", version: "1"},
		}},
		{"another version misses", 4096, []op{
			{put: true, key: "a", version: "1", body: "A1"},
			{key: "a", version: "2"},
			{put: true, key: "a", version: "2", body: "A2"},
			{key: "a", version: "2", body: "A2"},
			{key: "a", version: "1"},
		}},
		{"unversioned is never kept", 4096, []op{
			{put: true, key: "a", version: "", body: "A"},
			{key: "a", version: ""},
		}},
		{"least recently used go first", 8 * (200 + 64 + 2), []op{
			{put: true, key: "a", version: "1", body: big},
			{put: true, key: "b", version: "1", body: big},
			{put: true, key: "c", version: "1", body: big},
			{put: true, key: "d", version: "1", body: big},
			{key: "a", version: "1", body: big}, // a is now the most recent
			{put: true, key: "e", version: "1", body: big},
			{put: true, key: "f", version: "1", body: big},
			{put: true, key: "g", version: "1", body: big},
			{put: true, key: "h", version: "1", body: big},
			{put: true, key: "i", version: "1", body: big}, // over the bound: b goes
			{key: "b", version: "1"},
			{key: "a", version: "1", body: big},
			{key: "i", version: "1", body: big},
		}},
		{"oversized is not kept", 1000, []op{
			{put: true, key: "a", version: "1", body: big},
			{key: "a", version: "1"},
		}},
		{"disabled", -1, []op{
			{put: true, key: "a", version: "1", body: "A1"},
			{key: "a", version: "1"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newPageCache(tt.limit)
			for i, o := range tt.ops {
				if o.put {
					c.put(o.key, o.version, []byte(o.body))
					continue
				}
				b, ok := c.get(o.key, o.version)
				if ok != (o.body != "") || string(b) != o.body {
					t.Errorf("op %d: get(%s, %s) = %q, %v; want %q", i, o.key, o.version, b, ok, o.body)
				}
			}
			total := 0
			for el := c.lru.Front(); el != nil; el = el.Next() {
				total += el.Value.(*pageEntry).bytes()
			}
			if diff := cmp.Diff([]int{total, len(c.pages)}, []int{c.size, c.lru.Len()}); diff != "" || c.size > max(c.max, 0) {
				t.Errorf("accounting (-counted +kept): %s; size %d of %d", diff, c.size, c.max)
			}
		})
	}
}

// TestHeadMemo: a remembered head is the head of exactly that document
// text (a changed document decodes afresh), bad documents are errors every
// time, and the memo stays within its bound.
func TestHeadMemo(t *testing.T) {
	doc := func(owner string, pos int) string {
		return `{"id":"c1","position":"` + strconv.Itoa(pos) + `","registered":true,"name":"Acme","ownerId":"` + owner +
			`","contacts":[{"id":"x","name":"` + strings.Repeat("n", 100) + `"}]}`
	}
	tests := []struct {
		name    string
		doc     string
		want    customerHead
		wantErr bool
	}{
		{"first", doc("sales", 7), customerHead{Registered: true, OwnerID: "sales", Position: 7, Name: "Acme"}, false},
		{"again", doc("sales", 7), customerHead{Registered: true, OwnerID: "sales", Position: 7, Name: "Acme"}, false},
		{"owner changed", doc("sales2", 8), customerHead{Registered: true, OwnerID: "sales2", Position: 8, Name: "Acme"}, false},
		{"first again", doc("sales", 7), customerHead{Registered: true, OwnerID: "sales", Position: 7, Name: "Acme"}, false},
		{"not JSON", `{"registered":tru`, customerHead{}, true},
		{"not JSON again", `{"registered":tru`, customerHead{}, true},
		{"wrong type", `{"registered":"yes"}`, customerHead{}, true},
	}
	for _, limit := range []int{0, 2000, 1 << 20} {
		m := newHeadMemo(limit)
		for _, tt := range tests {
			got, err := m.decode(tt.doc)
			if (err != nil) != tt.wantErr {
				t.Errorf("limit %d, %s: error %v", limit, tt.name, err)
			}
			if diff := cmp.Diff(tt.want, got); !tt.wantErr && diff != "" {
				t.Errorf("limit %d, %s (-want +got):\n%s", limit, tt.name, diff)
			}
			if m.size > m.max {
				t.Errorf("limit %d, %s: %d bytes held", limit, tt.name, m.size)
			}
		}
	}
	m := newHeadMemo(4000)
	for i := range 200 { // many distinct documents: the bound holds
		if _, err := m.decode(doc("o"+strconv.Itoa(i), i)); err != nil || m.size > 4000 {
			t.Fatalf("document %d: %v, %d bytes held", i, err, m.size)
		}
	}
}
