package eventstore_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/crm-es/crm/eventstore"
	"github.com/google/go-cmp/cmp"
)

// Sample events, shaped like the domain's (fat events, camelCase JSON).
type customerRegistered struct {
	CustomerID string `json:"customerId"`
	Name       string `json:"name"`
	Region     string `json:"region,omitempty"`
	Level      int    `json:"level"`
}

type customerLevelChanged struct {
	CustomerID string `json:"customerId"`
	OldLevel   int    `json:"oldLevel"`
	NewLevel   int    `json:"newLevel"`
}

// interactionLogged is at schema version 3: v1 had "note", v2 renamed it to
// "summary", v3 added "channel" (default "other").
type interactionLogged struct {
	CustomerID string `json:"customerId"`
	Summary    string `json:"summary"`
	Channel    string `json:"channel"`
}

func newTestCodec(t *testing.T) *eventstore.Codec {
	t.Helper()
	c := eventstore.NewCodec()
	c.Register("CustomerRegistered", 1, func() any { return customerRegistered{} })
	c.Register("CustomerLevelChanged", 1, func() any { return &customerLevelChanged{} })
	c.Register("InteractionLogged", 3, func() any { return interactionLogged{} })
	c.RegisterUpcaster("InteractionLogged", 1, func(in json.RawMessage) (json.RawMessage, error) {
		var m map[string]any
		if err := json.Unmarshal(in, &m); err != nil {
			return nil, err
		}
		m["summary"] = m["note"]
		delete(m, "note")
		return json.Marshal(m)
	})
	c.RegisterUpcaster("InteractionLogged", 2, func(in json.RawMessage) (json.RawMessage, error) {
		var m map[string]any
		if err := json.Unmarshal(in, &m); err != nil {
			return nil, err
		}
		if _, ok := m["channel"]; !ok {
			m["channel"] = "other"
		}
		return json.Marshal(m)
	})
	return c
}

