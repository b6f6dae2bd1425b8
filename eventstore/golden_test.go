package eventstore

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenEvent is an event's stored form as the event store keeps it: the
// system fields, the data bytes and the metadata bytes (shown indented; the
// stored bytes are their compact form).
type goldenEvent struct {
	Stream      string          `json:"stream"`
	Revision    uint64          `json:"revision"`
	EventID     string          `json:"eventId"`
	EventType   string          `json:"eventType"`
	ContentType string          `json:"contentType"`
	Data        json.RawMessage `json:"data"`
	Metadata    json.RawMessage `json:"metadata"`
}

type goldenFile struct {
	Comment string        `json:"_comment"`
	Events  []goldenEvent `json:"events"`
}

const goldenStream = "customer-3b4f5e2a-1111-4222-8333-944455556666"

type goldenCase struct {
	file     string
	comment  string
	firstRev uint64
	pending  []Pending
}

func goldenCases() []goldenCase {
	recorded := time.Date(2024, 3, 2, 8, 0, 0, 0, time.UTC)
	meta := func(cmd string, occurred time.Time) Metadata {
		return Metadata{
			CorrelationID: "req-7f3a", CausationID: cmd, Actor: "user-42", CommandID: cmd,
			OccurredAt: occurred,
		}
	}
	return []goldenCase{
		{
			file:    "envelope_new_stream.golden.json",
			comment: "Stored form of a 3-event first append (expected revision -1) produced by Append; the chain starts at the genesis hash. Regenerate with go test ./eventstore -run TestGolden -update.",
			pending: []Pending{
				{Type: "CustomerRegistered", Data: []byte(`{"customerId":"3b4f5e2a-1111-4222-8333-944455556666","name":"Acme GmbH","region":"north","level":1}`),
					Metadata: meta("cmd-register-1", recorded)},
				{Type: "ContactAdded", Data: []byte(`{"customerId":"3b4f5e2a-1111-4222-8333-944455556666","contactId":"c-1","name":"Jo Bloggs","email":"jo@acme.example"}`),
					Metadata: meta("cmd-register-1", recorded)},
				{Type: "InteractionLogged", Data: []byte(`{"customerId":"3b4f5e2a-1111-4222-8333-944455556666","channel":"visit","summary":"Kick-off visit"}`),
					// Business time earlier than the record time, in a local zone: stored in UTC.
					Metadata: meta("cmd-register-1", time.Date(2024, 3, 1, 16, 30, 0, 500000000, time.FixedZone("CET", 3600)))},
			},
		},
		{
			file:     "envelope_continuation.golden.json",
			comment:  "Stored form of a later append (expected revision 2, schema version 2, explicit idempotency key) chained to envelope_new_stream.golden.json.",
			firstRev: 3,
			pending: []Pending{
				{Type: "CustomerLevelChanged", Data: []byte(`{"customerId":"3b4f5e2a-1111-4222-8333-944455556666","oldLevel":1,"newLevel":3}`),
					IdempotencyKey: "Idempotency-Key: 9c2d", Metadata: func() Metadata {
						m := meta("cmd-level-2", time.Date(2024, 4, 1, 10, 0, 0, 0, time.UTC))
						m.SchemaVersion = 2
						return m
					}()},
			},
		},
	}
}

func TestGoldenEnvelope(t *testing.T) {
	prevHash := GenesisHash
	var all []Recorded
	for _, gc := range goldenCases() {
		t.Run(gc.file, func(t *testing.T) {
			sealed, err := sealBatch(goldenStream, prevHash, gc.pending, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
			if err != nil {
				t.Fatal(err)
			}
			got := goldenFile{Comment: gc.comment}
			for i, s := range sealed {
				got.Events = append(got.Events, goldenEvent{
					Stream: goldenStream, Revision: gc.firstRev + uint64(i), EventID: s.ID.String(), EventType: s.Type,
					ContentType: "application/json", Data: s.Data, Metadata: s.MetadataJSON,
				})
			}
			gotBytes, err := json.MarshalIndent(got, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			gotBytes = append(gotBytes, '\n')
			path := filepath.Join("testdata", gc.file)
			if *update {
				if err := os.WriteFile(path, gotBytes, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			wantBytes, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(wantBytes), string(gotBytes)); diff != "" {
				t.Errorf("stored form changed (-golden +now); old events must keep their form, run -update only for deliberate new forms:\n%s", diff)
			}

			// The golden file, read as the store would return it, decodes
			// and its metadata bytes are exactly what Append stores.
			var gf goldenFile
			if err := json.Unmarshal(wantBytes, &gf); err != nil {
				t.Fatal(err)
			}
			for i, ge := range gf.Events {
				var compact bytes.Buffer
				if err := json.Compact(&compact, ge.Metadata); err != nil {
					t.Fatal(err)
				}
				if i < len(sealed) && !bytes.Equal(compact.Bytes(), sealed[i].MetadataJSON) {
					t.Errorf("event %d: stored metadata bytes differ:\n%s\n%s", i, compact.Bytes(), sealed[i].MetadataJSON)
				}
				meta, err := DecodeMetadata(compact.Bytes())
				if err != nil {
					t.Fatal(err)
				}
				var data bytes.Buffer
				if err := json.Compact(&data, ge.Data); err != nil {
					t.Fatal(err)
				}
				all = append(all, Recorded{Stream: ge.Stream, Revision: ge.Revision, EventID: uuid.MustParse(ge.EventID),
					Type: ge.EventType, JSON: true, Data: data.Bytes(), RawMetadata: compact.Bytes(), Metadata: meta})
			}
			if len(sealed) > 0 {
				prevHash = sealed[len(sealed)-1].Metadata.Hash
			}
		})
	}
	if bad, err := VerifyChain(all); bad != -1 || err != nil {
		t.Errorf("golden chain does not verify: %d %v", bad, err)
	}
}

// TestLegacyMetadataForms pins envelopes this package must keep reading:
// hand-written fixtures, never regenerated.
func TestLegacyMetadataForms(t *testing.T) {
	tests := []struct {
		file string
		want Metadata
	}{
		{"metadata_foreign.json", Metadata{
			CorrelationID: "0f8fad5b-d9cb-469f-a165-70867728950e", CausationID: "7c9e6679-7425-40de-944b-e07fc1f90ae7",
			OccurredAt: time.Date(2023, 12, 31, 22, 15, 0, 0, time.UTC),
		}},
		{"metadata_v1_no_hash.json", Metadata{
			CorrelationID: "corr", CausationID: "cause", Actor: "user-1", CommandID: "cmd-1",
			OccurredAt: time.Date(2024, 1, 15, 8, 0, 0, 0, time.UTC), SchemaVersion: 1,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "legacy", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeMetadata(b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
