package readapi

import (
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