func TestCodecEncode(t *testing.T) {
	c := newTestCodec(t)
	tests := []struct {
		name     string
		in       any
		wantType string
		wantVer  int
		wantData string
	}{
		{"value of value-registered type", customerRegistered{CustomerID: "c1", Name: "Acme", Level: 2}, "CustomerRegistered", 1, `{"customerId":"c1","name":"Acme","level":2}`},
		{"pointer of value-registered type", &customerRegistered{CustomerID: "c1", Name: "Acme"}, "CustomerRegistered", 1, `{"customerId":"c1","name":"Acme","level":0}`},
		{"value of pointer-registered type", customerLevelChanged{CustomerID: "c1", OldLevel: 1, NewLevel: 3}, "CustomerLevelChanged", 1, `{"customerId":"c1","oldLevel":1,"newLevel":3}`},
		{"current version", interactionLogged{CustomerID: "c1", Summary: "call", Channel: "call"}, "InteractionLogged", 3, `{"customerId":"c1","summary":"call","channel":"call"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ, ver, data, err := c.Encode(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if typ != tt.wantType || ver != tt.wantVer || string(data) != tt.wantData {
				t.Errorf("Encode = %q v%d %s, want %q v%d %s", typ, ver, data, tt.wantType, tt.wantVer, tt.wantData)
			}
		})
	}

	type unregistered struct{ X int }
	for _, v := range []any{unregistered{}, nil, 42, map[string]any{}} {
		if _, _, _, err := c.Encode(v); !errors.Is(err, eventstore.ErrUnregisteredType) {
			t.Errorf("Encode(%#v) err = %v, want ErrUnregisteredType", v, err)
		}
	}
	if _, _, _, err := c.Encode((*customerRegistered)(nil)); err == nil {
		t.Error("Encode(nil pointer) succeeded")
	}
}

func TestCodecDecode(t *testing.T) {
	c := newTestCodec(t)
	tests := []struct {
		name    string
		typ     string
		version int
		data    string
		want    any
		wantErr error
	}{
		{"value type", "CustomerRegistered", 1, `{"customerId":"c1","name":"Acme","level":2,"extra":true}`,
			customerRegistered{CustomerID: "c1", Name: "Acme", Level: 2}, nil},
		{"version 0 reads as 1", "CustomerRegistered", 0, `{"customerId":"c1"}`, customerRegistered{CustomerID: "c1"}, nil},
		{"pointer type", "CustomerLevelChanged", 1, `{"customerId":"c1","oldLevel":1,"newLevel":3}`,
			&customerLevelChanged{CustomerID: "c1", OldLevel: 1, NewLevel: 3}, nil},
		{"upcast v1 → v3", "InteractionLogged", 1, `{"customerId":"c1","note":"visited"}`,
			interactionLogged{CustomerID: "c1", Summary: "visited", Channel: "other"}, nil},
		{"upcast v2 → v3", "InteractionLogged", 2, `{"customerId":"c1","summary":"mail","channel":"email"}`,
			interactionLogged{CustomerID: "c1", Summary: "mail", Channel: "email"}, nil},
		{"current v3", "InteractionLogged", 3, `{"customerId":"c1","summary":"s","channel":"visit"}`,
			interactionLogged{CustomerID: "c1", Summary: "s", Channel: "visit"}, nil},
		{"unknown type", "OrderTeleported", 1, `{}`, nil, eventstore.ErrUnknownEventType},
		{"system type", "$metadata", 1, `{}`, nil, eventstore.ErrUnknownEventType},
		{"newer version than known", "CustomerRegistered", 2, `{}`, nil, eventstore.ErrMalformedEvent},
		{"negative version", "CustomerRegistered", -1, `{}`, nil, eventstore.ErrMalformedEvent},
		{"malformed json", "CustomerRegistered", 1, `{"name":`, nil, eventstore.ErrMalformedEvent},
		{"wrong field type", "CustomerRegistered", 1, `{"level":"high"}`, nil, eventstore.ErrMalformedEvent},
		{"upcaster fails", "InteractionLogged", 1, `[1]`, nil, eventstore.ErrMalformedEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Decode(tt.typ, tt.version, []byte(tt.data))
			checkDecoded(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestCodecDecodeFreshValues(t *testing.T) {
	c := newTestCodec(t)
	a, _ := c.Decode("CustomerLevelChanged", 1, []byte(`{"newLevel":2}`))
	b, _ := c.Decode("CustomerLevelChanged", 1, []byte(`{"oldLevel":5}`))
	if a.(*customerLevelChanged) == b.(*customerLevelChanged) || a.(*customerLevelChanged).OldLevel != 0 {
		t.Fatal("decodes share state")
	}
}

func TestCodecUpcasterProblems(t *testing.T) {
	c := eventstore.NewCodec()
	c.Register("V3", 3, func() any { return customerRegistered{} })
	c.RegisterUpcaster("V3", 2, func(in json.RawMessage) (json.RawMessage, error) { panic("boom") })
	if _, err := c.Decode("V3", 1, []byte(`{}`)); !errors.Is(err, eventstore.ErrMalformedEvent) || !strings.Contains(err.Error(), "no upcaster from schema version 1") {
		t.Errorf("missing upcaster: err = %v", err)
	}
	if _, err := c.Decode("V3", 2, []byte(`{}`)); !errors.Is(err, eventstore.ErrMalformedEvent) || !strings.Contains(err.Error(), "panicked") {
		t.Errorf("panicking upcaster: err = %v", err)
	}
}

func TestCodecDecodeRecorded(t *testing.T) {
	c := newTestCodec(t)
	rec := eventstore.Recorded{Stream: "customer-1", Type: "InteractionLogged", Data: []byte(`{"note":"n"}`),
		Metadata: eventstore.Metadata{SchemaVersion: 1}}
	got, err := c.DecodeRecorded(rec)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(interactionLogged{Summary: "n", Channel: "other"}, got); diff != "" {
		t.Error(diff)
	}
	rec.MetadataErr = eventstore.ErrMalformedMetadata
	if _, err := c.DecodeRecorded(rec); !errors.Is(err, eventstore.ErrMalformedEvent) {
		t.Errorf("bad metadata: err = %v", err)
	}
	rec.Type = "Nope"
	if _, err := c.DecodeRecorded(rec); !errors.Is(err, eventstore.ErrUnknownEventType) {
		t.Errorf("unknown with bad metadata: err = %v", err)
	}
}

func TestCodecNewPending(t *testing.T) {
	c := newTestCodec(t)
	meta := eventstore.Metadata{CommandID: "cmd", Actor: "u", OccurredAt: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), SchemaVersion: 99}
	p, err := c.NewPending(interactionLogged{CustomerID: "c", Summary: "s", Channel: "call"}, meta)
	if err != nil {
		t.Fatal(err)
	}
	meta.SchemaVersion = 3
	want := eventstore.Pending{Type: "InteractionLogged", Data: []byte(`{"customerId":"c","summary":"s","channel":"call"}`), Metadata: meta}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestCodecIntrospection(t *testing.T) {
	c := newTestCodec(t)
	if diff := cmp.Diff([]string{"CustomerLevelChanged", "CustomerRegistered", "InteractionLogged"}, c.Types()); diff != "" {
		t.Error(diff)
	}
	if v, ok := c.SchemaVersion("InteractionLogged"); !ok || v != 3 {
		t.Errorf("SchemaVersion = %d %v", v, ok)
	}
	if c.Known("Nope") || !c.Known("CustomerRegistered") {
		t.Error("Known")
	}
	if n, err := c.TypeName(&customerLevelChanged{}); err != nil || n != "CustomerLevelChanged" {
		t.Errorf("TypeName = %q %v", n, err)
	}
}

// codecMisuse is a wrong use of a codec's registration, which must panic.
type codecMisuse struct {
	name string
	fn   func(c *eventstore.Codec)
}

// wantPanics runs each misuse on a fresh test codec and requires a panic.
func wantPanics(t *testing.T, tests []codecMisuse) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCodec(t)
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tt.fn(c)
		})
	}
}

func TestCodecRegisterPanics(t *testing.T) {
	wantPanics(t, []codecMisuse{
		{"empty name", func(c *eventstore.Codec) { c.Register("", 1, func() any { return customerRegistered{} }) }},
		{"version 0", func(c *eventstore.Codec) { c.Register("X", 0, func() any { return customerRegistered{} }) }},
		{"nil newFn", func(c *eventstore.Codec) { c.Register("X", 1, nil) }},
		{"nil value", func(c *eventstore.Codec) { c.Register("X", 1, func() any { return nil }) }},
		{"nil pointer", func(c *eventstore.Codec) { c.Register("X", 1, func() any { return (*customerRegistered)(nil) }) }},
		{"duplicate name", func(c *eventstore.Codec) {
			c.Register("CustomerRegistered", 1, func() any { return interactionLogged{} })
		}},
		{"Go type under two names", func(c *eventstore.Codec) { c.Register("Again", 1, func() any { return &customerRegistered{} }) }},
		{"upcaster for unknown type", func(c *eventstore.Codec) {
			c.RegisterUpcaster("Nope", 1, func(b json.RawMessage) (json.RawMessage, error) { return b, nil })
		}},
		{"upcaster at current version", func(c *eventstore.Codec) {
			c.RegisterUpcaster("InteractionLogged", 3, func(b json.RawMessage) (json.RawMessage, error) { return b, nil })
		}},
		{"duplicate upcaster", func(c *eventstore.Codec) {
			c.RegisterUpcaster("InteractionLogged", 1, func(b json.RawMessage) (json.RawMessage, error) { return b, nil })
		}},
		{"nil upcaster", func(c *eventstore.Codec) { c.RegisterUpcaster("InteractionLogged", 2, nil) }},
	})
}

// checkDecoded compares what Decode returned with the wanted value, or
// with the wanted error (errors.Is) when wantErr is set.
func checkDecoded(t *testing.T, got any, err error, want any, wantErr error) {
	t.Helper()
	if wantErr != nil {
		if !errors.Is(err, wantErr) {
			t.Fatalf("err = %v, want %v", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
