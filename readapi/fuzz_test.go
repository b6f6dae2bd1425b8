package readapi

import (
	"math"
	"strings"
	"testing"
)

// FuzzDecodeCursor: any text decodes to a cursor or an error, never a
// panic; a decoded cursor encodes back to one that decodes the same; an
// encoded cursor decodes to itself.
func FuzzDecodeCursor(f *testing.F) {
	f.Add("", "customers", 0.0, "acme\x00id")
	f.Add(encodeCursor(cursor{List: "timeline", Score: 1.29e12, Member: "00000000000000000042"}), "timeline", 1.5, "m|x")
	f.Add("MXxjdXN0b21lcnN8MHx4", "customers", math.Inf(1), "")
	f.Add("!!!", "orders", -3.25, "a")
	f.Fuzz(func(t *testing.T, s, list string, score float64, member string) {
		if c, err := decodeCursor(s, list); err == nil {
			if c.List != list || c.Member == "" || math.IsNaN(c.Score) {
				t.Fatalf("decoded %q to %+v", s, c)
			}
			again, err := decodeCursor(encodeCursor(c), list)
			if err != nil || again != c {
				t.Fatalf("re-encoded %+v decodes to %+v, %v", c, again, err)
			}
		}
		if member == "" || strings.Contains(list, "|") || math.IsNaN(score) {
			return
		}
		c := cursor{List: list, Score: score, Member: member}
		got, err := decodeCursor(encodeCursor(c), list)
		if len(encodeCursor(c)) > 2048 {
			return
		}
		if err != nil || got != c {
			t.Fatalf("%+v round-trips to %+v, %v", c, got, err)
		}
		if other := list + "x"; !strings.Contains(other, "|") {
			if _, err := decodeCursor(encodeCursor(c), other); err == nil {
				t.Fatalf("a cursor of %q is accepted by %q", list, other)
			}
		}
	})
}
