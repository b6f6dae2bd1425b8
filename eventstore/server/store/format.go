package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// On-disk format.
//
// A data directory holds chunk files chunk-000000.log, chunk-000001.log, ...
// Each chunk starts with a 16-byte header:
//
//	magic "CRMESCK1" (8 bytes) | chunk number uint32 LE | reserved uint32
//
// followed by commit records. A commit record is one atomic append (all the
// events of one batch, possibly to two streams when a soft-deleted stream is
// recreated):
//
//	payload length uint32 LE | CRC-32C(payload) uint32 LE | CRC-32C(first 8 bytes) uint32 LE | payload
//
// The payload is: event count uvarint, then per event: uvarint length and the
// event's bytes (see encodeEvent). A record is never split across chunks.
// Positions are ordinals: the first event ever written has position 1 and
// every event gets the next one, so positions are dense, unique and strictly
// increasing across restarts.

const (
	chunkMagic      = "CRMESCK1"
	chunkHeaderSize = 16
	recordHeader    = 12
	// maxRecordPayload bounds a single commit record; larger lengths in a
	// header are treated as damage, never as an allocation request.
	maxRecordPayload = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const flagJSON = 1

// encodeEvent appends the self-contained encoding of e to buf.
//
//	position u64 | revision u64 | created i64 | id [16] | flags u8 |
//	stream, type, data, metadata: each uvarint length + bytes
func encodeEvent(buf []byte, e *Event) []byte {
	buf = binary.LittleEndian.AppendUint64(buf, e.Position)
	buf = binary.LittleEndian.AppendUint64(buf, e.Revision)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(e.Created))
	buf = append(buf, e.ID[:]...)
	var flags byte
	if e.JSON {
		flags |= flagJSON
	}
	buf = append(buf, flags)
	buf = appendBytes(buf, []byte(e.Stream))
	buf = appendBytes(buf, []byte(e.Type))
	buf = appendBytes(buf, e.Data)
	buf = appendBytes(buf, e.Metadata)
	return buf
}

func appendBytes(buf, b []byte) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(b)))
	return append(buf, b...)
}

var errShortEvent = errors.New("truncated event encoding")

// decodeEvent decodes one event. Data and Metadata alias b.
func decodeEvent(b []byte) (Event, error) {
	var e Event
	if len(b) < 8*3+16+1 {
		return e, errShortEvent
	}
	e.Position = binary.LittleEndian.Uint64(b[0:])
	e.Revision = binary.LittleEndian.Uint64(b[8:])
	e.Created = int64(binary.LittleEndian.Uint64(b[16:]))
	copy(e.ID[:], b[24:40])
	if b[40]&^flagJSON != 0 {
		return e, fmt.Errorf("unknown event flags %#x", b[40])
	}
	e.JSON = b[40]&flagJSON != 0
	rest := b[41:]
	var stream, typ []byte
	var err error
	if stream, rest, err = readBytes(rest); err != nil {
		return e, err
	}
	if typ, rest, err = readBytes(rest); err != nil {
		return e, err
	}
	if e.Data, rest, err = readBytes(rest); err != nil {
		return e, err
	}
	if e.Metadata, rest, err = readBytes(rest); err != nil {
		return e, err
	}
	if len(rest) != 0 {
		return e, fmt.Errorf("%d trailing bytes after event", len(rest))
	}
	e.Stream = string(stream)
	e.Type = string(typ)
	return e, nil
}

func readBytes(b []byte) (v, rest []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, errShortEvent
	}
	return b[k : k+int(n)], b[k+int(n):], nil
}

// recordFrame returns the 12-byte record header for payload.
func recordFrame(payload []byte) [recordHeader]byte {
	var h [recordHeader]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[4:], crc32.Checksum(payload, castagnoli))
	binary.LittleEndian.PutUint32(h[8:], crc32.Checksum(h[0:8], castagnoli))
	return h
}

// eventSpan is where one event's bytes sit inside a record payload.
type eventSpan struct{ off, n int }

// splitPayload returns the spans of the events inside a record payload.
func splitPayload(p []byte) ([]eventSpan, error) {
	count, k := binary.Uvarint(p)
	if k <= 0 || count == 0 || count > uint64(len(p)) {
		return nil, errors.New("bad event count")
	}
	spans := make([]eventSpan, 0, count)
	off := k
	for i := uint64(0); i < count; i++ {
		n, k := binary.Uvarint(p[off:])
		if k <= 0 || n > uint64(len(p)-off-k) {
			return nil, errShortEvent
		}
		off += k
		spans = append(spans, eventSpan{off, int(n)})
		off += int(n)
	}
	if off != len(p) {
		return nil, fmt.Errorf("%d trailing bytes in record", len(p)-off)
	}
	return spans, nil
}
