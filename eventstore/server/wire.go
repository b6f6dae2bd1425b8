package server

import (
	"strconv"

	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/crm-es/crm/eventstore/server/store"
)

// The hot path of reads and subscriptions is one ReadResp per event. Built
// as protobuf structs it costs a dozen allocations and a reflective map
// encoding per event; instead the server encodes those messages by hand
// (wire-identical to proto.Marshal of the same ReadResp, see wire_test.go)
// into pooled buffers and hands them to gRPC through a codec that passes
// pre-encoded messages through and uses the standard proto codec for the rest.

// encoded is a message already in protobuf wire form.
type encoded struct{ buf mem.Buffer }

type codec struct{ proto encoding.CodecV2 }

func newCodec() codec { return codec{proto: encoding.GetCodecV2(grpcproto.Name)} }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if e, ok := v.(*encoded); ok {
		return mem.BufferSlice{e.buf}, nil
	}
	return c.proto.Marshal(v)
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error { return c.proto.Unmarshal(data, v) }

func (c codec) Name() string { return grpcproto.Name }

// Field numbers of the messages encoded here (protos/streams.proto, shared.proto).
const (
	fReadRespEvent         = 1 // ReadResp.event
	fReadEventEvent        = 1 // ReadEvent.event
	fReadEventLink         = 2 // ReadEvent.link
	fReadEventCommit       = 3 // ReadEvent.commit_position
	fRecID                 = 1
	fRecStream             = 2
	fRecRevision           = 3
	fRecPrepare            = 4
	fRecCommit             = 5
	fRecMetadata           = 6
	fRecCustomMetadata     = 7
	fRecData               = 8
	fUUIDStructured        = 1
	fUUIDString            = 2
	fStructuredMost        = 1
	fStructuredLeast       = 2
	fStreamIdentifierName  = 3
	fMapKey, fMapValue     = 1, 2
	contentTypeJSON        = "application/json"
	contentTypeOctetStream = "application/octet-stream"
)

// recordedSize returns the encoded size of a RecordedEvent (without tag).
func recordedSize(e *store.Event, structured bool, created string) int {
	n := 0
	id := uuidSize(e, structured)
	n += protowire.SizeTag(fRecID) + protowire.SizeBytes(id)
	sid := protowire.SizeTag(fStreamIdentifierName) + protowire.SizeBytes(len(e.Stream))
	n += protowire.SizeTag(fRecStream) + protowire.SizeBytes(sid)
	n += varintField(fRecRevision, e.Revision)
	n += varintField(fRecPrepare, e.Position)
	n += varintField(fRecCommit, e.Position)
	for _, kv := range metaPairs(e, created) {
		n += protowire.SizeTag(fRecMetadata) + protowire.SizeBytes(entrySize(kv[0], kv[1]))
	}
	if len(e.Metadata) > 0 {
		n += protowire.SizeTag(fRecCustomMetadata) + protowire.SizeBytes(len(e.Metadata))
	}
	if len(e.Data) > 0 {
		n += protowire.SizeTag(fRecData) + protowire.SizeBytes(len(e.Data))
	}
	return n
}

