package eventstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

func TestMetadataJSONRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   Metadata
		want string
	}{
		{
			name: "full",
			in: Metadata{
				CorrelationID: "corr-1", CausationID: "cause-1", Actor: "user-7", CommandID: "cmd-1",
				OccurredAt:    time.Date(2024, 3, 1, 9, 30, 0, 120000000, time.FixedZone("CET", 3600)),
				SchemaVersion: 2, PrevHash: GenesisHash, Hash: strings.Repeat("ab", 32),
			},
			want: `{"$correlationId":"corr-1","$causationId":"cause-1","actor":"user-7","commandId":"cmd-1","occurredAt":"2024-03-01T08:30:00.12Z","schemaVersion":2,"prevHash":"` + GenesisHash + `","hash":"` + strings.Repeat("ab", 32) + `"}`,
		},
		{
			name: "zero",
			in:   Metadata{},
			want: `{"$correlationId":"","$causationId":"","actor":"","commandId":"","occurredAt":"","schemaVersion":0,"prevHash":"","hash":""}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.in.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("stored form:\n got %s\nwant %s", b, tt.want)
			}
			got, err := DecodeMetadata(b)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.in
			if !want.OccurredAt.IsZero() {
				want.OccurredAt = want.OccurredAt.UTC()
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeMetadata(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Metadata
		wantErr bool
	}{
		{name: "empty", in: "", want: Metadata{}},
		{name: "blank", in: "  \n", want: Metadata{}},
		{name: "empty object", in: "{}", want: Metadata{}},
		{
			name: "foreign keys ignored, offset normalised",
			in:   `{"$correlationId":"c","actor":"a","occurredAt":"2024-01-02T03:04:05+02:00","other":{"x":1}}`,
			want: Metadata{CorrelationID: "c", Actor: "a", OccurredAt: time.Date(2024, 1, 2, 1, 4, 5, 0, time.UTC)},
		},
		{name: "array", in: `[1,2]`, wantErr: true},
		{name: "string", in: `"x"`, wantErr: true},
		{name: "bad json", in: `{"actor":`, wantErr: true},
		{name: "wrong field type", in: `{"schemaVersion":"1"}`, wantErr: true},
		{name: "bad time", in: `{"occurredAt":"yesterday"}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeMetadata([]byte(tt.in))
			if tt.wantErr {
				if !errors.Is(err, ErrMalformedMetadata) {
					t.Fatalf("err = %v, want ErrMalformedMetadata", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// auditorHash is an independent implementation of the documented hash, as
// an auditor would write it from the CanonicalBytes doc comment.
func auditorHash(t *testing.T, stream, typ string, id uuid.UUID, data []byte, m Metadata) string {
	t.Helper()
	var buf bytes.Buffer
	field := func(s []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		buf.Write(n[:])
		buf.Write(s)
	}
	occurred := ""
	if !m.OccurredAt.IsZero() {
		occurred = m.OccurredAt.UTC().Format("2006-01-02T15:04:05.999999999Z07:00")
	}
	for _, f := range []string{"crm-es/event/v1", stream, typ, id.String(), string(data),
		m.CorrelationID, m.CausationID, m.Actor, m.CommandID, occurred,
		strconv.Itoa(m.SchemaVersion), m.PrevHash} {
		field([]byte(f))
	}
	prev, err := hex.DecodeString(m.PrevHash)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(append(prev, buf.Bytes()...))
	return hex.EncodeToString(sum[:])
}

func TestComputeHashMatchesDocumentedLayout(t *testing.T) {
	id := uuid.MustParse("6f1c8c1e-93a4-5a3b-9b7e-0c6b2f3e4d5a")
	m := Metadata{
		CorrelationID: "c", CausationID: "d", Actor: "u", CommandID: "k",
		OccurredAt: time.Date(2024, 5, 6, 7, 8, 9, 1000, time.UTC), SchemaVersion: 3, PrevHash: GenesisHash,
	}
	data := []byte(`{"name":"Acme"}`)
	got, err := ComputeHash("customer-1", "CustomerRegistered", id, data, m)
	if err != nil {
		t.Fatal(err)
	}
	if want := auditorHash(t, "customer-1", "CustomerRegistered", id, data, m); got != want {
		t.Errorf("ComputeHash = %s, auditor computes %s", got, want)
	}
	// Hash ignores the Hash field itself.
	m.Hash = "whatever"
	if again, _ := ComputeHash("customer-1", "CustomerRegistered", id, data, m); again != got {
		t.Errorf("hash depends on the hash field")
	}
}

func TestCanonicalBytesAreUnambiguous(t *testing.T) {
	id := uuid.New()
	m := Metadata{PrevHash: GenesisHash}
	a := CanonicalBytes("ab", "c", id, []byte("{}"), m)
	b := CanonicalBytes("a", "bc", id, []byte("{}"), m)
	if bytes.Equal(a, b) {
		t.Fatal("shifting a byte between fields gives the same canonical bytes")
	}
}

func TestComputeHashRejectsBadPrevHash(t *testing.T) {
	for _, p := range []string{"", "00", strings.Repeat("A", 64), strings.Repeat("zz", 32)} {
		if _, err := ComputeHash("s", "T", uuid.Nil, nil, Metadata{PrevHash: p}); err == nil {
			t.Errorf("prevHash %q accepted", p)
		}
	}
}

// chain builds a valid recorded stream of n events.
func chain(t *testing.T, stream string, n int) []Recorded {
	t.Helper()
	var pend []Pending
	for i := 0; i < n; i++ {
		pend = append(pend, Pending{
			Type: "Thing", Data: []byte(`{"i":` + string(rune('0'+i)) + `}`),
			Metadata: Metadata{Actor: "u", CommandID: "cmd", OccurredAt: time.Date(2024, 1, 1, 0, 0, i, 0, time.UTC)},
		})
	}
	sealed, err := sealBatch(stream, GenesisHash, pend, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]Recorded, n)
	for i, s := range sealed {
		meta, err := DecodeMetadata(s.MetadataJSON)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = Recorded{Stream: stream, Revision: uint64(i), Position: uint64(100 + i), EventID: s.ID, Type: s.Type,
			JSON: true, Data: s.Data, RawMetadata: s.MetadataJSON, Metadata: meta}
	}
	return out
}

func TestVerifyChain(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(ev []Recorded) []Recorded
		wantBad int64
	}{
		{name: "intact", mutate: func(ev []Recorded) []Recorded { return ev }, wantBad: -1},
		{name: "empty", mutate: func([]Recorded) []Recorded { return nil }, wantBad: -1},
		{name: "suffix is verified from its first prevHash", mutate: func(ev []Recorded) []Recorded { return ev[2:] }, wantBad: -1},
		{name: "data altered", mutate: func(ev []Recorded) []Recorded { ev[2].Data = []byte(`{"i":9}`); return ev }, wantBad: 2},
		{name: "actor altered", mutate: func(ev []Recorded) []Recorded { ev[1].Metadata.Actor = "mallory"; return ev }, wantBad: 1},
		{name: "occurredAt altered", mutate: func(ev []Recorded) []Recorded {
			ev[3].Metadata.OccurredAt = ev[3].Metadata.OccurredAt.Add(time.Nanosecond)
			return ev
		}, wantBad: 3},
		{name: "type altered", mutate: func(ev []Recorded) []Recorded { ev[0].Type = "Other"; return ev }, wantBad: 0},
		{name: "id altered", mutate: func(ev []Recorded) []Recorded { ev[4].EventID = uuid.Nil; return ev }, wantBad: 4},
		{name: "event removed", mutate: func(ev []Recorded) []Recorded { return append(ev[:2:2], ev[3:]...) }, wantBad: 3},
		{name: "events swapped", mutate: func(ev []Recorded) []Recorded { ev[1], ev[2] = ev[2], ev[1]; return ev }, wantBad: 2},
		{name: "hash and data rewritten, next link breaks", mutate: func(ev []Recorded) []Recorded {
			ev[1].Data = []byte(`{"i":7}`)
			ev[1].Metadata.Hash, _ = ComputeHash(ev[1].Stream, ev[1].Type, ev[1].EventID, ev[1].Data, ev[1].Metadata)
			return ev
		}, wantBad: 2},
		{name: "first event not genesis", mutate: func(ev []Recorded) []Recorded {
			ev[0].Metadata.PrevHash = strings.Repeat("1", 64)
			return ev
		}, wantBad: 0},
		{name: "undecodable metadata", mutate: func(ev []Recorded) []Recorded {
			ev[2].MetadataErr = ErrMalformedMetadata
			return ev
		}, wantBad: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events := tt.mutate(chain(t, "customer-1", 5))
			bad, err := VerifyChain(events)
			if bad != tt.wantBad {
				t.Fatalf("firstBad = %d (err %v), want %d", bad, err, tt.wantBad)
			}
			if (err == nil) != (tt.wantBad == -1) {
				t.Fatalf("err = %v with firstBad %d", err, bad)
			}
			if err != nil {
				var ce *ChainError
				if !errors.Is(err, ErrChainBroken) || !errors.As(err, &ce) || int64(ce.Revision) != bad {
					t.Errorf("err = %#v, want *ChainError at %d", err, bad)
				}
			}
		})
	}
}

func TestSealBatch(t *testing.T) {
	now := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	pend := []Pending{
		{Type: "A", Data: []byte(`{}`), Metadata: Metadata{CommandID: "cmd-9"}},
		{Type: "B", Data: []byte(`{}`), IdempotencyKey: "key-1", Metadata: Metadata{CommandID: "cmd-9", SchemaVersion: 4,
			OccurredAt: time.Date(2024, 5, 31, 23, 0, 0, 0, time.FixedZone("X", -7200))}},
		{Type: "C", Data: []byte(`{}`), ID: uuid.MustParse("00000000-0000-4000-8000-000000000001")},
	}
	sealed, err := sealBatch("s-1", GenesisHash, pend, now)
	if err != nil {
		t.Fatal(err)
	}
	wantIDs := []uuid.UUID{EventID("cmd-9", 0), EventID("key-1", 1), pend[2].ID}
	for i, s := range sealed {
		if s.ID != wantIDs[i] {
			t.Errorf("event %d id = %s, want %s", i, s.ID, wantIDs[i])
		}
	}
	if got := sealed[0].Metadata; got.SchemaVersion != 1 || !got.OccurredAt.Equal(now) || got.PrevHash != GenesisHash {
		t.Errorf("defaults not applied: %+v", got)
	}
	if got := sealed[1].Metadata; got.SchemaVersion != 4 || got.OccurredAt.Location() != time.UTC || got.PrevHash != sealed[0].Metadata.Hash {
		t.Errorf("event 1 metadata: %+v", got)
	}
	if sealed[2].Metadata.PrevHash != sealed[1].Metadata.Hash {
		t.Error("chain not linked")
	}
	again, _ := sealBatch("s-1", GenesisHash, pend, now)
	if diff := cmp.Diff(sealed, again); diff != "" {
		t.Errorf("sealBatch not deterministic:\n%s", diff)
	}
}

func TestCheckPending(t *testing.T) {
	ok := Pending{Type: "T", Data: []byte(`{}`), Metadata: Metadata{CommandID: "c"}}
	tests := []struct {
		name   string
		events []Pending
		ok     bool
	}{
		{"ok", []Pending{ok, ok}, true},
		{"key instead of command id", []Pending{{Type: "T", Data: []byte(`{}`), IdempotencyKey: "k"}}, true},
		{"explicit id", []Pending{{Type: "T", Data: []byte(`{}`), ID: uuid.New()}}, true},
		{"first prevHash", []Pending{{Type: "T", Data: []byte(`{}`), IdempotencyKey: "k", Metadata: Metadata{PrevHash: GenesisHash}}}, true},
		{"no type", []Pending{{Data: []byte(`{}`), IdempotencyKey: "k"}}, false},
		{"nil data", []Pending{{Type: "T", IdempotencyKey: "k"}}, false},
		{"invalid json", []Pending{{Type: "T", Data: []byte(`{`), IdempotencyKey: "k"}}, false},
		{"no key", []Pending{{Type: "T", Data: []byte(`{}`)}}, false},
		{"bad prevHash", []Pending{{Type: "T", Data: []byte(`{}`), IdempotencyKey: "k", Metadata: Metadata{PrevHash: "x"}}}, false},
		{"prevHash on a later event", []Pending{ok, {Type: "T", Data: []byte(`{}`), IdempotencyKey: "k", Metadata: Metadata{PrevHash: GenesisHash}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkPending(tt.events)
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("err %v is not ErrInvalidArgument", err)
			}
		})
	}
}
