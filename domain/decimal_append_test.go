package domain

import (
	"strconv"
	"strings"
	"testing"
)

// stringRef is the straightforward form of Decimal.String (what Append
// must write).
func stringRef(d Decimal) string {
	neg := d.coef < 0
	var u uint64
	if neg {
		u = uint64(-(d.coef + 1)) + 1
	} else {
		u = uint64(d.coef)
	}
	s := strconv.FormatUint(u, 10)
	if d.scale > 0 {
		sc := int(d.scale)
		if len(s) <= sc {
			s = strings.Repeat("0", sc-len(s)+1) + s
		}
		s = s[:len(s)-sc] + "." + s[len(s)-sc:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

func TestDecimalAppend(t *testing.T) {
	tests := []struct {
		coef  int64
		scale int32
		want  string
	}{
		{0, 0, "0"}, {5, 2, "0.05"}, {-5, 2, "-0.05"}, {1050, 2, "10.50"}, {-9223372036854775808, 0, "-9223372036854775808"},
		{-9223372036854775808, 18, "-9.223372036854775808"}, {123, 3, "0.123"}, {7, 0, "7"},
	}
	for _, tt := range tests {
		d := Decimal{coef: tt.coef, scale: tt.scale}
		if got := string(d.Append([]byte("x"))); got != "x"+tt.want {
			t.Errorf("Append(%d e-%d) = %q, want x%s", tt.coef, tt.scale, got, tt.want)
		}
		if got := d.String(); got != tt.want {
			t.Errorf("String(%d e-%d) = %q, want %s", tt.coef, tt.scale, got, tt.want)
		}
	}
}

func FuzzDecimalAppend(f *testing.F) {
	f.Add(int64(1050), int32(2))
	f.Add(int64(-1), int32(18))
	f.Fuzz(func(t *testing.T, coef int64, scale int32) {
		scale %= 19
		d := Decimal{coef: coef, scale: scale}
		if got, want := d.String(), stringRef(d); got != want {
			t.Fatalf("String(%d e-%d) = %q, want %q", coef, scale, got, want)
		}
	})
}