func varintField(num protowire.Number, v uint64) int {
	if v == 0 {
		return 0 // proto3 scalars at their default are not encoded
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(v)
}

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func entrySize(k, v string) int {
	return protowire.SizeTag(fMapKey) + protowire.SizeBytes(len(k)) + protowire.SizeTag(fMapValue) + protowire.SizeBytes(len(v))
}

func uuidSize(e *store.Event, structured bool) int {
	if !structured {
		return protowire.SizeTag(fUUIDString) + protowire.SizeBytes(36)
	}
	most, least := uuidHalves(e)
	inner := varintField(fStructuredMost, uint64(most)) + varintField(fStructuredLeast, uint64(least))
	return protowire.SizeTag(fUUIDStructured) + protowire.SizeBytes(inner)
}

func uuidHalves(e *store.Event) (most, least int64) {
	for i := 0; i < 8; i++ {
		most = most<<8 | int64(e.ID[i])
		least = least<<8 | int64(e.ID[8+i])
	}
	return most, least
}

// metaPairs are the system metadata entries, in the order proto.Marshal
// writes them with deterministic (sorted) map keys.
func metaPairs(e *store.Event, created string) [3][2]string {
	ct := contentTypeOctetStream
	if e.JSON {
		ct = contentTypeJSON
	}
	return [3][2]string{{"content-type", ct}, {"created", created}, {"type", e.Type}}
}

func appendRecorded(b []byte, e *store.Event, structured bool, created string) []byte {
	// id
	b = protowire.AppendTag(b, fRecID, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(uuidSize(e, structured)))
	if structured {
		most, least := uuidHalves(e)
		inner := varintField(fStructuredMost, uint64(most)) + varintField(fStructuredLeast, uint64(least))
		b = protowire.AppendTag(b, fUUIDStructured, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(inner))
		b = appendVarintField(b, fStructuredMost, uint64(most))
		b = appendVarintField(b, fStructuredLeast, uint64(least))
	} else {
		b = protowire.AppendTag(b, fUUIDString, protowire.BytesType)
		b = protowire.AppendString(b, e.ID.String())
	}
	// stream_identifier
	b = protowire.AppendTag(b, fRecStream, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(protowire.SizeTag(fStreamIdentifierName)+protowire.SizeBytes(len(e.Stream))))
	b = protowire.AppendTag(b, fStreamIdentifierName, protowire.BytesType)
	b = protowire.AppendString(b, e.Stream)
	b = appendVarintField(b, fRecRevision, e.Revision)
	b = appendVarintField(b, fRecPrepare, e.Position)
	b = appendVarintField(b, fRecCommit, e.Position)
	for _, kv := range metaPairs(e, created) {
		b = protowire.AppendTag(b, fRecMetadata, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(entrySize(kv[0], kv[1])))
		b = protowire.AppendTag(b, fMapKey, protowire.BytesType)
		b = protowire.AppendString(b, kv[0])
		b = protowire.AppendTag(b, fMapValue, protowire.BytesType)
		b = protowire.AppendString(b, kv[1])
	}
	if len(e.Metadata) > 0 {
		b = protowire.AppendTag(b, fRecCustomMetadata, protowire.BytesType)
		b = protowire.AppendBytes(b, e.Metadata)
	}
	if len(e.Data) > 0 {
		b = protowire.AppendTag(b, fRecData, protowire.BytesType)
		b = protowire.AppendBytes(b, e.Data)
	}
	return b
}

// encodeReadEvent encodes ReadResp{event: ReadEvent{event, link, commit_position}}.
// target is the resolved event (nil: none); link is the "$>" record (nil: none).
func encodeReadEvent(pool mem.BufferPool, target, link *store.Event, position uint64, structured bool) *encoded {
	var tc, lc string
	readEvent := 0
	if target != nil {
		tc = strconv.FormatInt(target.Created, 10)
		readEvent += protowire.SizeTag(fReadEventEvent) + protowire.SizeBytes(recordedSize(target, structured, tc))
	}
	if link != nil {
		lc = strconv.FormatInt(link.Created, 10)
		readEvent += protowire.SizeTag(fReadEventLink) + protowire.SizeBytes(recordedSize(link, structured, lc))
	}
	// commit_position is a oneof member: encoded even when zero.
	readEvent += protowire.SizeTag(fReadEventCommit) + protowire.SizeVarint(position)
	total := protowire.SizeTag(fReadRespEvent) + protowire.SizeBytes(readEvent)

	bp := pool.Get(total)
	b := (*bp)[:0]
	b = protowire.AppendTag(b, fReadRespEvent, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(readEvent))
	if target != nil {
		b = protowire.AppendTag(b, fReadEventEvent, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(recordedSize(target, structured, tc)))
		b = appendRecorded(b, target, structured, tc)
	}
	if link != nil {
		b = protowire.AppendTag(b, fReadEventLink, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(recordedSize(link, structured, lc)))
		b = appendRecorded(b, link, structured, lc)
	}
	b = protowire.AppendTag(b, fReadEventCommit, protowire.VarintType)
	b = protowire.AppendVarint(b, position)
	*bp = b
	return &encoded{buf: mem.NewBuffer(bp, pool)}
}
