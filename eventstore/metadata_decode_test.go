package eventstore

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The fast metadata decoder must return exactly what encoding/json returns
// whenever it accepts the input, and accept the stored form.
func TestDecodeMetadataFast(t *testing.T) {
	stored := `{"$correlationId":"c1","$causationId":"c2","actor":"u1","commandId":"k","occurredAt":"2011-01-02T03:04:05.5+01:00","schemaVersion":2,"prevHash":"00ff","hash":"ab"}`
	tests := []struct {
		name   string
		in     string
		accept bool
	}{
		{"stored form", stored, true},
		{"empty object", `{}`, true},
		{"spaces", " { \"actor\" : \"a\" ,\n\"schemaVersion\":\t-3 } ", true},
		{"unknown string key", `{"x":"y","actor":"a"}`, true},
		{"duplicate key: last wins", `{"actor":"a","actor":"b"}`, true},
		{"zero time", `{"occurredAt":""}`, true},
		{"escape", `{"actor":"a\"b"}`, false},
		{"non-ascii", `{"actor":"é"}`, false},
		{"case-folded key", `{"Actor":"a"}`, false},
		{"nested", `{"x":{"y":1}}`, false},
		{"null", `{"actor":null}`, false},
		{"string version", `{"schemaVersion":"1"}`, false},
		{"fraction", `{"schemaVersion":1.0}`, false},
		{"leading zero", `{"schemaVersion":01}`, false},
		{"huge", `{"schemaVersion":123456789012345678901}`, false},
		{"bad time", `{"occurredAt":"yesterday"}`, false},
		{"trailing", `{"actor":"a"} x`, false},
		{"trailing comma", `{"actor":"a",}`, false},
		{"unterminated", `{"actor":"a"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := decodeMetadataFast([]byte(tt.in))
			if ok != tt.accept {
				t.Fatalf("accepted = %v, want %v", ok, tt.accept)
			}
			if !ok {
				return
			}
			want, err := decodeMetadataJSON([]byte(tt.in))
			if err != nil {
				t.Fatalf("encoding/json rejects what the fast path accepted: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-encoding/json +fast):\n%s", diff)
			}
		})
	}
}

func FuzzDecodeMetadataFast(f *testing.F) {
	f.Add([]byte(`{"$correlationId":"c1","$causationId":"c2","actor":"u1","commandId":"k","occurredAt":"2011-01-02T03:04:05Z","schemaVersion":1,"prevHash":"00","hash":"ab"}`))
	f.Add([]byte(`{"schemaVersion":-0,"x":"1"}`))
	f.Add([]byte(`{"ACTOR":"a"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := decodeMetadataFast(b)
		if !ok {
			return
		}
		want, err := decodeMetadataJSON(b)
		if err != nil {
			t.Fatalf("fast path accepted %q, encoding/json: %v", b, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%q (-encoding/json +fast):\n%s", b, diff)
		}
	})
}
