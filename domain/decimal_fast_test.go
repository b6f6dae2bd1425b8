package domain

import (
	"encoding/json"
	"testing"
)

// FuzzDecimalUnmarshalPlain checks that UnmarshalJSON's fast path for plain
// JSON strings decodes exactly as the encoding/json string path does.
func FuzzDecimalUnmarshalPlain(f *testing.F) {
	for _, s := range []string{`"12.50"`, `"-0.5"`, `"+1"`, `"1."`, `".5"`, `""`, `"1\u0032"`, `12.5`, `"--1"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !plainDecimalString(string(b)) {
			return
		}
		var fast Decimal
		fastErr := fast.UnmarshalJSON(b)
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			t.Fatalf("%q: a plain string that encoding/json rejects: %v", b, err)
		}
		slow, slowErr := ParseDecimal(str)
		if (fastErr == nil) != (slowErr == nil) || fastErr == nil && !fast.Equal(slow) || fastErr == nil && fast.String() != slow.String() {
			t.Fatalf("%q: fast %v %v, encoding/json path %v %v", b, fast, fastErr, slow, slowErr)
		}
	})
}
