package eventstore_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/crm-es/crm/eventstore"
	"github.com/google/go-cmp/cmp"
)

// routeDecoder is a fast decoder for the hook's tests. It decodes with
// encoding/json and then marks Summary with "fast:", so a test sees which
// path answered (a real fast decoder returns exactly encoding/json's
// value); it refuses data containing "slow" and panics on "boom".
type routeDecoder struct{ calls int }

func (d *routeDecoder) decode(b []byte) (interactionLogged, bool) {
	d.calls++
	s := string(b)
	if strings.Contains(s, "boom") {
		panic("boom")
	}
	var v interactionLogged
	if strings.Contains(s, "slow") || json.Unmarshal(b, &v) != nil {
		return interactionLogged{}, false
	}
	v.Summary = "fast:" + v.Summary
	return v, true
}

func TestCodecFastDecoder(t *testing.T) {
	c := newTestCodec(t)
	var d routeDecoder
	eventstore.RegisterFastDecoder(c, "InteractionLogged", d.decode)
	tests := []struct {
		name      string
		version   int
		data      string
		want      any
		wantErr   error
		wantCalls int
	}{
		{"current version: fast path", 3, `{"customerId":"c1","summary":"s","channel":"visit"}`,
			interactionLogged{CustomerID: "c1", Summary: "fast:s", Channel: "visit"}, nil, 1},
		{"refused: encoding/json path", 3, `{"customerId":"c1","summary":"slow","channel":"visit"}`,
			interactionLogged{CustomerID: "c1", Summary: "slow", Channel: "visit"}, nil, 1},
		{"panic: encoding/json path", 3, `{"customerId":"c1","summary":"boom","channel":"visit"}`,
			interactionLogged{CustomerID: "c1", Summary: "boom", Channel: "visit"}, nil, 1},
		{"refused malformed data: encoding/json's error", 3, `{"summary":`, nil, eventstore.ErrMalformedEvent, 1},
		{"older version: upcast, no fast path", 1, `{"customerId":"c1","note":"visited"}`,
			interactionLogged{CustomerID: "c1", Summary: "visited", Channel: "other"}, nil, 0},
		{"newer version: refused before any decoding", 4, `{}`, nil, eventstore.ErrMalformedEvent, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d.calls = 0
			got, err := c.Decode("InteractionLogged", tt.version, []byte(tt.data))
			if d.calls != tt.wantCalls {
				t.Errorf("fast decoder called %d times, want %d", d.calls, tt.wantCalls)
			}
			checkDecoded(t, got, err, tt.want, tt.wantErr)
		})
	}
	if !c.HasFastDecoder("InteractionLogged") || c.HasFastDecoder("CustomerRegistered") || c.HasFastDecoder("Nope") {
		t.Error("HasFastDecoder")
	}
}

// A type registered as a pointer gets its fast decoder's pointer, and
// DecodeRecorded (the projectors' entry) takes the fast path too.
func TestCodecFastDecoderPointerType(t *testing.T) {
	c := newTestCodec(t)
	calls := 0
	eventstore.RegisterFastDecoder(c, "CustomerLevelChanged", func(b []byte) (*customerLevelChanged, bool) {
		calls++
		v := new(customerLevelChanged)
		if json.Unmarshal(b, v) != nil {
			return nil, false
		}
		return v, true
	})
	rec := eventstore.Recorded{Stream: "customer-1", Type: "CustomerLevelChanged", Data: []byte(`{"customerId":"c1","oldLevel":1,"newLevel":3}`),
		Metadata: eventstore.Metadata{SchemaVersion: 1}}
	got, err := c.DecodeRecorded(rec)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&customerLevelChanged{CustomerID: "c1", OldLevel: 1, NewLevel: 3}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if calls != 1 {
		t.Errorf("fast decoder called %d times, want 1", calls)
	}
}

func TestRegisterFastDecoderPanics(t *testing.T) {
	decodeValue := func([]byte) (customerRegistered, bool) { return customerRegistered{}, false }
	wantPanics(t, []codecMisuse{
		{"unknown type", func(c *eventstore.Codec) { eventstore.RegisterFastDecoder(c, "Nope", decodeValue) }},
		{"nil decoder", func(c *eventstore.Codec) {
			eventstore.RegisterFastDecoder[customerRegistered](c, "CustomerRegistered", nil)
		}},
		{"pointer for a value type", func(c *eventstore.Codec) {
			eventstore.RegisterFastDecoder(c, "CustomerRegistered", func([]byte) (*customerRegistered, bool) { return nil, false })
		}},
		{"value for a pointer type", func(c *eventstore.Codec) {
			eventstore.RegisterFastDecoder(c, "CustomerLevelChanged", func([]byte) (customerLevelChanged, bool) { return customerLevelChanged{}, false })
		}},
		{"another type", func(c *eventstore.Codec) { eventstore.RegisterFastDecoder(c, "InteractionLogged", decodeValue) }},
		{"interface type", func(c *eventstore.Codec) {
			eventstore.RegisterFastDecoder(c, "CustomerRegistered", func([]byte) (any, bool) { return nil, false })
		}},
		{"duplicate", func(c *eventstore.Codec) {
			eventstore.RegisterFastDecoder(c, "CustomerRegistered", decodeValue)
			eventstore.RegisterFastDecoder(c, "CustomerRegistered", decodeValue)
		}},
	})
}
