package eventstore

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzDecodeMetadata: the metadata decoder never panics, and whatever it
// accepts survives a round trip through the stored form unchanged.
func FuzzDecodeMetadata(f *testing.F) {
	for _, seed := range []string{
		"",
		"{}",
		`{"$correlationId":"c","$causationId":"d","actor":"u","commandId":"k","occurredAt":"2024-03-01T08:30:00.12Z","schemaVersion":2,"prevHash":"` + GenesisHash + `","hash":"ab"}`,
		`{"occurredAt":"2024-01-01T00:15:00+02:00","x":[1,{"y":null}]}`,
		`{"schemaVersion":1e3}`,
		`{"occurredAt":"0000-01-01T00:00:00Z"}`,
		`{"actor":"\u0000\ud800"}`,
		`[]`, `null`, `"x"`, `{`, "\xff\xfe",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMetadata(b)
		if err != nil {
			return
		}
		stored, err := m.MarshalJSON()
		if err != nil {
			// Only times outside what RFC 3339 can express (years beyond
			// 9999 after UTC conversion) may fail to re-encode.
			return
		}
		again, err := DecodeMetadata(stored)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", stored, err)
		}
		if diff := cmp.Diff(m, again); diff != "" {
			t.Fatalf("round trip changed metadata (-first +second):\n%s", diff)
		}
	})
}
