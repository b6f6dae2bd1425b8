package server

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/crm-es/crm/eventstore/server/store"
)

// referenceReadResp builds the message with the generated protobuf types:
// the specification the hand encoder must match byte for byte.
func referenceReadResp(target, link *store.Event, position uint64, structured bool) *streams.ReadResp {
	rec := func(e *store.Event) *streams.ReadResp_ReadEvent_RecordedEvent {
		ct := "application/octet-stream"
		if e.JSON {
			ct = "application/json"
		}
		id := protoUUID(e.ID)
		if !structured {
			id = &shared.UUID{Value: &shared.UUID_String_{String_: e.ID.String()}}
		}
		return &streams.ReadResp_ReadEvent_RecordedEvent{
			Id:               id,
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(e.Stream)},
			StreamRevision:   e.Revision,
			PreparePosition:  e.Position,
			CommitPosition:   e.Position,
			Metadata:         map[string]string{"type": e.Type, "created": strconv.FormatInt(e.Created, 10), "content-type": ct},
			CustomMetadata:   e.Metadata,
			Data:             e.Data,
		}
	}
	re := &streams.ReadResp_ReadEvent{Position: &streams.ReadResp_ReadEvent_CommitPosition{CommitPosition: position}}
	if target != nil {
		re.Event = rec(target)
	}
	if link != nil {
		re.Link = rec(link)
	}
	return &streams.ReadResp{Content: &streams.ReadResp_Event{Event: re}}
}

func TestEncodeReadEventMatchesProtoMarshal(t *testing.T) {
	plain := &store.Event{
		ID: uuid.MustParse("f47ac10b-58cc-4372-a567-0e02b2c3d479"), Stream: "customer-1", Revision: 7, Position: 1234567,
		Type: "InteractionLogged", JSON: true, Created: 17637984000000000, Data: []byte(`{"a":1}`), Metadata: []byte(`{"actor":"u"}`),
	}
	first := &store.Event{ID: uuid.MustParse("00000000-0000-0000-0000-000000000001"), Stream: "s", Revision: 0, Position: 1, Type: "T", Created: 1}
	negative := &store.Event{ID: uuid.MustParse("ffffffff-ffff-ffff-ffff-ffffffffffff"), Stream: "ü-ß", Revision: store.DeletedRevision, Position: 1 << 40, Type: "$streamDeleted", Created: 5, Data: []byte{}}
	link := &store.Event{ID: uuid.New(), Stream: "$ce-customer", Revision: 3, Position: 99, Type: "$>", JSON: false, Created: 9, Data: []byte("7@customer-1")}
	cases := []struct {
		name         string
		target, link *store.Event
		position     uint64
	}{
		{"plain", plain, nil, plain.Position},
		{"zero revision, empty data and metadata", first, nil, first.Position},
		{"all-ones id, max revision, unicode stream", negative, nil, negative.Position},
		{"resolved link", plain, link, link.Position},
		{"unresolvable link", nil, link, link.Position},
	}
	for _, tc := range cases {
		for _, structured := range []bool{true, false} {
			t.Run(tc.name+"/structured="+strconv.FormatBool(structured), func(t *testing.T) {
				want, err := proto.MarshalOptions{Deterministic: true}.Marshal(referenceReadResp(tc.target, tc.link, tc.position, structured))
				if err != nil {
					t.Fatal(err)
				}
				enc := encodeReadEvent(mem.DefaultBufferPool(), tc.target, tc.link, tc.position, structured)
				got := enc.buf.ReadOnlyData()
				if !bytes.Equal(got, want) {
					t.Fatalf("hand encoding differs from proto.Marshal:\n got %x\nwant %x", got, want)
				}
				var back streams.ReadResp
				if err := proto.Unmarshal(got, &back); err != nil {
					t.Fatal(err)
				}
				if !proto.Equal(&back, referenceReadResp(tc.target, tc.link, tc.position, structured)) {
					t.Fatal("decoded message differs from the reference")
				}
				enc.buf.Free()
			})
		}
	}
}
